import { nameProblem, tagProblem } from "./names.js";
import { rawId } from "./uuid.js";
import type { LvMeta, PvMeta, SegmentMeta, VgMeta } from "./vg.js";

/** Meaning-level checks of VG metadata (lvm2-on-disk-format.md §10-§16). */

export const VG_STATUS = [
  "EXPORTED",
  "RESIZEABLE",
  "PVMOVE",
  "READ",
  "WRITE",
  "CLUSTERED",
  "SHARED",
  "PARTIAL",
];
export const PV_STATUS = ["ALLOCATABLE", "EXPORTED", "MISSING"];
export const LV_STATUS = [
  "READ",
  "WRITE",
  "FIXED_MINOR",
  "VISIBLE",
  "PVMOVE",
  "LOCKED",
  "NOTSYNCED",
  "REBUILD",
  "WRITEMOSTLY",
  "CACHE_VOL",
];
const U32_MAX = 0xffffffff;

/** Segment types whose areas are [name, extent] pairs. */
const PAIR_AREAS: Record<string, string> = { striped: "stripes", linear: "stripes", mirror: "mirrors" };

/** Untrusted values in messages: objects may carry keys such as toString that break String(). */
const show = (v: unknown) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
function isStrArray(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== "string") return false;
  return true;
}

/** An ID in the dashed form LVM2 writes: valid without building its raw form. */
const DASHED_ID = /^[0-9a-zA-Z!#]{6}(?:-[0-9a-zA-Z!#]{4}){5}-[0-9a-zA-Z!#]{6}$/;

/** Base segment type name, without "+FLAG" suffixes. */
export const baseSegType = (type: string) => {
  const plus = type.indexOf("+");
  return plus < 0 ? type : type.slice(0, plus);
};

/**
 * Results of vgProblems by document, while withProblemMemo runs: a write
 * checks the VG it read (dvm-tm), then dvm-manip checks the old and the new
 * one, then dvm-tm the new one again; the same objects need one pass each.
 */
let memo: WeakMap<object, string[]> | null = null;

/**
 * Run `fn` with vgProblems remembering its results by object. Only for code
 * that does not change a VG document in place once it has been checked
 * (documents are replaced, never edited: dvm-tm's transactions).
 */
export function withProblemMemo<T>(fn: () => T): T {
  const outer = memo;
  memo ??= new WeakMap();
  try {
    return fn();
  } finally {
    memo = outer;
  }
}

/** Drop what withProblemMemo remembers of `vg` (a document that was changed in place after all). */
export function forgetProblems(vg: VgMeta): void {
  if (typeof vg === "object" && vg !== null) memo?.delete(vg);
}

/** Every problem found; empty when the metadata is sound. */
export function vgProblems(vg: VgMeta): string[] {
  const key = typeof vg === "object" && vg !== null ? vg : null;
  const known = key && memo?.get(key);
  if (known) return known.slice();
  const p = problems(vg);
  if (key) memo?.set(key, p.slice());
  return p;
}

function problems(vg: VgMeta): string[] {
  const p: string[] = [];
  const np = nameProblem(vg.name);
  if (np) p.push(`VG name "${show(vg.name)}": ${np}`);
  checkId(p, vg.id, "VG", show(vg.name));
  if (!isInt(vg.seqno) || vg.seqno < 0 || vg.seqno > U32_MAX)
    p.push(`VG seqno ${show(vg.seqno)} is not a u32`);
  checkWords(p, vg.status, VG_STATUS, "VG", NO_NAME, "status", true);
  checkWords(p, vg.flags, null, "VG", NO_NAME, "flags", false);
  checkTags(p, vg.tags, "VG", NO_NAME);
  if (!isInt(vg.extent_size) || vg.extent_size <= 0)
    p.push(`VG extent_size ${show(vg.extent_size)} is not positive`);
  else if (!validExtentSize(vg.extent_size))
    p.push(`VG extent_size ${show(vg.extent_size)} is neither a power of 2 nor a multiple of 128 KiB`);
  for (const k of ["max_lv", "max_pv"] as const)
    if (!isInt(vg[k]) || vg[k] < 0) p.push(`VG ${k} ${show(vg[k])} is not a non-negative integer`);
  if (!Array.isArray(vg.physical_volumes)) {
    p.push("VG has no physical_volumes");
    return p;
  }
  const pvByName = new Map<string, PvMeta>();
  const pvIds = new Set<string>();
  // Indexed loops here and below: for-of costs several times more in code that has not been optimized yet.
  for (let i = 0; i < vg.physical_volumes.length; i++) {
    const pv = vg.physical_volumes[i]!;
    const w = `PV ${pv.name}`;
    const pn = nameProblem(pv.name);
    if (pn) p.push(`${w}: section ${pn}`);
    pvByName.set(pv.name, pv);
    checkId(p, pv.id, "PV", pv.name);
    const raw = typeof pv.id === "string" ? rawId(pv.id) : null;
    if (raw && pvIds.has(raw)) p.push(`${w}: id ${pv.id} appears twice`);
    if (raw) pvIds.add(raw);
    checkWords(p, pv.status, PV_STATUS, "PV", pv.name, "status", true);
    checkWords(p, pv.flags, null, "PV", pv.name, "flags", false);
    checkTags(p, pv.tags, "PV", pv.name);
    if (!isInt(pv.pe_start) || pv.pe_start < 0) p.push(`${w}: pe_start ${show(pv.pe_start)} is invalid`);
    if (!isInt(pv.pe_count) || pv.pe_count < 0 || pv.pe_count > U32_MAX)
      p.push(`${w}: pe_count ${show(pv.pe_count)} is invalid`);
    if (pv.dev_size !== undefined && (!isInt(pv.dev_size) || pv.dev_size < 0))
      p.push(`${w}: dev_size ${show(pv.dev_size)} is invalid`);
    if ((pv.ba_start === undefined) !== (pv.ba_size === undefined))
      p.push(`${w}: ba_start and ba_size must appear together`);
  }
  const lvs = vg.logical_volumes ?? [];
  if (!Array.isArray(lvs)) {
    p.push("VG logical_volumes is not a list");
    return p;
  }
  const lvByName = new Map<string, LvMeta>();
  for (let i = 0; i < lvs.length; i++) {
    const lv = lvs[i]!;
    if (pvByName.has(lv.name)) p.push(`LV ${lv.name}: name clashes with a PV section name`);
    lvByName.set(lv.name, lv);
  }
  const used = new Map<string, PvRun[]>();
  for (let i = 0; i < lvs.length; i++) checkLv(p, lvs[i]!, pvByName, lvByName, used);
  checkOverlaps(p, used);
  return p;
}

export function validExtentSize(sectors: number): boolean {
  return (sectors & (sectors - 1)) === 0 || sectors % 256 === 0;
}

// Messages name their object as "KIND NAME FIELD" ("LV lv0 status"; the VG's words have no name).
// They are built only when there is something to say: a sound VG of 1,000 LVs is checked without them.
const NO_NAME = Symbol("no name");
const who = (kind: string, name: unknown) => (name === NO_NAME ? kind : `${kind} ${name}`);

function checkId(p: string[], id: unknown, kind: string, name: unknown) {
  if (typeof id !== "string" || (!DASHED_ID.test(id) && rawId(id) === null))
    p.push(`${who(kind, name)} id "${show(id)}" is not a valid ID`);
}

function checkWords(
  p: string[],
  v: unknown,
  known: string[] | null,
  kind: string,
  name: unknown,
  field: string,
  required: boolean,
) {
  if (v === undefined) {
    if (required) p.push(`${who(kind, name)} ${field} is missing`);
    return;
  }
  if (!isStrArray(v)) {
    p.push(`${who(kind, name)} ${field} is not a list of strings`);
    return;
  }
  if (known)
    for (let i = 0; i < v.length; i++)
      if (!known.includes(v[i]!)) p.push(`${who(kind, name)} ${field}: unknown word "${v[i]}"`);
}

function checkTags(p: string[], tags: unknown, kind: string, name: unknown) {
  if (tags === undefined) return;
  if (!isStrArray(tags)) {
    p.push(`${who(kind, name)} tags is not a list of strings`);
    return;
  }
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i]!;
    const tp = tagProblem(t);
    if (tp) p.push(`${who(kind, name)} tag "${t}": ${tp}`);
  }
}

