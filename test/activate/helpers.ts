import type { DmStateDoc } from "../../src/dm/docs.js";
import type { VgDoc } from "../../src/lib/docs.js";
import type { LvMeta, SegmentMeta } from "../../src/lvm2/vg.js";
import { idGen, makeVg } from "../manip/helpers.ts";

/** Fixtures for the activation tests: VGs with hand-written LVs, and the disks a found state lists. */

/** The disks of device-mapper.md §5.3's example: sdb = 8:16, sdc = 8:32. */
export const DISKS = [
  { path: "/dev/sdb", major: 8, minor: 16, size_sectors: 4 << 20 },
  { path: "/dev/sdc", major: 8, minor: 32, size_sectors: 4 << 20 },
  { path: "/dev/sdd", major: 8, minor: 48, size_sectors: 4 << 20 },
];

/** A VG named `name` on PVs pv0.. found at /dev/sdb, /dev/sdc, ... (pe_start 2048, extent 8192). */
export function vgOn(peCounts: number[], name = "vg", extentSize = 8192): VgDoc {
  const doc = makeVg(peCounts, extentSize, name);
  doc.pv_devices = doc.vg.physical_volumes.map((pv, i) => ({
    pv_uuid: pv.id,
    path: DISKS[i]!.path,
    size_bytes: (2048 + pv.pe_count * extentSize) * 512,
    mdas: [],
  }));
  return doc;
}

const lvIds = idGen("L");

export const seg = (
  start: number,
  count: number,
  areas: (string | number)[],
  extra: Partial<SegmentMeta> = {},
): SegmentMeta => ({
  start_extent: start,
  extent_count: count,
  type: "striped",
  stripe_count: areas.length / 2,
  ...(areas.length > 2 ? { stripe_size: 128 } : {}),
  stripes: areas,
  ...extra,
});

/** Add an LV with the given segments (visible and writable unless `status` says otherwise). */
export function addLv(
  doc: VgDoc,
  name: string,
  segments: SegmentMeta[],
  status = ["READ", "WRITE", "VISIBLE"],
): LvMeta {
  const lv: LvMeta = { name, id: lvIds(), status, flags: [], segment_count: segments.length, segments };
  doc.vg.logical_volumes = [...(doc.vg.logical_volumes ?? []), lv];
  return lv;
}

/** The VG of device-mapper.md §5.3's example: lin (100 + 10 extents) and str (2 stripes of 10). */
export function exampleVg(): VgDoc {
  const doc = vgOn([200, 200]);
  addLv(doc, "lin", [seg(0, 100, ["pv0", 0]), seg(100, 10, ["pv1", 10])]);
  addLv(doc, "str", [seg(0, 20, ["pv0", 100, "pv1", 0])]);
  return doc;
}

export const emptyState = (disks = DISKS): DmStateDoc => ({
  kind: "dm-state",
  version: 1,
  source: "sim",
  devices: [],
  disks,
});
