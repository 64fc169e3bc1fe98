import { roundUp, SECTOR_SIZE } from "../../lib/units.js";
import { DmFailure } from "../backend.js";
import {
  type DevArea,
  type MirrorLog,
  type MirrorSync,
  printParams,
  splitArgs,
  type TargetLine,
} from "../target.js";
import { fail, refDevno, resolveDeviceArg, sizeOfDevno } from "./devices.js";
import type { SimDev, SimState } from "./store.js";
import { deviceAreas } from "./targets.js";

/**
 * Table load validation in the kernel's order (device-mapper.md §1.4): per
 * target zero length, size overflow, unknown type, adjacency ("Gap in
 * table"), then the target's constructor on the argument words, which
 * opens the referenced devices. The result is the table in canonical form,
 * as the kernel echoes it.
 */

/** The kernel's limit on targets per table (1 048 576). */
const MAX_TARGETS = 1 << 20;
/** dm-raid1's DM_KCOPYD_MAX_REGIONS + 1. */
const MAX_LEGS = 9;

interface Ctx {
  base: { start_sectors: number; length_sectors: number };
  inval: (why: string) => DmFailure;
  /** Open a referenced device (dm_get_device): its canonical maj:min. */
  dev: (arg: string | undefined) => string;
  /** Current size of a referenced device (canonical maj:min), 0 if unknown. */
  size: (num: string) => number;
}

const NUM_RE = /^\d+$/;
/** A %llu argument (sector numbers). */
const u64 = (s: string | undefined) => (s !== undefined && NUM_RE.test(s) ? safe(Number(s)) : undefined);
/** A %u argument (counts, sizes). */
const u32 = (s: string | undefined) => {
  const n = u64(s);
  return n !== undefined && n < 2 ** 32 ? n : undefined;
};
const safe = (n: number) => (Number.isSafeInteger(n) ? n : undefined);
const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0 && n < 2 ** 31;

type Ctr = (c: Ctx, a: string[]) => TargetLine;

function linear(c: Ctx, a: string[]): TargetLine {
  if (a.length !== 2) throw c.inval("Invalid argument count");
  const device = c.dev(a[0]);
  const offset = u64(a[1]);
  if (offset === undefined) throw c.inval("Invalid device sector");
  return { ...c.base, type: "linear", device, offset_sectors: offset };
}

function striped(c: Ctx, a: string[]): TargetLine {
  if (a.length < 2) throw c.inval("Not enough arguments");
  const n = u32(a[0]);
  if (!n) throw c.inval("Invalid stripe count");
  const chunk = u32(a[1]);
  if (!chunk) throw c.inval("Invalid chunk_size");
  const len = c.base.length_sectors;
  if (len % n) throw c.inval("Target length not divisible by number of stripes");
  if ((len / n) % chunk) throw c.inval("Target length not divisible by chunk size");
  if (a.length !== 2 + 2 * n) throw c.inval("Not enough destinations specified");
  const stripes: DevArea[] = [];
  for (let k = 0; k < n; k++) {
    const offset = u64(a[3 + 2 * k]);
    if (offset === undefined) throw c.inval("Couldn't parse stripe destination");
    stripes.push({ device: c.dev(a[2 + 2 * k]), offset_sectors: offset });
  }
  return { ...c.base, type: "striped", chunk_sectors: chunk, stripes };
}

function noArgs(type: "error" | "zero") {
  return (c: Ctx, a: string[]): TargetLine => {
    // The kernel's error target may take "<dev> <offset>" (zoned limits); the typed line has no room for it.
    if (a.length) throw c.inval(type === "zero" ? "No arguments required" : "error takes no arguments");
    return { ...c.base, type } as TargetLine;
  };
}

/** The disk log needs a header (2 sectors) plus one bit per region in longs, rounded up to a sector. */
function diskLogBytes(regions: number): number {
  const bitsetBytes = Math.ceil(regions / 64) * 8;
  return roundUp(2 * SECTOR_SIZE + bitsetBytes, SECTOR_SIZE);
}

