import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit } from "../lib/errors.js";
import { DEFAULT_REGION_SECTORS, isPvmoveLv, LOCKED, PVMOVE } from "../lvm2/mirror.js";
import { baseSegType, LV_STATUS } from "../lvm2/validate.js";
import type { LvMeta, PvMeta, SegmentMeta, VgMeta } from "../lvm2/vg.js";
import { type AllocatedRun, allocate, type ParallelArea, type PvChoice } from "./alloc.js";
import {
  conflict,
  findLv,
  findPv,
  invalidInput,
  type ManipResult,
  nextLvDoc,
  noSpace,
  notFound,
  ownLv,
  pvLabel,
} from "./common.js";
import { areaLength, type PeRun, usedCount, usedExtents } from "./extents.js";
import { mergeSegments, parsePeRanges, pvChoices } from "./lv.js";
import { checkVgWritable } from "./vg.js";

/**
 * pvmove's metadata steps (lvm2-on-disk-format.md §16.2, device-mapper.md
 * §5.9), as LVM2 2.03 writes them in its default (non-atomic) mode:
 *
 * - pvmove-start: every area of a striped/linear LV on the source PV is moved
 *   into a new hidden LV `pvmove<N>` as one segment, in VG order (LV by LV,
 *   segment by segment, stripe by stripe), and the area is pointed at that
 *   segment's extents of the layer instead; each layer segment then becomes a
 *   2-way `mirror` segment, the source extents first and newly allocated
 *   destination extents second, extents_moved 0, no log (a core log when
 *   active). The destination is allocated as LVM2 does (allocate_extents with
 *   parallel areas): one linear run of extents over the whole layer, never
 *   on the source PV, never on a PV another stripe of the same segment uses,
 *   and no piece crossing a layer segment's end; a layer segment whose
 *   destination comes in pieces is split, and so is the segment above it.
 *   The moved LVs gain LOCKED; the layer is READ, WRITE, PVMOVE, LOCKED with
 *   allocation_policy contiguous and its own creation time and host.
 * - pvmove-finish: the copy is complete: every area on the layer takes the
 *   destination extents, LOCKED is cleared, the layer is removed, and the
 *   changed LVs' adjacent segments are merged (LVM2 writes them merged).
 * - pvmove-abort: the same with the source extents, except for layer
 *   segments already recorded as copied (extents_moved = extent_count): those
 *   keep their destination, as LVM2's abort does (their data may have changed
 *   there since, through the layer).
 *
 * Only one pvmove at a time (a VG with a PVMOVE LV refuses a new one). Only
 * LVs no other LV uses (top-level striped and linear LVs) are moved; others on
 * the source are skipped with a message. The --atomic form (mirror legs as
 * LVs) is not written, and not finished or aborted here either.
 */

export interface PvmoveStartOptions {
  /** The PV to move extents off: device path, pvN or UUID, optionally with LVM2's :PE ranges. */
  source: string;
  /** PVs (optionally with :PE ranges) to allocate the destination on; default every other PV. */
  dest?: string[];
  /** Move only this LV's extents. */
  lv?: string;
  time: number;
  host: string;
  newId: () => string;
  /** LVM2's activation/raid_region_size in sectors (default 2 MiB). */
  regionSize?: number;
  messages?: string[];
}

export interface PvmoveEndOptions {
  /** The pvmove LV (pvmove0...) or its source PV; default the VG's only pvmove. */
  target?: string;
  messages?: string[];
}

const isStripedType = (t: unknown) => t === "striped" || t === "linear";
const byStart = (a: SegmentMeta, b: SegmentMeta) => a.start_extent - b.start_extent;

/** Add a status word in LVM2's order (§14.3); words it does not know stay where they are, before it. */
function addStatus(status: string[], word: string): string[] {
  if (status.includes(word)) return status;
  const rank = (w: string) => LV_STATUS.indexOf(w);
  const at = status.findIndex((w) => rank(w) > rank(word));
  return at < 0 ? [...status, word] : [...status.slice(0, at), word, ...status.slice(at)];
}

