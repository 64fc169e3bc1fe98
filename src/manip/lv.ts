import type { VgDoc } from "../lib/docs.js";
import { userLvNameProblem } from "../lvm2/names.js";
import type { LvMeta, SegmentMeta, VgMeta } from "../lvm2/vg.js";
import { type AllocatedRun, type AllocPolicy, allocatable, allocate, type PvChoice } from "./alloc.js";
import {
  conflict,
  displaySize,
  findLv,
  findPv,
  invalidInput,
  type ManipResult,
  nextLvDoc,
  noSpace,
  ownLv,
  pvLabel,
} from "./common.js";
import { areaLength, type PeRun, usedCount, usedExtents } from "./extents.js";
import { checkVgWritable } from "./vg.js";

/** LV mutators for striped (and linear) LVs: lv-create, lv-extend, lv-reduce, lv-remove, lv-rename. */

export const DEFAULT_STRIPE_SECTORS = 128; // 64 KiB
export const MAX_STRIPES = 128;

/** A size argument: absolute, or relative (+SIZE for extend, -SIZE for reduce). */
export interface SizeArg {
  sectors: number;
  relative: boolean;
}

export interface LvCreateOptions {
  name: string;
  /** Size in sectors. */
  size: number;
  stripes?: number;
  /** Stripe size in sectors. */
  stripeSize?: number;
  /** PVs to allocate from: `PV[:PE[-PE]]...` (PV = device path, pvN or UUID). */
  on?: string[];
  time: number;
  host: string;
  newId: () => string;
  /** Where messages go (also when the operation then fails); a new list if absent. */
  messages?: string[];
}

export interface LvExtendOptions {
  name: string;
  size: SizeArg;
  stripes?: number;
  stripeSize?: number;
  on?: string[];
  messages?: string[];
}

// ---------------------------------------------------------------- checks

function checkNewLvName(vg: VgMeta, name: string) {
  const p = userLvNameProblem(name);
  if (p) throw invalidInput(`logical volume name "${name}" is invalid: ${p}`);
  if ((vg.logical_volumes ?? []).some((l) => l.name === name))
    throw conflict(`logical volume "${name}" already exists in volume group "${vg.name}"`);
  if (vg.physical_volumes.some((p) => p.name === name))
    throw conflict(`logical volume name "${name}" clashes with a PV section name`);
}

const isStripedType = (t: unknown) => t === "striped" || t === "linear";

/**
 * Whether `name` is `v` or a value anywhere inside it. It visits every
 * value of every LV, so its loops are indexed: for-of costs several times
 * more in code that has not been optimized yet.
 */
function refersTo(v: unknown, name: string): boolean {
  if (v === name) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (refersTo(v[i], name)) return true;
  } else if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    for (let i = 0; i < keys.length; i++) if (refersTo(o[keys[i]!], name)) return true;
  }
  return false;
}

/** Names of other LVs' references to `lv` (as areas, origins, pools, ...). */
function usersOf(vg: VgMeta, lv: LvMeta): string[] {
  const users: string[] = [];
  for (const o of vg.logical_volumes ?? []) if (o !== lv && refersTo(o.segments, lv.name)) users.push(o.name);
  return users;
}

/** Only visible striped/linear LVs on PVs, used by no other LV, are changed here. */
function checkEditable(vg: VgMeta, lv: LvMeta, what: string) {
  const pvs = new Set(vg.physical_volumes.map((p) => p.name));
  for (const seg of lv.segments) {
    if (!isStripedType(seg.type))
      throw invalidInput(
        `can't ${what} logical volume "${lv.name}": it has a segment of type "${String(seg.type)}"` +
          " (only striped and linear LVs can be changed by this operation)",
      );
    const a = seg.stripes;
    if (!Array.isArray(a) || a.length === 0)
      throw invalidInput(`can't ${what} logical volume "${lv.name}": a segment has no stripes`);
    for (let i = 0; i < a.length; i += 2)
      if (typeof a[i] !== "string" || !pvs.has(a[i] as string))
        throw invalidInput(
          `can't ${what} logical volume "${lv.name}": its segments use "${String(a[i])}", which is not a PV`,
        );
  }
  const st = Array.isArray(lv.status) ? lv.status : [];
  if (!st.includes("VISIBLE")) throw invalidInput(`can't ${what} internal logical volume "${lv.name}"`);
  if (st.includes("LOCKED") || st.includes("PVMOVE"))
    throw conflict(`can't ${what} locked logical volume "${lv.name}" (pvmove in progress?)`);
  const users = usersOf(vg, lv);
  if (users.length)
    throw conflict(`can't ${what} logical volume "${lv.name}": it is used by ${users.join(", ")}`);
}