function mirror(c: Ctx, a: string[]): TargetLine {
  const len = c.base.length_sectors;
  // The dirty log comes first: type, argument count, its arguments.
  if (a.length < 2) throw c.inval("Insufficient mirror log arguments");
  const nLog = u32(a[1]);
  if (nLog === undefined) throw c.inval("Invalid mirror log argument count");
  if (a.length < 2 + nLog) throw c.inval("Insufficient mirror log arguments");
  const logArgs = a.slice(2, 2 + nLog);
  const logType = a[0];
  if (logType !== "core" && logType !== "disk") throw c.inval("Error creating mirror dirty log");
  if (logType === "core" ? nLog < 1 || nLog > 2 : nLog < 2 || nLog > 3)
    throw c.inval("Invalid/too many args to mirror log");
  // The disk log opens its device before it looks at the rest.
  const logDev = logType === "disk" ? c.dev(logArgs.shift()) : undefined;
  let sync: MirrorSync | undefined;
  if (logArgs.length > 1) {
    if (logArgs[1] !== "sync" && logArgs[1] !== "nosync")
      throw c.inval("Unrecognised sync argument to mirror log");
    sync = logArgs[1];
  }
  const region = u32(logArgs[0]);
  if (region === undefined || region < 2 || region > len || !isPow2(region))
    throw c.inval("Invalid region size");
  if (logDev !== undefined) {
    const need = diskLogBytes(Math.ceil(len / region));
    const have = c.size(logDev) * SECTOR_SIZE;
    if (need > have) throw c.inval(`log device ${logDev} too small: need ${need} bytes`);
  }
  const log: MirrorLog =
    logDev === undefined
      ? { type: "core", region_sectors: region }
      : { type: "disk", device: logDev, region_sectors: region };
  if (sync) log.sync = sync;

  let i = 2 + nLog;
  const nLegs = u32(a[i]);
  if (nLegs === undefined || nLegs < 2 || nLegs > MAX_LEGS) throw c.inval("Invalid number of mirrors");
  i++;
  if (a.length - i < nLegs * 2) throw c.inval("Too few mirror arguments");
  const legs: DevArea[] = [];
  for (let k = 0; k < nLegs; k++, i += 2) {
    const offset = u64(a[i + 1]);
    if (offset === undefined) throw c.inval("Invalid offset");
    legs.push({ device: c.dev(a[i]), offset_sectors: offset });
  }
  let handleErrors = false;
  let keepLog = false;
  if (i < a.length) {
    const nf = u32(a[i++]);
    if (nf === undefined) throw c.inval("Invalid number of features");
    if (nf > a.length - i) throw c.inval("Not enough arguments to support feature count");
    for (let k = 0; k < nf; k++) {
      const f = a[i++];
      if (f === "handle_errors") handleErrors = true;
      else if (f === "keep_log") keepLog = true;
      else throw c.inval(`Unrecognised feature requested: ${f}`);
    }
    if (keepLog && !handleErrors) throw c.inval("keep_log feature requires the handle_errors feature");
  }
  if (i < a.length) throw c.inval("Too many mirror arguments");
  // Echoed in the kernel's order, once each, whatever order they came in.
  const features = [...(handleErrors ? ["handle_errors"] : []), ...(keepLog ? ["keep_log"] : [])];
  return { ...c.base, type: "mirror", log, legs, features };
}

const CTRS = new Map<string, Ctr>([
  ["linear", linear],
  ["striped", striped],
  ["error", noArgs("error")],
  ["zero", noArgs("zero")],
  ["mirror", mirror],
]);

const isSectorCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

/** The argument words the kernel would see for a typed line (its printed parameters, split as dm_split_args does). */
function argsOf(t: TargetLine, inval: (why: string) => DmFailure): string[] {
  if ("params" in t) {
    if (typeof t.params !== "string") throw inval("params must be text");
    return splitArgs(t.params);
  }
  try {
    return splitArgs(printParams(t));
  } catch (e) {
    throw inval(`malformed target line: ${(e as Error).message}`);
  }
}

/**
 * Build and check a table for `self` (§1.4 steps 1-2). Registers newly
 * referenced disks in st; the caller discards st when this throws.
 */
export function buildTable(st: SimState, self: SimDev, lines: TargetLine[]): TargetLine[] {
  const where = `load ${self.name}`;
  if (!Array.isArray(lines) || lines.length === 0) throw fail("EINVAL", `${where}: table has no targets`);
  if (lines.length > MAX_TARGETS) throw fail("EOVERFLOW", `${where}: more than ${MAX_TARGETS} targets`);
  const out: TargetLine[] = [];
  let end = 0;
  lines.forEach((t, i) => {
    const at = `${where}: target ${i} (${t?.start_sectors} ${t?.length_sectors} ${t?.type})`;
    const inval = (why: string) => fail("EINVAL", `${at}: ${why}`);
    if (!t || typeof t !== "object") throw inval("not a target line");
    const start = t.start_sectors;
    const len = t.length_sectors;
    if (!isSectorCount(start) || !isSectorCount(len)) throw inval("start and length must be whole numbers");
    if (len === 0) throw inval("zero-length target");
    if (!Number.isSafeInteger(start + len)) throw inval("too large device");
    const ctr = typeof t.type === "string" ? CTRS.get(t.type) : undefined;
    if (!ctr) throw inval(`unknown target type ${JSON.stringify(t.type)}`);
    if (start !== end) throw inval("Gap in table");
    const ctx: Ctx = {
      base: { start_sectors: start, length_sectors: len },
      inval,
      dev: (arg) => {
        if (arg === undefined) throw inval("device missing");
        try {
          const r = resolveDeviceArg(st, arg, self);
          if (r.kind === "dm" ? r.dev.claimed : r.disk.claimed)
            throw fail("EBUSY", `${arg} is held exclusively by another holder`);
          return refDevno(st, r);
        } catch (e) {
          throw e instanceof DmFailure ? new DmFailure(e.errno, `${at}: ${e.message}`) : e;
        }
      },
      size: (num) => sizeOfDevno(st, num) ?? 0,
    };
    out.push(ctr(ctx, argsOf(t, inval)));
    end = start + len;
  });
  return out;
}

/**
 * Device-area checks (§1.4 step 5): every range a target maps must lie
 * within the referenced device's current size; a size-0 device is skipped.
 */
export function checkAreas(st: SimState, targets: readonly TargetLine[], where: string): void {
  for (const t of targets)
    for (const a of deviceAreas(t)) {
      const size = sizeOfDevno(st, a.device);
      if (!size) continue;
      if (a.offset_sectors >= size || a.offset_sectors + a.length_sectors > size)
        throw fail(
          "EINVAL",
          `${where}: ${t.start_sectors} ${t.length_sectors} ${t.type}: device ${a.device} too small: ` +
            `needs sectors ${a.offset_sectors}+${a.length_sectors}, has ${size}`,
        );
    }
}
