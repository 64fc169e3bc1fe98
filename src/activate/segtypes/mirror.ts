import type { MirrorLog, TargetLine } from "../../dm/target.js";
import { adjustedRegionSize, DEFAULT_REGION_SECTORS, MIRROR_FEATURES } from "../../lvm2/mirror.js";
import type { SegmentMeta } from "../../lvm2/vg.js";
import type { SegContext, SegTypeModule } from "./types.js";

/**
 * LVM2's `mirror` segments (lib/mirror/mirrored.c, device-mapper.md §5.4,
 * §5.9), two kinds:
 *
 * Mirror LVs (no `extents_moved`): every area is a whole sub-LV
 * (`<lv>_mimage_N`, or during an up-convert the temporary layer
 * `<lv>_mimagetmp_N`, itself a mirror LV), each activated as its own device.
 * The segment is
 * `mirror <log> <#legs> <leg> 0 ... 1 handle_errors`, where the log is
 * `disk 2 <mirror_log LV's device> <region_size>` or, without mirror_log,
 * `core 1 <region_size>`; the region is the segment's region_size as
 * written (LVM2 checked it when it wrote it). LVM2 adds handle_errors
 * whenever dmeventd monitoring is on (activation/monitoring, default 1), and
 * never nosync on an activation (only lvcreate --nosync loads it, once).
 * A segment left with one area (LVM2: for a moment, under conversion) is
 * `linear` on that area.
 *
 * pvmove layers (pvmove<N>; LVM2 treats a mirror segment as a pvmove one
 * when its metadata has `extents_moved`). Of the layer's segments, in extent
 * order:
 *
 * - copied ones (extents_moved = extent_count) are `linear` on the second
 *   area, the destination;
 * - the first one not copied yet is the running mirror:
 *   `mirror core 1 <region> 2 <source> <destination>`, no nosync (the whole
 *   segment is copied from the source, leg 0), no handle_errors, the region
 *   LVM2's default (2 MiB) cut to the largest power-of-two number of extents
 *   dividing the segment (adjusted_mirror_region_size);
 * - the ones after it are `linear` on the first area, the source.
 */

const isPvmoveSeg = (seg: SegmentMeta) => Object.hasOwn(seg, "extents_moved");
const copied = (seg: SegmentMeta) => seg.extents_moved === seg.extent_count;

function checkCount(seg: SegmentMeta, ctx: SegContext, n: number): void {
  if (seg.mirror_count !== undefined && seg.mirror_count !== n)
    throw ctx.fail(`mirror_count ${JSON.stringify(seg.mirror_count)} but ${n} area(s) in mirrors`);
}

function pvmoveTargets(seg: SegmentMeta, ctx: SegContext): TargetLine[] {
  const m = seg.extents_moved;
  if (typeof m !== "number" || !Number.isSafeInteger(m) || m < 0 || m > seg.extent_count)
    throw ctx.fail(`extents_moved ${JSON.stringify(m)} is not a number of extents of the segment`);
  const areas = ctx.areas("mirrors");
  if (areas.length < 1 || areas.length > 2)
    throw ctx.fail(`a pvmove mirror has 2 areas (source, destination), this one ${areas.length}`);
  checkCount(seg, ctx, areas.length);
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
}

/** The kernel's dm-raid1 takes 2 to 9 legs (its MAX_NR_MIRRORS is 9, i.e. DM_KCOPYD_MAX_REGIONS + 1). */
const MAX_LEGS = 9;

function mirrorLvTargets(seg: SegmentMeta, ctx: SegContext): TargetLine[] {
  const areas = ctx.areas("mirrors");
  if (areas.length < 1 || areas.length > MAX_LEGS)
    throw ctx.fail(`a mirror has 1 to ${MAX_LEGS} areas, this one ${areas.length}`);
  checkCount(seg, ctx, areas.length);
  const base = { start_sectors: ctx.start_sectors, length_sectors: ctx.length_sectors };
  const len = seg.extent_count;
  if (areas.length === 1) return [{ ...base, type: "linear", ...ctx.resolve(areas[0]!, 0, len) }];
  const region = seg.region_size;
  // The kernel wants a power of two; LVM2 refuses a mirror segment without one ("Missing region size").
  if (
    typeof region !== "number" ||
    !Number.isSafeInteger(region) ||
    region < 1 ||
    (region & (region - 1)) !== 0
  )
    throw ctx.fail(`region_size ${JSON.stringify(region)} is not a power of two of sectors`);
  const logLv = seg.mirror_log;
  let log: MirrorLog;
  if (logLv === undefined) log = { type: "core", region_sectors: region };
  else {
    if (typeof logLv !== "string") throw ctx.fail(`mirror_log ${JSON.stringify(logLv)} is not an LV name`);
    log = { type: "disk", device: ctx.lvDevice(logLv).device, region_sectors: region };
  }
  return [
    {
      ...base,
      type: "mirror",
      log,
      legs: areas.map((a, i) => ctx.resolve(a, i, len)),
      features: [...MIRROR_FEATURES],
    },
  ];
}

export const mirror: SegTypeModule = {
  targets: (seg, ctx) => (isPvmoveSeg(seg) ? pvmoveTargets(seg, ctx) : mirrorLvTargets(seg, ctx)),
};
