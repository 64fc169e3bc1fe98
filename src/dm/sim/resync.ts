import { readFileSync } from "node:fs";
import { join } from "node:path";
import { invalidInput } from "../../lib/errors.js";
import { SECTOR_SIZE } from "../../lib/units.js";
import { DmFailure } from "../backend.js";
import type { MirrorTarget } from "../target.js";
import { MustWait, planArea, readPieces, writePieces } from "./io.js";
import type { SimDev, SimState } from "./store.js";
import { initialRuntime, mirrorRegions } from "./targets.js";

/**
 * Background recovery of mirror targets (device-mapper.md §4.5, §5.9,
 * §7.1 item 12), with no daemon: progress is a function of time, applied
 * lazily by whichever process next looks at the sim state (any query,
 * table operation, data-path I/O, wait or tick).
 *
 * - A mirror table starts recovering when it goes live (resume): a core log
 *   without `nosync` starts with no region in sync, `nosync` starts with all
 *   of them in sync. A reload with a new mirror table starts over (from 0),
 *   as the kernel's fresh core log does.
 * - While the device is not suspended, regions come in sync in order at the
 *   rate, in regions per second. Suspending stops the clock; resuming starts
 *   it again from the moment of the resume (time spent suspended does not
 *   count). A device on a leg's way that is suspended (or an I/O error)
 *   stalls recovery; the time spent stalled does not count either.
 * - Each region that falls due is really copied from leg 0 to every other
 *   leg on the backing files (that is what moves the data of a pvmove), and
 *   only then counted: the caller saves the state after the copies, under
 *   the state lock, so a process killed mid-copy leaves the region counted
 *   out of sync and the next look copies it again (copy first, then record).
 *   Copies run under the I/O lock, so they never interleave with data-path
 *   I/O (writes through the mirror go to every leg anyway).
 * - When the last region comes in sync the mirror raises a table event
 *   (event_nr + 1, §1.8), as dm-raid1 does, so a poller can wait for it.
 *
 * The rate comes from the environment variable DVM_SIM_MIRROR_RATE (regions
 * per second, a number ≥ 0; 0 freezes recovery so that only the explicit
 * tick hook moves it), else the sim folder's `mirror_rate` file, else
 * DEFAULT_MIRROR_RATE; SimOptions.mirrorRate overrides it in the library. It
 * is the rate of the process that accounts the time: every process sharing
 * a sim folder should use the same one, which the file gives them.
 */

export const MIRROR_RATE_ENV = "DVM_SIM_MIRROR_RATE";
/**
 * Regions per second by default: a small pvmove (a few 2 MiB regions, LVM's
 * default region size) takes a second or two.
 */
export const DEFAULT_MIRROR_RATE = 4;
/** A region is copied in pieces of at most this many sectors (1 MiB), so a huge region needs no huge buffer. */
const COPY_CHUNK_SECTORS = 2048;

/** A recovery rate: regions per second, finite and ≥ 0. */
export function checkMirrorRate(rate: unknown, where: string): number {
  if (typeof rate !== "number" || !Number.isFinite(rate) || rate < 0)
    throw invalidInput(
      `${where}: expected a mirror recovery rate in regions per second (a number ≥ 0; 0 freezes recovery), got ${JSON.stringify(rate)}`,
    );
  return rate;
}

/** The rate DVM_SIM_MIRROR_RATE sets, or the default when it is unset or empty. */
export function mirrorRateFromEnv(env: NodeJS.ProcessEnv = process.env, dir?: string): number {
  const text = env[MIRROR_RATE_ENV]?.trim();
  if (text) return parseRate(text, MIRROR_RATE_ENV);
  // The folder's own setting: one rate for every process that shares it (daemon, pollers, users).
  if (dir !== undefined) {
    const file = join(dir, MIRROR_RATE_FILE);
    let saved: string | undefined;
    try {
      saved = readFileSync(file, "utf8").trim();
    } catch {}
    if (saved) return parseRate(saved, file);
  }
  return DEFAULT_MIRROR_RATE;
}

/** The sim folder's file holding its mirror recovery rate (regions per second), when there is one. */
export const MIRROR_RATE_FILE = "mirror_rate";

const parseRate = (text: string, where: string) =>
  checkMirrorRate(/^[0-9.eE+]+$/.test(text) ? Number(text) : Number.NaN, where);

/** Called after a region's data reached every leg, before it is counted in sync (a crash point for tests). */
export type RegionCopiedHook = (e: { device: string; target: number; region: number }) => void;

export interface ResyncClock {
  /** Clock time, ms. */
  now: number;
  /** Regions per second. */
  rate: number;
  /** The caller holds the I/O lock: recovery may copy. */
  io: boolean;
  onRegionCopied?: RegionCopiedHook;
}

/** advanceResync's answer when regions fall due but the caller does not hold the I/O lock. */
export const NEED_IO = "need-io" as const;

/** Whether target `index` of a live table is a mirror still recovering. */
function recovering(dev: SimDev, index: number): boolean {
  const t = dev.live!.targets[index]!;
  if (t.type !== "mirror") return false;
  const rt = dev.live_rt[index] ?? initialRuntime(t);
  return (rt.in_sync_regions ?? 0) < mirrorRegions(t as MirrorTarget);
}

