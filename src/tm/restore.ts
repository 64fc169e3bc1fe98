import { hostname, machine, release, type, version } from "node:os";
import type { ScannedDevice } from "../discover/scan.js";
import { openDevice } from "../lib/blockdev.js";
import { DvmError, Exit } from "../lib/errors.js";
import { ctime } from "../lib/time.js";
import { bytes, SECTOR_SIZE } from "../lib/units.js";
import { commit } from "../lvm2/commit.js";
import { readPv, TextCache } from "../lvm2/disk.js";
import { encodeLabel, PV_EXT_USED } from "../lvm2/label.js";
import { rawId } from "../lvm2/uuid.js";
import { vgProblems } from "../lvm2/validate.js";
import { printVgText, type VgText } from "../lvm2/vg.js";

/**
 * dvm-tm restore: write a VG's metadata, given as a document, to its PVs
 * (what vgcfgrestore does). The seqno is raised above every copy on those
 * PVs so the restored metadata wins everywhere.
 */

export interface RestoreResult {
  vg: string;
  seqno: number;
  text: string;
  written: { path: string; mda_start_bytes: number }[];
}

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
      generated: `dvm ${typeof DVM_VERSION === "string" ? DVM_VERSION : "dev"}: ${ctime(now)}`,
      values: {
        creation_host: `${type()} ${host} ${release()} ${version()} ${machine()}`,
        creation_time: ctime(now),
      },
    },
  };
}
declare const DVM_VERSION: string;

export function restoreVg(
  input: VgText,
  scanned: ScannedDevice[],
  opts: { dryRun?: boolean; description?: string } = {},
): RestoreResult {
  const problems = vgProblems(input.vg);
  if (problems.length)
    throw new DvmError(Exit.invalid, `vg document is not valid metadata: ${problems.slice(0, 5).join("; ")}`);
  const byUuid = new Map(scanned.filter((d) => d.read.label).map((d) => [rawId(d.read.label!.pvUuid), d]));
  const members: ScannedDevice[] = [];
  const missing: string[] = [];
  const pvs = input.vg.physical_volumes.map((pv) => {
    const d = byUuid.get(rawId(String(pv.id)));
    if (!d) {
      if (!pv.flags?.includes("MISSING")) missing.push(String(pv.id));
      return pv;
    }
    members.push(d);
    return { ...pv, device: d.entry.path };
  });
  if (missing.length)
    throw new DvmError(
      Exit.incomplete,
      `no device carries PV(s) ${missing.join(", ")} of volume group "${input.vg.name}"`,
    );
  let maxSeq = 0;
  for (const d of members) for (const m of d.read.mdas) if (m.vg) maxSeq = Math.max(maxSeq, m.vg.vg.seqno);
  const seqno = Math.max(input.vg.seqno, maxSeq + 1);
  const vg = { ...input.vg, seqno, physical_volumes: pvs };
  const text = printVgText({ vg, ...freshTop(opts.description ?? "Write from dvm-tm restore.") });
  const written: RestoreResult["written"] = [];
  if (opts.dryRun) return { vg: vg.name, seqno, text, written };

  const ios = members.map((d) => openDevice(d.entry.path, { write: true }));
  try {
    const cache = new TextCache();
    const targets = ios.flatMap((io) => {
      const r = readPv(io, cache);
      if (!r.label) throw new DvmError(Exit.conflict, `${io.path}: its PV label vanished`);
      // A PV in a VG carries PV_EXT_USED; LVM2 sets it before writing the text.
      if (!(r.label.extFlags & PV_EXT_USED)) {
        io.write(
          bytes(r.label.sector * SECTOR_SIZE),
          encodeLabel({ ...r.label, extFlags: r.label.extFlags | PV_EXT_USED }),
        );
        io.flush();
      }
      return r.mdas
        .filter((m) => m.header && m.state !== "ignored")
        .map((m) => {
          written.push({ path: io.path, mda_start_bytes: m.start });
          return { io, header: m.header! };
        });
    });
    if (targets.length === 0)
      throw new DvmError(Exit.invalid, `no PV of "${vg.name}" has a usable metadata area`);
    commit(targets, text);
  } finally {
    for (const io of ios) io.close();
  }
  return { vg: vg.name, seqno, text, written };
}
