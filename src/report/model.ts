import type { DeviceEntry, MdaInfo, VgDoc } from "../lib/docs.js";
import { baseSegType } from "../lvm2/validate.js";
import type { LvMeta, PvMeta, SegmentMeta, VgMeta } from "../lvm2/vg.js";

/**
 * The objects a report's rows are made of, resolved from dvm's documents
 * the way LVM2 sees them after reading: PVs matched to the devices they were
 * found on (or missing), segment areas resolved to PVs and LVs, allocation
 * counted. Sizes are in 512-byte sectors, as LVM keeps them.
 */

export interface PvModel {
  /** Device path, or "[unknown]" for a missing PV (LVM's name). */
  name: string;
  uuid: string;
  /** null for an orphan PV (labelled, in no VG). */
  vg: VgModel | null;
  meta: PvMeta | null;
  missing: boolean;
  status: string[];
  tags: string[];
  peStart: number;
  peCount: number;
  peAlloc: number;
  /** LVM's pv_size: the extents, or the labelled device size when there are none. */
  size: number;
  devSize: number;
  mdas: MdaInfo[];
  baStart: number;
  baSize: number;
  /** PV_EXT_USED, or membership of a VG. */
  inUse: boolean;
}

export interface VgModel {
  meta: VgMeta;
  name: string;
  extentSize: number;
  pvs: PvModel[];
  /** Every LV in metadata order, hidden ones included. */
  lvs: LvModel[];
  lvByName: Map<string, LvModel>;
  /** LVM's #LV (visible LVs) and #SN (COW LVs). */
  lvCount: number;
  snapCount: number;
  extentCount: number;
  freeCount: number;
  missingPvs: number;
}

export interface LvModel {
  vg: VgModel;
  meta: LvMeta;
  name: string;
  status: string[];
  flags: string[];
  segs: SegModel[];
  /** The base types of its segments ("striped", "thin-pool", ...), each once. */
  segTypes: string[];
  /** Logical extents. */
  extents: number;
  visible: boolean;
  partial: boolean;
  /** What a hidden sub-LV is for, from the LV that uses it ("" for none). */
  role: LvRole;
  /** A "snapshotN" LV: LVM's internal link between a COW LV and its origin, never listed. */
  snapshotLink: boolean;
  /** For a COW (old-style snapshot) LV: its origin's name, and the snapshot segment tying them. */
  cowOf: string | null;
  snapshotSeg: SegModel | null;
  isOrigin: boolean;
}

export type LvRole =
  | ""
  | "thin-data"
  | "thin-meta"
  | "pool-spare"
  | "mirror-image"
  | "mirror-log"
  | "raid-image"
  | "raid-meta";

export type Area =
  | { kind: "pv"; pv: PvModel; start: number }
  | { kind: "lv"; name: string; lv: LvModel | null; start: number };

export interface SegModel {
  lv: LvModel;
  meta: SegmentMeta;
  /** The metadata type, e.g. "striped", "thin-pool". */
  type: string;
  areas: Area[];
  /** Extents each area holds. */
  areaLen: number;
}

// Loops are indexed in the code run per LV: for-of costs several times more before it is optimized.
function strings(v: unknown): string[] {
  const out: string[] = [];
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) if (typeof v[i] === "string") out.push(v[i]);
  return out;
}
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const sameId = (a: string, b: string) => a.replaceAll("-", "") === b.replaceAll("-", "");

/** Data stripes of a RAID segment, from which its areas' lengths follow. */
function raidDataStripes(type: string, images: number): number {
  if (type === "raid1") return 1;
  if (type === "raid10") return Math.max(1, Math.floor(images / 2));
  if (type.startsWith("raid6")) return Math.max(1, images - 2);
  if (type.startsWith("raid4") || type.startsWith("raid5")) return Math.max(1, images - 1);
  return Math.max(1, images);
}

/** [name, extent] pairs, or bare names (extent 0), of an area list. */
function areaPairs(list: unknown): { name: string; start: number }[] {
  if (!Array.isArray(list)) return [];
  const out: { name: string; start: number }[] = [];
  for (let i = 0; i < list.length; i++) {
    const name = list[i];
    if (typeof name !== "string") continue;
    const next = list[i + 1];
    if (typeof next === "number") {
      out.push({ name, start: next });
      i++;
    } else out.push({ name, start: 0 });
  }
  return out;
}

