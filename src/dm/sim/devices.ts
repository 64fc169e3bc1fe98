import { type BigIntStats, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { SECTOR_SIZE } from "../../lib/units.js";
import { DmFailure, ERRNO, type ErrnoName } from "../backend.js";
import { type TargetLine, tableSize, targetDevices } from "../target.js";
import { DISK_MAJOR, MAJOR_LIMIT, MINOR_LIMIT, type SimDev, type SimDisk, type SimState } from "./store.js";

/**
 * Devices as the sim knows them: dm devices by name and number, disks
 * (image files, block devices) registered on first reference, how a table's
 * device argument resolves (as the kernel's dm_get_device does), and who
 * holds whom open (§1.9).
 */

export type DevRef = { kind: "dm"; dev: SimDev } | { kind: "disk"; disk: SimDisk };

export const devno = (major: number, minor: number) => `${major}:${minor}`;
export const refDevno = (st: SimState, r: DevRef) =>
  r.kind === "dm" ? devno(st.dm_major, r.dev.minor) : devno(DISK_MAJOR, r.disk.minor);

export const fail = (errno: ErrnoName, message: string) => new DmFailure(errno, message);

export const findDev = (st: SimState, name: string) => st.devices.find((d) => d.name === name);

/** Lookup by name; a missing device is ENXIO, as for every ioctl but create (§1.10). */
export function mustFind(st: SimState, name: string, op: string): SimDev {
  const d = findDev(st, name);
  if (!d) throw fail("ENXIO", `${op} ${name}: no such device`);
  return d;
}

export const sortDevices = (st: SimState) =>
  st.devices.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** Size of a dm device: end of its live table (§7.1 item 9). */
export const devSize = (d: SimDev) => tableSize(d.live?.targets);

/** Size of whatever a canonical "maj:min" names; undefined if nothing does. */
export function sizeOfDevno(st: SimState, num: string): number | undefined {
  const r = byDevno(st, num);
  if (!r) return undefined;
  return r.kind === "dm" ? devSize(r.dev) : r.disk.size_sectors;
}

/** What a canonical "maj:min" (as stored tables hold) names now. */
export function byDevno(st: SimState, num: string): DevRef | undefined {
  const m = /^(\d+):(\d+)$/.exec(num);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major === st.dm_major) {
    const dev = st.devices.find((d) => d.minor === minor);
    return dev ? { kind: "dm", dev } : undefined;
  }
  if (major === DISK_MAJOR) {
    const disk = st.disks.find((d) => d.minor === minor);
    return disk ? { kind: "disk", disk } : undefined;
  }
  return undefined;
}

/** A dm device can be opened once it has a gendisk, i.e. after its first table load (§1.3). */
function openable(dev: SimDev, arg: string): DmFailure | undefined {
  if (!dev.disk_added)
    return fail("ENXIO", `${arg}: dm device ${dev.name} has no disk yet (no table was ever loaded)`);
  return undefined;
}

/** st_rdev → major:min the way glibc's gnu_dev_major/minor decode it. */
function splitRdev(rdev: bigint): [number, number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn & 0xffffffffn);
  return [Number(major), Number(minor)];
}

/** Stat with 64-bit fields: inode numbers on some filesystems do not fit a double. */
const stat64 = (path: string) => statSync(path, { bigint: true });

/** Identity and size (sectors) of an image file or block device; sysfs for block devices, where fstat says 0. */
function diskFacts(s: BigIntStats): { ident: string; size_sectors: number } {
  if (s.isBlockDevice()) {
    const [major, minor] = splitRdev(s.rdev);
    let size = 0;
    try {
      size = Number.parseInt(readFileSync(`/sys/dev/block/${major}:${minor}/size`, "latin1"), 10) || 0;
    } catch {
      // No sysfs entry (a container): treat as size 0, which device-area checks skip.
    }
    return { ident: `b:${major}:${minor}`, size_sectors: size };
  }
  return { ident: `f:${s.dev}:${s.ino}`, size_sectors: Number(s.size / BigInt(SECTOR_SIZE)) };
}

function statErrno(e: unknown): ErrnoName {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  if (code === "ENOENT" || code === "ENOTDIR") return "ENOENT";
  return code in ERRNO ? (code as ErrnoName) : "ENOENT";
}

/** Register (or find) the disk behind a path; its size is read afresh every time. */
function diskAt(st: SimState, path: string, s: BigIntStats): SimDisk {
  const facts = diskFacts(s);
  // Same file under another name is the same disk; a path whose file was replaced keeps its number.
  let disk = st.disks.find((d) => d.ident === facts.ident) ?? st.disks.find((d) => d.path === path);
  if (!disk) {
    const used = new Set(st.disks.map((d) => d.minor));
    let minor = 0;
    while (used.has(minor)) minor++;
    disk = { path, minor, size_sectors: facts.size_sectors, ident: facts.ident, claimed: false };
    st.disks.push(disk);
    st.disks.sort((a, b) => a.minor - b.minor);
  }
  disk.ident = facts.ident;
  disk.size_sectors = facts.size_sectors;
  return disk;
}

