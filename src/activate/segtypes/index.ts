import { error } from "./error.js";
import { striped } from "./striped.js";
import type { SegTypeModule } from "./types.js";
import { zero } from "./zero.js";

export type { SegArea, SegContext, SegTypeModule } from "./types.js";

/**
 * The activation module of each LVM2 segment type, keyed by the `type` the
 * metadata writes. Mirror, snapshot, thin and pvmove add an entry here; an
 * LV with a type not listed cannot be activated (exit 2).
 */
const SEGTYPES: Readonly<Record<string, SegTypeModule>> = {
  striped,
  // LVM2's "linear" segtype is striped with one area.
  linear: striped,
  error,
  zero,
};

export const segTypeModule = (type: string): SegTypeModule | undefined =>
  Object.hasOwn(SEGTYPES, type) ? SEGTYPES[type] : undefined;

export const supportedSegTypes = () => Object.keys(SEGTYPES);
