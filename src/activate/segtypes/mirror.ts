import type { TargetLine } from "../../dm/target.js";
import { adjustedRegionSize, DEFAULT_REGION_SECTORS } from "../../lvm2/mirror.js";
import type { SegmentMeta } from "../../lvm2/vg.js";
import type { SegTypeModule } from "./types.js";

/**
 * LVM2's `mirror` segments of a pvmove layer (pvmove<N>; lib/mirror/mirrored.c,
 * device-mapper.md §5.9). LVM2 treats a mirror segment as a pvmove one when
 * its metadata has `extents_moved`. Of the layer's segments, in extent order:
 *
 * - copied ones (extents_moved = extent_count) are `linear` on the second
 *   area, the destination;
 * - the first one not copied yet is the running mirror:
 *   `mirror core 1 <region> 2 <source> <destination>`, no nosync (the whole
 *   segment is copied from the source, leg 0), no handle_errors, the region
 *   LVM2's default (2 MiB) cut to the largest power-of-two number of extents
 *   dividing the segment (adjusted_mirror_region_size);
 * - the ones after it are `linear` on the first area, the source.
 *
 * Mirror LVs of their own (images and logs as sub-LVs) are not activated yet.
 */

const isPvmoveSeg = (seg: SegmentMeta) => Object.hasOwn(seg, "extents_moved");
const copied = (seg: SegmentMeta) => seg.extents_moved === seg.extent_count;

export const mirror: SegTypeModule = {
  handles: isPvmoveSeg,
  targets(seg, ctx): TargetLine[] {
    if (!isPvmoveSeg(seg)) throw ctx.fail("is not a pvmove layer's mirror segment");
    const m = seg.extents_moved;
    if (typeof m !== "number" || !Number.isSafeInteger(m) || m < 0 || m > seg.extent_count)
      throw ctx.fail(`extents_moved ${JSON.stringify(m)} is not a number of extents of the segment`);
    const areas = ctx.areas("mirrors");
    if (areas.length < 1 || areas.length > 2)
      throw ctx.fail(`a pvmove mirror has 2 areas (source, destination), this one ${areas.length}`);
    if (seg.mirror_count !== undefined && seg.mirror_count !== areas.length)
      throw ctx.fail(
        `mirror_count ${JSON.stringify(seg.mirror_count)} but ${areas.length} area(s) in mirrors`,
      );
    const base = { start_sectors: ctx.start_sectors, length_sectors: ctx.length_sectors };
    const len = seg.extent_count;
    // A segment with one area (LVM2: temporarily, under conversion) is never a running mirror.
    if (areas.length === 2 && copied(seg))
      return [{ ...base, type: "linear", ...ctx.resolve(areas[1]!, 1, len) }];
    // LVM2 counts every pvmove segment not copied yet: only the first of them runs.
    const earlierRunning = ctx.segments.slice(0, ctx.segIndex).some((s) => isPvmoveSeg(s) && !copied(s));
    if (areas.length === 1 || earlierRunning)
      return [{ ...base, type: "linear", ...ctx.resolve(areas[0]!, 0, len) }];
    const region = adjustedRegionSize(ctx.extent_size_sectors, len, DEFAULT_REGION_SECTORS);
    return [
      {
        ...base,
        type: "mirror",
        log: { type: "core", region_sectors: region },
        legs: [ctx.resolve(areas[0]!, 0, len), ctx.resolve(areas[1]!, 1, len)],
        features: [],
      },
    ];
  },
};
