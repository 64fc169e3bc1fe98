import { type BlockIO, openDevice } from "../lib/blockdev.js";
import { DvmError, Exit, invalidInput } from "../lib/errors.js";
import { type Bytes, bytes, bytesToSectors, roundUp, SECTOR_SIZE, type Sectors } from "../lib/units.js";
import { type PvRead, readPv, TextCache } from "../lvm2/disk.js";
import {
  encodeLabel,
  LABEL_ID,
  LABEL_SCAN_BYTES,
  LABEL_TYPE,
  PV_EXT_USED,
  PV_EXT_VERSION,
} from "../lvm2/label.js";
import { emptyMdaHeader, encodeMdaHeader } from "../lvm2/mda.js";
import { generateId } from "../lvm2/uuid.js";

/** Writing and wiping PV labels: what LVM2's pvcreate and pvremove do to a device. */

const MiB = 1024 * 1024;
/** LVM2 places the first metadata area at the page size (4 KiB pages here). */
export const MDA1_START = bytes(4096);
/** LVM2's default data alignment (devices/default_data_alignment = 1 MiB). */
export const DATA_ALIGNMENT = bytes(MiB);
/** Smallest metadata area LVM2 accepts: 8 pages. */
export const MIN_MDA_SIZE = bytes(8 * 4096);
export const MIN_PV_SIZE = bytes(2 * MiB);

export interface PvLayout {
  mdaStart: Bytes;
  mdaSize: Bytes;
  peStart: Sectors;
}

/**
 * LVM2's layout for a new PV: the metadata area after the label, grown so it
 * ends on the data alignment, and the first extent right after it.
 */
export function pvLayout(deviceSize: Bytes, metadataSize?: Bytes): PvLayout {
  if (deviceSize < MIN_PV_SIZE)
    throw invalidInput(`device of ${deviceSize} bytes is smaller than the 2 MiB minimum`);
  let mdaSize = bytes(DATA_ALIGNMENT - MDA1_START);
  if (metadataSize !== undefined) {
    if (metadataSize < MIN_MDA_SIZE)
      throw invalidInput(`metadata size ${metadataSize} bytes is below the ${MIN_MDA_SIZE}-byte minimum`);
    const end = roundUp(MDA1_START + roundUp(metadataSize, SECTOR_SIZE), DATA_ALIGNMENT);
    mdaSize = bytes(end - MDA1_START);
  }
  const peStartBytes = bytes(MDA1_START + mdaSize);
  if (peStartBytes >= deviceSize)
    throw invalidInput(
      `a ${mdaSize}-byte metadata area leaves no room for data on a device of ${deviceSize} bytes`,
    );
  return { mdaStart: MDA1_START, mdaSize, peStart: bytesToSectors(peStartBytes) };
}

/** Why a PV may not be relabelled or unlabelled without --force, or null. */
export function inUseBy(r: PvRead): string | null {
  const vg = r.mdas.find((m) => m.state === "ok" && m.vg)?.vg?.vg.name;
  if (vg) return `it belongs to volume group "${vg}"`;
  if (r.label && r.label.extFlags & PV_EXT_USED) return "its label says it belongs to a volume group";
  return null;
}

export interface LabelResult {
  path: string;
  pv_uuid: string;
  pe_start_sectors: number;
  mda_start_bytes: number;
  mda_size_bytes: number;
}

/** Label one open device as an orphan PV (pvcreate). */
export function writeLabel(io: BlockIO, layout: PvLayout, pvUuid = generateId()): LabelResult {
  const zero = (off: number, len: number) => io.write(bytes(off), new Uint8Array(len));
  zero(layout.mdaStart, Math.min(4096, layout.mdaSize));
  zero(0, LABEL_SCAN_BYTES);
  io.write(layout.mdaStart, encodeMdaHeader(emptyMdaHeader(layout.mdaStart, layout.mdaSize)));
  const sector = encodeLabel({
    sector: 1,
    pvUuid,
    deviceSize: io.size,
    dataAreas: [{ offset: bytes(layout.peStart * SECTOR_SIZE), size: bytes(0) }],
    metadataAreas: [{ offset: layout.mdaStart, size: layout.mdaSize }],
    bootloaderAreas: [],
    extVersion: PV_EXT_VERSION,
    extFlags: 0,
  });
  io.write(bytes(SECTOR_SIZE), sector);
  io.flush();
  return {
    path: io.path,
    pv_uuid: pvUuid,
    pe_start_sectors: layout.peStart,
    mda_start_bytes: layout.mdaStart,
    mda_size_bytes: layout.mdaSize,
  };
}

/** Zero every label sector among sectors 0-3 (pvremove); the metadata areas are left alone, as LVM2 does. */
export function wipeLabels(io: BlockIO): number {
  const head = io.read(bytes(0), Math.min(LABEL_SCAN_BYTES, io.size - (io.size % SECTOR_SIZE)));
  let wiped = 0;
  for (let s = 0; s * SECTOR_SIZE < head.length; s++) {
    const sec = Buffer.from(head.buffer, head.byteOffset + s * SECTOR_SIZE, SECTOR_SIZE);
    if (sec.toString("latin1", 0, 8) === LABEL_ID || sec.toString("latin1", 24, 32) === LABEL_TYPE) {
      io.write(bytes(s * SECTOR_SIZE), new Uint8Array(SECTOR_SIZE));
      wiped++;
    }
  }
  io.flush();
  return wiped;
}

function withDevice<T>(path: string, readOnly: boolean | undefined, fn: (io: BlockIO, r: PvRead) => T): T {
  const io = openDevice(path, { write: !readOnly });
  try {
    return fn(io, readPv(io, new TextCache()));
  } finally {
    io.close();
  }
}

/**
 * pvcreate for several devices. Every device is checked before any is
 * written, so a refusal leaves all of them untouched.
 */
export function labelDevices(
  paths: string[],
  opts: { metadataSize?: Bytes; force?: boolean; dryRun?: boolean },
): LabelResult[] {
  const plans = paths.map((p) =>
    withDevice(p, opts.dryRun, (io, r) => {
      const why = inUseBy(r);
      if (why && !opts.force)
        throw new DvmError(Exit.conflict, `${p}: refusing to label: ${why} (use --force)`);
      return pvLayout(io.size, opts.metadataSize);
    }),
  );
  if (opts.dryRun)
    return paths.map((p, i) => ({
      path: p,
      pv_uuid: "",
      pe_start_sectors: plans[i]!.peStart,
      mda_start_bytes: plans[i]!.mdaStart,
      mda_size_bytes: plans[i]!.mdaSize,
    }));
  return paths.map((p, i) => withDevice(p, false, (io) => writeLabel(io, plans[i]!)));
}

export function unlabelDevices(
  paths: string[],
  opts: { force?: boolean; dryRun?: boolean },
): { path: string; wiped: number }[] {
  for (const p of paths)
    withDevice(p, true, (_io, r) => {
      if (!r.label) throw new DvmError(Exit.notFound, `${p}: not a PV (no LVM2 label found)`);
      const why = inUseBy(r);
      if (why && !opts.force)
        throw new DvmError(Exit.conflict, `${p}: refusing to unlabel: ${why} (use --force)`);
    });
  if (opts.dryRun) return paths.map((p) => ({ path: p, wiped: 0 }));
  return paths.map((p) => ({ path: p, wiped: withDevice(p, false, (io) => wipeLabels(io)) }));
}