function checkStripes(stripes: number) {
  if (!Number.isInteger(stripes) || stripes < 1 || stripes > MAX_STRIPES)
    throw invalidInput(`number of stripes (${stripes}) must be between 1 and ${MAX_STRIPES}`);
}

/** LVM2's stripe size rules: a power of 2, at least 4 KiB; more than an extent is cut to one extent. */
function checkStripeSize(sectors: number, extentSize: number, say: (m: string) => void): number {
  if (!Number.isInteger(sectors) || sectors < 8 || (sectors & (sectors - 1)) !== 0)
    throw invalidInput(
      `invalid stripe size ${displaySize(sectors)} (a power of 2, at least 4 KiB, is needed)`,
    );
  if (sectors > extentSize) {
    say(
      `Reducing requested stripe size ${displaySize(sectors)} to maximum, physical extent size ${displaySize(extentSize)}.`,
    );
    return extentSize;
  }
  return sectors;
}

/** The allocation policy in force for an LV (its own, else the VG's). */
function policyOf(vg: VgMeta, lv?: LvMeta): AllocPolicy {
  const own = lv?.allocation_policy;
  const p = typeof own === "string" && own !== "inherit" ? own : vg.allocation_policy;
  if (p === undefined || p === "normal" || p === "inherit") return "normal";
  if (p === "contiguous") return "contiguous";
  if (p === "cling" || p === "cling_by_tags") return "cling";
  throw invalidInput(`allocation policy "${String(p)}" is not supported`);
}

// ---------------------------------------------------------------- PV arguments

function tryFindPv(doc: VgDoc, spec: string) {
  try {
    return findPv(doc, spec);
  } catch {
    return undefined;
  }
}

/** Parse LVM2's PE range list (":N", ":N-M", ":N-", ":-M", ":N+LEN", ...) after a PV name. */
export function parsePeRanges(text: string, peCount: number, pvName: string, into: PeRun[]) {
  let c = 0;
  const bad = () => invalidInput(`physical extent parsing error at "${text.slice(c)}" (in ${pvName})`);
  const num = () => {
    const m = /^\d+/.exec(text.slice(c));
    if (!m) throw bad();
    c += m[0].length;
    const n = Number(m[0]);
    if (n > 0xffffffff) throw bad();
    return n;
  };
  const isDigit = () => c < text.length && text[c]! >= "0" && text[c]! <= "9";
  while (c < text.length) {
    if (text[c] !== ":") throw bad();
    c++;
    if (c >= text.length || text[c] === ":") throw bad();
    let start = 0;
    let end = peCount - 1;
    if (isDigit()) {
      start = num();
      if (c >= text.length || text[c] === ":") end = start;
    }
    if (text[c] === "-") {
      c++;
      if (isDigit()) end = num();
    } else if (text[c] === "+") {
      c++;
      if (isDigit()) {
        const len = num();
        end = start + (len ? len - 1 : 0);
      }
    }
    if (c < text.length && text[c] !== ":") throw bad();
    if (start > end || end > peCount - 1)
      throw invalidInput(`PE range error: start extent ${start} to end extent ${end} (on ${pvName})`);
    const count = end - start + 1;
    for (const r of into)
      if (
        (start < r.start && start + count - 1 >= r.start) ||
        (start >= r.start && r.start + r.count - 1 >= start)
      )
        throw invalidInput(
          `overlapping PE ranges specified (${start}-${start + count - 1}, ${r.start}-${r.start + r.count - 1}) on ${pvName}`,
        );
    into.push({ start, count });
  }
}

