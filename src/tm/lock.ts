import { closeSync, constants, mkdirSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { DvmError, Exit } from "../lib/errors.js";

/**
 * VG locks as LVM2 takes them: flock(2) on `<lock dir>/V_<vg>` (and
 * `P_global` for commands that change which PVs belong to which VG), so
 * dvm and LVM2 exclude each other.
 */

export const DEFAULT_LOCK_DIR = "/run/lock/lvm";
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;

type FlockFn = (fd: number, op: number) => number;
let flockFn: FlockFn | undefined;
let errnoFn: (() => number) | undefined;

/** libc's flock through koffi, loaded on first use so other commands don't pay for it. */
function flock(): { flock: FlockFn; errno: () => number } {
  if (!flockFn) {
    try {
      const koffi = createRequire(import.meta.url)("koffi");
      const libc = koffi.load("libc.so.6");
      flockFn = libc.func("int flock(int, int)") as FlockFn;
      errnoFn = () => koffi.errno() as number;
    } catch (e) {
      // A broken installation, not a bug in the command: say what is missing, not a stack.
      throw new DvmError(
        Exit.internal,
        `cannot take VG locks: koffi, dvm's FFI for flock(2), could not be loaded (${(e as Error).message.split("\n")[0]}); reinstall dvm with its dependencies`,
      );
    }
  }
  return { flock: flockFn!, errno: errnoFn! };
}

export interface Lock {
  readonly path: string;
  release(): void;
}

export interface LockOptions {
  lockDir?: string;
  /** Fail with exit 5 instead of waiting when someone else holds the lock. */
  nowait?: boolean;
}

export function lockFile(name: string, opts: LockOptions = {}): Lock {
  const dir = opts.lockDir ?? DEFAULT_LOCK_DIR;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new DvmError(Exit.conflict, `cannot create lock directory ${dir}: ${(e as Error).message}`);
  }
  const path = join(dir, name);
  let fd: number;
  try {
    fd = openSync(path, constants.O_CREAT | constants.O_APPEND | constants.O_RDWR, 0o777);
  } catch (e) {
    throw new DvmError(Exit.conflict, `cannot open lock file ${path}: ${(e as Error).message}`);
  }
  const { flock: f, errno } = flock();
  if (f(fd, LOCK_EX | LOCK_NB) !== 0) {
    const err = errno();
    if (err !== EWOULDBLOCK || opts.nowait || f(fd, LOCK_EX) !== 0) {
      closeSync(fd);
      throw new DvmError(
        Exit.conflict,
        err === EWOULDBLOCK ? `${path} is locked by another process` : `flock ${path} failed (errno ${err})`,
      );
    }
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      f(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}

export const vgLockName = (vg: string) => `V_${vg}`;
export const GLOBAL_LOCK = "P_global";

/** Take several locks in a fixed order (global first, then VGs by name) to avoid deadlocks. */
export function lockAll(names: string[], opts: LockOptions = {}): Lock {
  const ordered = [...new Set(names)].sort((a, b) =>
    a === GLOBAL_LOCK ? -1 : b === GLOBAL_LOCK ? 1 : a < b ? -1 : 1,
  );
  const held: Lock[] = [];
  try {
    for (const n of ordered) held.push(lockFile(n, opts));
  } catch (e) {
    for (const l of held.reverse()) l.release();
    throw e;
  }
  return {
    path: held.map((l) => l.path).join(","),
    release: () => {
      for (const l of held.reverse()) l.release();
    },
  };
}
