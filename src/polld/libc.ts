import { readdirSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * The two libc calls Node lacks and lvmpolld relies on, through koffi (loaded
 * on first use): fcntl record locks (the pidfile lock a real lvmpolld also
 * sees) and FD_CLOEXEC (an inherited systemd socket must not leak into
 * pollers; lvm complains about leaked fds).
 */

const F_SETFD = 2;
const F_SETLK = 6;
const FD_CLOEXEC = 1;
const F_WRLCK = 1;
const SEEK_SET = 0;
export const EAGAIN = 11;
export const EACCES = 13;

type Fcntl = (fd: number, cmd: number, ...args: unknown[]) => number;
let cached: { fcntl: Fcntl; errno: () => number } | null | undefined;
let failure = "";

function libc(): { fcntl: Fcntl; errno: () => number } | null {
  if (cached === undefined) {
    try {
      const koffi = createRequire(import.meta.url)("koffi");
      const lib = koffi.load("libc.so.6");
      cached = { fcntl: lib.func("int fcntl(int, int, ...)") as Fcntl, errno: () => koffi.errno() as number };
    } catch (e) {
      cached = null;
      failure = (e as Error).message.split("\n")[0]!;
    }
  }
  return cached;
}

/** Why the FFI could not be loaded ("" when it was, or was not tried yet). */
export const ffiFailure = (): string => failure;

/**
 * F_SETLK F_WRLCK on the whole file. Returns 0 on success, else the errno
 * (EAGAIN/EACCES: someone holds it), or -1 when no FFI is available.
 */
export function lockWholeFile(fd: number): number {
  const c = libc();
  if (!c) return -1;
  // struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
  const fl = Buffer.alloc(32);
  fl.writeInt16LE(F_WRLCK, 0);
  fl.writeInt16LE(SEEK_SET, 2);
  return c.fcntl(fd, F_SETLK, "void *", fl) === 0 ? 0 : c.errno();
}

/** Mark an fd close-on-exec; false when it could not be done. */
export function setCloexec(fd: number): boolean {
  const c = libc();
  return c ? c.fcntl(fd, F_SETFD, "int", FD_CLOEXEC) === 0 : false;
}

/**
 * Mark every inherited fd above stderr close-on-exec, so nothing our caller
 * left open reaches the pollers (LVM2 closes them when it daemonizes; lvm
 * reports each leaked fd). Node's own fds are close-on-exec already.
 */
export function cloexecInherited(): void {
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return;
  }
  for (const f of fds) if (Number(f) > 2) setCloexec(Number(f));
}
