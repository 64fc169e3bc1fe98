import { hostname, machine, release, type, version } from "node:os";
import type { ScannedDevice } from "../discover/scan.js";
import { type BlockIO, openDevice } from "../lib/blockdev.js";
import { DvmError, Exit } from "../lib/errors.js";
import { ctime } from "../lib/time.js";
import { bytes, SECTOR_SIZE } from "../lib/units.js";
import { VERSION } from "../lib/version.js";
import { commit, encodeText, type Phase2, planCopy } from "../lvm2/commit.js";
import { type PvRead, readPv, TextCache } from "../lvm2/disk.js";
import { encodeLabel, PV_EXT_USED } from "../lvm2/label.js";
import { emptyMdaHeader, encodeMdaHeader, RAW_LOCN_IGNORED } from "../lvm2/mda.js";
import { rawId } from "../lvm2/uuid.js";
import { printVgText, type VgMeta, type VgText } from "../lvm2/vg.js";

/**
 * Writing a VG's metadata to its PVs: the one place that changes metadata
 * areas and PV labels for update, create, restore, recover and remove.
 * Order, for crash safety (a crash at any write leaves the old or the new
 * VG readable): check everything and plan every copy; mark joining PVs as
 * used; commit the text everywhere (text, precommit, commit); then turn
 * PVs that left into orphans.
 */

/** The top-level lines LVM2 writes after the VG section, for a write made now. */
export function freshTop(
  description: string,
  now = Math.floor(Date.now() / 1000),
): Pick<VgText, "top" | "comments"> {
  const host = hostname();
  return {
    top: {
      contents: "Text Format Volume Group",
      version: 1,
      description,
      creation_host: host,
      creation_time: now,
    },
    comments: {
      generated: `dvm ${VERSION}: ${ctime(now)}`,
      values: {
        creation_host: `${type()} ${host} ${release()} ${version()} ${machine()}`,
        creation_time: ctime(now),
      },
    },
  };
}

export interface WritePlan extends VgText {
  text: string;
  seqno: number;
  joining: string[];
  leaving: string[];
  written: { path: string; mda_start_bytes: number }[];
  /** false when a two-phase commit's device-mapper work rolled back and the precommit was reverted. */
  committed?: boolean;
}

interface Opened {
  path: string;
  io: BlockIO;
  read: PvRead;
}

const uuidKey = (u: string) => rawId(u) ?? u;

/**
 * Open the devices for writing. `known` holds what a scan made under the
 * same locks already read: those devices are not read (and parsed) again.
 */
function openFresh(paths: string[], known?: Map<string, PvRead>): Opened[] {
  const cache = new TextCache();
  const out: Opened[] = [];
  try {
    for (const path of paths) {
      const io = openDevice(path, { write: true });
      out.push({ path, io, read: known?.get(path) ?? readPv(io, cache) });
    }
  } catch (e) {
    for (const o of out) o.io.close();
    throw e;
  }
  return out;
}

function setUsed(o: Opened, used: boolean) {
  const l = o.read.label!;
  const flags = used ? l.extFlags | PV_EXT_USED : l.extFlags & ~PV_EXT_USED;
  if (flags === l.extFlags) return;
  o.io.write(bytes(l.sector * SECTOR_SIZE), encodeLabel({ ...l, extFlags: flags }));
  o.io.flush();
}

/** Make a PV an orphan as LVM2 does: empty metadata-area headers, then the label's used flag cleared. */
function orphan(o: Opened) {
  for (const m of o.read.mdas) {
    const ignored = m.header ? (m.header.committed.flags & RAW_LOCN_IGNORED) !== 0 : false;
    o.io.write(bytes(m.start), encodeMdaHeader(emptyMdaHeader(bytes(m.start), bytes(m.size), ignored)));
  }
  o.io.flush();
  setUsed(o, false);
}

export interface WriteOptions {
  /** PV UUIDs that belonged to the VG before this write. */
  before: string[];
  /** The VG's id before this write (to tell its own copies from another VG's). */
  vgId?: string;
  description: string;
  dryRun?: boolean;
  /** Device-mapper work between precommit and commit (the two-phase commit); see commit(). */
  phase2?: Phase2;
}