function checkLv(
  p: string[],
  lv: LvMeta,
  pvs: Map<string, PvMeta>,
  lvs: Map<string, LvMeta>,
  used: Map<string, PvRun[]>,
) {
  const np = nameProblem(lv.name);
  if (np) p.push(`LV ${lv.name}: ${np}`);
  checkId(p, lv.id, "LV", lv.name);
  checkWords(p, lv.status, LV_STATUS, "LV", lv.name, "status", true);
  checkWords(p, lv.flags, null, "LV", lv.name, "flags", false);
  checkTags(p, lv.tags, "LV", lv.name);
  if ((lv.creation_time === undefined) !== (lv.creation_host === undefined))
    p.push(`LV ${lv.name}: creation_time and creation_host must appear together`);
  const segments = lv.segments;
  if (!Array.isArray(segments) || segments.length === 0) {
    p.push(`LV ${lv.name} has no segments`);
    return;
  }
  if (lv.segment_count !== segments.length)
    p.push(`LV ${lv.name}: segment_count ${show(lv.segment_count)} but ${segments.length} segments`);
  // In extent order (LVM2 writes them so; sorted, stably, when they are not).
  let inOrder = true;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (
      !isInt(seg.start_extent) ||
      seg.start_extent < 0 ||
      !isInt(seg.extent_count) ||
      seg.extent_count <= 0
    ) {
      p.push(
        `LV ${lv.name}: a segment's start_extent/extent_count (${show(seg.start_extent)}/${show(seg.extent_count)}) is invalid`,
      );
      return;
    }
    if (i > 0 && seg.start_extent < segments[i - 1]!.start_extent) inOrder = false;
  }
  const segs = inOrder ? segments : [...segments].sort((a, b) => a.start_extent - b.start_extent);
  let next = 0;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    if (seg.start_extent !== next) p.push(`LV ${lv.name}: segments leave a gap or overlap at extent ${next}`);
    next = seg.start_extent + seg.extent_count;
    if (typeof seg.type !== "string") {
      p.push(`LV ${lv.name} segment at ${seg.start_extent}: type missing`);
      continue;
    }
    if (seg.tags !== undefined) checkTags(p, seg.tags, `LV ${lv.name} segment at`, seg.start_extent);
    checkAreas(p, lv.name, seg, pvs, lvs, used);
  }
}

