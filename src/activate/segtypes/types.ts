import type { DevArea, TargetLine } from "../../dm/target.js";
import type { SegmentMeta } from "../../lvm2/vg.js";

/**
 * The contract between dvm-vol-activate and a segment-type module: a module
 * turns one LV segment into target lines. Everything that needs the rest of
 * the VG (PV offsets, other LVs' devices, missing-PV fillers, dependencies)
 * goes through the context, so a module is a small pure function.
 */

/** One area of a segment as the metadata lists it: a PV or LV name and the first extent on it. */
export interface SegArea {
  name: string;
  start_extent: number;
}

export interface SegContext {
  /** "vg/lv segment N", for messages. */
  readonly where: string;
  /** The LV's segments in extent order, and this segment's index among them (pvmove layers look back). */
  readonly segments: readonly SegmentMeta[];
  readonly segIndex: number;
  readonly extent_size_sectors: number;
  /** Where the segment's targets start and how long they are, in the LV's sectors. */
  readonly start_sectors: number;
  readonly length_sectors: number;
  /** The areas in the array field `key` (`stripes`, `mirrors`, ...), checked for shape. */
  areas(key: string): SegArea[];
  /**
   * The device and offset of `length_extents` extents of an area: a PV's
   * device at pe_start + pe·extent_size, another LV's device (activated as a
   * dependency) at le·extent_size, or a missing-PV filler under partial
   * activation. Records the dependency.
   */
  resolve(area: SegArea, areaIndex: number, length_extents: number): DevArea;
  /**
   * The device of a whole other LV of the VG (a mirror's log), activated as a
   * dependency, and its size in extents. Records the dependency.
   */
  lvDevice(name: string): { device: string; extents: number };
  /** An invalid-input error about this segment. */
  fail(why: string): Error;
}

export interface SegTypeModule {
  /** Target lines for one segment, covering exactly start_sectors .. start_sectors + length_sectors. */
  targets(seg: SegmentMeta, ctx: SegContext): TargetLine[];
  /** Whether the module handles this segment of its type (default: every one); others count as unsupported. */
  handles?(seg: SegmentMeta): boolean;
}