export function writeVg(next: VgMeta, scanned: ScannedDevice[], opts: WriteOptions): WritePlan {
  const byUuid = new Map(scanned.filter((d) => d.read.label).map((d) => [uuidKey(d.read.label!.pvUuid), d]));
  const before = new Set(opts.before.map(uuidKey));
  const after = new Set<string>();
  const missing: string[] = [];
  const pvs = next.physical_volumes.map((pv) => {
    const u = uuidKey(String(pv.id));
    after.add(u);
    const d = byUuid.get(u);
    if (!d) {
      if (!pv.flags?.includes("MISSING")) missing.push(String(pv.id));
      return { ...pv, device: "[unknown]" };
    }
    return { ...pv, device: d.entry.path };
  });
  if (missing.length)
    throw new DvmError(
      Exit.incomplete,
      `no device carries PV(s) ${missing.join(", ")} of volume group "${next.name}"`,
    );
  const joining = [...after].filter((u) => !before.has(u) && byUuid.has(u));
  const leaving = [...before].filter((u) => !after.has(u) && byUuid.has(u));
  const members = [...after].filter((u) => byUuid.has(u));
  const paths = [...members, ...leaving].map((u) => byUuid.get(u)!.entry.path);

  // The callers scanned with the VG locks held: what they read is still what is on disk.
  const opened = openFresh(paths, new Map(scanned.map((d) => [d.entry.path, d.read])));
  try {
    const byPath = new Map(opened.map((o) => [o.path, o]));
    const get = (u: string) => byPath.get(byUuid.get(u)!.entry.path)!;
    for (const o of opened)
      if (!o.read.label) throw new DvmError(Exit.conflict, `${o.path}: its PV label vanished`);
    // A joining PV must be an orphan: no other VG's metadata, no "used" mark.
    for (const u of joining) {
      const o = get(u);
      const other = o.read.mdas.find((m) => m.vg && rawId(m.vg.vg.id) !== rawId(opts.vgId ?? next.id));
      if (other)
        throw new DvmError(Exit.conflict, `${o.path} belongs to volume group "${other.vg!.vg.name}"`);
      if (o.read.label!.extFlags & PV_EXT_USED && !o.read.mdas.some((m) => m.vg))
        throw new DvmError(Exit.conflict, `${o.path}: its label says it belongs to a volume group`);
    }
    // Above every seqno on any of these PVs, so no older or conflicting copy can win.
    let maxSeq = 0;
    for (const o of opened) for (const m of o.read.mdas) if (m.vg) maxSeq = Math.max(maxSeq, m.vg.vg.seqno);
    const seqno = Math.max(next.seqno, maxSeq + 1);
    const vg = { ...next, seqno, physical_volumes: pvs };
    const newText = { vg, ...freshTop(opts.description) };
    const text = printVgText(newText);
    const targets = chooseAreas(
      members.map(get),
      new Set(joining.map((u) => get(u).path)),
      typeof vg.metadata_copies === "number" ? vg.metadata_copies : 0,
    );
    if (targets.length === 0) throw new DvmError(Exit.invalid, `no PV of "${vg.name}" has a metadata area`);
    const encoded = encodeText(text);
    for (const t of targets) planCopy(t.header, encoded.data, encoded.crc); // refuses oversized metadata before any write
    const written = targets.map((t) => ({ path: t.path, mda_start_bytes: t.header.start as number }));
    const plan = { ...newText, text, seqno, joining, leaving, written };
    if (opts.dryRun) return plan;
    // LVM2 marks PVs as used before their first metadata lands on them.
    for (const u of members) setUsed(get(u), true);
    const done = commit(targets, text, opts.phase2, encoded);
    if (!done) return { ...plan, committed: false };
    for (const u of leaving) orphan(get(u));
    return plan;
  } finally {
    for (const o of opened) o.io.close();
  }
}

/**
 * Which metadata areas get this commit, and which of them are (or become)
 * ignored, as LVM2 keeps them: areas in use stay in use and ignored ones stay
 * ignored; a joining PV's areas are in use only while fewer than the VG's
 * metadata_copies (when set) are; and when no area at all would be in use,
 * the first one is put back in use. Ignored areas that are already ignored
 * are not written (their stale copy is never read).
 */
function chooseAreas(members: Opened[], joining: Set<string>, wanted: number) {
  const areas = members.flatMap((o) =>
    o.read.mdas
      .filter((m) => m.header)
      .map((m) => ({
        io: o.io,
        header: m.header!,
        path: o.path,
        ignore: m.state === "ignored",
        joining: joining.has(o.path),
      })),
  );
  let inUse = areas.filter((a) => !a.joining && !a.ignore).length;
  for (const a of areas)
    if (a.joining && !a.ignore && wanted > 0) {
      if (inUse >= wanted) a.ignore = true;
      else inUse++;
    }
  if (!areas.some((a) => !a.ignore) && areas.length > 0) areas[0]!.ignore = false;
  // A joining PV's area that becomes ignored gets this copy with the flag set, as LVM2 writes it.
  return areas.filter((a) => !a.ignore || a.joining);
}

/** Wipe a VG from its PVs, one metadata area at a time (vgremove). */
export function wipeVg(paths: string[]): void {
  const opened = openFresh(paths);
  try {
    for (const o of opened) if (o.read.label) orphan(o);
  } finally {
    for (const o of opened) o.io.close();
  }
}
