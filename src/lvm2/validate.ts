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
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

/** Base segment type name, without "+FLAG" suffixes. */
export const baseSegType = (type: string) => type.split("+")[0]!;

/** Every problem found; empty when the metadata is sound. */
export function vgProblems(vg: VgMeta): string[] {
  const p: string[] = [];
  const np = nameProblem(vg.name);
  if (np) p.push(`VG name "${show(vg.name)}": ${np}`);
  checkId(p, vg.id, `VG ${show(vg.name)} id`);
  if (!isInt(vg.seqno) || vg.seqno < 0 || vg.seqno > U32_MAX)
    p.push(`VG seqno ${show(vg.seqno)} is not a u32`);
  checkWords(p, vg.status, VG_STATUS, "VG status", true);
  checkWords(p, vg.flags, null, "VG flags", false);
  checkTags(p, vg.tags, "VG");
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
  for (const pv of vg.physical_volumes) {
    const w = `PV ${pv.name}`;
    const pn = nameProblem(pv.name);
    if (pn) p.push(`${w}: section ${pn}`);
    pvByName.set(pv.name, pv);
    checkId(p, pv.id, `${w} id`);
    const raw = typeof pv.id === "string" ? rawId(pv.id) : null;
    if (raw && pvIds.has(raw)) p.push(`${w}: id ${pv.id} appears twice`);
    if (raw) pvIds.add(raw);
    checkWords(p, pv.status, PV_STATUS, `${w} status`, true);
    checkWords(p, pv.flags, null, `${w} flags`, false);
    checkTags(p, pv.tags, w);
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
  for (const lv of lvs) {
    if (pvByName.has(lv.name)) p.push(`LV ${lv.name}: name clashes with a PV section name`);
    lvByName.set(lv.name, lv);
  }
  const used: PvRun[] = [];
  for (const lv of lvs) checkLv(p, lv, pvByName, lvByName, used);
  checkOverlaps(p, used);
  return p;
}

export function validExtentSize(sectors: number): boolean {
  return (sectors & (sectors - 1)) === 0 || sectors % 256 === 0;
}

function checkId(p: string[], id: unknown, what: string) {
  if (typeof id !== "string" || rawId(id) === null) p.push(`${what} "${show(id)}" is not a valid ID`);
}

function checkWords(p: string[], v: unknown, known: string[] | null, what: string, required: boolean) {
  if (v === undefined) {
    if (required) p.push(`${what} is missing`);
    return;
  }
  if (!isStrArray(v)) {
    p.push(`${what} is not a list of strings`);
    return;
  }
  if (known) for (const w of v) if (!known.includes(w)) p.push(`${what}: unknown word "${w}"`);
}

function checkTags(p: string[], tags: unknown, what: string) {
  if (tags === undefined) return;
  if (!isStrArray(tags)) {
    p.push(`${what} tags is not a list of strings`);
    return;
  }
  for (const t of tags) {
    const tp = tagProblem(t);
    if (tp) p.push(`${what} tag "${t}": ${tp}`);
  }
}

function checkLv(p: string[], lv: LvMeta, pvs: Map<string, PvMeta>, lvs: Map<string, LvMeta>, used: PvRun[]) {
  const w = `LV ${lv.name}`;
  const np = nameProblem(lv.name);
  if (np) p.push(`${w}: ${np}`);
  checkId(p, lv.id, `${w} id`);
  checkWords(p, lv.status, LV_STATUS, `${w} status`, true);
  checkWords(p, lv.flags, null, `${w} flags`, false);
  checkTags(p, lv.tags, w);
  if ((lv.creation_time === undefined) !== (lv.creation_host === undefined))
    p.push(`${w}: creation_time and creation_host must appear together`);
  if (!Array.isArray(lv.segments) || lv.segments.length === 0) {
    p.push(`${w} has no segments`);
    return;
  }
  if (lv.segment_count !== lv.segments.length)
    p.push(`${w}: segment_count ${show(lv.segment_count)} but ${lv.segments.length} segments`);
  const bad = lv.segments.find(
    (seg) =>
      !isInt(seg.start_extent) || seg.start_extent < 0 || !isInt(seg.extent_count) || seg.extent_count <= 0,
  );
  if (bad) {
    p.push(
      `${w}: a segment's start_extent/extent_count (${show(bad.start_extent)}/${show(bad.extent_count)}) is invalid`,
    );
    return;
  }
  const segs = [...lv.segments].sort((a, b) => a.start_extent - b.start_extent);
  let next = 0;
  for (const seg of segs) {
    const sw = `${w} segment at ${seg.start_extent}`;
    if (seg.start_extent !== next) p.push(`${w}: segments leave a gap or overlap at extent ${next}`);
    next = seg.start_extent + seg.extent_count;
    if (typeof seg.type !== "string") {
      p.push(`${sw}: type missing`);
      continue;
    }
    checkTags(p, seg.tags, sw);
    checkAreas(p, sw, lv.name, seg, pvs, lvs, used);
  }
}

function checkAreas(
  p: string[],
  sw: string,
  lvName: string,
  seg: SegmentMeta,
  pvs: Map<string, PvMeta>,
  lvs: Map<string, LvMeta>,
  used: PvRun[],
) {
  const type = baseSegType(seg.type);
  const key = PAIR_AREAS[type];
  if (!key) return; // other types are checked by their own modules, or kept unknown
  const areas = seg[key];
  if (!Array.isArray(areas) || areas.length === 0 || areas.length % 2 !== 0) {
    p.push(`${sw}: ${key} must be a list of name, extent pairs`);
    return;
  }
  const count = areas.length / 2;
  let perArea = seg.extent_count;
  if (type === "striped" || type === "linear") {
    if (seg.stripe_count !== count)
      p.push(`${sw}: stripe_count ${show(seg.stripe_count)} but ${count} stripes`);
    if (count > 1 && (!isInt(seg.stripe_size) || seg.stripe_size <= 0))
      p.push(`${sw}: stripe_size required with ${count} stripes`);
    if (seg.extent_count % count !== 0) p.push(`${sw}: extent_count not a multiple of the ${count} stripes`);
    perArea = Math.floor(seg.extent_count / count);
  } else if (seg.mirror_count !== count)
    p.push(`${sw}: mirror_count ${show(seg.mirror_count)} but ${count} areas`);
  for (let i = 0; i < areas.length; i += 2) {
    const name = areas[i];
    const start = areas[i + 1];
    if (typeof name !== "string" || !isInt(start) || start < 0) {
      p.push(`${sw}: area ${i / 2} is not a name and extent`);
      continue;
    }
    const pv = pvs.get(name);
    if (pv) {
      if (isInt(pv.pe_count) && start + perArea > pv.pe_count)
        p.push(`${sw}: extents ${start}-${start + perArea - 1} lie beyond ${name}'s ${pv.pe_count} extents`);
      used.push({ pv: name, start, end: start + perArea, lv: lvName });
    } else if (!lvs.has(name)) p.push(`${sw}: area refers to "${name}", neither a PV nor an LV`);
  }
}

/** A run of PV extents [start, end) that an LV segment area takes. */
interface PvRun {
  pv: string;
  start: number;
  end: number;
  lv: string;
}

/** No physical extent may belong to two areas. */
function checkOverlaps(p: string[], runs: PvRun[]) {
  runs.sort((a, b) => (a.pv < b.pv ? -1 : a.pv > b.pv ? 1 : a.start - b.start));
  for (let i = 1; i < runs.length; i++) {
    const a = runs[i - 1]!;
    const b = runs[i]!;
    if (a.pv === b.pv && b.start < a.end)
      p.push(`extent ${b.start} of ${b.pv} is used by both LV ${a.lv} and LV ${b.lv}`);
  }
}