/**
 * The PVs (and extent ranges) named by --on, as LVM2's PV list: in the order
 * given, one entry per PV with its ranges in order; PVs that cannot be used
 * are skipped with a warning.
 */
export function pvChoices(doc: VgDoc, specs: string[], say: (m: string) => void): PvChoice[] {
  const used = usedExtents(doc.vg);
  const out: (PvChoice & { ranges: PeRun[] })[] = [];
  for (const spec of specs) {
    // The longest prefix (up to a colon) that names a PV: device paths may hold colons.
    const cuts = [spec.length];
    for (let i = spec.lastIndexOf(":"); i > 0; i = spec.lastIndexOf(":", i - 1)) cuts.push(i);
    const cut = cuts.find((i) => tryFindPv(doc, spec.slice(0, i))) ?? spec.length;
    const pv = findPv(doc, spec.slice(0, cut));
    const rest = spec.slice(cut);
    const label = pvLabel(doc, pv);
    if (!allocatable(pv)) {
      const missing =
        pv.status.includes("MISSING") || (Array.isArray(pv.flags) && pv.flags.includes("MISSING"));
      say(`WARNING: Physical volume ${label} ${missing ? "is missing" : "not allocatable"}.`);
      continue;
    }
    if (usedCount(used.get(pv.name)) >= pv.pe_count) {
      say(`WARNING: No free extents on physical volume "${label}".`);
      continue;
    }
    let entry = out.find((e) => e.pv === pv.name);
    if (!entry) {
      entry = { pv: pv.name, ranges: [] };
      out.push(entry);
    }
    if (rest === "") parsePeRanges(":0-", pv.pe_count, label, entry.ranges);
    else parsePeRanges(rest, pv.pe_count, label, entry.ranges);
  }
  if (out.length === 0) throw noSpace("no specified PVs have space available");
  return out;
}

// ---------------------------------------------------------------- segments

/** New striped segments for allocated runs, from logical extent `le`; keys in LVM2's order. */
function runSegments(runs: AllocatedRun[], le: number, stripeSize: number): SegmentMeta[] {
  const segs: SegmentMeta[] = [];
  for (const r of runs) {
    const n = r.areas.length;
    const seg: SegmentMeta = {
      start_extent: le,
      extent_count: r.areaLen * n,
      type: "striped",
      stripe_count: n,
    };
    if (n > 1) seg.stripe_size = stripeSize;
    seg.stripes = r.areas.flatMap((a) => [a.pv, a.pe]);
    segs.push(seg);
    le += r.areaLen * n;
  }
  return segs;
}

const MERGEABLE_KEYS = new Set([
  "start_extent",
  "extent_count",
  "type",
  "stripe_count",
  "stripe_size",
  "stripes",
  "tags",
]);

/** LVM2 merges adjacent striped segments whose every area continues on the same PV. */
function mergeable(a: SegmentMeta, b: SegmentMeta): boolean {
  if (!isStripedType(a.type) || !isStripedType(b.type)) return false;
  if (![a, b].every((s) => Object.keys(s).every((k) => MERGEABLE_KEYS.has(k)))) return false;
  if (a.stripe_count !== b.stripe_count || a.start_extent + a.extent_count !== b.start_extent) return false;
  const n = a.stripe_count ?? 0;
  const size = (s: SegmentMeta) => (n > 1 ? s.stripe_size : 0);
  if (size(a) !== size(b)) return false;
  if (JSON.stringify(a.tags ?? []) !== JSON.stringify(b.tags ?? [])) return false;
  const sa = a.stripes ?? [];
  const sb = b.stripes ?? [];
  if (sa.length !== 2 * n || sb.length !== 2 * n) return false;
  const len = areaLength(a);
  for (let i = 0; i < n; i++)
    if (sa[2 * i] !== sb[2 * i] || Number(sa[2 * i + 1]) + len !== sb[2 * i + 1]) return false;
  return true;
}