const segWhere = (lvName: string, seg: SegmentMeta) => `LV ${lvName} segment at ${seg.start_extent}`;

function checkAreas(
  p: string[],
  lvName: string,
  seg: SegmentMeta,
  pvs: Map<string, PvMeta>,
  lvs: Map<string, LvMeta>,
  used: Map<string, PvRun[]>,
) {
  const type = baseSegType(seg.type);
  const key = PAIR_AREAS[type];
  if (!key) return; // other types are checked by their own modules, or kept unknown
  const areas = seg[key];
  if (!Array.isArray(areas) || areas.length === 0 || areas.length % 2 !== 0) {
    p.push(`${segWhere(lvName, seg)}: ${key} must be a list of name, extent pairs`);
    return;
  }
  const count = areas.length / 2;
  let perArea = seg.extent_count;
  if (type === "striped" || type === "linear") {
    if (seg.stripe_count !== count)
      p.push(`${segWhere(lvName, seg)}: stripe_count ${show(seg.stripe_count)} but ${count} stripes`);
    if (count > 1 && (!isInt(seg.stripe_size) || seg.stripe_size <= 0))
      p.push(`${segWhere(lvName, seg)}: stripe_size required with ${count} stripes`);
    if (seg.extent_count % count !== 0)
      p.push(`${segWhere(lvName, seg)}: extent_count not a multiple of the ${count} stripes`);
    perArea = Math.floor(seg.extent_count / count);
  } else if (seg.mirror_count !== count)
    p.push(`${segWhere(lvName, seg)}: mirror_count ${show(seg.mirror_count)} but ${count} areas`);
  for (let i = 0; i < areas.length; i += 2) {
    const name = areas[i];
    const start = areas[i + 1];
    if (typeof name !== "string" || !isInt(start) || start < 0) {
      p.push(`${segWhere(lvName, seg)}: area ${i / 2} is not a name and extent`);
      continue;
    }
    const pv = pvs.get(name);
    if (pv) {
      if (isInt(pv.pe_count) && start + perArea > pv.pe_count)
        p.push(
          `${segWhere(lvName, seg)}: extents ${start}-${start + perArea - 1} lie beyond ${name}'s ${pv.pe_count} extents`,
        );
      const run: PvRun = { start, end: start + perArea, lv: lvName };
      const runs = used.get(name);
      if (runs) runs.push(run);
      else used.set(name, [run]);
    } else if (!lvs.has(name))
      p.push(`${segWhere(lvName, seg)}: area refers to "${name}", neither a PV nor an LV`);
  }
}

/** A run of a PV's extents [start, end) that an LV segment area takes. */
interface PvRun {
  start: number;
  end: number;
  lv: string;
}

/** No physical extent may belong to two areas (reported by PV name, then extent). */
function checkOverlaps(p: string[], used: Map<string, PvRun[]>) {
  const pvNames = [...used.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const pv of pvNames) {
    const runs = used.get(pv)!;
    let inOrder = true;
    for (let i = 1; i < runs.length; i++) if (runs[i]!.start < runs[i - 1]!.start) inOrder = false;
    if (!inOrder) runs.sort((a, b) => a.start - b.start);
    for (let i = 1; i < runs.length; i++) {
      const a = runs[i - 1]!;
      const b = runs[i]!;
      if (b.start < a.end) p.push(`extent ${b.start} of ${pv} is used by both LV ${a.lv} and LV ${b.lv}`);
    }
  }
}
