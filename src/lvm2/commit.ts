import type { BlockIO } from "../lib/blockdev.js";
import { DvmError, Exit } from "../lib/errors.js";
import { type Bytes, bytes, roundUp, SECTOR_SIZE } from "../lib/units.js";
import { lvmCrc } from "./crc.js";
import {
  EMPTY_LOCN,
  encodeMdaHeader,
  MDA_HEADER_SIZE,
  type MdaHeader,
  maxTextSize,
  nextCopyOffset,
  RAW_LOCN_IGNORED,
  type RawLocn,
} from "./mda.js";

/**
 * Writing a new metadata copy into metadata areas with LVM2's commit
 * protocol (lvm2-on-disk-format.md §7.4): text into every ring after the
 * live copy, then the precommit slot, then the committed slot, one
 * 512-byte header write per area. Planning is pure; `commit` does the I/O.
 */

export interface Piece {
  offset: Bytes;
  data: Uint8Array;
}

export interface CopyPlan {
  locn: RawLocn;
  pieces: Piece[];
}

/** The text as stored: its bytes plus one NUL, and their checksum. */
export function encodeText(text: string): { data: Uint8Array; crc: number } {
  const data = Buffer.from(`${text.endsWith("\0") ? text : `${text}\0`}`, "latin1");
  return { data, crc: lvmCrc(data) };
}

/** Where and how the new copy goes in one area; refuses text larger than LVM2 allows there. */
export function planCopy(h: MdaHeader, data: Uint8Array, crc: number): CopyPlan {
  const limit = maxTextSize(h.size);
  if (data.length > limit)
    throw new DvmError(
      Exit.noSpace,
      `metadata of ${data.length} bytes exceeds the ${limit}-byte limit of the metadata area at ${h.start}`,
    );
  const off = nextCopyOffset(h, h.committed);
  const firstLen = Math.min(data.length, h.size - off);
  const pieces: Piece[] = [];
  if (firstLen === data.length) {
    // LVM2 pads a copy with zeros to the next sector boundary.
    const padded = new Uint8Array(Math.min(roundUp(data.length, SECTOR_SIZE), h.size - off));
    padded.set(data);
    pieces.push({ offset: bytes(h.start + off), data: padded });
  } else {
    pieces.push({ offset: bytes(h.start + off), data: data.subarray(0, firstLen) });
    const rest = data.subarray(firstLen);
    const padded = new Uint8Array(roundUp(rest.length, SECTOR_SIZE));
    padded.set(rest);
    pieces.push({ offset: bytes(h.start + MDA_HEADER_SIZE), data: padded });
  }
  return { locn: { offset: off, size: bytes(data.length), checksum: crc, flags: 0 }, pieces };
}

export interface CommitTarget {
  io: BlockIO;
  header: MdaHeader;
  /** Commit with the IGNORED flag set: the area keeps this copy but readers skip it. */
  ignore?: boolean;
}

/**
 * Between precommit and commit: LVM2's two-phase commit runs device-mapper
 * work here (load and suspend, then resume after the commit). It gets a
 * function that does the commit and must call it once to go ahead; if it
 * returns without calling it, or throws before, the precommit is reverted.
 */
export type Phase2 = (commitNow: () => void) => void;

/**
 * Commit `text` to every target area. Before the last header write a
 * reader sees the old copy (never overwritten); after it, the new one.
 * Returns the new locations, or null when `phase2` chose not to commit.
 */
export function commit(
  targets: CommitTarget[],
  text: string,
  phase2?: Phase2,
  /** encodeText(text), when the caller has it already (it planned the copies). */
  encoded: { data: Uint8Array; crc: number } = encodeText(text),
): RawLocn[] | null {
  const { data, crc } = encoded;
  const plans = targets.map((t) => planCopy(t.header, data, crc));
  const ios = new Set(targets.map((t) => t.io));
  const flushAll = () => {
    for (const io of ios) io.flush();
  };
  targets.forEach((t, i) => {
    for (const p of plans[i]!.pieces) t.io.write(p.offset, p.data);
  });
  flushAll();
  targets.forEach((t, i) => {
    const pre = { ...t.header, precommitted: plans[i]!.locn };
    t.io.write(t.header.start, encodeMdaHeader(pre));
  });
  flushAll();
  let committed = false;
  const commitNow = () => {
    if (committed) throw new Error("metadata committed twice");
    targets.forEach((t, i) => {
      const locn = { ...plans[i]!.locn, flags: t.ignore ? RAW_LOCN_IGNORED : 0 };
      const done = { ...t.header, committed: locn, precommitted: EMPTY_LOCN };
      t.io.write(t.header.start, encodeMdaHeader(done));
    });
    flushAll();
    committed = true;
  };
  if (!phase2) commitNow();
  else {
    try {
      phase2(commitNow);
    } finally {
      if (!committed) revertPrecommit(targets);
    }
  }
  return committed ? plans.map((p) => p.locn) : null;
}

/** Drop a precommitted copy: each header as it was, slot 1 empty (LVM2's vg_revert). */
function revertPrecommit(targets: CommitTarget[]): void {
  for (const t of targets)
    t.io.write(t.header.start, encodeMdaHeader({ ...t.header, precommitted: EMPTY_LOCN }));
  for (const io of new Set(targets.map((t) => t.io))) io.flush();
}
