import { DvmError, Exit } from "../lib/errors.js";
import type { LvMeta, PvMeta, SegmentMeta, VgMeta } from "../lvm2/vg.js";
import { areaLength, freeRuns, type PeRun, usedExtents } from "./extents.js";

/**
 * The extent allocator: picks the physical extents LVM2 2.03 picks for a
 * striped (or linear, = 1 stripe) LV being created or extended, with the
 * allocation policies normal (the default), cling and contiguous, LVM2's
 * default lvm.conf (allocation/maximise_cling = 1, no cling_tag_list).
 *
 * The rules, found by experiment against LVM2 2.03.16 and by reading its
 * allocator (lib/metadata/lv_manip.c, pv_map.c) as a reference for the facts;
 * this code is the project's own:
 *
 * - Free space is seen as "areas": maximal runs of free extents of each PV
 *   (cut to the PE ranges the user named). Each PV keeps its areas in a list
 *   ordered by size, largest first; an area that shrinks (is reserved or
 *   consumed) is put back before the first area that is strictly smaller than
 *   its new size, so among equal sizes the older entry comes first. PVs are
 *   looked at in the order of the VG (or the order the user named them).
 * - The policies are tried in turn — contiguous, then cling, then normal —
 *   each continuing from what the previous ones allocated, until the request
 *   is met. Every policy works in rounds; each round picks one area per stripe
 *   and takes the same number of extents from each (the smallest of what the
 *   chosen areas offer, at most what is still needed).
 * - contiguous (only when extending an LV with the same stripe count): stripe
 *   k may only continue right after stripe k of the LV's last segment. All
 *   stripes must be able to, or nothing is taken. One round only.
 *   (With no previous segment to follow, this first pass behaves like one
 *   round of normal without the cling preference.)
 * - cling: stripe k may only use the first (largest) area of a PV that
 *   stripe k of the LV's *first* segment uses (or, when creating, a PV that
 *   stripe k already got in this allocation). When no PV fits any more, one
 *   more try without the per-stripe positions.
 * - normal: one candidate area per PV. A PV's first area is always a
 *   candidate; a later area of the same PV replaces it when it alone still
 *   holds all that is needed (so the smallest area that fits tends to win,
 *   subject to the list quirk above: an area put back further down the list
 *   makes the walk skip the areas it passed). Candidates are sorted by how
 *   much they offer, largest first, PV order breaking ties, and the first
 *   N (stripes) are used, in that order. While a round has something to
 *   follow, only PVs already used by this allocation (or, when extending,
 *   PVs of the LV's first segment, or areas contiguous to its last one) are
 *   candidates — and then every area of such a PV replaces the previous
 *   candidate; when that finds nothing, the round is redone without the
 *   restriction, and the restriction comes back after the next success.
 * - Not enough free extents in total, or no way to find N distinct PVs for
 *   N stripes: failure (exit 6), nothing changed.
 */

export type AllocPolicy = "contiguous" | "cling" | "normal";

/** A PV to allocate from, optionally restricted to PE ranges (LVM's PV:PE-PE). */
export interface PvChoice {
  pv: string;
  ranges?: PeRun[];
}

export interface AllocRequest {
  vg: VgMeta;
  /** The LV being extended (unchanged by allocate), or undefined for a new LV. */
  lv?: LvMeta;
  /** Parallel areas (stripes), >= 1. */
  stripes: number;
  /** Logical extents to add: a positive multiple of stripes. */
  extents: number;
  /** PVs to allocate from, in order; default every PV of the VG in metadata order. */
  pvs?: PvChoice[];
  policy?: AllocPolicy;
  /** Name used in messages. */
  lvName?: string;
  /** usedExtents(vg), when the caller has it already. */
  used?: Map<string, PeRun[]>;
  /**
   * LVM2's parallel areas (what pvmove passes): the new extents cut into
   * consecutive ranges, in order, each with PVs it must not use. No round
   * takes extents past the end of the range it starts in, and the range's
   * PVs are skipped in that round. The ranges must add up to `extents`.
   */
  parallel?: ParallelArea[];
}

/** One range of the new extents and the PVs it must avoid (AllocRequest.parallel). */
export interface ParallelArea {
  extents: number;
  avoid: ReadonlySet<string>;
}