/** Merge an LV's adjacent mergeable segments, as LVM2 does when it reads and writes the LV. */
export function mergeSegments(lv: LvMeta) {
  const out: SegmentMeta[] = [];
  for (const s of [...lv.segments].sort((x, y) => x.start_extent - y.start_extent)) {
    const prev = out[out.length - 1];
    if (prev && mergeable(prev, s)) prev.extent_count += s.extent_count;
    else out.push(s);
  }
  lv.segments = out;
  lv.segment_count = out.length;
}

const lvExtents = (lv: LvMeta) => lv.segments.reduce((n, s) => n + s.extent_count, 0);

function freeExtents(vg: VgMeta, used: Map<string, PeRun[]>): number {
  return vg.physical_volumes.reduce(
    (n, pv) => n + Math.max(0, pv.pe_count - usedCount(used.get(pv.name))),
    0,
  );
}

/** The stripe count check of lvcreate: no more stripes than PVs to put them on. */
function checkStripePvs(vg: VgMeta, stripes: number, choices: PvChoice[] | undefined) {
  const n = choices ? choices.length : vg.physical_volumes.length;
  if (stripes > n)
    throw noSpace(`number of stripes (${stripes}) must not exceed number of physical volumes (${n})`);
}

// ---------------------------------------------------------------- the mutators

/** lvcreate (linear or striped). */
export function lvCreate(doc: VgDoc, o: LvCreateOptions): ManipResult {
  const messages = o.messages ?? [];
  const say = (m: string) => messages.push(m);
  const vg = doc.vg;
  checkVgWritable(vg);
  checkNewLvName(vg, o.name);
  const stripes = o.stripes ?? 1;
  checkStripes(stripes);
  let stripeSize = 0;
  if (stripes > 1) {
    if (o.stripeSize === undefined) {
      say(`Using default stripesize ${displaySize(DEFAULT_STRIPE_SECTORS)}.`);
      stripeSize = checkStripeSize(DEFAULT_STRIPE_SECTORS, vg.extent_size, say);
    } else stripeSize = checkStripeSize(o.stripeSize, vg.extent_size, say);
  } else if (o.stripeSize !== undefined) say("Ignoring stripesize argument with single stripe.");
  if (!Number.isInteger(o.size) || o.size <= 0) throw invalidInput("--size may not be zero");
  let extents = Math.ceil(o.size / vg.extent_size);
  if (extents * vg.extent_size !== o.size)
    say(`Rounding up size to full physical extent ${displaySize(extents * vg.extent_size)}`);
  if (extents % stripes) {
    const up = Math.ceil(extents / stripes) * stripes;
    say(
      `Rounding size ${displaySize(extents * vg.extent_size)} (${extents} extents) up to stripe boundary size ` +
        `${displaySize(up * vg.extent_size)} (${up} extents).`,
    );
    extents = up;
  }
  if (extents > 0xffffffff) throw invalidInput("the size is too large");
  const choices = o.on?.length ? pvChoices(doc, o.on, say) : undefined;
  checkStripePvs(vg, stripes, choices);
  const visible = (vg.logical_volumes ?? []).filter((l) => l.status.includes("VISIBLE")).length;
  if (vg.max_lv > 0 && visible >= vg.max_lv)
    throw conflict(`maximum number of logical volumes (${vg.max_lv}) reached in volume group "${vg.name}"`);
  const used = usedExtents(vg);
  const free = freeExtents(vg, used);
  if (free < extents)
    throw noSpace(
      `volume group "${vg.name}" has insufficient free space (${free} extents): ${extents} required`,
    );
  const runs = allocate({
    vg,
    stripes,
    extents,
    pvs: choices,
    policy: policyOf(vg),
    lvName: o.name,
    used,
  });
  const out = nextLvDoc(doc);
  const lv: LvMeta = {
    name: o.name,
    id: o.newId(),
    status: ["READ", "WRITE", "VISIBLE"],
    flags: [],
    creation_time: o.time,
    creation_host: o.host,
    segment_count: 0,
    segments: runSegments(runs, 0, stripeSize),
  };
  mergeSegments(lv);
  const lvs = out.vg.logical_volumes ?? [];
  // LVM2 writes the visible LVs first: a new one goes after the last of them.
  let at = 0;
  lvs.forEach((l, i) => {
    if (Array.isArray(l.status) && l.status.includes("VISIBLE")) at = i + 1;
  });
  lvs.splice(at, 0, lv);
  out.vg.logical_volumes = lvs;
  return { doc: out, messages };
}

