import { corrupt } from "../lib/errors.js";
import { type Bytes, bytes, roundUp, SECTOR_SIZE } from "../lib/units.js";
import { lvmCrc } from "./crc.js";

/** Metadata-area header and its ring buffer (lvm2-on-disk-format.md §6, §7). */

export const MDA_MAGIC = Buffer.from(" LVM2 x[5A%r0N*>", "latin1");
export const MDA_VERSION = 1;
export const MDA_HEADER_SIZE = 512;
export const RAW_LOCN_IGNORED = 0x1;

export interface RawLocn {
  /** Offset of the text relative to the start of the metadata area. */
  offset: Bytes;
  /** Text length including the trailing NUL. */
  size: Bytes;
  checksum: number;
  flags: number;
}

export interface MdaHeader {
  /** Absolute offset of the area (and of this header) on the device. */
  start: Bytes;
  /** Whole area size, header included. */
  size: Bytes;
  committed: RawLocn;
  precommitted: RawLocn;
}

export const EMPTY_LOCN: RawLocn = { offset: bytes(0), size: bytes(0), checksum: 0, flags: 0 };

/** Decode and validate a 512-byte mda header that the PV header says starts at `expectedStart`. */
export function decodeMdaHeader(sec: Uint8Array, expectedStart: Bytes): MdaHeader {
  if (sec.length < MDA_HEADER_SIZE) throw corrupt("metadata area header is truncated");
  const dv = new DataView(sec.buffer, sec.byteOffset, MDA_HEADER_SIZE);
  const stored = dv.getUint32(0, true);
  const actual = lvmCrc(sec.subarray(4, MDA_HEADER_SIZE));
  if (stored !== actual)
    throw corrupt(
      `metadata area header checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)})`,
    );
  if (!Buffer.from(sec.buffer, sec.byteOffset + 4, 16).equals(MDA_MAGIC))
    throw corrupt("metadata area header has a wrong magic");
  const version = dv.getUint32(20, true);
  if (version !== MDA_VERSION) throw corrupt(`metadata area header version ${version} (expected 1)`);
  const u64 = (pos: number) => {
    const v = dv.getBigUint64(pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw corrupt(`metadata area header field at ${pos} is too large`);
    return bytes(Number(v));
  };
  const start = u64(24);
  const size = u64(32);
  if (start !== expectedStart)
    throw corrupt(`metadata area header says it starts at ${start}, the PV header says ${expectedStart}`);
  if (size < MDA_HEADER_SIZE + SECTOR_SIZE) throw corrupt(`metadata area size ${size} is too small`);
  const locn = (pos: number): RawLocn => ({
    offset: u64(pos),
    size: u64(pos + 8),
    checksum: dv.getUint32(pos + 16, true),
    flags: dv.getUint32(pos + 20, true),
  });
  return { start, size, committed: locn(40), precommitted: locn(64) };
}

export function encodeMdaHeader(h: MdaHeader): Uint8Array {
  const sec = new Uint8Array(MDA_HEADER_SIZE);
  const dv = new DataView(sec.buffer);
  sec.set(MDA_MAGIC, 4);
  dv.setUint32(20, MDA_VERSION, true);
  dv.setBigUint64(24, BigInt(h.start), true);
  dv.setBigUint64(32, BigInt(h.size), true);
  const put = (pos: number, l: RawLocn) => {
    dv.setBigUint64(pos, BigInt(l.offset), true);
    dv.setBigUint64(pos + 8, BigInt(l.size), true);
    dv.setUint32(pos + 16, l.checksum, true);
    dv.setUint32(pos + 20, l.flags, true);
  };
  put(40, h.committed);
  put(64, h.precommitted);
  dv.setUint32(0, lvmCrc(sec.subarray(4)), true);
  return sec;
}

/** An empty header as pvcreate writes it. */
export function emptyMdaHeader(start: Bytes, size: Bytes, ignored = false): MdaHeader {
  return {
    start,
    size,
    committed: { ...EMPTY_LOCN, flags: ignored ? RAW_LOCN_IGNORED : 0 },
    precommitted: EMPTY_LOCN,
  };
}

/** The largest text (NUL included) LVM2 will put in an area of `areaSize` bytes. */
export const maxTextSize = (areaSize: Bytes): Bytes =>
  bytes(Math.floor((areaSize - MDA_HEADER_SIZE) / 2) - MDA_HEADER_SIZE);

/** Where a copy of `locn` lies in the ring: one piece, or two when it wraps. */
export function ringPieces(h: MdaHeader, locn: RawLocn): { offset: Bytes; length: number }[] {
  if (locn.offset < MDA_HEADER_SIZE || locn.offset >= h.size)
    throw corrupt(`metadata text offset ${locn.offset} lies outside the ring (512..${h.size})`);
  if (locn.size === 0 || locn.size > h.size - MDA_HEADER_SIZE)
    throw corrupt(
      `metadata text size ${locn.size} does not fit the ring of ${h.size - MDA_HEADER_SIZE} bytes`,
    );
  const wrap = Math.max(0, locn.offset + locn.size - h.size);
  const pieces = [{ offset: bytes(h.start + locn.offset), length: locn.size - wrap }];
  if (wrap > 0) pieces.push({ offset: bytes(h.start + MDA_HEADER_SIZE), length: wrap });
  return pieces;
}

/** Check the text checksum of a copy read from the ring. */
export function checkText(text: Uint8Array, locn: RawLocn): void {
  const crc = lvmCrc(text);
  if (crc !== locn.checksum)
    throw corrupt(
      `metadata text checksum mismatch (stored 0x${locn.checksum.toString(16)}, computed 0x${crc.toString(16)})`,
    );
}

/**
 * Area-relative offset for the next copy after `old` (LVM2's placement,
 * §7.3): 512-aligned right after the old copy's last byte, back to 512 when
 * the end of the ring is near.
 */
export function nextCopyOffset(h: MdaHeader, old: RawLocn): Bytes {
  if ((old.offset === 0 && old.size === 0) || old.flags & RAW_LOCN_IGNORED) return bytes(MDA_HEADER_SIZE);
  const S = h.size;
  const oldLast =
    old.offset + old.size > S ? old.offset + old.size - S + MDA_HEADER_SIZE - 1 : old.offset + old.size - 1;
  if (S - oldLast < MDA_HEADER_SIZE) return bytes(MDA_HEADER_SIZE);
  const next = roundUp(oldLast + 1, MDA_HEADER_SIZE);
  return bytes(next > S - MDA_HEADER_SIZE ? MDA_HEADER_SIZE : next);
}