/** A PV argument with optional LVM2 PE ranges: the longest prefix (up to a colon) that names a PV. */
function pvWithRanges(doc: VgDoc, spec: string): { pv: PvMeta; ranges: PeRun[] | null } {
  const cuts = [spec.length];
  for (let i = spec.lastIndexOf(":"); i > 0; i = spec.lastIndexOf(":", i - 1)) cuts.push(i);
  for (const cut of cuts) {
    let pv: PvMeta;
    try {
      pv = findPv(doc, spec.slice(0, cut));
    } catch {
      continue;
    }
    const rest = spec.slice(cut);
    if (rest === "") return { pv, ranges: null };
    const ranges: PeRun[] = [];
    parsePeRanges(rest, pv.pe_count, pvLabel(doc, pv), ranges);
    return { pv, ranges };
  }
  return { pv: findPv(doc, spec), ranges: null };
}

/** Split a striped segment `le` extents into it (a multiple of its stripes); both parts keep its other keys. */
function splitSegment(seg: SegmentMeta, le: number): [SegmentMeta, SegmentMeta] {
  const n = isStripedType(seg.type) ? Math.max(1, seg.stripe_count ?? 1) : 1;
  const areaOff = le / n;
  const a = structuredClone(seg);
  const b = structuredClone(seg);
  a.extent_count = le;
  b.start_extent = seg.start_extent + le;
  b.extent_count = seg.extent_count - le;
  const s = b.stripes ?? [];
  for (let i = 1; i < s.length; i += 2) s[i] = (s[i] as number) + areaOff;
  return [a, b];
}

/** Copies of a segment split at these area offsets (those strictly inside it), in order. */
function splitAt(seg: SegmentMeta, areaOffsets: number[]): SegmentMeta[] {
  const n = Math.max(1, seg.stripe_count ?? 1);
  const out: SegmentMeta[] = [];
  let rest = structuredClone(seg);
  let done = 0;
  for (const off of [...new Set(areaOffsets)].sort((x, y) => x - y)) {
    if (off <= done || off >= areaLength(seg)) continue;
    const [a, b] = splitSegment(rest, (off - done) * n);
    out.push(a);
    rest = b;
    done = off;
  }
  out.push(rest);
  return out;
}

/** Where consecutive runs of these lengths meet: their running sums, but the last. */
function innerCuts(runs: { len: number }[]): number[] {
  const out: number[] = [];
  let off = 0;
  for (let i = 0; i + 1 < runs.length; i++) {
    off += runs[i]!.len;
    out.push(off);
  }
  return out;
}

function setSegments(lv: LvMeta, segs: SegmentMeta[]) {
  lv.segments = segs;
  lv.segment_count = segs.length;
}

/** Areas of a striped segment as [name, pe] pairs. */
function stripeAreas(seg: SegmentMeta): [string, number][] {
  const s = seg.stripes ?? [];
  const out: [string, number][] = [];
  for (let i = 0; i + 1 < s.length; i += 2) out.push([s[i] as string, s[i + 1] as number]);
  return out;
}

/** Does any value inside `v` equal `name`? */
function mentions(v: unknown, name: string): boolean {
  if (v === name) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (mentions(x, name)) return true;
  } else if (v && typeof v === "object") {
    for (const x of Object.values(v)) if (mentions(x, name)) return true;
  }
  return false;
}

/** The LVs whose segments name `lv` (as areas, origins, pools...). */
const usersOf = (vg: VgMeta, lv: LvMeta) =>
  (vg.logical_volumes ?? []).filter((o) => o !== lv && o.segments.some((s) => mentions(s, lv.name)));

