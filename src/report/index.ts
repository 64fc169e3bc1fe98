import type { DeviceEntry, VgDoc } from "../lib/docs.js";
import { DvmError, Exit } from "../lib/errors.js";
import type { LvActivity } from "./attrs.js";
import { type Ctx, type FieldDef, type FieldType, fieldById, matchFieldId, type Row } from "./fields.js";
import { buildModel, type LvModel, type Model, type PvModel, type VgModel } from "./model.js";
import { cellText, type RenderOptions, renderJson, renderText } from "./render.js";
import { checkUnits, DEFAULT_UNITS, type Units } from "./units.js";

/**
 * pvs / vgs / lvs / lvs --segments reports, byte for byte as LVM2 2.03.16
 * prints them for the same options. Pure: documents in, text out.
 */

export type { LvActivity } from "./attrs.js";
export { formatSize, type Units } from "./units.js";

export type ReportKind = "pvs" | "vgs" | "lvs" | "segs";

export interface ReportOptions {
  /**
   * The -o arguments in order, each a comma-separated field list: plain
   * replaces the columns so far, "+..." appends, "-..." removes (LVM's rules).
   */
  fields?: string[];
  /** --units; LVM's default is r (human-readable, "<" when rounded up). */
  units?: Units;
  nosuffix?: boolean;
  noheadings?: boolean;
  /** --separator; also turns column alignment off, as in LVM. */
  separator?: string;
  /** --reportformat json */
  json?: boolean;
  /** Positional names: PV device paths for pvs, VG or VG/LV names for the others. */
  select?: string[];
  /** -a: hidden LVs too, names in brackets (LV reports only). */
  all?: boolean;
}

export interface ReportInput {
  vgs: VgDoc[];
  orphans: DeviceEntry[];
  /**
   * Device-mapper state of LVs by "vg/lv" (absent LVs are inactive). Without
   * it the state is unknown and reports show what LVM shows when activation
   * is disabled ('X' in lv_attr, "unknown" in lv_active).
   */
  activity?: Record<string, LvActivity>;
}

const DEFAULT_FIELDS: Record<ReportKind, string> = {
  pvs: "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free",
  vgs: "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free",
  lvs: "lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,data_percent,metadata_percent,move_pv,mirror_log,copy_percent,convert_lv",
  segs: "lv_name,vg_name,lv_attr,stripes,segtype,seg_size",
};

/** LVM's default sort keys per report (report/*_sort). */
const SORT_KEYS: Record<ReportKind, string[]> = {
  pvs: ["pv_name"],
  vgs: ["vg_name"],
  lvs: ["vg_name", "lv_name"],
  segs: ["vg_name", "lv_name", "seg_start"],
};

/** Short field names resolve with the report's prefix ("size" is lv_size in lvs). */
const PREFIX: Record<ReportKind, string> = { pvs: "pv", vgs: "vg", lvs: "lv", segs: "seg" };
const JSON_KEY: Record<ReportKind, string> = { pvs: "pv", vgs: "vg", lvs: "lv", segs: "seg" };

function resolveField(name: string, kind: ReportKind): FieldDef {
  const id = matchFieldId(name, PREFIX[kind]);
  if (id === null) throw new DvmError(Exit.invalid, `Unrecognised field: ${name}`);
  const f = fieldById(id);
  if (!f) throw new DvmError(Exit.invalid, `Field ${id} (from "${name}") is not supported by dvm report`);
  return f;
}

/** The columns after applying every -o argument to the report's defaults. */
export function resolveColumns(kind: ReportKind, fields: string[] | undefined): FieldDef[] {
  const names = (s: string) => s.split(",").filter((n) => n !== "");
  let cols = names(DEFAULT_FIELDS[kind]).map((n) => resolveField(n, kind));
  for (const arg of fields ?? []) {
    if (arg === "") throw new DvmError(Exit.invalid, "Invalid options string: ");
    if (arg.startsWith("+")) cols = cols.concat(names(arg.slice(1)).map((n) => resolveField(n, kind)));
    else if (arg.startsWith("-")) {
      const drop = new Set(names(arg.slice(1)).map((n) => resolveField(n, kind).id));
      cols = cols.filter((c) => !drop.has(c.id));
    } else cols = names(arg).map((n) => resolveField(n, kind));
  }
  if (cols.length === 0) throw new DvmError(Exit.invalid, "No fields to report");
  return cols;
}

type RowType = "pv" | "vg" | "lv" | "seg";

/**
 * Which objects the rows are, as LVM decides it: the command's own type,
 * changed by the fields asked for (lvs with segment fields gives one row per
 * segment, vgs with PV fields one row per PV, ...). Rows per PV segment
 * (PV fields with LV or segment fields) are refused with exit 2 below.
 */
function rowType(kind: ReportKind, cols: FieldDef[]): RowType {
  const types = new Set<FieldType>(cols.map((c) => c.type));
  const pvish = types.has("pv") || types.has("label") || kind === "pvs";
  const lvish = types.has("lv") || types.has("seg") || kind === "lvs" || kind === "segs";
  if (pvish && lvish) {
    const odd = cols.filter((c) =>
      kind === "pvs" ? c.type === "lv" || c.type === "seg" : c.type === "pv" || c.type === "label",
    );
    throw new DvmError(
      Exit.invalid,
      `dvm report cannot show ${odd.map((c) => c.id).join(", ")} in a ${kind} report (LVM would report PV segments)`,
    );
  }
  if (pvish) return "pv";
  if (types.has("seg") || kind === "segs") return "seg";
  if (lvish) return "lv";
  return "vg";
}