/** Which keys of a segment hold its areas, and how long each area is. */
function segmentAreas(seg: SegmentMeta): { list: { name: string; start: number }[]; len: number } {
  const type = baseSegType(seg.type);
  const count = seg.extent_count;
  if (type === "striped") {
    const list = areaPairs(seg.stripes);
    return { list, len: count / Math.max(1, num(seg.stripe_count) || list.length) };
  }
  if (type === "mirror") return { list: areaPairs(seg.mirrors), len: count };
  if (type.startsWith("raid")) {
    // raids = [meta0, image0, meta1, image1, ...]; the images carry the data.
    const names = strings(seg.raids);
    const images = names.filter((_, i) => i % 2 === 1);
    const list = (images.length ? images : names).map((name) => ({ name, start: 0 }));
    return { list, len: count / raidDataStripes(type, list.length) };
  }
  if (type === "thin-pool" || type === "cache-pool" || type === "vdo-pool") {
    const data = typeof seg.pool === "string" ? seg.pool : typeof seg.data === "string" ? seg.data : null;
    return { list: data ? [{ name: data, start: 0 }] : [], len: count };
  }
  return { list: [], len: count };
}

/** LV names a segment depends on besides its areas (pools, metadata, COW). */
function segmentRefs(seg: SegmentMeta): string[] {
  const refs: string[] = [];
  for (const k of ["thin_pool", "metadata", "cache_pool", "cow_store", "origin", "vdo_pool", "log"])
    if (typeof seg[k] === "string") refs.push(seg[k] as string);
  return refs;
}

/** Roles of sub-LVs and snapshot links, from the segments that use them. */
function assignRoles(vg: VgModel, lvByName: Map<string, LvModel>) {
  const mark = (name: unknown, role: LvRole) => {
    const lv = typeof name === "string" ? lvByName.get(name) : undefined;
    if (lv) lv.role = role;
  };
  for (let i = 0; i < vg.lvs.length; i++) {
    const lv = vg.lvs[i]!;
    for (let j = 0; j < lv.segs.length; j++) {
      const s = lv.segs[j]!;
      const type = baseSegType(s.type);
      const m = s.meta;
      if (type === "thin-pool") {
        mark(m.pool, "thin-data");
        mark(m.metadata, "thin-meta");
      } else if (type === "mirror") {
        for (const a of s.areas) if (a.kind === "lv") mark(a.name, "mirror-image");
        mark(m.mirror_log, "mirror-log");
      } else if (type.startsWith("raid")) {
        strings(m.raids).forEach((n, i) => {
          mark(n, i % 2 === 0 ? "raid-meta" : "raid-image");
        });
      } else if (type === "snapshot") {
        lv.snapshotLink = true;
        const origin = typeof m.origin === "string" ? lvByName.get(m.origin) : undefined;
        const cow = typeof m.cow_store === "string" ? lvByName.get(m.cow_store) : undefined;
        if (origin) origin.isOrigin = true;
        if (cow && origin) {
          cow.cowOf = origin.name;
          cow.snapshotSeg = s;
          // LVM stores COW LVs without VISIBLE: they are as visible as their origin.
          cow.visible = origin.visible;
        }
      }
    }
  }
}