/** LVM2's next pvmove name: one more than the highest pvmove<N> among the LVs and historical LVs. */
function nextPvmoveName(vg: VgMeta): string {
  let high = -1;
  const names = [
    ...(vg.logical_volumes ?? []).map((l) => l.name),
    ...(vg.historical_logical_volumes ?? []).map((l) => l.name),
  ];
  for (const n of names) {
    const m = /^pvmove([+-]?\d+)/.exec(n);
    if (m) high = Math.max(high, Number(m[1]));
  }
  return `pvmove${high + 1}`;
}

/** One area moved into the layer: stripe `stripe` of segment `seg` (one of the moving LV's segments, cut at the PE ranges). */
interface Piece {
  lv: LvMeta;
  seg: SegmentMeta;
  stripe: number;
  len: number;
  srcPe: number;
  /** The piece's first extent on the layer. */
  le: number;
  /** Destination runs, in order (their lengths add up to len). */
  dest: { len: number; pv: string; pe: number }[];
}

/** pvmove-start: put a mirror layer under every area on the source PV (see the module comment). */
export function pvmoveStart(doc: VgDoc, o: PvmoveStartOptions): ManipResult {
  const messages = o.messages ?? [];
  const say = (m: string) => messages.push(m);
  const vg = doc.vg;
  checkVgWritable(vg);
  const { pv: src, ranges } = pvWithRanges(doc, o.source);
  const srcLabel = pvLabel(doc, src);
  if (src.status.includes("MISSING") || (Array.isArray(src.flags) && src.flags.includes("MISSING")))
    throw new DvmError(
      Exit.incomplete,
      `physical volume ${srcLabel} is missing: its extents cannot be copied`,
    );
  const lvs = vg.logical_volumes ?? [];
  const running = lvs.find(isPvmoveLv);
  if (running)
    throw conflict(
      `a pvmove is already in progress in volume group "${vg.name}" (${running.name}): finish or abort it first`,
    );
  let named: LvMeta | undefined;
  if (o.lv !== undefined) {
    named = findLv(vg, o.lv);
    if (named.status.includes(LOCKED))
      throw conflict(`LV ${vg.name}/${named.name} is already locked by another pvmove`);
  }

  const inRange = (pe: number) =>
    ranges === null || ranges.some((r) => pe >= r.start && pe < r.start + r.count);
  const onSource = (seg: SegmentMeta) =>
    stripeAreas(seg).some(
      ([n, pe]) => n === src.name && (ranges === null || overlapsRanges(pe, areaLength(seg))),
    );
  const overlapsRanges = (pe: number, len: number) =>
    ranges!.some((r) => pe < r.start + r.count && r.start < pe + len);

  // The LVs to move, in VG order, with their segments cut at the PE ranges' ends (LVM2's
  // _align_segment_boundary_to_pe_range): an area then lies wholly inside or outside each range.
  const moving: { lv: LvMeta; segs: SegmentMeta[] }[] = [];
  for (const lv of lvs) {
    if (named && lv !== named) continue;
    if (!lv.segments.some((s) => Object.values(s).some((v) => Array.isArray(v) && v.includes(src.name))))
      continue;
    const skip = (why: string) => {
      if (named) throw invalidInput(`can't move LV ${vg.name}/${lv.name}: ${why}`);
      say(`Skipping LV ${vg.name}/${lv.name}: ${why}.`);
    };
    const odd = lv.segments.find((s) => !isStripedType(s.type));
    if (odd) {
      skip(`it has a segment of type "${String(odd.type)}" (dvm moves striped and linear LVs only)`);
      continue;
    }
    if (!lv.segments.some(onSource)) continue;
    if (lv.status.includes(LOCKED)) {
      skip("locked by another pvmove");
      continue;
    }
    const users = usersOf(vg, lv);
    if (users.length) {
      skip(`it is used by ${users.map((u) => u.name).join(", ")} (dvm moves LVs no other LV uses)`);
      continue;
    }
    const segs: SegmentMeta[] = [];
    for (const seg of [...lv.segments].sort(byStart)) {
      const len = areaLength(seg);
      const cuts: number[] = [];
      if (ranges)
        for (const [n, pe] of stripeAreas(seg)) {
          if (n !== src.name) continue;
          for (const r of ranges) {
            if (r.start > pe && r.start < pe + len) cuts.push(r.start - pe);
            if (r.start + r.count > pe && r.start + r.count < pe + len) cuts.push(r.start + r.count - pe);
          }
        }
      segs.push(...splitAt(seg, cuts));
    }
    moving.push({ lv, segs });
  }

  // The pieces, in LVM2's order, and what each must not be allocated next to.
  const pieces: Piece[] = [];
  const parallel: ParallelArea[] = [];
  let layerLe = 0;
  for (const m of moving)
    for (const seg of m.segs) {
      const areas = stripeAreas(seg);
      const len = areaLength(seg);
      areas.forEach(([n, pe], stripe) => {
        if (n !== src.name || !inRange(pe)) return;
        pieces.push({ lv: m.lv, seg, stripe, len, srcPe: pe, le: layerLe, dest: [] });
        // build_parallel_areas_from_lv(use_pvmove_parent_lv): the PVs of every area of the parent segment.
        parallel.push({ extents: len, avoid: new Set([src.name, ...areas.map(([x]) => x)]) });
        layerLe += len;
      });
    }
  if (named && !pieces.length)
    throw invalidInput(
      `LV ${vg.name}/${named.name} has no extents on ${srcLabel}${ranges ? " in those ranges" : ""}`,
    );
  if (!pieces.length) throw invalidInput(`No data to move for ${vg.name}.`);

  // Destination PVs: those named (less the source), else every PV but the source.
  let choices: PvChoice[] | undefined;
  if (o.dest?.length) {
    choices = pvChoices(doc, o.dest, say).filter((c) => c.pv !== src.name);
    if (!choices.length) throw noSpace("No extents available for allocation.");
  } else {
    const used = usedExtents(vg);
    // LVM2 drops full PVs here; the allocator then skips the ones that are not allocatable.
    const usable = vg.physical_volumes.filter((p) => p !== src && usedCount(used.get(p.name)) < p.pe_count);
    if (!usable.length) throw noSpace("No extents available for allocation.");
    choices = usable.map((p) => ({ pv: p.name }));
  }
  const name = nextPvmoveName(vg);
  // LVM2 allocates for an LV that has no name yet: its message says "for logical volume :".
  const runs: AllocatedRun[] = allocate({
    vg,
    stripes: 1,
    extents: layerLe,
    pvs: choices,
    policy: "normal",
    lvName: "",
    parallel,
  });
  let r = 0;
  let used = 0;
  for (const p of pieces) {
    let need = p.len;
    while (need > 0) {
      const run = runs[r]!;
      const take = Math.min(need, run.areaLen - used);
      p.dest.push({ len: take, pv: run.areas[0]!.pv, pe: run.areas[0]!.pe + used });
      need -= take;
      used += take;
      if (used === run.areaLen) {
        r++;
        used = 0;
      }
    }
  }

  // The new document: the moved LVs' segments cut where a piece's destination is, areas on the layer.
  const out = nextLvDoc(doc);
  // LVM2 2.03.16 writes its default region size as it is (a VM run: 4096 for a 7-extent layer of
  // 1 MiB extents); only the table of the running segment cuts it to the segment.
  const regionSize = o.regionSize ?? DEFAULT_REGION_SECTORS;
  const layerSegs: SegmentMeta[] = [];
  for (const m of moving) {
    const nlv = ownLv(out.vg, m.lv.name);
    const segs: SegmentMeta[] = [];
    for (const seg of m.segs) {
      const mine = pieces.filter((p) => p.seg === seg);
      if (!mine.length) {
        segs.push(seg);
        continue;
      }
      // Every moved stripe of the segment cuts it where any of them changes destination run.
      const cuts = mine.flatMap((p) => innerCuts(p.dest));
      let off = 0;
      for (const part of splitAt(seg, cuts)) {
        const len = areaLength(part);
        const s = part.stripes!;
        for (const p of mine) s[2 * p.stripe] = name;
        for (const p of mine) s[2 * p.stripe + 1] = p.le + off;
        segs.push(part);
        off += len;
      }
    }
    setSegments(nlv, segs);
    nlv.status = addStatus(nlv.status, LOCKED);
  }
  // Layer segments in layer order: each piece, cut at every offset its parent segment was cut at.
  for (const p of pieces) {
    const cuts = new Set(pieces.filter((x) => x.seg === p.seg).flatMap((q) => innerCuts(q.dest)));
    const bounds = [0, ...[...cuts].filter((c) => c > 0 && c < p.len).sort((a, b) => a - b), p.len];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const off = bounds[i]!;
      const len = bounds[i + 1]! - off;
      let at = 0;
      const d = p.dest.find((x) => {
        if (off < at + x.len) return true;
        at += x.len;
        return false;
      })!;
      layerSegs.push({
        start_extent: p.le + off,
        extent_count: len,
        type: "mirror",
        mirror_count: 2,
        extents_moved: 0,
        region_size: regionSize,
        mirrors: [src.name, p.srcPe + off, d.pv, d.pe + (off - at)],
      });
    }
  }
  const layer: LvMeta = {
    name,
    id: o.newId(),
    status: ["READ", "WRITE", PVMOVE, LOCKED],
    flags: [],
    creation_time: o.time,
    creation_host: o.host,
    allocation_policy: "contiguous",
    segment_count: layerSegs.length,
    segments: layerSegs,
  };
  // Hidden LVs are written after the visible ones, new ones last.
  out.vg.logical_volumes = [...(out.vg.logical_volumes ?? []), layer];
  return { doc: out, messages };
}

