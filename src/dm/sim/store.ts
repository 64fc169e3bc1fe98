import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { corrupt } from "../../lib/errors.js";
import { type Lock, lockFile } from "../../tm/lock.js";
import type { TargetLine } from "../target.js";

/**
 * The sim's shared state: one JSON file in the sim folder, read and written
 * whole under an flock, so any number of processes see one device-mapper.
 */

/** The dm block major (device-mapper.md §1.1: commonly 253). */
export const DM_MAJOR = 253;
/** Image files and block devices used by tables get this major (the loop driver's). */
export const DISK_MAJOR = 7;
/** MINORBITS: dm minors and maj:min arguments must fit the kernel's dev_t. */
export const MINOR_LIMIT = 1 << 20;
export const MAJOR_LIMIT = 1 << 12;

export interface SimTable {
  /** Loaded with DM_READONLY_FLAG. */
  read_only: boolean;
  /** Canonical target lines: devices as "maj:min", mirror features in kernel order. */
  targets: TargetLine[];
}

/** Per-target state that status lines show (device-mapper.md §4.2, §4.5). */
export interface TargetRuntime {
  /** mirror: regions in sync (recovered in order: regions [0, in_sync_regions) are in sync). */
  in_sync_regions?: number;
  /**
   * mirror, while recovering: the clock time (ms) up to which recovery has
   * been accounted (resync.ts). Set again whenever the device resumes, so
   * time spent suspended does not count; when absent (a state written before
   * background recovery existed) the next look at the state starts the clock.
   */
  resync_ms?: number;
  /** striped: I/O errors seen per stripe. */
  stripe_errors?: number[];
}

export interface SimDev {
  name: string;
  uuid?: string;
  minor: number;
  live: SimTable | null;
  inactive: SimTable | null;
  /** One entry per live target. */
  live_rt: TargetRuntime[];
  suspended: boolean;
  /** The disk's read-only state, set from the table's mode when it goes live. */
  read_only: boolean;
  /** Openers outside device-mapper (open() hooks, claims). */
  openers: number;
  /** Held exclusively by a non-dm holder (a "mount"). */
  claimed: boolean;
  event_nr: number;
  deferred_remove: boolean;
  /**
   * Set by the first successful load: from then on the device has a gendisk
   * (it can be opened and referenced), and device-area checks of later
   * loads move to resume (§1.4 step 5).
   */
  disk_added: boolean;
}

export interface SimDisk {
  /** Absolute path of the image file or block device. */
  path: string;
  minor: number;
  size_sectors: number;
  /** What the path was when registered (file dev:ino or block rdev), to spot aliases. */
  ident: string;
  /** Held exclusively by a non-dm holder. */
  claimed: boolean;
}

export interface SimState {
  kind: "dvm-sim-state";
  version: 1;
  dm_major: number;
  /** Bumped by create, remove, rename, table swaps and device events (§1.8). */
  global_event_nr: number;
  /** Sorted by name (list order). */
  devices: SimDev[];
  /** Every disk ever referenced, so its maj:min stays stable. */
  disks: SimDisk[];
}

const emptyState = (): SimState => ({
  kind: "dvm-sim-state",
  version: 1,
  dm_major: DM_MAJOR,
  global_event_nr: 0,
  devices: [],
  disks: [],
});

export const STATE_FILE = "state.json";
export const FAULTS_FILE = "faults.json";
const STATE_LOCK = "state.lock";
/** Held during data-path I/O and by suspend/resume/remove, so a suspend waits for in-flight I/O. */
const IO_LOCK = "io.lock";

export class Store {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Run fn under the state lock (and first the I/O lock: always in this order, so no deadlock). */
  locked<T>(fn: () => T, opts: { io?: boolean } = {}): T {
    const held: Lock[] = [];
    try {
      if (opts.io) held.push(lockFile(IO_LOCK, { lockDir: this.dir }));
      held.push(lockFile(STATE_LOCK, { lockDir: this.dir }));
      return fn();
    } finally {
      for (const l of held.reverse()) l.release();
    }
  }

  /** Hold only the I/O lock (the data path takes the state lock inside it, briefly). */
  ioLocked<T>(fn: () => T): T {
    const l = lockFile(IO_LOCK, { lockDir: this.dir });
    try {
      return fn();
    } finally {
      l.release();
    }
  }

  load(): SimState {
    const path = join(this.dir, STATE_FILE);
    if (!existsSync(path)) return emptyState();
    let st: SimState;
    try {
      st = JSON.parse(readFileSync(path, "utf8")) as SimState;
    } catch (e) {
      throw corrupt(`sim state ${path}: ${(e as Error).message}`);
    }
    if (st?.kind !== "dvm-sim-state" || st.version !== 1 || !Array.isArray(st.devices))
      throw corrupt(`sim state ${path}: not a dvm-sim-state version 1 document`);
    return st;
  }

  save(st: SimState): void {
    this.writeAtomic(STATE_FILE, `${JSON.stringify(st, null, 1)}\n`);
  }

  readFaultsText(): string | undefined {
    const path = join(this.dir, FAULTS_FILE);
    return existsSync(path) ? readFileSync(path, "utf8") : undefined;
  }

  writeFaultsText(text: string): void {
    this.writeAtomic(FAULTS_FILE, text);
  }

  /** Readers never see a half-written file: write a temp file, then rename over. */
  private writeAtomic(file: string, text: string): void {
    const tmp = join(this.dir, `.${file}.${process.pid}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(this.dir, file));
  }
}
