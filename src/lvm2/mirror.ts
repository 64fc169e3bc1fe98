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

/**
 * The mirror target's features LVM2 2.03 loads for a mirror LV (not for a
 * pvmove layer): handle_errors, as it does whenever dmeventd monitoring is on
 * (activation/monitoring, default 1), so that dmeventd can repair a failed leg.
 */
export const MIRROR_FEATURES: readonly string[] = ["handle_errors"];

/**
 * The infix of a temporary mirror layer's name (LVM2's MIRROR_SYNC_LAYER):
 * `lvconvert -m+N` on a mirror with a disk log puts the mirror as it was
 * under `<lv>_mimagetmp_<k>` and makes `<lv>` a mirror of that layer and the
 * new images, so the old legs keep their log's sync state.
 */
export const MIRROR_SYNC_LAYER = "_mimagetmp";

/**
 * Whether an LV is being up-converted (LVM2's CONVERTING, which it never
 * writes but derives when it reads the metadata): its first segment is a
 * mirror whose first area is a temporary mirror layer LV.
 */
export function isConvertingLv(lv: { segments: { type?: unknown; mirrors?: unknown }[] }): boolean {
  const seg = lv.segments[0];
  const area = Array.isArray(seg?.mirrors) ? seg.mirrors[0] : undefined;
  return seg?.type === "mirror" && typeof area === "string" && area.includes(MIRROR_SYNC_LAYER);
}

/** Status word of a pvmove layer LV (and of the segments LVM2 reads from it). */
export const PVMOVE = "PVMOVE";
/** Status word of an LV a pvmove layer is under (and of the layer itself). */
export const LOCKED = "LOCKED";

/** Whether an LV is a pvmove layer: PVMOVE in its status. */
export const isPvmoveLv = (lv: { status?: unknown }) =>
  Array.isArray(lv.status) && lv.status.includes(PVMOVE);
