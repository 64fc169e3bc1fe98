import type { DmStateDoc } from "./docs.js";
import type { TargetLine } from "./target.js";

/**
 * What dvm-dmexec drives: the kernel's device-mapper (through dmsetup) or the
 * sim. Calls are synchronous and either succeed or throw a DmFailure carrying
 * the errno the kernel would give (device-mapper.md §1.10).
 */

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  ENOMEM: 12,
  EACCES: 13,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ENODATA: 61,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
} as const;
export type ErrnoName = keyof typeof ERRNO;

export class DmFailure extends Error {
  readonly code: number;
  constructor(
    readonly errno: ErrnoName,
    message: string,
  ) {
    super(message);
    this.name = "DmFailure";
    this.code = ERRNO[errno];
  }
}

export interface SuspendFlags {
  noflush?: boolean;
  nolockfs?: boolean;
}

export interface DmBackend {
  readonly name: string;
  /** Create a device with no table (DEV_CREATE). */
  create(name: string, uuid?: string): void;
  /** Stage a table in the inactive slot (TABLE_LOAD). */
  load(name: string, table: TargetLine[], readOnly: boolean): void;
  suspend(name: string, flags?: SuspendFlags): void;
  /** Resume, swapping in a staged table (device-mapper.md §1.5). */
  resume(name: string, flags?: SuspendFlags): void;
  clear(name: string): void;
  remove(name: string, opts?: { deferred?: boolean }): void;
  rename(name: string, newName: string): void;
  setUuid(name: string, uuid: string): void;
  /** Send a target message; returns the reply text (often empty). */
  message(name: string, sector: number, text: string): string;
  /** dmsetup-format text of one device: table, status, deps or info (-c style one line). */
  query(kind: "table" | "status" | "deps" | "info", name: string, inactive?: boolean): string;
  /** Every dm device (optionally only those whose uuid starts with a prefix), with tables as typed lines. */
  state(uuidPrefix?: string): DmStateDoc;
}