/** Which VGs and LVs the positional names pick; null: everything. */
interface Selection {
  vgs: Set<string>;
  lvs: Set<string>;
}

/** LVs a report can show; the internal snapshotN links never appear, even by name. */
const listable = (lv: LvModel) => !lv.snapshotLink;
const isThinPool = (lv: LvModel) => {
  for (let i = 0; i < lv.segs.length; i++) if (lv.segs[i]!.type === "thin-pool") return true;
  return false;
};

function selectVgsLvs(kind: ReportKind, model: Model, names: string[]): Selection | null {
  if (names.length === 0) return null;
  const sel: Selection = { vgs: new Set(), lvs: new Set() };
  for (const n of names) {
    const slash = kind === "vgs" ? -1 : n.indexOf("/");
    const vgName = slash < 0 ? n : n.slice(0, slash);
    const vg = model.vgs.find((v) => v.name === vgName);
    if (!vg) throw new DvmError(Exit.notFound, `Volume group "${vgName}" not found`);
    if (slash < 0) {
      sel.vgs.add(vg.name);
      continue;
    }
    const lvName = n.slice(slash + 1);
    if (!vg.lvs.some((l) => l.name === lvName && listable(l)))
      throw new DvmError(Exit.notFound, `Failed to find logical volume "${vgName}/${lvName}"`);
    sel.lvs.add(`${vgName}/${lvName}`);
  }
  return sel;
}

function collectRows(kind: ReportKind, type: RowType, model: Model, opts: ReportOptions): Row[] {
  const select = opts.select ?? [];
  const vgs = [...model.vgs].sort((a, b) => cmp(a.name, b.name));
  if (kind === "pvs") {
    let pvs: PvModel[] = [...vgs.flatMap((v) => v.pvs), ...model.orphans];
    if (select.length) {
      for (const n of select)
        if (!pvs.some((p) => p.name === n))
          throw new DvmError(Exit.notFound, `Failed to find physical volume "${n}".`);
      pvs = pvs.filter((p) => select.includes(p.name));
    }
    return pvs.map((pv) => ({ vg: pv.vg, pv }));
  }
  const sel = selectVgsLvs(kind, model, select);
  const vgPicked = (vg: VgModel) => !sel || sel.vgs.has(vg.name);
  // Hidden LVs appear with -a or when named explicitly.
  const lvPicked = (lv: LvModel) =>
    listable(lv) &&
    (sel?.lvs.has(`${lv.vg.name}/${lv.name}`) || ((lv.visible || !!opts.all) && vgPicked(lv.vg)));
  const chosen = sel ? vgs.filter((v) => sel.vgs.has(v.name) || v.lvs.some(lvPicked)) : vgs;
  // LVM processes a VG's thin pools before its other LVs (seen when rows tie on the sort keys).
  const lvsOf = (vg: VgModel) => [...vg.lvs.filter(isThinPool), ...vg.lvs.filter((l) => !isThinPool(l))];
  switch (type) {
    case "vg":
      return chosen.map((vg) => ({ vg }));
    case "pv":
      return chosen.flatMap((vg) => vg.pvs.map((pv) => ({ vg, pv })));
    case "lv":
      return chosen.flatMap((vg) =>
        lvsOf(vg)
          .filter(lvPicked)
          .map((lv) => ({ vg, lv })),
      );
    case "seg":
      return chosen.flatMap((vg) =>
        lvsOf(vg)
          .filter(lvPicked)
          .flatMap((lv) => lv.segs.map((seg) => ({ vg, lv, seg }))),
      );
  }
}

/** strcmp order (names are ASCII). */
function cmp(a: string | number, b: string | number): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function sortValue(key: string, row: Row): string | number {
  switch (key) {
    case "pv_name":
      return row.pv?.name ?? "";
    case "vg_name":
      return row.vg?.name ?? "";
    case "lv_name":
      return row.lv?.name ?? "";
    case "seg_start":
      return row.seg?.meta.start_extent ?? 0;
    default:
      throw new Error(`internal: no sort value for ${key}`);
  }
}

/** The exact stdout LVM2 prints for the report. */
export function renderReport(kind: ReportKind, input: ReportInput, opts: ReportOptions = {}): string {
  const cols = resolveColumns(kind, opts.fields);
  const type = rowType(kind, cols);
  const ro: RenderOptions = {
    units: opts.units === undefined ? DEFAULT_UNITS : checkUnits(opts.units),
    suffix: !opts.nosuffix,
    headings: !opts.noheadings,
    separator: opts.separator,
  };
  const model = buildModel(input.vgs, input.orphans);
  const rows = collectRows(kind, type, model, opts);
  // Array.prototype.sort is stable: rows equal on the keys keep metadata order, as in LVM.
  // Each row's sort values are taken once, not at every comparison.
  const keys = SORT_KEYS[kind];
  const sorted = rows
    .map((row) => {
      const by: (string | number)[] = [];
      for (let i = 0; i < keys.length; i++) by.push(sortValue(keys[i]!, row));
      return { row, by };
    })
    .sort((a, b) => {
      for (let i = 0; i < keys.length; i++) {
        const c = cmp(a.by[i]!, b.by[i]!);
        if (c !== 0) return c;
      }
      return 0;
    });
  const ctx: Ctx = { activity: input.activity };
  const cells = sorted.map(({ row }) => cols.map((f) => cellText(f, row, ctx, ro)));
  return opts.json ? renderJson(JSON_KEY[kind], cols, cells) : renderText(cols, cells, ro);
}
