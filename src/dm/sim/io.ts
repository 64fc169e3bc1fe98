import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { SECTOR_SIZE } from "../../lib/units.js";
import { DmFailure } from "../backend.js";
import type { MirrorTarget, StripedTarget, TargetLine } from "../target.js";
import { tableSize } from "../target.js";
import { byDevno, fail } from "./devices.js";
import type { SimDev, SimState } from "./store.js";
import { initialRuntime } from "./targets.js";

/**
 * The data path (device-mapper.md §7.1 item 17): a request on a dm device
 * is mapped, under the state lock, through the live tables of the whole
 * device stack down to byte ranges of the backing files; the file I/O then
 * runs outside the state lock (but under the I/O lock, which suspend takes,
 * so a suspend waits for in-flight I/O and a table swap is atomic with
 * respect to it).
 */

/** Part of a request that lands on a backing file. */
export interface FilePiece {
  /** Where in the request buffer (sectors from the request's first sector). */
  buf_sector: number;
  count_sectors: number;
  path: string;
  file_sector: number;
}

/** Thrown while mapping when some device on the way is suspended: the request must wait for its resume. */
export class MustWait {
  constructor(readonly device: string) {}
}

/** A stack deeper than this is a loop of tables referencing each other. */
const MAX_DEPTH = 64;
/** The striped target raises an event for each of a stripe's first errors, up to this many. */
const STRIPE_ERROR_EVENTS = 15;

interface MapCtx {
  st: SimState;
  write: boolean;
  out: FilePiece[];
  /** Stripe error counters changed: the state must be saved. */
  dirty: boolean;
}

function push(ctx: MapCtx, p: FilePiece): void {
  const last = ctx.out[ctx.out.length - 1];
  if (
    last &&
    last.path === p.path &&
    last.buf_sector + last.count_sectors === p.buf_sector &&
    last.file_sector + last.count_sectors === p.file_sector
  )
    last.count_sectors += p.count_sectors;
  else ctx.out.push(p);
}

function mapDev(ctx: MapCtx, dev: SimDev, sector: number, count: number, buf: number, depth: number): void {
  if (depth > MAX_DEPTH)
    throw fail("EIO", `${dev.name}: device stack deeper than ${MAX_DEPTH} (tables form a loop)`);
  if (dev.suspended) throw new MustWait(dev.name);
  const live = dev.live;
  if (!live) throw fail("EIO", `${dev.name}: no live table`);
  const size = tableSize(live.targets);
  if (sector + count > size)
    throw fail("EIO", `${dev.name}: sectors ${sector}+${count} lie beyond the device end (${size})`);
  const end = sector + count;
  live.targets.forEach((t, i) => {
    const tEnd = t.start_sectors + t.length_sectors;
    if (tEnd <= sector || t.start_sectors >= end) return;
    const s = Math.max(sector, t.start_sectors);
    mapTarget(ctx, dev, i, t, s, Math.min(end, tEnd) - s, buf + (s - sector), depth);
  });
}

function mapLower(ctx: MapCtx, num: string, sector: number, count: number, buf: number, depth: number): void {
  const r = byDevno(ctx.st, num);
  if (!r) throw fail("EIO", `${num}: device is gone`);
  if (r.kind === "dm") {
    mapDev(ctx, r.dev, sector, count, buf, depth + 1);
    return;
  }
  if (sector + count > r.disk.size_sectors)
    throw fail(
      "EIO",
      `${r.disk.path}: sectors ${sector}+${count} lie beyond the disk end (${r.disk.size_sectors})`,
    );
  push(ctx, { buf_sector: buf, count_sectors: count, path: r.disk.path, file_sector: sector });
}

function mapTarget(
  ctx: MapCtx,
  dev: SimDev,
  index: number,
  t: TargetLine,
  sector: number,
  count: number,
  buf: number,
  depth: number,
): void {
  const o = sector - t.start_sectors;
  switch (t.type) {
    case "linear": {
      const l = t as TargetLine & { device: string; offset_sectors: number };
      mapLower(ctx, l.device, l.offset_sectors + o, count, buf, depth);
      return;
    }
    case "striped": {
      const s = t as StripedTarget;
      const n = s.stripes.length;
      const chunk = s.chunk_sectors;
      for (let done = 0; done < count; ) {
        const off = o + done;
        const chunkNo = Math.floor(off / chunk);
        const within = off % chunk;
        const k = chunkNo % n;
        const take = Math.min(count - done, chunk - within);
        const stripe = s.stripes[k]!;
        const at = stripe.offset_sectors + Math.floor(chunkNo / n) * chunk + within;
        try {
          mapLower(ctx, stripe.device, at, take, buf + done, depth);
        } catch (e) {
          if (e instanceof DmFailure) noteStripeError(ctx, dev, index, stripe.device);
          throw e;
        }
        done += take;
      }
      return;
    }
    case "mirror": {
      // Writes go to every leg, in or out of sync: a region recovery has not reached yet gets the
      // new data on all legs, so its later copy from leg 0 changes nothing. Reads are served by
      // leg 0, the recovery source, which is right whether or not the region is in sync yet.
      // Recovery copies (resync.ts) and this I/O both run under the I/O lock, so they never interleave.
      const m = t as MirrorTarget;
      for (const leg of ctx.write ? m.legs : m.legs.slice(0, 1))
        mapLower(ctx, leg.device, leg.offset_sectors + o, count, buf, depth);
      return;
    }
    case "zero":
      // Reads see zeros (the buffer starts zeroed); writes are dropped.
      return;
    case "error":
      throw fail("EIO", `${dev.name}: sectors ${sector}+${count} map to an error target`);
    default:
      throw fail("EIO", `${dev.name}: target type ${t.type} has no data path in the sim`);
  }
}

