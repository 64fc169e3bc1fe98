import { baseSegType } from "../lvm2/validate.js";
import { firstSegKey, isPool, type LvActivity, lvAttr, pvAttr, vgAttr } from "./attrs.js";
import type { Area, LvModel, PvModel, SegModel, VgModel } from "./model.js";

/**
 * The report fields dvm implements, in LVM2 2.03.16's order (the order of
 * its columns.h, which decides which field a short name resolves to), with
 * LVM's heading, minimum width and value type.
 */

/** The object a field describes (LVM's report types; lv* are all LV fields). */
export type FieldType = "label" | "pv" | "vg" | "lv" | "seg";

/**
 * How a value prints: str left-aligned, the rest right-aligned; size values
 * are sector counts formatted with the report's units; bin fields print a
 * word when set and nothing otherwise.
 */
export type FieldKind = "str" | "num" | "size" | "bin";

/** One report row: the objects it is about (vg null: an orphan PV's pseudo-VG). */
export interface Row {
  vg: VgModel | null;
  pv?: PvModel;
  lv?: LvModel;
  seg?: SegModel;
}

export interface Ctx {
  /** dm state by "vg/lv"; undefined when not known at all. */
  activity: Record<string, LvActivity> | undefined;
}

export interface FieldDef {
  id: string;
  type: FieldType;
  header: string;
  /** LVM's minimum column width. */
  width: number;
  kind: FieldKind;
  value: (row: Row, ctx: Ctx) => string | number;
}

const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new Error(`internal: report row has no ${what}`);
  return v;
};
const PV = (r: Row) => need(r.pv, "PV");
const LV = (r: Row) => need(r.lv, "LV");
const SEG = (r: Row) => need(r.seg, "segment");
const str = (v: unknown) => (typeof v === "string" ? v : "");
const int = (v: unknown) => (typeof v === "number" ? v : 0);
/** LVM prints string lists (tags) sorted, joined by commas. */
const list = (v: unknown) =>
  (Array.isArray(v) ? v.filter((x) => typeof x === "string").sort() : []).join(",");
const bin = (set: boolean, word: string) => (set ? word : "");

function activity(lv: LvModel, ctx: Ctx): LvActivity | null | undefined {
  if (ctx.activity === undefined) return undefined;
  return ctx.activity[`${lv.vg.name}/${lv.name}`] ?? null;
}

/** Device-mapper name: '-' doubled inside names, then VG-LV. */
const dmName = (vg: string, lv: string) => `${vg.replaceAll("-", "--")}-${lv.replaceAll("-", "--")}`;

/** LVM shows hidden LVs' names in brackets. */
const shownName = (lv: LvModel) => (lv.visible ? lv.name : `[${lv.name}]`);

function subLvName(lv: LvModel, name: string): string {
  const sub = lv.vg.lvByName.get(name);
  return sub ? shownName(sub) : name;
}

/** A COW LV's segments report the chunk size of the snapshot they store. */
const chunkSize = (s: SegModel) => int((s.lv.snapshotSeg ?? s).meta.chunk_size);

const areaName = (a: Area) => (a.kind === "lv" ? a.name : a.pv.name);

/**
 * Where an area starts and how long it is as LVM2 2.03 reports it (_format_pvsegs):
 * an area on another LV shows that whole LV (from 0, all its extents) whatever
 * extent the area starts at, e.g. `pvmove0(0)` and `pvmove0:0-7` for every LV
 * on a pvmove layer.
 */
const areaSpan = (s: SegModel, a: Area): [number, number] =>
  a.kind === "lv" && a.lv ? [0, a.lv.extents] : [a.start, s.areaLen];

/** Extent ranges of a segment's areas; LE ranges show hidden LVs in brackets, PE ranges do not. */
function ranges(s: SegModel, brackets: boolean): string[] {
  return s.areas.map((a) => {
    const name = brackets && a.kind === "lv" && a.lv ? shownName(a.lv) : areaName(a);
    const [start, len] = areaSpan(s, a);
    return `${name}:${start}-${start + len - 1}`;
  });
}

