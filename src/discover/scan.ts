import { readFileSync } from "node:fs";
import { openDevice } from "../lib/blockdev.js";
import type { DeviceFilter } from "../lib/config.js";
import type { DeviceEntry, DevicesDoc, MdaInfo, VgSummary } from "../lib/docs.js";
import { DvmError, Exit, notFound } from "../lib/errors.js";
import { type MdaRead, type PvRead, readPv, TextCache } from "../lvm2/disk.js";
import { rawId } from "../lvm2/uuid.js";

/** Finding PVs: which devices to look at, their labels, and how they group into VGs. */

/** Every block device the kernel lists, as /dev paths (read-only look at /proc/partitions). */
export function listSystemDevices(): string[] {
  let text: string;
  try {
    text = readFileSync("/proc/partitions", "latin1");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n").slice(2)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[2] === "0") continue; // unattached loop devices have no blocks
    out.push(`/dev/${f[3]}`);
  }
  return out;
}

export interface ScannedDevice {
  entry: DeviceEntry;
  read: PvRead;
}

export interface ScanOptions {
  /** Scan only these paths (image files allowed); a path that cannot be opened is an error. */
  devices?: string[];
  filter?: DeviceFilter;
  cache?: TextCache;
}

export function mdaInfo(m: MdaRead): MdaInfo {
  const i: MdaInfo = { start_bytes: m.start, size_bytes: m.size, state: m.state };
  if (m.error !== undefined) i.error = m.error;
  if (m.vg) {
    i.vg_name = m.vg.vg.name;
    i.vg_id = m.vg.vg.id;
    i.seqno = m.vg.vg.seqno;
  }
  if (m.header && m.state === "ok") {
    i.text_offset_bytes = m.header.committed.offset;
    i.text_size_bytes = m.header.committed.size;
    i.checksum = m.header.committed.checksum;
  }
  return i;
}

function toEntry(path: string, size: number, r: PvRead): DeviceEntry {
  const e: DeviceEntry = { path, size_bytes: size };
  if (r.label) {
    const l = r.label;
    const area = (a: { offset: number; size: number }) => ({ offset_bytes: a.offset, size_bytes: a.size });
    e.pv = {
      uuid: l.pvUuid,
      label_sector: l.sector,
      device_size_bytes: l.deviceSize,
      data_areas: l.dataAreas.map(area),
      metadata_areas: l.metadataAreas.map(area),
      bootloader_areas: l.bootloaderAreas.map(area),
      ext_version: l.extVersion,
      ext_flags: l.extFlags,
      mdas: r.mdas.map(mdaInfo),
    };
  } else if (r.labelProblems.length) e.label_problems = r.labelProblems;
  return e;
}

/** Read the label and metadata of every device in scope. Read-only. */
export function scan(opts: ScanOptions = {}): ScannedDevice[] {
  const cache = opts.cache ?? new TextCache();
  const explicit = opts.devices !== undefined;
  const paths = (opts.devices ?? listSystemDevices()).filter((p) => !opts.filter || opts.filter(p));
  const out: ScannedDevice[] = [];
  const seen = new Set<string>();
  for (const path of paths) {
    if (seen.has(path)) continue;
    seen.add(path);
    let io: ReturnType<typeof openDevice>;
    try {
      io = openDevice(path);
    } catch (e) {
      if (explicit) throw e;
      continue; // devices that vanish or refuse reads are not ours to report during a system scan
    }
    try {
      const read = readPv(io, cache);
      out.push({ entry: toEntry(path, io.size, read), read });
    } catch (e) {
      if (explicit || !(e instanceof DvmError)) throw e;
    } finally {
      io.close();
    }
  }
  return out;
}

/** The newest good copy of each VG's metadata among the scanned devices, keyed by VG id. */
export function newestCopies(devs: ScannedDevice[]): Map<string, MdaRead> {
  const best = new Map<string, MdaRead>();
  for (const d of devs)
    for (const m of d.read.mdas) {
      if (m.state !== "ok" || !m.vg) continue;
      const id = rawId(m.vg.vg.id) ?? m.vg.vg.id;
      const cur = best.get(id);
      if (!cur || m.vg.vg.seqno > cur.vg!.vg.seqno) best.set(id, m);
    }
  return best;
}

export function summarize(devs: ScannedDevice[]): VgSummary[] {
  const present = new Set(devs.flatMap((d) => (d.read.label ? [rawId(d.read.label.pvUuid)] : [])));
  const out: VgSummary[] = [];
  for (const m of newestCopies(devs).values()) {
    const vg = m.vg!.vg;
    const pvUuids = (vg.physical_volumes ?? []).map((pv) => String(pv.id));
    out.push({
      name: vg.name,
      id: vg.id,
      seqno: vg.seqno,
      pv_uuids: pvUuids,
      missing_pv_uuids: pvUuids.filter((u) => !present.has(rawId(u))),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function devicesDoc(devs: ScannedDevice[]): DevicesDoc {
  return { kind: "devices", version: 1, devices: devs.map((d) => d.entry), vgs: summarize(devs) };
}

/** The VG summary for `name`; exit 3 if no scanned device has it, 5 if two VGs share the name. */
export function lookupVg(vgs: VgSummary[], name: string): VgSummary {
  const matches = vgs.filter((v) => v.name === name);
  if (matches.length === 0) throw notFound(`volume group "${name}" not found`);
  if (matches.length > 1)
    throw new DvmError(
      Exit.conflict,
      `${matches.length} volume groups are named "${name}" (ids ${matches.map((m) => m.id).join(", ")})`,
    );
  return matches[0]!;
}

/** The devices of one VG (its PVs as its newest metadata lists them) as a devices document. */
export function findVg(devs: ScannedDevice[], name: string): { doc: DevicesDoc; devices: ScannedDevice[] } {
  const vg = lookupVg(summarize(devs), name);
  const members = new Set(vg.pv_uuids.map((u) => rawId(u)));
  const devices = devs.filter((d) => d.read.label && members.has(rawId(d.read.label.pvUuid)));
  return { doc: { kind: "devices", version: 1, devices: devices.map((d) => d.entry), vgs: [vg] }, devices };
}
