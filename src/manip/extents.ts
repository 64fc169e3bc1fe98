import { baseSegType } from "../lvm2/validate.js";
import type { PvMeta, SegmentMeta, VgMeta } from "../lvm2/vg.js";

/**
 * Which physical extents of a VG are taken, and by what. Pure functions over
 * the `vg` metadata, shared by the allocator and the mutators.
 */

/** A run of extents [start, start + count) on one PV. */
export interface PeRun {
  start: number;
  count: number;
}

/** Segment types whose area arrays are [PV or LV name, extent] pairs, and the array's key. */
const PAIR_AREAS: Record<string, string> = { striped: "stripes", linear: "stripes", mirror: "mirrors" };

/** Segment types known to name no PV in their keys (they stack on LVs, or are virtual). */
const NO_PV_AREAS = new Set([
  "snapshot",
  "thin",
  "thin-pool",
  "cache",
  "cache-pool",
  "error",
  "zero",
  "raid0",
  "raid0_meta",
  "raid1",
  "raid4",
  "raid5",
  "raid5_la",
  "raid5_ls",
  "raid5_ra",
  "raid5_rs",
  "raid5_n",
  "raid6",
  "raid6_zr",
  "raid6_nr",
  "raid6_nc",
  "raid6_la_6",
  "raid6_ls_6",
  "raid6_ra_6",
  "raid6_rs_6",
  "raid6_n_6",
  "raid10",
  "raid10_near",
  "writecache",
  "integrity",
  "vdo",
  "vdo-pool",
]);

/** The key of a segment's [name, extent] area list, if its type is one with such areas. */
export function pairAreaKey(seg: SegmentMeta): string | undefined {
  return typeof seg.type === "string" ? PAIR_AREAS[baseSegType(seg.type)] : undefined;
}

/** Extents each area of a segment holds. */
export function areaLength(seg: SegmentMeta): number {
  const t = baseSegType(seg.type);
  if ((t === "striped" || t === "linear") && typeof seg.stripe_count === "number" && seg.stripe_count > 0)
    return Math.floor(seg.extent_count / seg.stripe_count);
  return seg.extent_count;
}

/** Whether a segment's type is one whose PV references this module knows how to find. */
export function knownPvRefs(seg: SegmentMeta): boolean {
  return pairAreaKey(seg) !== undefined || NO_PV_AREAS.has(baseSegType(String(seg.type)));
}

/**
 * The extents every LV takes, by PV section name, sorted and merged. Areas of
 * unknown segment types that look like [PV name, extent] pairs are counted
 * as taking extent_count extents (clipped to the PV): more than they may use,
 * never less, so nothing is handed out twice.
 */
export function usedExtents(vg: VgMeta): Map<string, PeRun[]> {
  const pvs = new Map(vg.physical_volumes.map((pv) => [pv.name, pv]));
  const runs = new Map<string, PeRun[]>();
  const add = (pv: PvMeta, start: number, count: number) => {
    const end = Math.min(start + count, pv.pe_count);
    if (end <= start) return;
    const list = runs.get(pv.name) ?? [];
    list.push({ start, count: end - start });
    runs.set(pv.name, list);
  };
  const pairs = (a: unknown[], len: number) => {
    for (let i = 0; i + 1 < a.length; i += 2) {
      const name = a[i];
      const pe = a[i + 1];
      const pv = typeof name === "string" ? pvs.get(name) : undefined;
      if (pv && typeof pe === "number" && Number.isInteger(pe) && pe >= 0) add(pv, pe, len);
    }
  };
  // Indexed loops: this visits every segment, and for-of costs several times more before optimization.
  const lvs = vg.logical_volumes ?? [];
  for (let l = 0; l < lvs.length; l++) {
    const segs = lvs[l]!.segments;
    for (let s = 0; s < segs.length; s++) {
      const seg = segs[s]!;
      const key = pairAreaKey(seg);
      if (key) {
        if (Array.isArray(seg[key])) pairs(seg[key] as unknown[], areaLength(seg));
      } else if (!NO_PV_AREAS.has(baseSegType(String(seg.type))))
        for (const v of Object.values(seg)) if (Array.isArray(v)) pairs(v, seg.extent_count);
    }
  }
  for (const [name, list] of runs) runs.set(name, mergeRuns(list));
  return runs;
}

/** Sort runs and merge the ones that touch or overlap. */
export function mergeRuns(list: PeRun[]): PeRun[] {
  const sorted = [...list].sort((a, b) => a.start - b.start);
  const out: PeRun[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.start + last.count)
      last.count = Math.max(last.count, r.start + r.count - last.start);
    else out.push({ ...r });
  }
  return out;
}

/** The free runs of a PV (maximal, in PE order), given its used runs. */
export function freeRuns(pv: PvMeta, used: PeRun[] = []): PeRun[] {
  const out: PeRun[] = [];
  let pe = 0;
  for (const u of used) {
    if (u.start > pe) out.push({ start: pe, count: u.start - pe });
    pe = Math.max(pe, u.start + u.count);
  }
  if (pv.pe_count > pe) out.push({ start: pe, count: pv.pe_count - pe });
  return out;
}

/** Extents of a PV that LVs take. */
export function usedCount(used: PeRun[] | undefined): number {
  return (used ?? []).reduce((n, r) => n + r.count, 0);
}