/** Number of areas ("#Str"): stripes, mirror legs or RAID images. */
function areaCount(s: SegModel): number {
  const m = s.meta;
  if (typeof m.stripe_count === "number") return m.stripe_count;
  if (typeof m.mirror_count === "number") return m.mirror_count;
  if (typeof m.device_count === "number") return m.device_count;
  return s.areas.length;
}

function segtype(s: SegModel): string {
  const t = baseSegType(s.type);
  return t === "striped" && areaCount(s) === 1 ? "linear" : t;
}

// Orphan PVs belong to LVM's "#orphans" pseudo-VG: no name, no size, read-only.
const vgStatus = (vg: VgModel | null) => vg?.meta.status ?? [];

export const FIELDS: FieldDef[] = [
  // LV fields
  { id: "lv_uuid", type: "lv", header: "LV UUID", width: 38, kind: "str", value: (r) => LV(r).meta.id },
  { id: "lv_name", type: "lv", header: "LV", width: 4, kind: "str", value: (r) => shownName(LV(r)) },
  {
    id: "lv_full_name",
    type: "lv",
    header: "LV",
    width: 4,
    kind: "str",
    value: (r) => `${LV(r).vg.name}/${LV(r).name}`,
  },
  {
    id: "lv_path",
    type: "lv",
    header: "Path",
    width: 0,
    kind: "str",
    // Blank for hidden LVs and pools, which have no device of their own to open.
    value: (r) => (LV(r).visible && !isPool(LV(r)) ? `/dev/${LV(r).vg.name}/${LV(r).name}` : ""),
  },
  {
    id: "lv_dm_path",
    type: "lv",
    header: "DMPath",
    width: 0,
    kind: "str",
    value: (r) => `/dev/mapper/${dmName(LV(r).vg.name, LV(r).name)}`,
  },
  {
    id: "lv_allocation_policy",
    type: "lv",
    header: "AllocPol",
    width: 10,
    kind: "str",
    value: (r) => str(LV(r).meta.allocation_policy) || "inherit",
  },
  {
    id: "lv_fixed_minor",
    type: "lv",
    header: "FixMin",
    width: 10,
    kind: "bin",
    value: (r) => bin(LV(r).status.includes("FIXED_MINOR"), "fixed minor"),
  },
  {
    id: "lv_skip_activation",
    type: "lv",
    header: "SkipAct",
    width: 15,
    kind: "bin",
    value: (r) => bin(LV(r).flags.includes("ACTIVATION_SKIP"), "skip activation"),
  },
  {
    id: "lv_active",
    type: "lv",
    header: "Active",
    width: 0,
    kind: "str",
    value: (r, c) => {
      const a = activity(LV(r), c);
      return a === undefined ? "unknown" : a?.active ? "active" : "";
    },
  },
  {
    id: "lv_size",
    type: "lv",
    header: "LSize",
    width: 0,
    kind: "size",
    value: (r) => LV(r).extents * LV(r).vg.extentSize,
  },
  { id: "seg_count", type: "lv", header: "#Seg", width: 0, kind: "num", value: (r) => LV(r).segs.length },
  {
    id: "origin",
    type: "lv",
    header: "Origin",
    width: 0,
    kind: "str",
    value: (r) => LV(r).cowOf ?? firstSegKey(LV(r), "origin"),
  },
  {
    id: "move_pv",
    type: "lv",
    header: "Move",
    width: 0,
    kind: "str",
    value: (r) => {
      const a = LV(r).status.includes("PVMOVE") ? LV(r).segs[0]?.areas[0] : undefined;
      return a ? areaName(a) : "";
    },
  },
  { id: "convert_lv", type: "lv", header: "Convert", width: 0, kind: "str", value: () => "" },
  {
    id: "mirror_log",
    type: "lv",
    header: "Log",
    width: 0,
    kind: "str",
    value: (r) => subLvName(LV(r), firstSegKey(LV(r), "mirror_log")),
  },
  {
    id: "data_lv",
    type: "lv",
    header: "Data",
    width: 0,
    kind: "str",
    value: (r) => subLvName(LV(r), firstSegKey(LV(r), "pool") || firstSegKey(LV(r), "data")),
  },
  {
    id: "metadata_lv",
    type: "lv",
    header: "Meta",
    width: 0,
    kind: "str",
    value: (r) => subLvName(LV(r), firstSegKey(LV(r), "metadata")),
  },
  {
    id: "pool_lv",
    type: "lv",
    header: "Pool",
    width: 0,
    kind: "str",
    value: (r) =>
      firstSegKey(LV(r), "thin_pool") || firstSegKey(LV(r), "cache_pool") || firstSegKey(LV(r), "vdo_pool"),
  },
  {
    id: "lv_tags",
    type: "lv",
    header: "LV Tags",
    width: 0,
    kind: "str",
    value: (r) => list(LV(r).meta.tags),
  },
  {
    id: "lv_host",
    type: "lv",
    header: "Host",
    width: 10,
    kind: "str",
    value: (r) => str(LV(r).meta.creation_host),
  },
  // LV device info
  {
    id: "lv_permissions",
    type: "lv",
    header: "LPerms",
    width: 8,
    kind: "str",
    value: (r, c) => {
      if (!LV(r).status.includes("WRITE")) return "read-only";
      return activity(LV(r), c)?.active ? "writeable" : "unknown";
    },
  },
  {
    id: "lv_suspended",
    type: "lv",
    header: "Suspended",
    width: 10,
    kind: "bin",
    value: (r, c) => {
      const a = activity(LV(r), c);
      return a === undefined ? "unknown" : bin(!!a?.suspended, "suspended");
    },
  },
  {
    id: "lv_device_open",
    type: "lv",
    header: "DevOpen",
    width: 10,
    kind: "bin",
    value: (r, c) => {
      const a = activity(LV(r), c);
      return a === undefined ? "unknown" : bin(!!(a?.active && a.open), "open");
    },
  },
  // LV device status: percentages need dm status, which a linear or striped LV never has.
  { id: "data_percent", type: "lv", header: "Data%", width: 6, kind: "num", value: () => "" },
  { id: "snap_percent", type: "lv", header: "Snap%", width: 6, kind: "num", value: () => "" },
  { id: "metadata_percent", type: "lv", header: "Meta%", width: 6, kind: "num", value: () => "" },
  { id: "copy_percent", type: "lv", header: "Cpy%Sync", width: 0, kind: "num", value: () => "" },
  { id: "sync_percent", type: "lv", header: "Cpy%Sync", width: 0, kind: "num", value: () => "" },
  {
    id: "lv_attr",
    type: "lv",
    header: "Attr",
    width: 0,
    kind: "str",
    value: (r, c) => lvAttr(LV(r), activity(LV(r), c)),
  },
  // PV label fields
  { id: "pv_fmt", type: "label", header: "Fmt", width: 0, kind: "str", value: () => "lvm2" },
  { id: "pv_uuid", type: "label", header: "PV UUID", width: 38, kind: "str", value: (r) => PV(r).uuid },
  { id: "dev_size", type: "label", header: "DevSize", width: 0, kind: "size", value: (r) => PV(r).devSize },
  { id: "pv_name", type: "label", header: "PV", width: 10, kind: "str", value: (r) => PV(r).name },
  {
    id: "pv_mda_size",
    type: "label",
    header: "PMdaSize",
    width: 9,
    kind: "size",
    value: (r) => {
      const sizes = PV(r).mdas.map((m) => Math.floor(m.size_bytes / 512));
      return sizes.length ? Math.min(...sizes) : 0;
    },
  },
  // PV fields
  { id: "pe_start", type: "pv", header: "1st PE", width: 7, kind: "size", value: (r) => PV(r).peStart },
  { id: "pv_size", type: "pv", header: "PSize", width: 0, kind: "size", value: (r) => PV(r).size },
  {
    id: "pv_free",
    type: "pv",
    header: "PFree",
    width: 0,
    kind: "size",
    value: (r) => {
      const pv = PV(r);
      return pv.peCount ? (pv.peCount - pv.peAlloc) * (pv.vg?.extentSize ?? 0) : pv.size;
    },
  },
  {
    id: "pv_used",
    type: "pv",
    header: "Used",
    width: 0,
    kind: "size",
    value: (r) => PV(r).peAlloc * (PV(r).vg?.extentSize ?? 0),
  },
  { id: "pv_attr", type: "pv", header: "Attr", width: 0, kind: "str", value: (r) => pvAttr(PV(r)) },
  {
    id: "pv_allocatable",
    type: "pv",
    header: "Allocatable",
    width: 0,
    kind: "bin",
    value: (r) => bin(PV(r).status.includes("ALLOCATABLE"), "allocatable"),
  },
  {
    id: "pv_exported",
    type: "pv",
    header: "Exported",
    width: 10,
    kind: "bin",
    value: (r) => bin(PV(r).status.includes("EXPORTED"), "exported"),
  },
  {
    id: "pv_missing",
    type: "pv",
    header: "Missing",
    width: 10,
    kind: "bin",
    value: (r) => bin(PV(r).missing, "missing"),
  },
  { id: "pv_pe_count", type: "pv", header: "PE", width: 3, kind: "num", value: (r) => PV(r).peCount },
  {
    id: "pv_pe_alloc_count",
    type: "pv",
    header: "Alloc",
    width: 0,
    kind: "num",
    value: (r) => PV(r).peAlloc,
  },
  { id: "pv_tags", type: "pv", header: "PV Tags", width: 0, kind: "str", value: (r) => list(PV(r).tags) },
  { id: "pv_mda_count", type: "pv", header: "#PMda", width: 0, kind: "num", value: (r) => PV(r).mdas.length },
  {
    id: "pv_mda_used_count",
    type: "pv",
    header: "#PMdaUse",
    width: 0,
    kind: "num",
    value: (r) => PV(r).mdas.filter((m) => m.state !== "ignored").length,
  },
  { id: "pv_ba_start", type: "pv", header: "BA Start", width: 0, kind: "size", value: (r) => PV(r).baStart },
  { id: "pv_ba_size", type: "pv", header: "BA Size", width: 0, kind: "size", value: (r) => PV(r).baSize },
  {
    id: "pv_in_use",
    type: "pv",
    header: "PInUse",
    width: 0,
    kind: "bin",
    value: (r) => bin(PV(r).inUse, "used"),
  },
  // VG fields
  { id: "vg_fmt", type: "vg", header: "Fmt", width: 0, kind: "str", value: () => "lvm2" },
  { id: "vg_uuid", type: "vg", header: "VG UUID", width: 38, kind: "str", value: (r) => r.vg?.meta.id ?? "" },
  { id: "vg_name", type: "vg", header: "VG", width: 0, kind: "str", value: (r) => r.vg?.name ?? "" },
  { id: "vg_attr", type: "vg", header: "Attr", width: 5, kind: "str", value: (r) => vgAttr(r.vg) },
  {
    id: "vg_permissions",
    type: "vg",
    header: "VPerms",
    width: 10,
    kind: "str",
    value: (r) => (vgStatus(r.vg).includes("WRITE") ? "writeable" : "read-only"),
  },
  {
    id: "vg_extendable",
    type: "vg",
    header: "Extendable",
    width: 0,
    kind: "bin",
    value: (r) => bin(vgStatus(r.vg).includes("RESIZEABLE"), "extendable"),
  },
  {
    id: "vg_exported",
    type: "vg",
    header: "Exported",
    width: 10,
    kind: "bin",
    value: (r) => bin(vgStatus(r.vg).includes("EXPORTED"), "exported"),
  },
  {
    id: "vg_partial",
    type: "vg",
    header: "Partial",
    width: 10,
    kind: "bin",
    value: (r) => bin((r.vg?.missingPvs ?? 0) > 0, "partial"),
  },
  {
    id: "vg_allocation_policy",
    type: "vg",
    header: "AllocPol",
    width: 10,
    kind: "str",
    value: (r) => (r.vg ? str(r.vg.meta.allocation_policy) || "normal" : ""),
  },
  {
    id: "vg_clustered",
    type: "vg",
    header: "Clustered",
    width: 10,
    kind: "bin",
    value: (r) => bin(vgStatus(r.vg).includes("CLUSTERED"), "clustered"),
  },
  {
    id: "vg_shared",
    type: "vg",
    header: "Shared",
    width: 7,
    kind: "bin",
    value: (r) => bin(["sanlock", "dlm"].includes(str(r.vg?.meta.lock_type)), "shared"),
  },
  {
    id: "vg_size",
    type: "vg",
    header: "VSize",
    width: 0,
    kind: "size",
    value: (r) => (r.vg ? r.vg.extentCount * r.vg.extentSize : 0),
  },
  {
    id: "vg_free",
    type: "vg",
    header: "VFree",
    width: 0,
    kind: "size",
    value: (r) => (r.vg ? r.vg.freeCount * r.vg.extentSize : 0),
  },
  {
    id: "vg_sysid",
    type: "vg",
    header: "SYS ID",
    width: 0,
    kind: "str",
    value: (r) => str(r.vg?.meta.system_id),
  },
  {
    id: "vg_systemid",
    type: "vg",
    header: "System ID",
    width: 0,
    kind: "str",
    value: (r) => str(r.vg?.meta.system_id),
  },
  {
    id: "vg_lock_type",
    type: "vg",
    header: "LockType",
    width: 0,
    kind: "str",
    value: (r) => str(r.vg?.meta.lock_type),
  },
  {
    id: "vg_lock_args",
    type: "vg",
    header: "VLockArgs",
    width: 0,
    kind: "str",
    value: (r) => str(r.vg?.meta.lock_args),
  },
  {
    id: "vg_extent_size",
    type: "vg",
    header: "Ext",
    width: 0,
    kind: "size",
    value: (r) => r.vg?.extentSize ?? 0,
  },
  {
    id: "vg_extent_count",
    type: "vg",
    header: "#Ext",
    width: 0,
    kind: "num",
    value: (r) => r.vg?.extentCount ?? 0,
  },
  {
    id: "vg_free_count",
    type: "vg",
    header: "Free",
    width: 0,
    kind: "num",
    value: (r) => r.vg?.freeCount ?? 0,
  },
  { id: "max_lv", type: "vg", header: "MaxLV", width: 0, kind: "num", value: (r) => int(r.vg?.meta.max_lv) },
  { id: "max_pv", type: "vg", header: "MaxPV", width: 0, kind: "num", value: (r) => int(r.vg?.meta.max_pv) },
  { id: "pv_count", type: "vg", header: "#PV", width: 0, kind: "num", value: (r) => r.vg?.pvs.length ?? 0 },
  {
    id: "vg_missing_pv_count",
    type: "vg",
    header: "#PV Missing",
    width: 0,
    kind: "num",
    value: (r) => r.vg?.missingPvs ?? 0,
  },
  {
    id: "lv_count",
    type: "vg",
    header: "#LV",
    width: 0,
    kind: "num",
    value: (r) => r.vg?.lvCount ?? 0,
  },
  {
    id: "snap_count",
    type: "vg",
    header: "#SN",
    width: 0,
    kind: "num",
    value: (r) => r.vg?.snapCount ?? 0,
  },
  { id: "vg_seqno", type: "vg", header: "Seq", width: 0, kind: "num", value: (r) => r.vg?.meta.seqno ?? 0 },
  {
    id: "vg_tags",
    type: "vg",
    header: "VG Tags",
    width: 0,
    kind: "str",
    value: (r) => list(r.vg?.meta.tags),
  },
  {
    id: "vg_profile",
    type: "vg",
    header: "VProfile",
    width: 0,
    kind: "str",
    value: (r) => str(r.vg?.meta.profile),
  },
  {
    id: "vg_mda_count",
    type: "vg",
    header: "#VMda",
    width: 0,
    kind: "num",
    value: (r) => r.vg?.pvs.reduce((n, p) => n + p.mdas.length, 0) ?? 0,
  },
  {
    id: "vg_mda_used_count",
    type: "vg",
    header: "#VMdaUse",
    width: 0,
    kind: "num",
    value: (r) => r.vg?.pvs.reduce((n, p) => n + p.mdas.filter((m) => m.state !== "ignored").length, 0) ?? 0,
  },
  {
    id: "vg_mda_copies",
    type: "vg",
    header: "#VMdaCps",
    width: 0,
    kind: "num",
    // 0 means LVM does not manage the number of copies; it says so.
    value: (r) => int(r.vg?.meta.metadata_copies) || "unmanaged",
  },
  // Segment fields
  { id: "segtype", type: "seg", header: "Type", width: 0, kind: "str", value: (r) => segtype(SEG(r)) },
  { id: "stripes", type: "seg", header: "#Str", width: 0, kind: "num", value: (r) => areaCount(SEG(r)) },
  {
    id: "stripe_size",
    type: "seg",
    header: "Stripe",
    width: 0,
    kind: "size",
    value: (r) => int(SEG(r).meta.stripe_size),
  },
  {
    id: "region_size",
    type: "seg",
    header: "Region",
    width: 0,
    kind: "size",
    value: (r) => int(SEG(r).meta.region_size),
  },
  {
    id: "chunk_size",
    type: "seg",
    header: "Chunk",
    width: 0,
    kind: "size",
    value: (r) => chunkSize(SEG(r)),
  },
  {
    id: "seg_start",
    type: "seg",
    header: "Start",
    width: 0,
    kind: "size",
    value: (r) => SEG(r).meta.start_extent * SEG(r).lv.vg.extentSize,
  },
  {
    id: "seg_start_pe",
    type: "seg",
    header: "Start",
    width: 0,
    kind: "num",
    value: (r) => SEG(r).meta.start_extent,
  },
  {
    id: "seg_size",
    type: "seg",
    header: "SSize",
    width: 0,
    kind: "size",
    value: (r) => SEG(r).meta.extent_count * SEG(r).lv.vg.extentSize,
  },
  {
    id: "seg_size_pe",
    type: "seg",
    header: "SSize",
    width: 0,
    kind: "num",
    value: (r) => SEG(r).meta.extent_count,
  },
  {
    id: "seg_tags",
    type: "seg",
    header: "Seg Tags",
    width: 0,
    kind: "str",
    value: (r) => list(SEG(r).meta.tags),
  },
  {
    id: "seg_pe_ranges",
    type: "seg",
    header: "PE Ranges",
    width: 0,
    kind: "str",
    value: (r) => ranges(SEG(r), false).join(" "),
  },
  {
    id: "seg_le_ranges",
    type: "seg",
    header: "LE Ranges",
    width: 0,
    kind: "str",
    value: (r) => ranges(SEG(r), true).join(","),
  },
  {
    id: "devices",
    type: "seg",
    header: "Devices",
    width: 0,
    kind: "str",
    value: (r) =>
      SEG(r)
        .areas.map((a) => `${areaName(a)}(${areaSpan(SEG(r), a)[0]})`)
        .join(","),
  },
];