/** One new segment's worth of areas: `areaLen` extents on each stripe's PV from `pe`. */
export interface AllocatedRun {
  areaLen: number;
  areas: { pv: string; pe: number }[];
}

// ------------------------------------------------------------ free area lists

/** A run of free extents; also a node of its PV's size-ordered list. */
interface Area {
  pv: PvMap;
  start: number;
  count: number;
  /** What is left after provisional reservations in the current round. */
  unreserved: number;
  prev: Area;
  next: Area;
}

interface PvMap {
  name: string;
  /** Sentinel of the circular list of areas. */
  head: Area;
  free: number;
}

function newPvMap(name: string): PvMap {
  const pvm = { name, free: 0 } as PvMap;
  const head = { pv: pvm, start: -1, count: -1, unreserved: -1 } as Area;
  head.prev = head;
  head.next = head;
  pvm.head = head;
  return pvm;
}

function unlink(a: Area) {
  a.prev.next = a.next;
  a.next.prev = a.prev;
  a.pv.free -= a.count;
}

/** Put `a` before the first area smaller than `key` (the end if none). */
function place(a: Area, key: number) {
  const head = a.pv.head;
  let at = head.next;
  while (at !== head && !(key > at.count)) at = at.next;
  a.prev = at.prev;
  a.next = at;
  at.prev.next = a;
  at.prev = a;
  a.pv.free += a.count;
}

function addArea(pvm: PvMap, start: number, count: number) {
  const a = { pv: pvm, start, count, unreserved: count } as Area;
  place(a, count);
}

/** Re-sort an area after its unreserved part changed. */
function replace(a: Area) {
  unlink(a);
  place(a, a.unreserved);
}

/** Take `n` extents from the front of an area for good. */
function consume(a: Area, n: number) {
  unlink(a);
  if (n < a.count) {
    a.start += n;
    a.count -= n;
    a.unreserved = a.count;
    place(a, a.count);
  }
}

/** Walk a list the way LVM2 does: the next node is read after the body ran (the body may move the node). */
function eachArea(pvm: PvMap, body: (a: Area) => boolean | undefined) {
  for (let a = pvm.head.next; a !== pvm.head; a = a.next) if (body(a) === false) return;
}

const totalFree = (pvms: PvMap[]) => pvms.reduce((n, p) => n + p.free, 0);

// ------------------------------------------------------------ the allocation

const POLICY_CONTIGUOUS = 1;
const POLICY_CLING = 2;
const POLICY_NORMAL = 4;
const POLICY_RANK: Record<AllocPolicy, number> = {
  contiguous: POLICY_CONTIGUOUS,
  cling: POLICY_CLING,
  normal: POLICY_NORMAL,
};

// Round constraints.
const CONTIGUOUS_TO_LVSEG = 0x01;
const CLING_TO_LVSEG = 0x02;
const CLING_TO_ALLOCED = 0x04;
const CAN_SPLIT = 0x10;
const AREA_COUNT_MATCHES = 0x20;
const POSITIONAL_FILL = 0x80;

/** The verdict on one area. */
type Use = "preferred" | "use" | "next-pv" | "next-area";

/** One stripe area of an existing LV segment, as a PV run. */
interface SegArea {
  pv: string;
  pe: number;
  len: number;
}

interface Slot {
  area: Area | null;
  used: number;
}

class Allocator {
  readonly stripes: number;
  readonly newExtents: number;
  allocated: number;
  /** Per stripe, what this allocation took, in order. */
  readonly alloced: { pv: PvMap; pe: number; len: number }[][];
  readonly runs: AllocatedRun[] = [];
  readonly lastSeg: SegArea[] | null;
  readonly firstSeg: SegArea[] | null;
  readonly lastSegStripes: number;
  slots: Slot[] = [];
  positional = 0;
  flags = 0;
  policy = 0;
  /** Where this allocation started (the LV's size when extending). */
  readonly existing: number;
  /** The parallel areas' ends, in extents of this allocation, and their PVs to avoid. */
  readonly parallel: { end: number; avoid: ReadonlySet<string> }[] = [];

