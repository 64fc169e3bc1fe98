import { corrupt, DvmError, invalidInput } from "../lib/errors.js";
import { type Bytes, bytes, SECTOR_SIZE } from "../lib/units.js";
import { lvmCrc } from "./crc.js";
import { formatId, ID_LEN, rawId } from "./uuid.js";

/** The label sector and PV header (lvm2-on-disk-format.md §3, §4). */

export const LABEL_ID = "LABELONE";
export const LABEL_TYPE = "LVM2 001";
/** LVM2 looks for the label in sectors 0-3. */
export const LABEL_SCAN_SECTORS = 4;
export const LABEL_SCAN_BYTES = LABEL_SCAN_SECTORS * SECTOR_SIZE;
export const PV_HEADER_OFFSET = 32;
export const PV_EXT_VERSION = 2;
export const PV_EXT_USED = 0x1;

export interface DiskArea {
  offset: Bytes;
  size: Bytes;
}

export interface PvLabel {
  /** The sector (0-3) the label was found in. */
  sector: number;
  /** PV UUID, dashed text form. */
  pvUuid: string;
  deviceSize: Bytes;
  dataAreas: DiskArea[];
  metadataAreas: DiskArea[];
  bootloaderAreas: DiskArea[];
  /** 0 when the header has no extension (written before LVM 2.02.99). */
  extVersion: number;
  extFlags: number;
}

const ascii = (buf: Uint8Array, start: number, len: number) =>
  Buffer.from(buf.buffer, buf.byteOffset + start, len).toString("latin1");

export type LabelResult = { label: PvLabel } | { label: null; problems: string[] };

/**
 * Find and decode the PV label in the first 2048 bytes of a device.
 * Strict: a label needs LABELONE, its own sector number and a good CRC
 * (LVM2 is more lenient, see §3.2, but writers always produce these).
 * Returns the problems seen when no valid label is found, so callers can
 * tell "not a PV" (no problems) from "damaged label".
 */
export function findLabel(head: Uint8Array): LabelResult {
  const problems: string[] = [];
  const sectorsAvailable = Math.min(LABEL_SCAN_SECTORS, Math.floor(head.length / SECTOR_SIZE));
  for (let s = 0; s < sectorsAvailable; s++) {
    const sec = head.subarray(s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE);
    if (ascii(sec, 0, 8) !== LABEL_ID) continue;
    const dv = new DataView(sec.buffer, sec.byteOffset, SECTOR_SIZE);
    const where = `label in sector ${s}`;
    const sectorField = dv.getBigUint64(8, true);
    if (sectorField !== BigInt(s)) {
      problems.push(`${where}: its sector field says ${sectorField}`);
      continue;
    }
    const stored = dv.getUint32(16, true);
    const actual = lvmCrc(sec.subarray(20));
    if (stored !== actual) {
      problems.push(
        `${where}: checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)})`,
      );
      continue;
    }
    if (ascii(sec, 24, 8) !== LABEL_TYPE) {
      problems.push(`${where}: unknown label type "${ascii(sec, 24, 8)}"`);
      continue;
    }
    try {
      return { label: decodePvHeader(sec, s) };
    } catch (e) {
      if (!(e instanceof DvmError)) throw e;
      problems.push(`${where}: ${e.message}`);
    }
  }
  return { label: null, problems };
}

function decodePvHeader(sec: Uint8Array, sector: number): PvLabel {
  const dv = new DataView(sec.buffer, sec.byteOffset, SECTOR_SIZE);
  const offset = dv.getUint32(20, true);
  if (offset < 32 || offset > SECTOR_SIZE - 40) throw corrupt(`PV header offset ${offset} out of range`);
  const uuidText = ascii(sec, offset, ID_LEN);
  const raw = rawId(uuidText);
  if (raw === null) throw corrupt(`PV header has an invalid PV UUID`);
  const u64 = (pos: number, what: string): number => {
    if (pos + 8 > SECTOR_SIZE) throw corrupt(`PV header ${what} runs past the end of the label sector`);
    const v = dv.getBigUint64(pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`PV header ${what} ${v} is too large`);
    return Number(v);
  };
  const deviceSize = bytes(u64(offset + 32, "device size"));
  let pos = offset + 40;
  const readList = (what: string): DiskArea[] => {
    const list: DiskArea[] = [];
    for (;;) {
      const off = u64(pos, what);
      const size = u64(pos + 8, what);
      pos += 16;
      if (off === 0) return list;
      list.push({ offset: bytes(off), size: bytes(size) });
    }
  };
  const dataAreas = readList("data area list");
  const metadataAreas = readList("metadata area list");
  let extVersion = 0;
  let extFlags = 0;
  let bootloaderAreas: DiskArea[] = [];
  if (pos + 8 <= SECTOR_SIZE) {
    extVersion = dv.getUint32(pos, true);
    extFlags = dv.getUint32(pos + 4, true);
    pos += 8;
    if (extVersion >= 1) bootloaderAreas = readList("bootloader area list");
  }
  if (metadataAreas.length > 2)
    throw corrupt(`PV header lists ${metadataAreas.length} metadata areas (at most 2)`);
  return {
    sector,
    pvUuid: formatId(raw),
    deviceSize,
    dataAreas,
    metadataAreas,
    bootloaderAreas,
    extVersion,
    extFlags,
  };
}

/** Encode a label sector exactly as LVM2 writes it (zero-filled, CRC over bytes 20-511). */
export function encodeLabel(label: PvLabel): Uint8Array {
  const needed =
    PV_HEADER_OFFSET +
    40 +
    16 * (label.dataAreas.length + 1) +
    16 * (label.metadataAreas.length + 1) +
    8 +
    16 * (label.bootloaderAreas.length + 1);
  if (needed > SECTOR_SIZE)
    throw invalidInput(
      `PV header with these area lists needs ${needed} bytes, more than the 512-byte label sector`,
    );
  const sec = new Uint8Array(SECTOR_SIZE);
  const dv = new DataView(sec.buffer);
  const raw = rawId(label.pvUuid);
  if (raw === null) throw corrupt(`invalid PV UUID ${label.pvUuid}`);
  sec.set(Buffer.from(LABEL_ID, "latin1"), 0);
  dv.setBigUint64(8, BigInt(label.sector), true);
  dv.setUint32(20, PV_HEADER_OFFSET, true);
  sec.set(Buffer.from(LABEL_TYPE, "latin1"), 24);
  sec.set(Buffer.from(raw, "latin1"), PV_HEADER_OFFSET);
  dv.setBigUint64(PV_HEADER_OFFSET + 32, BigInt(label.deviceSize), true);
  let pos = PV_HEADER_OFFSET + 40;
  const writeList = (list: DiskArea[]) => {
    for (const a of list) {
      dv.setBigUint64(pos, BigInt(a.offset), true);
      dv.setBigUint64(pos + 8, BigInt(a.size), true);
      pos += 16;
    }
    pos += 16; // terminator, already zero
  };
  writeList(label.dataAreas);
  writeList(label.metadataAreas);
  dv.setUint32(pos, label.extVersion, true);
  dv.setUint32(pos + 4, label.extFlags, true);
  pos += 8;
  // LVM2 always writes one bootloader entry slot; an absent area is a zero entry.
  writeList(label.bootloaderAreas);
  dv.setUint32(16, lvmCrc(sec.subarray(20)), true);
  return sec;
}
