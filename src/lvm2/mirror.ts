/**
 * Mirror facts shared by the pvmove mutators and the activation of pvmove
 * layers (lvm2-on-disk-format.md §16.2, device-mapper.md §5.4, §5.9).
 */

/**
 * LVM2 2.03's default mirror region size in sectors: activation/raid_region_size
 * (and the older mirror_region_size) default to 2048 KiB.
 */
export const DEFAULT_REGION_SECTORS = 4096;

/**
 * LVM2's adjusted_mirror_region_size: a region may not be larger than the
 * largest power-of-two number of extents dividing `extents`, times the extent
 * size (so the mirror has whole regions). LVM2 uses it for the region of the
 * mirror table of a pvmove layer's running segment (over the segment's
 * extents); the `region_size` it writes in the layer's metadata is the
 * default as it is.
 */
export function adjustedRegionSize(extentSize: number, extents: number, regionSize: number): number {
  if (!Number.isSafeInteger(extents) || extents < 1) return regionSize;
  // The lowest set bit of extents, as LVM2's 1 << (ffs(extents) - 1) (extents is a u32 there).
  const max = ((extents & -extents) >>> 0) * extentSize;
  return max < 0xffffffff && regionSize > max ? max : regionSize;
}

/** Status word of a pvmove layer LV (and of the segments LVM2 reads from it). */
export const PVMOVE = "PVMOVE";
/** Status word of an LV a pvmove layer is under (and of the layer itself). */
export const LOCKED = "LOCKED";

/** Whether an LV is a pvmove layer: PVMOVE in its status. */
export const isPvmoveLv = (lv: { status?: unknown }) =>
  Array.isArray(lv.status) && lv.status.includes(PVMOVE);