/** Re-read a registered disk's size (a grown image is seen); a vanished file keeps the last size. */
export function refreshDisk(disk: SimDisk): void {
  try {
    disk.size_sectors = diskFacts(stat64(disk.path)).size_sectors;
  } catch {
    // Gone: I/O to it fails when it is tried.
  }
}

export function refreshDisksOf(st: SimState, devnos: Iterable<string>): void {
  for (const n of devnos) {
    const r = byDevno(st, n);
    if (r?.kind === "disk") refreshDisk(r.disk);
  }
}

/**
 * Resolve a device argument as dm_get_device does: "maj:min" (absent →
 * ENXIO, too large → EOVERFLOW), /dev/mapper/NAME and /dev/dm-N (the sim's
 * own devices; absent → ENOENT), or a path to an image file or block device
 * (absent → ENOENT, anything else → ENOTBLK). A reference to `self` is
 * EINVAL; a dm device that never had a table loaded has no disk to open
 * (ENXIO). Registers new disks in st.
 */
export function resolveDeviceArg(st: SimState, arg: string, self?: SimDev): DevRef {
  const r = lookupDeviceArg(st, arg);
  // The kernel compares device numbers before opening, so this comes before "no disk yet".
  if (self && r.kind === "dm" && r.dev === self) throw fail("EINVAL", `${arg}: device references itself`);
  if (r.kind === "dm") {
    const f = openable(r.dev, arg);
    if (f) throw f;
  } else refreshDisk(r.disk);
  return r;
}

function lookupDeviceArg(st: SimState, arg: string): DevRef {
  const num = /^(\d+):(\d+)$/.exec(arg);
  if (num) {
    const major = Number(num[1]);
    const minor = Number(num[2]);
    if (!(major < MAJOR_LIMIT && minor < MINOR_LIMIT))
      throw fail("EOVERFLOW", `${arg}: device number out of range`);
    const r = byDevno(st, devno(major, minor));
    if (!r) throw fail("ENXIO", `${arg}: no such device`);
    return r;
  }
  const path = resolve(arg);
  const mapper = /^\/dev\/mapper\/(.+)$/.exec(path);
  const dmN = /^\/dev\/dm-(\d+)$/.exec(path);
  if (mapper || dmN) {
    if (mapper?.[1] === "control") throw fail("ENOTBLK", `${arg}: not a block device`);
    const dev = mapper ? findDev(st, mapper[1]!) : st.devices.find((d) => d.minor === Number(dmN![1]));
    if (!dev) throw fail("ENOENT", `${arg}: no such file or directory`);
    return { kind: "dm", dev };
  }
  let s: BigIntStats;
  try {
    s = stat64(path);
  } catch (e) {
    throw fail(statErrno(e), `${arg}: ${(e as Error).message}`);
  }
  if (!s.isFile() && !s.isBlockDevice()) throw fail("ENOTBLK", `${arg}: not a block device or image file`);
  return { kind: "disk", disk: diskAt(st, path, s) };
}

/** The devices a table slot references, unique, in first-reference order. */
export function slotRefs(targets: readonly TargetLine[] | undefined): string[] {
  const seen = new Set<string>();
  for (const t of targets ?? []) for (const d of targetDevices(t)) seen.add(d);
  return [...seen];
}

/** What a device holds open: everything its live and inactive tables reference, each once (§1.9). */
export const heldBy = (d: SimDev) =>
  new Set([...slotRefs(d.live?.targets), ...slotRefs(d.inactive?.targets)]);

/** Open count of every dm device: one per distinct upper device, plus outside openers and a claim. */
export function openCounts(st: SimState): Map<SimDev, number> {
  const byNum = new Map(st.devices.map((d) => [devno(st.dm_major, d.minor), d]));
  const out = new Map(st.devices.map((d) => [d, d.openers + (d.claimed ? 1 : 0)]));
  for (const upper of st.devices)
    for (const n of heldBy(upper)) {
      const lower = byNum.get(n);
      if (lower && lower !== upper) out.set(lower, out.get(lower)! + 1);
    }
  return out;
}

/** Is this device number referenced by any table (live or inactive)? */
export function heldByAnyTable(st: SimState, num: string): boolean {
  return st.devices.some((d) => heldBy(d).has(num));
}

/** Remove devices marked for deferred removal whose open count has dropped to 0; stacks collapse top-down. */
export function sweepDeferred(st: SimState): void {
  for (;;) {
    const counts = openCounts(st);
    const gone = st.devices.filter((d) => d.deferred_remove && counts.get(d) === 0);
    if (!gone.length) return;
    st.devices = st.devices.filter((d) => !gone.includes(d));
    st.global_event_nr += gone.length;
  }
}