  constructor(
    readonly pvms: PvMap[],
    stripes: number,
    existing: number,
    extents: number,
    lv: LvMeta | undefined,
    parallel: ParallelArea[] = [],
  ) {
    this.stripes = stripes;
    this.existing = existing;
    let end = 0;
    for (const p of parallel) {
      end += p.extents;
      this.parallel.push({ end, avoid: p.avoid });
    }
    this.allocated = existing;
    this.newExtents = existing + extents;
    this.alloced = Array.from({ length: stripes }, () => []);
    const segs = lv ? [...lv.segments].sort((a, b) => a.start_extent - b.start_extent) : [];
    const areasOf = (seg: SegmentMeta | undefined): SegArea[] | null => {
      if (!seg) return null;
      const a = seg.stripes ?? [];
      const len = areaLength(seg);
      const out: SegArea[] = [];
      for (let i = 0; i + 1 < a.length; i += 2) out.push({ pv: String(a[i]), pe: Number(a[i + 1]), len });
      return out;
    };
    this.lastSeg = areasOf(segs[segs.length - 1]);
    this.firstSeg = areasOf(segs[0]);
    this.lastSegStripes = this.lastSeg?.length ?? 0;
  }

  private slot(i: number): Slot {
    while (this.slots.length <= i) this.slots.push({ area: null, used: 0 });
    return this.slots[i]!;
  }

  private reserve(i: number, area: Area, used: number) {
    const s = this.slot(i);
    s.area = area;
    s.used = used;
  }

  /**
   * Does `area` match an area of an existing segment (contiguous after it, or
   * on the same PV)? With positional filling, the first free matching slot
   * takes the whole area.
   */
  private matchSeg(seg: SegArea[], area: Area, cond: (s: SegArea, a: Area) => boolean): boolean {
    const positional = (this.flags & POSITIONAL_FILL) !== 0;
    for (const [i, s] of seg.entries()) {
      if (positional && this.slots[i]?.area) continue;
      if (!cond(s, area)) continue;
      if (positional && i >= this.positional) continue;
      if (positional) this.reserve(i, area, area.count);
      return true;
    }
    return false;
  }

  private contiguousToLast(area: Area) {
    return this.matchSeg(this.lastSeg!, area, (s, a) => s.pv === a.pv.name && s.pe + s.len === a.start);
  }

  /** maximise_cling: the whole LV is meant, but LVM2 looks at the segment holding extent 0 only. */
  private clingToFirst(area: Area) {
    return this.matchSeg(this.firstSeg!, area, (s, a) => s.pv === a.pv.name);
  }

  private clingToAlloced(area: Area): boolean {
    const positional = (this.flags & POSITIONAL_FILL) !== 0;
    for (let s = 0; s < this.stripes; s++) {
      if (positional && this.slots[s]?.area) continue;
      for (const aa of this.alloced[s]!)
        if (aa.pv === area.pv) {
          if (positional) this.reserve(s, area, area.count);
          return true;
        }
    }
    return false;
  }

  private check(area: Area, stillNeeded: number, foundOne: boolean): Use {
    const f = this.flags;
    if (!area.unreserved) return "next-area";
    if (f & (CONTIGUOUS_TO_LVSEG | CLING_TO_LVSEG | CLING_TO_ALLOCED)) {
      const followLv = (f & AREA_COUNT_MATCHES) !== 0;
      let found =
        ((f & CONTIGUOUS_TO_LVSEG) !== 0 || followLv) && this.lastSeg !== null && this.contiguousToLast(area);
      if (!found && f & CONTIGUOUS_TO_LVSEG) return "next-area";
      if (!found)
        found = ((f & CLING_TO_LVSEG) !== 0 || followLv) && this.firstSeg !== null && this.clingToFirst(area);
      if (!found) found = (f & CLING_TO_ALLOCED) !== 0 && this.clingToAlloced(area);
      if (!found) return "next-pv";
    } else if (area.unreserved * this.stripes < stillNeeded && (!(f & CAN_SPLIT) || foundOne))
      return "next-pv";
    return f & POSITIONAL_FILL ? "preferred" : "use";
  }