/**
 * Copy one region from leg 0 to the other legs through their device stacks.
 * False (nothing counted) when a device on the way is suspended or the I/O
 * fails; a partly copied region is simply copied again later.
 */
function copyRegion(st: SimState, m: MirrorTarget, region: number): { ok: boolean; dirty: boolean } {
  const first = region * m.log.region_sectors;
  const end = Math.min(m.length_sectors, first + m.log.region_sectors);
  let dirty = false;
  for (let s = first; s < end; s += COPY_CHUNK_SECTORS) {
    const count = Math.min(COPY_CHUNK_SECTORS, end - s);
    const plans = [];
    for (const [k, leg] of m.legs.entries()) {
      let plan: ReturnType<typeof planArea>;
      try {
        plan = planArea(st, leg.device, leg.offset_sectors + s, count, k > 0);
      } catch (e) {
        if (e instanceof MustWait) return { ok: false, dirty };
        throw e;
      }
      dirty ||= plan.dirty;
      if (plan.error !== undefined) return { ok: false, dirty };
      plans.push(plan);
    }
    const buf = Buffer.alloc(count * SECTOR_SIZE);
    try {
      readPieces(plans[0]!.pieces, buf);
      for (const p of plans.slice(1)) writePieces(p.pieces, buf);
    } catch (e) {
      if (e instanceof DmFailure) return { ok: false, dirty };
      throw e;
    }
  }
  return { ok: true, dirty };
}

/**
 * Recover up to `regions` more regions of mirror target `index` of the live
 * table: copy each, then count it (in `st`, which the caller saves after).
 * The mirror coming fully in sync raises a table event. Returns how many
 * were recovered, whether recovery got stuck before that, and whether the
 * state changed beyond the count (stripe errors seen on the way).
 */
export function recover(
  st: SimState,
  dev: SimDev,
  index: number,
  regions: number,
  hook?: RegionCopiedHook,
): { recovered: number; stalled: boolean; dirty: boolean } {
  const t = dev.live!.targets[index] as MirrorTarget;
  dev.live_rt[index] ??= initialRuntime(t);
  const rt = dev.live_rt[index]!;
  const total = mirrorRegions(t);
  const before = rt.in_sync_regions ?? 0;
  const want = Math.max(0, Math.min(regions, total - before));
  let done = 0;
  let dirty = false;
  let stalled = false;
  while (done < want) {
    const r = copyRegion(st, t, before + done);
    dirty ||= r.dirty;
    if (!r.ok) {
      stalled = true;
      break;
    }
    hook?.({ device: dev.name, target: index, region: before + done });
    done++;
  }
  rt.in_sync_regions = before + done;
  if (before < total && rt.in_sync_regions === total) {
    delete rt.resync_ms;
    dev.event_nr++;
    st.global_event_nr++;
  }
  return { recovered: done, stalled, dirty };
}

/** The device resumed: the recovery clocks of its recovering mirrors (re)start now. */
export function startResync(dev: SimDev, now: number): void {
  if (!dev.live) return;
  dev.live.targets.forEach((t, i) => {
    if (!recovering(dev, i)) return;
    dev.live_rt[i] ??= initialRuntime(t);
    dev.live_rt[i]!.resync_ms = now;
  });
}

/**
 * Bring every recovering mirror of every live, unsuspended device up to
 * `clock.now`: the regions that fell due since its clock are copied and
 * counted. Returns whether `st` changed (the caller saves it), or NEED_IO
 * (with `st` untouched by copies: retry holding the I/O lock) when copying
 * is due but `clock.io` is false.
 */
export function advanceResync(st: SimState, clock: ResyncClock): boolean | typeof NEED_IO {
  let changed = false;
  const due: { dev: SimDev; index: number; regions: number }[] = [];
  for (const dev of st.devices) {
    if (dev.suspended || !dev.live) continue;
    for (let i = 0; i < dev.live.targets.length; i++) {
      if (!recovering(dev, i)) continue;
      dev.live_rt[i] ??= initialRuntime(dev.live.targets[i]!);
      const rt = dev.live_rt[i]!;
      if (typeof rt.resync_ms !== "number") {
        // A mirror that went live before recovery had a clock: its clock starts now.
        rt.resync_ms = clock.now;
        changed = true;
        continue;
      }
      if (clock.rate <= 0) continue;
      const elapsed = Math.max(0, clock.now - rt.resync_ms);
      // The epsilon absorbs float error in resync_ms (advanced by fractions of a ms at odd rates).
      const regions = Math.floor((elapsed * clock.rate) / 1000 + 1e-9);
      if (regions > 0) due.push({ dev, index: i, regions });
    }
  }
  if (!due.length) return changed;
  if (!clock.io) return NEED_IO;
  for (const { dev, index, regions } of due) {
    const rt = dev.live_rt[index]!;
    const r = recover(st, dev, index, regions, clock.onRegionCopied);
    if (r.stalled) rt.resync_ms = clock.now;
    else if (rt.resync_ms !== undefined) rt.resync_ms += (r.recovered * 1000) / clock.rate;
    changed = true;
  }
  return changed;
}