function buildVg(doc: VgDoc): VgModel {
  const meta = doc.vg;
  const vg: VgModel = {
    meta,
    name: meta.name,
    extentSize: meta.extent_size,
    pvs: [],
    lvs: [],
    lvByName: new Map(),
    lvCount: 0,
    snapCount: 0,
    extentCount: 0,
    freeCount: 0,
    missingPvs: 0,
  };
  const pvByKey = new Map<string, PvModel>();
  for (const p of meta.physical_volumes) {
    const dev = doc.pv_devices.find((d) => sameId(d.pv_uuid, p.id));
    const status = strings(p.status);
    // LVM names a PV by the device it was found on; the MISSING flag alone keeps the name.
    const missing = !dev || status.includes("MISSING");
    const pv: PvModel = {
      name: dev ? dev.path : "[unknown]",
      uuid: p.id,
      vg,
      meta: p,
      missing,
      status,
      tags: strings(p.tags),
      peStart: p.pe_start,
      peCount: p.pe_count,
      peAlloc: 0,
      size: 0,
      devSize: dev ? Math.floor(dev.size_bytes / 512) : 0,
      mdas: dev ? dev.mdas : [],
      baStart: num(p.ba_start),
      baSize: num(p.ba_size),
      inUse: true,
    };
    vg.pvs.push(pv);
    pvByKey.set(p.name, pv);
    if (missing) vg.missingPvs++;
  }
  const lvByName = vg.lvByName;
  for (const l of meta.logical_volumes ?? []) {
    const status = strings(l.status);
    const lv: LvModel = {
      vg,
      meta: l,
      name: l.name,
      status,
      flags: strings(l.flags),
      segs: [],
      segTypes: [],
      extents: 0,
      visible: status.includes("VISIBLE"),
      partial: false,
      // LVM knows the spare by its name alone.
      role: l.name.endsWith("_pmspare") ? "pool-spare" : "",
      snapshotLink: false,
      cowOf: null,
      snapshotSeg: null,
      isOrigin: false,
    };
    vg.lvs.push(lv);
    lvByName.set(l.name, lv);
  }
  for (let i = 0; i < vg.lvs.length; i++) {
    const lv = vg.lvs[i]!;
    const segments = lv.meta.segments;
    for (let j = 0; j < segments.length; j++) {
      const s = segments[j]!;
      const { list, len } = segmentAreas(s);
      const areas: Area[] = [];
      for (let k = 0; k < list.length; k++) {
        const { name, start } = list[k]!;
        const pv = pvByKey.get(name);
        if (pv) {
          pv.peAlloc += len;
          areas.push({ kind: "pv", pv, start });
        } else areas.push({ kind: "lv", name, lv: lvByName.get(name) ?? null, start });
      }
      lv.segs.push({ lv, meta: s, type: s.type, areas, areaLen: len });
      const base = baseSegType(s.type);
      if (!lv.segTypes.includes(base)) lv.segTypes.push(base);
      lv.extents = Math.max(lv.extents, s.start_extent + s.extent_count);
    }
  }
  assignRoles(vg, lvByName);
  // LVM marks an LV partial when any extent it depends on lies on a missing PV.
  const visiting = new Set<LvModel>();
  const partial = (lv: LvModel): boolean => {
    if (visiting.has(lv)) return lv.partial;
    visiting.add(lv);
    lv.partial = lv.segs.some(
      (s) =>
        s.areas.some((a) => (a.kind === "pv" ? a.pv.missing : a.lv !== null && partial(a.lv))) ||
        segmentRefs(s.meta).some((n) => {
          const ref = lvByName.get(n);
          return ref !== undefined && ref !== lv && partial(ref);
        }),
    );
    return lv.partial;
  };
  // Only a missing PV makes anything partial.
  if (vg.missingPvs > 0) for (const lv of vg.lvs) partial(lv);
  for (let i = 0; i < vg.lvs.length; i++) {
    if (vg.lvs[i]!.visible) vg.lvCount++;
    if (vg.lvs[i]!.cowOf !== null) vg.snapCount++;
  }
  for (const pv of vg.pvs) {
    pv.size = pv.peCount ? pv.peCount * vg.extentSize : num(pv.meta?.dev_size);
    vg.extentCount += pv.peCount;
    vg.freeCount += pv.peCount - pv.peAlloc;
  }
  return vg;
}

function orphanPv(d: DeviceEntry): PvModel | null {
  const label = d.pv;
  if (!label) return null;
  const ba = label.bootloader_areas[0];
  return {
    name: d.path,
    uuid: label.uuid,
    vg: null,
    meta: null,
    missing: false,
    status: [],
    tags: [],
    peStart: Math.floor((label.data_areas[0]?.offset_bytes ?? 0) / 512),
    peCount: 0,
    peAlloc: 0,
    // An orphan has no extents: LVM shows the size the label recorded.
    size: Math.floor(label.device_size_bytes / 512),
    devSize: Math.floor(d.size_bytes / 512),
    mdas: label.mdas,
    baStart: Math.floor((ba?.offset_bytes ?? 0) / 512),
    baSize: Math.floor((ba?.size_bytes ?? 0) / 512),
    inUse: (label.ext_flags & 1) !== 0,
  };
}

export interface Model {
  vgs: VgModel[];
  orphans: PvModel[];
}

export function buildModel(vgs: VgDoc[], orphans: DeviceEntry[]): Model {
  const models = vgs.map(buildVg);
  const inVg = new Set(models.flatMap((v) => v.pvs.map((p) => p.uuid.replaceAll("-", ""))));
  const orphanPvs = orphans
    .map(orphanPv)
    .filter((p): p is PvModel => p !== null && !inVg.has(p.uuid.replaceAll("-", "")));
  return { vgs: models, orphans: orphanPvs };
}
