import { closeSync, constants, ftruncateSync, openSync, unlinkSync, writeSync } from "node:fs";
import { sleepSync } from "../lib/time.js";
import { EACCES, EAGAIN, lockWholeFile } from "./libc.js";

/**
 * The pidfile as libdm's dm_create_lockfile makes it (lvmpolld.md §1.7):
 * created 0644, write-locked with fcntl for the daemon's whole life (the fd
 * stays open, close-on-exec as every fd Node opens), then "<pid>\n".
 */

export class PidfileLocked extends Error {
  constructor(readonly path: string) {
    super(`cannot lock ${path}: held by another process (already running?)`);
    this.name = "PidfileLocked";
  }
}

export interface Pidfile {
  readonly path: string;
  /** false when no FFI could take the lock (libc.ts): the file is written but guards nothing. */
  readonly locked: boolean;
  /** Unlink and release (shutdown). */
  remove(): void;
}

export function createPidfile(path: string, pid = process.pid): Pidfile {
  const fd = openSync(path, constants.O_CREAT | constants.O_WRONLY, 0o644);
  // LVM2 retries 20 times, 1 ms apart, before giving up.
  let err = lockWholeFile(fd);
  for (let i = 0; i < 20 && (err === EAGAIN || err === EACCES); i++) {
    sleepSync(1);
    err = lockWholeFile(fd);
  }
  if (err === EAGAIN || err === EACCES) {
    closeSync(fd);
    throw new PidfileLocked(path);
  }
  if (err > 0) {
    closeSync(fd);
    throw new Error(`cannot lock ${path} (errno ${err})`);
  }
  // err === -1: no FFI; the pidfile is still written, just not locked.
  ftruncateSync(fd, 0);
  writeSync(fd, `${pid}\n`, 0);
  let held = true;
  return {
    path,
    locked: err === 0,
    remove() {
      if (!held) return;
      held = false;
      try {
        unlinkSync(path);
      } catch {}
      closeSync(fd);
    },
  };
}