/** lvextend: add extents at the end of a striped/linear LV. */
export function lvExtend(doc: VgDoc, o: LvExtendOptions): ManipResult {
  const messages = o.messages ?? [];
  const say = (m: string) => messages.push(m);
  const vg = doc.vg;
  checkVgWritable(vg);
  const lv = findLv(vg, o.name);
  checkEditable(vg, lv, "extend");
  if (!Number.isInteger(o.size.sectors) || o.size.sectors <= 0) throw invalidInput("--size may not be zero");
  const es = vg.extent_size;
  const current = lvExtents(lv);
  let delta: number;
  if (o.size.relative) {
    delta = Math.ceil(o.size.sectors / es);
    if (delta * es !== o.size.sectors)
      say(`Rounding size to boundary between physical extents: ${displaySize(delta * es)}.`);
  } else {
    const total = Math.ceil(o.size.sectors / es);
    if (total * es !== o.size.sectors)
      say(`Rounding size to boundary between physical extents: ${displaySize(total * es)}.`);
    if (total < current)
      throw invalidInput(
        `new size given (${total} extents) not larger than existing size (${current} extents)`,
      );
    if (total === current)
      throw invalidInput(`new size (${total} extents) matches existing size (${current} extents)`);
    delta = total - current;
  }
  // Stripes and stripe size: given, or those of the LV's segments (which must agree).
  let segStripes = 0;
  let segSize = 0;
  for (const seg of [...lv.segments].sort((a, b) => a.start_extent - b.start_extent)) {
    const str = seg.stripe_count ?? 1;
    const sz = str > 1 ? (seg.stripe_size ?? 0) : 0;
    if (
      (segSize && segSize !== sz && sz && o.stripeSize === undefined) ||
      (segStripes && segStripes !== str && o.stripes === undefined)
    )
      throw invalidInput(
        `the segments of "${lv.name}" differ in stripes: please specify --stripes and --stripe-size`,
      );
    segSize = sz;
    segStripes = str;
  }
  const stripes = o.stripes ?? segStripes;
  checkStripes(stripes);
  let stripeSize = 0;
  if (stripes > 1) {
    if (o.stripeSize !== undefined) stripeSize = checkStripeSize(o.stripeSize, es, say);
    else if (segSize) {
      say(`Using stripesize of last segment ${displaySize(segSize)}`);
      stripeSize = segSize;
    } else {
      say(`Using default stripesize ${displaySize(DEFAULT_STRIPE_SECTORS)}`);
      stripeSize = checkStripeSize(DEFAULT_STRIPE_SECTORS, es, say);
    }
  } else if (o.stripeSize !== undefined) say("Ignoring stripesize argument with single stripe.");
  if (delta % stripes) {
    const up = Math.ceil(delta / stripes) * stripes;
    say(
      `Rounding size (${current + delta} extents) up to stripe boundary size for segment (${current + up} extents).`,
    );
    delta = up;
  }
  if (current + delta > 0xffffffff) throw invalidInput("the size is too large");
  // lvextend has no stripes-versus-PVs check: the allocation fails instead (exit 6 all the same).
  const choices = o.on?.length ? pvChoices(doc, o.on, say) : undefined;
  const runs = allocate({ vg, lv, stripes, extents: delta, pvs: choices, policy: policyOf(vg, lv) });
  const out = nextLvDoc(doc);
  const nlv = ownLv(out.vg, o.name);
  nlv.segments.push(...runSegments(runs, current, stripeSize));
  mergeSegments(nlv);
  return { doc: out, messages };
}