/** The pvmove LV `target` names (itself, or its source PV), or the VG's only one. */
function findPvmove(doc: VgDoc, target: string | undefined): LvMeta {
  const vg = doc.vg;
  const moves = (vg.logical_volumes ?? []).filter(isPvmoveLv);
  if (target === undefined) {
    if (moves.length === 1) return moves[0]!;
    if (!moves.length) throw notFound(`no pvmove in progress in volume group "${vg.name}"`);
    throw invalidInput(
      `${moves.length} pvmoves in progress in volume group "${vg.name}" (${moves.map((m) => m.name).join(", ")}): name one`,
    );
  }
  const byName = moves.find((m) => m.name === target);
  if (byName) return byName;
  if ((vg.logical_volumes ?? []).some((l) => l.name === target))
    throw invalidInput(`logical volume "${target}" is not a pvmove in progress`);
  const pv = findPv(doc, target);
  const m = moves.find((l) => l.segments.some((s) => Array.isArray(s.mirrors) && s.mirrors[0] === pv.name));
  if (!m) throw notFound(`${pvLabel(doc, pv)}: no pvmove in progress`);
  return m;
}

/** Where a layer extent range ends up: runs of [length, PV, PE]. */
type Mapping = (le: number, len: number) => { len: number; pv: string; pe: number }[];