  /** One round: find an area for every stripe and take what they can give (never on a PV in `avoid`). */
  private round(max: number, avoid: ReadonlySet<string> | undefined) {
    for (const s of this.slots) s.area = null;
    for (const pvm of this.pvms)
      eachArea(pvm, (a) => {
        if (a.unreserved !== a.count) {
          a.unreserved = a.count;
          replace(a);
        }
        return true;
      });
    const f = this.flags;
    this.positional = !(f & POSITIONAL_FILL)
      ? 0
      : f & (CONTIGUOUS_TO_LVSEG | CLING_TO_LVSEG)
        ? this.lastSegStripes
        : this.stripes;
    const needed = this.stripes;
    let ix = 0;
    let preferred = 0;
    for (const pvm of this.pvms) {
      if (pvm.head.next === pvm.head) continue;
      if (avoid?.has(pvm.name)) continue;
      let foundOne = false;
      eachArea(pvm, (a) => {
        const use = this.check(a, max, foundOne);
        if (use === "preferred") preferred++;
        if (use === "preferred" || use === "next-pv") return false;
        if (use === "next-area") return true;
        if (!foundOne) {
          ix++;
          foundOne = true;
        }
        let required = Math.floor(max / this.stripes);
        if (required >= a.unreserved) {
          required = a.unreserved;
          a.unreserved = 0;
        } else {
          a.unreserved -= required;
          replace(a);
        }
        this.reserve(ix + this.positional - 1, a, required);
        return true;
      });
      if (preferred === this.positional && this.positional === needed) break;
    }
    if (preferred < this.positional && !(f & CLING_TO_ALLOCED) && !ix) return;
    if (ix + preferred < needed) return;
    if (ix > 1) {
      const part = this.slots.slice(this.positional, this.positional + ix);
      part.sort((a, b) => b.used - a.used); // stable, as glibc's qsort (a merge sort) is
      this.slots.splice(this.positional, ix, ...part);
    }
    if (preferred && preferred !== this.positional)
      for (let s = 0; s < needed; s++)
        if (!this.slots[s]?.area) {
          const from = this.slot(this.positional++);
          this.reserve(s, from.area!, from.used);
          from.area = null;
        }
    if (ix + this.positional < needed) return;
    // (LVM2 would go on with an empty slot here; that cannot happen without logs or "anywhere".)
    for (let s = 0; s < needed; s++) if (!this.slots[s]?.area) return;
    this.take(max);
  }

  private take(max: number) {
    let len = Math.floor(max / this.stripes);
    for (let s = 0; s < this.stripes; s++) len = Math.min(len, this.slots[s]!.used);
    const run: AllocatedRun = { areaLen: len, areas: [] };
    for (let s = 0; s < this.stripes; s++) {
      const a = this.slots[s]!.area!;
      this.alloced[s]!.push({ pv: a.pv, pe: a.start, len });
      run.areas.push({ pv: a.pv.name, pe: a.start });
      consume(a, len);
    }
    this.runs.push(run);
    this.allocated += len * this.stripes;
  }

  /** All the rounds of one policy. */
  private policyRounds() {
    const maximiseCling = true;
    do {
      let max = this.newExtents - this.allocated;
      // LVM2 (_find_max_parallel_space_for_one_policy): the parallel area the next extent falls in
      // caps this round at its end and names the PVs to avoid.
      const next = this.allocated - this.existing;
      const area = this.parallel.find((p) => next < p.end);
      if (area && next + max > area.end) max = area.end - next;
      const before = this.allocated;
      this.round(max, area?.avoid);
      if (before === this.allocated) {
        if (
          maximiseCling &&
          this.policy === POLICY_CLING &&
          this.flags & CLING_TO_LVSEG &&
          this.flags & POSITIONAL_FILL
        )
          this.flags &= ~POSITIONAL_FILL;
        else if (this.policy === POLICY_NORMAL && this.flags & CLING_TO_ALLOCED)
          this.flags &= ~CLING_TO_ALLOCED;
        else break;
      } else if (maximiseCling && this.policy === POLICY_NORMAL && !(this.flags & CLING_TO_ALLOCED))
        this.flags |= CLING_TO_ALLOCED;
    } while (
      this.policy !== POLICY_CONTIGUOUS &&
      this.allocated !== this.newExtents &&
      this.flags & CAN_SPLIT
    );
  }

