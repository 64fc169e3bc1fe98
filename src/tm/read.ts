import { lookupVg, mdaInfo } from "../discover/scan.js";
import { openDevice } from "../lib/blockdev.js";
import type { DevicesDoc, PvDevice, VgDoc } from "../lib/docs.js";
import { DvmError, Exit } from "../lib/errors.js";
import { type MdaRead, type PvRead, readPv, TextCache } from "../lvm2/disk.js";
import { rawId } from "../lvm2/uuid.js";
import { vgProblems } from "../lvm2/validate.js";

/** dvm-tm read/verify: every metadata copy of a VG, the newest valid one, and what is stale or bad. */

export interface ReadOptions {
  /** Return the VG even with PVs missing (reports use this; writes must not). */
  partial?: boolean;
  warn?: (msg: string) => void;
  cache?: TextCache;
  /** Devices already read in this process (the wrapper's scan), by path: not read again. */
  prefetched?: Map<string, { read: PvRead; size: number }>;
}

export interface CopyReport {
  path: string;
  mda_start_bytes: number;
  state: "current" | "stale" | "bad" | "mismatch" | "ignored" | "empty" | "other-vg";
  seqno?: number;
  message?: string;
}

export interface ReadResult {
  doc: VgDoc;
  copies: CopyReport[];
  missing: string[];
}

interface Copy {
  path: string;
  m: MdaRead;
}

function readDevice(path: string, cache: TextCache) {
  const io = openDevice(path);
  try {
    return { read: readPv(io, cache), size: io.size as number };
  } finally {
    io.close();
  }
}

/** Read one VG from the devices a devices document lists (re-reading each device now). */
export function readVg(devices: DevicesDoc, name: string, opts: ReadOptions = {}): ReadResult {
  const warn = opts.warn ?? (() => {});
  const cache = opts.cache ?? new TextCache();
  const summary = lookupVg(devices.vgs, name);
  const vgRaw = rawId(summary.id);
  const reads: { path: string; read: PvRead; size: number }[] = [];
  for (const d of devices.devices) {
    if (!d.pv) continue;
    const got = opts.prefetched?.get(d.path) ?? readDevice(d.path, cache);
    if (!got.read.label || rawId(got.read.label.pvUuid) !== rawId(d.pv.uuid)) {
      warn(`${d.path}: no longer carries PV ${d.pv.uuid}; skipped`);
      continue;
    }
    reads.push({ path: d.path, ...got });
  }
  const copies: Copy[] = [];
  const report: CopyReport[] = [];
  for (const r of reads)
    for (const m of r.read.mdas) {
      const base = { path: r.path, mda_start_bytes: m.start };
      if (m.state === "ok" && m.vg && rawId(m.vg.vg.id) === vgRaw) copies.push({ path: r.path, m });
      else if (m.state === "ok") report.push({ ...base, state: "other-vg", seqno: m.vg?.vg.seqno });
      else if (m.state === "bad") report.push({ ...base, state: "bad", message: m.error });
      else report.push({ ...base, state: m.state });
    }
  const chosen = chooseNewest(copies, report);
  if (!chosen)
    throw new DvmError(Exit.corrupt, `volume group "${name}": no valid metadata copy on any of its PVs`);
  for (const c of report)
    if (c.state === "stale")
      warn(
        `${c.path}: metadata area at ${c.mda_start_bytes} holds stale seqno ${c.seqno} (current ${chosen.vg.seqno})`,
      );
    else if (c.state === "bad" || c.state === "mismatch")
      warn(`${c.path}: metadata area at ${c.mda_start_bytes} is ${c.state}: ${c.message}`);

  const vg = chosen.vg;
  const byUuid = new Map(reads.map((r) => [rawId(r.read.label!.pvUuid), r]));
  const pvDevices: PvDevice[] = [];
  const missing: string[] = [];
  for (const pv of vg.physical_volumes) {
    const r = byUuid.get(rawId(String(pv.id)));
    if (!r) {
      missing.push(String(pv.id));
      continue;
    }
    pvDevices.push({
      pv_uuid: String(pv.id),
      path: r.path,
      size_bytes: r.size,
      mdas: r.read.mdas.map(mdaInfo),
    });
  }
  if (missing.length && !opts.partial)
    throw new DvmError(
      Exit.incomplete,
      `volume group "${name}" is missing ${missing.length} PV(s): ${missing.join(", ")} (use recover)`,
    );
  for (const u of missing) warn(`volume group "${name}": PV ${u} is missing`);
  const doc: VgDoc = { kind: "vg", version: 1, ...chosen, pv_devices: pvDevices };
  return { doc, copies: report, missing };
}

/**
 * Highest seqno wins. Copies with the newest seqno but different text are a
 * conflict: the text most areas hold wins and the rest are reported. A copy
 * that fails validation is bad, and the next newest is tried.
 */
function chooseNewest(copies: Copy[], report: CopyReport[]) {
  const bySeq = new Map<number, Copy[]>();
  for (const c of copies) {
    const s = c.m.vg!.vg.seqno;
    bySeq.set(s, [...(bySeq.get(s) ?? []), c]);
  }
  const seqnos = [...bySeq.keys()].sort((a, b) => b - a);
  let chosen: MdaRead | undefined;
  for (const s of seqnos) {
    const group = bySeq.get(s)!;
    const votes = new Map<string, Copy[]>();
    for (const c of group) votes.set(c.m.text!, [...(votes.get(c.m.text!) ?? []), c]);
    const ranked = [...votes.values()].sort((a, b) => b.length - a.length);
    const winner = ranked[0]!;
    const rep = (c: Copy, state: CopyReport["state"], message?: string) =>
      report.push({ path: c.path, mda_start_bytes: c.m.start, state, seqno: s, message });
    if (chosen) {
      for (const c of group) rep(c, "stale");
      continue;
    }
    const problems = vgProblems(winner[0]!.m.vg!.vg);
    if (problems.length) {
      for (const c of group) rep(c, "bad", `invalid metadata: ${problems.slice(0, 3).join("; ")}`);
      continue;
    }
    chosen = winner[0]!.m;
    for (const c of winner) rep(c, "current");
    for (const g of ranked.slice(1))
      for (const c of g) rep(c, "mismatch", `seqno ${s} with text that differs from the majority copy`);
  }
  return chosen ? chosen.vg! : undefined;
}

/** Every VG a devices document names (partial ones included), and the orphan PVs. */
export function readAllVgs(devices: DevicesDoc, opts: ReadOptions = {}) {
  const vgs: VgDoc[] = [];
  const members = new Set<string>();
  for (const s of devices.vgs) {
    try {
      vgs.push(readVg(devices, s.name, { ...opts, partial: true }).doc);
      for (const u of s.pv_uuids) members.add(rawId(u) ?? u);
    } catch (e) {
      if (!(e instanceof DvmError) || e.exitCode === Exit.internal) throw e;
      opts.warn?.(e.message);
    }
  }
  const orphans = devices.devices.filter(
    (d) => d.pv && !members.has(rawId(d.pv.uuid) ?? d.pv.uuid) && !d.pv.mdas.some((m) => m.state === "ok"),
  );
  return { vgs, orphans };
}