/** An I/O error below a stripe marks every stripe on that device D, with an event for each of the first few. */
function noteStripeError(ctx: MapCtx, dev: SimDev, index: number, device: string): void {
  const t = dev.live!.targets[index] as StripedTarget;
  dev.live_rt[index] ??= initialRuntime(t);
  const rt = dev.live_rt[index]!;
  rt.stripe_errors ??= t.stripes.map(() => 0);
  const errors = rt.stripe_errors;
  t.stripes.forEach((s, k) => {
    if (s.device !== device) return;
    errors[k] = (errors[k] ?? 0) + 1;
    if (errors[k]! <= STRIPE_ERROR_EVENTS) {
      dev.event_nr++;
      ctx.st.global_event_nr++;
    }
  });
  ctx.dirty = true;
}

export interface Plan {
  pieces: FilePiece[];
  dirty: boolean;
  error?: unknown;
}

/**
 * Map sectors [sector, sector+count) of a device to file pieces. Throws
 * MustWait when something on the way is suspended; a DmFailure (EIO) is
 * returned in the plan, with dirty set when it changed stripe counters.
 */
export function planIo(st: SimState, dev: SimDev, sector: number, count: number, write: boolean): Plan {
  const ctx: MapCtx = { st, write, out: [], dirty: false };
  try {
    mapDev(ctx, dev, sector, count, 0, 0);
  } catch (e) {
    if (e instanceof MustWait) throw e;
    return { pieces: [], dirty: ctx.dirty, error: e };
  }
  return { pieces: ctx.out, dirty: false };
}

/**
 * Map sectors [sector, sector+count) of a device named by a table argument
 * ("maj:min": a disk or a dm device) to file pieces, as a target's own I/O
 * to that device does (mirror recovery, resync.ts). Same contract as planIo.
 */
export function planArea(st: SimState, device: string, sector: number, count: number, write: boolean): Plan {
  const ctx: MapCtx = { st, write, out: [], dirty: false };
  try {
    mapLower(ctx, device, sector, count, 0, 0);
  } catch (e) {
    if (e instanceof MustWait) throw e;
    return { pieces: [], dirty: ctx.dirty, error: e };
  }
  return { pieces: ctx.out, dirty: false };
}

/** Open each backing file once per request. */
class Files {
  private fds = new Map<string, number>();
  constructor(private readonly write: boolean) {}
  fd(path: string): number {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      try {
        fd = openSync(path, this.write ? "r+" : "r");
      } catch (e) {
        throw fail("EIO", `${path}: ${(e as Error).message}`);
      }
      this.fds.set(path, fd);
    }
    return fd;
  }
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** Fill buf (sector 0 = the plan's first sector) from the files; bytes past a file's end read as zeros. */
export function readPieces(pieces: FilePiece[], buf: Buffer): void {
  const files = new Files(false);
  try {
    for (const p of pieces) {
      const fd = files.fd(p.path);
      let done = 0;
      const len = p.count_sectors * SECTOR_SIZE;
      while (done < len) {
        let n: number;
        try {
          n = readSync(
            fd,
            buf,
            p.buf_sector * SECTOR_SIZE + done,
            len - done,
            p.file_sector * SECTOR_SIZE + done,
          );
        } catch (e) {
          throw fail("EIO", `${p.path}: ${(e as Error).message}`);
        }
        if (n === 0) break;
        done += n;
      }
    }
  } finally {
    files.close();
  }
}

export function writePieces(pieces: FilePiece[], buf: Buffer): void {
  const files = new Files(true);
  try {
    for (const p of pieces) {
      const fd = files.fd(p.path);
      let done = 0;
      const len = p.count_sectors * SECTOR_SIZE;
      while (done < len) {
        try {
          done += writeSync(
            fd,
            buf,
            p.buf_sector * SECTOR_SIZE + done,
            len - done,
            p.file_sector * SECTOR_SIZE + done,
          );
        } catch (e) {
          throw fail("EIO", `${p.path}: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    files.close();
  }
}