  run(maxPolicy: number, what: string) {
    const canSplit = maxPolicy !== POLICY_CONTIGUOUS;
    for (const policy of [POLICY_CONTIGUOUS, POLICY_CLING, POLICY_NORMAL]) {
      if (policy > maxPolicy) break;
      const before = this.allocated;
      const need = this.newExtents - this.allocated;
      const free = totalFree(this.pvms);
      if (need > free)
        throw new DvmError(
          Exit.noSpace,
          `insufficient free space: ${need} extents needed, but only ${free} available`,
        );
      this.policy = policy;
      this.flags = 0;
      if (this.lastSeg && this.stripes === this.lastSegStripes) {
        this.flags |= AREA_COUNT_MATCHES;
        if (policy === POLICY_CONTIGUOUS) this.flags |= CONTIGUOUS_TO_LVSEG | POSITIONAL_FILL;
        else if (policy === POLICY_CLING) this.flags |= CLING_TO_LVSEG | POSITIONAL_FILL;
      } else if (policy === POLICY_CLING) this.flags |= CLING_TO_ALLOCED | POSITIONAL_FILL;
      if (policy === POLICY_NORMAL && this.allocated !== this.newExtents) this.flags |= CLING_TO_ALLOCED;
      if (canSplit) this.flags |= CAN_SPLIT;
      this.policyRounds();
      if (this.allocated === this.newExtents || (!canSplit && this.allocated !== before)) break;
    }
    if (this.allocated !== this.newExtents)
      throw new DvmError(
        Exit.noSpace,
        `insufficient suitable ${canSplit ? "" : "contiguous "}allocatable extents for logical volume ${what}: ` +
          `${this.newExtents - this.allocated} more required`,
      );
  }
}

/** The free areas of the PVs to allocate from, as LVM2 builds them. */
function pvMaps(vg: VgMeta, choices: PvChoice[] | undefined, used = usedExtents(vg)): PvMap[] {
  const byName = new Map(vg.physical_volumes.map((pv) => [pv.name, pv]));
  const list: PvChoice[] = choices ?? vg.physical_volumes.map((pv) => ({ pv: pv.name }));
  const maps = new Map<string, PvMap>();
  const out: PvMap[] = [];
  for (const c of list) {
    const pv = byName.get(c.pv);
    if (!pv || !allocatable(pv)) continue;
    let pvm = maps.get(pv.name);
    if (!pvm) {
      pvm = newPvMap(pv.name);
      maps.set(pv.name, pvm);
      out.push(pvm);
    }
    const free = freeRuns(pv, used.get(pv.name));
    for (const r of c.ranges ?? [{ start: 0, count: pv.pe_count }]) {
      const end = Math.min(r.start + r.count, pv.pe_count);
      for (const f of free) {
        const s = Math.max(f.start, r.start);
        const e = Math.min(f.start + f.count, end);
        if (e > s) addArea(pvm, s, e - s);
      }
    }
  }
  return out;
}

/** PVs LVM2 allocates from: ALLOCATABLE and not MISSING. */
export function allocatable(pv: PvMeta): boolean {
  return (
    Array.isArray(pv.status) &&
    pv.status.includes("ALLOCATABLE") &&
    !pv.status.includes("MISSING") &&
    !(Array.isArray(pv.flags) && pv.flags.includes("MISSING"))
  );
}

/**
 * Pick the extents for `req.extents` more logical extents. Returns the runs
 * in logical order; the VG is not changed. Throws exit 6 when LVM2 would
 * not find the space.
 */
export function allocate(req: AllocRequest): AllocatedRun[] {
  const { stripes, extents } = req;
  if (!Number.isInteger(stripes) || stripes < 1)
    throw new DvmError(Exit.invalid, `bad stripe count ${stripes}`);
  if (!Number.isInteger(extents) || extents <= 0 || extents % stripes)
    throw new DvmError(Exit.invalid, `${extents} extents is not a positive multiple of ${stripes} stripes`);
  const pvms = pvMaps(req.vg, req.pvs, req.used);
  const existing = req.lv ? req.lv.segments.reduce((n, s) => n + s.extent_count, 0) : 0;
  if (req.parallel && req.parallel.reduce((n, p) => n + p.extents, 0) !== extents)
    throw new DvmError(Exit.internal, "internal error: the parallel areas do not add up to the extents");
  const a = new Allocator(pvms, stripes, existing, extents, req.lv, req.parallel);
  a.run(POLICY_RANK[req.policy ?? "normal"], req.lvName ?? req.lv?.name ?? "");
  return a.runs;
}