/** The mapping a pvmove layer resolves to once finished (dest) or aborted (source unless copied). */
function layerMapping(vg: VgMeta, layer: LvMeta, finish: boolean): Mapping {
  const pvs = new Set(vg.physical_volumes.map((p) => p.name));
  const segs = [...layer.segments].sort(byStart).map((s, i) => {
    const m = s.mirrors;
    const where = `${layer.name} segment ${i + 1}`;
    if (baseSegType(String(s.type)) !== "mirror" || !Array.isArray(m))
      throw invalidInput(`${where}: not a mirror segment (type "${String(s.type)}")`);
    if (m.length !== 4 || !pvs.has(m[0] as string) || !pvs.has(m[2] as string))
      throw invalidInput(
        `${where}: expected two mirror areas on PVs (an --atomic pvmove, with its legs as LVs, is not supported)`,
      );
    const copied = s.extents_moved === s.extent_count;
    const k = finish || copied ? 2 : 0;
    return { start: s.start_extent, count: s.extent_count, pv: m[k] as string, pe: m[k + 1] as number };
  });
  return (le, len) => {
    const out: { len: number; pv: string; pe: number }[] = [];
    for (let at = le; at < le + len; ) {
      const s = segs.find((x) => x.start <= at && at < x.start + x.count);
      if (!s) throw invalidInput(`${layer.name}: extent ${at} is not in any of its segments`);
      const take = Math.min(le + len, s.start + s.count) - at;
      out.push({ len: take, pv: s.pv, pe: s.pe + (at - s.start) });
      at += take;
    }
    return out;
  };
}

