import type { SegmentMeta } from "../../lvm2/vg.js";
import { error } from "./error.js";
import { mirror } from "./mirror.js";
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
  // Mirror LVs and pvmove layers (mirror.ts).
  mirror,
};

export const segTypeModule = (type: string): SegTypeModule | undefined =>
  Object.hasOwn(SEGTYPES, type) ? SEGTYPES[type] : undefined;

/** The module that activates this segment, if one does (its type's, unless that one declines it). */
export function moduleFor(seg: SegmentMeta): SegTypeModule | undefined {
  const m = typeof seg.type === "string" ? segTypeModule(seg.type) : undefined;
  return m && (!m.handles || m.handles(seg)) ? m : undefined;
}

/** The segment types with a module, as messages list them (a module that handles only some segments says which). */
export const supportedSegTypes = () => Object.keys(SEGTYPES);