/** lvreduce: drop extents from the end of a striped/linear LV. */
export function lvReduce(doc: VgDoc, o: { name: string; size: SizeArg; messages?: string[] }): ManipResult {
  const messages = o.messages ?? [];
  const say = (m: string) => messages.push(m);
  const vg = doc.vg;
  checkVgWritable(vg);
  const lv = findLv(vg, o.name);
  checkEditable(vg, lv, "reduce");
  if (!Number.isInteger(o.size.sectors) || o.size.sectors <= 0) throw invalidInput("--size may not be zero");
  const es = vg.extent_size;
  const current = lvExtents(lv);
  let total: number;
  if (o.size.relative) {
    const delta = Math.floor(o.size.sectors / es);
    if (delta * es !== o.size.sectors)
      say(`Rounding size to boundary between physical extents: ${displaySize(delta * es)}.`);
    total = current - delta;
  } else {
    total = Math.ceil(o.size.sectors / es);
    if (total * es !== o.size.sectors)
      say(`Rounding size to boundary between physical extents: ${displaySize(total * es)}.`);
    if (total > current)
      throw invalidInput(
        `new size given (${total} extents) not less than existing size (${current} extents)`,
      );
  }
  if (total <= 0) throw invalidInput(`unable to reduce ${vg.name}/${lv.name} below 1 extent`);
  const segs = [...lv.segments].sort((a, b) => a.start_extent - b.start_extent);
  // The segment the new end falls in keeps a whole number of stripes.
  const cut = segs.find((s) => s.start_extent < total && total < s.start_extent + s.extent_count);
  if (cut) {
    const n = cut.stripe_count ?? 1;
    const keep = total - cut.start_extent;
    if (keep % n) {
      const up = cut.start_extent + Math.ceil(keep / n) * n;
      say(`Rounding size (${total} extents) up to stripe boundary size for segment (${up} extents).`);
      total = up;
    }
  }
  if (total === current)
    throw invalidInput(`new size (${total} extents) matches existing size (${current} extents)`);
  const out = nextLvDoc(doc);
  const nlv = ownLv(out.vg, o.name);
  const kept: SegmentMeta[] = [];
  for (const s of [...nlv.segments].sort((a, b) => a.start_extent - b.start_extent)) {
    if (s.start_extent >= total) continue;
    if (s.start_extent + s.extent_count > total) s.extent_count = total - s.start_extent;
    kept.push(s);
  }
  nlv.segments = kept;
  nlv.segment_count = kept.length;
  return { doc: out, messages };
}

/** lvremove. */
export function lvRemove(doc: VgDoc, o: { name: string }): ManipResult {
  checkVgWritable(doc.vg);
  const lv = findLv(doc.vg, o.name);
  checkEditable(doc.vg, lv, "remove");
  const out = nextLvDoc(doc);
  const lvs = (out.vg.logical_volumes ?? []).filter((l) => l.name !== o.name);
  if (lvs.length) out.vg.logical_volumes = lvs;
  else delete out.vg.logical_volumes;
  return { doc: out, messages: [] };
}

/** lvrename. */
export function lvRename(doc: VgDoc, o: { name: string; newName: string }): ManipResult {
  checkVgWritable(doc.vg);
  const lv = findLv(doc.vg, o.name);
  checkEditable(doc.vg, lv, "rename");
  if (o.newName === o.name) throw invalidInput("old and new logical volume names must differ");
  checkNewLvName(doc.vg, o.newName);
  const out = nextLvDoc(doc);
  ownLv(out.vg, o.name).name = o.newName;
  return { doc: out, messages: [] };
}