function pvmoveEnd(doc: VgDoc, o: PvmoveEndOptions, finish: boolean): ManipResult {
  const messages = o.messages ?? [];
  const vg = doc.vg;
  checkVgWritable(vg);
  const layer = findPvmove(doc, o.target);
  const map = layerMapping(vg, layer, finish);
  const users = usersOf(vg, layer);
  for (const u of users) {
    const odd = u.segments.find((s) => mentions(s, layer.name) && !isStripedType(s.type));
    if (odd)
      throw invalidInput(
        `LV ${vg.name}/${u.name} uses ${layer.name} in a segment of type "${String(odd.type)}": dvm cannot take the layer out of it`,
      );
  }
  const out = nextLvDoc(doc);
  for (const u of users) {
    const nlv = ownLv(out.vg, u.name);
    const segs: SegmentMeta[] = [];
    for (const seg of [...nlv.segments].sort(byStart)) {
      const len = areaLength(seg);
      // Cut where an area on the layer changes PV run (LVM2's layer segments match its areas 1:1).
      const cuts = stripeAreas(seg).flatMap(([n, le]) => (n === layer.name ? innerCuts(map(le, len)) : []));
      for (const part of splitAt(seg, cuts)) {
        const s = part.stripes!;
        stripeAreas(part).forEach(([n, le], k) => {
          if (n !== layer.name) return;
          const [r] = map(le, areaLength(part));
          s[2 * k] = r!.pv;
          s[2 * k + 1] = r!.pe;
        });
        segs.push(part);
      }
    }
    setSegments(nlv, segs);
    nlv.status = nlv.status.filter((w) => w !== LOCKED);
    mergeSegments(nlv);
  }
  out.vg.logical_volumes = (out.vg.logical_volumes ?? []).filter((l) => l.name !== layer.name);
  if (!out.vg.logical_volumes.length) delete out.vg.logical_volumes;
  return { doc: out, messages };
}

/** pvmove-finish: the copy is complete; the moved LVs take the destination extents, the layer goes. */
export const pvmoveFinish = (doc: VgDoc, o: PvmoveEndOptions = {}): ManipResult => pvmoveEnd(doc, o, true);

/** pvmove-abort: back to the source, except for layer segments already copied; the layer goes. */
export const pvmoveAbort = (doc: VgDoc, o: PvmoveEndOptions = {}): ManipResult => pvmoveEnd(doc, o, false);

/**
 * pvmove-checkpoint: the running layer segment's mirror is in sync; record it
 * as copied (extents_moved = extent_count, as LVM2's per-segment metadata
 * update does), so the layer's next segment becomes the running mirror when
 * the layer is reloaded, and an interrupted move restarts from here.
 */
export function pvmoveCheckpoint(doc: VgDoc, o: PvmoveEndOptions = {}): ManipResult {
  const messages = o.messages ?? [];
  checkVgWritable(doc.vg);
  const layer = findPvmove(doc, o.target);
  const running = [...layer.segments].sort(byStart).find((s) => s.extents_moved !== s.extent_count);
  if (!running) throw conflict(`${layer.name}: every segment is copied already: finish the move`);
  const out = nextLvDoc(doc);
  const seg = ownLv(out.vg, layer.name).segments.find((s) => s.start_extent === running.start_extent)!;
  seg.extents_moved = seg.extent_count;
  return { doc: out, messages };
}
