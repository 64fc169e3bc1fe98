import type { PollOptions } from "./common.js";
import { pollConvert } from "./convert.js";
import { pollMerge } from "./merge.js";
import { pollPvmove } from "./pvmove.js";

/**
 * The pollers dvm-poll runs, by lvmpolld's operation name (lvmpolld.md §4.3).
 * Each follows one operation to its end and returns dvm-poll's exit code.
 */
export type { PollOptions };
export type Poller = (o: PollOptions) => number;

export const POLLERS: Partial<Record<"pvmove" | "convert" | "merge" | "merge_thin", Poller>> = {
  pvmove: pollPvmove,
  convert: pollConvert,
  merge: pollMerge,
};