/**
 * Every field id LVM2 2.03.16 knows, in its order; names dvm does not
 * implement get their own error rather than LVM's "Unrecognised field".
 */
export const LVM_FIELD_IDS = `lv_uuid lv_name lv_full_name lv_path lv_dm_path lv_parent lv_layout lv_role
lv_initial_image_sync lv_image_synced lv_merging lv_converting lv_allocation_policy lv_allocation_locked
lv_fixed_minor lv_skip_activation lv_autoactivation lv_when_full lv_active lv_active_locally lv_active_remotely
lv_active_exclusively lv_major lv_minor lv_read_ahead lv_size lv_metadata_size seg_count origin origin_uuid
origin_size lv_ancestors lv_full_ancestors lv_descendants lv_full_descendants raid_mismatch_count
raid_sync_action raid_write_behind raid_min_recovery_rate raid_max_recovery_rate raidintegritymode
raidintegrityblocksize integritymismatches move_pv move_pv_uuid convert_lv convert_lv_uuid mirror_log
mirror_log_uuid data_lv data_lv_uuid metadata_lv metadata_lv_uuid pool_lv pool_lv_uuid lv_tags lv_profile
lv_lockargs lv_time lv_time_removed lv_host lv_modules lv_historical writecache_block_size lv_kernel_major
lv_kernel_minor lv_kernel_read_ahead lv_permissions lv_suspended lv_live_table lv_inactive_table
lv_device_open data_percent snap_percent metadata_percent copy_percent sync_percent cache_total_blocks
cache_used_blocks cache_dirty_blocks cache_read_hits cache_read_misses cache_write_hits cache_write_misses
kernel_cache_settings kernel_cache_policy kernel_metadata_format lv_health_status kernel_discards
lv_check_needed lv_merge_failed lv_snapshot_invalid vdo_operating_mode vdo_compression_state vdo_index_state
vdo_used_size vdo_saving_percent writecache_total_blocks writecache_free_blocks writecache_writeback_blocks
writecache_error lv_attr pv_fmt pv_uuid dev_size pv_name pv_major pv_minor pv_mda_free pv_mda_size pv_ext_vsn
pe_start pv_size pv_free pv_used pv_attr pv_allocatable pv_exported pv_missing pv_pe_count pv_pe_alloc_count
pv_tags pv_mda_count pv_mda_used_count pv_ba_start pv_ba_size pv_in_use pv_duplicate pv_device_id
pv_device_id_type vg_fmt vg_uuid vg_name vg_attr vg_permissions vg_extendable vg_exported vg_autoactivation
vg_partial vg_allocation_policy vg_clustered vg_shared vg_size vg_free vg_sysid vg_systemid vg_lock_type
vg_lock_args vg_extent_size vg_extent_count vg_free_count max_lv max_pv pv_count vg_missing_pv_count lv_count
snap_count vg_seqno vg_tags vg_profile vg_mda_count vg_mda_used_count vg_mda_free vg_mda_size vg_mda_copies
segtype stripes data_stripes reshape_len reshape_len_le data_copies data_offset new_data_offset parity_chunks
stripe_size region_size chunk_size thin_count discards cache_metadata_format cache_mode zero transaction_id
thin_id seg_start seg_start_pe seg_size seg_size_pe seg_tags seg_pe_ranges seg_le_ranges
seg_metadata_le_ranges devices metadata_devices seg_monitor cache_policy cache_settings vdo_compression
vdo_deduplication vdo_use_metadata_hints vdo_minimum_io_size vdo_block_map_cache_size vdo_block_map_era_length
vdo_use_sparse_index vdo_index_memory_size vdo_slab_size vdo_ack_threads vdo_bio_threads vdo_bio_rotation
vdo_cpu_threads vdo_hash_zone_threads vdo_logical_threads vdo_physical_threads vdo_max_discard
vdo_write_policy vdo_header_size pvseg_start pvseg_size`.split(/\s+/);

const canon = (s: string) => s.replaceAll("_", "").toLowerCase();

/**
 * LVM's field-name matching (libdm _get_field): underscores are ignored and
 * case does not matter; a name also matches a field whose id is the
 * report's prefix ("pv", "vg", "lv", "seg") followed by that name, so "size"
 * is lv_size in lvs but seg_size in lvs --segments. The first field in
 * LVM's order wins.
 */
export function matchFieldId(name: string, prefix: string): string | null {
  const want = canon(name);
  if (want === "") return null;
  const prefixed = prefix + want;
  CANON_IDS ??= LVM_FIELD_IDS.map(canon);
  for (let i = 0; i < CANON_IDS.length; i++) {
    const c = CANON_IDS[i];
    if (c === want || c === prefixed) return LVM_FIELD_IDS[i]!;
  }
  return null;
}

/** canon() of each of LVM_FIELD_IDS, made on first use. */
let CANON_IDS: string[] | undefined;

const BY_ID = new Map(FIELDS.map((f) => [f.id, f]));

export const fieldById = (id: string): FieldDef | undefined => BY_ID.get(id);
