import { devicesDoc, type ScannedDevice, summarize } from "../discover/scan.js";
import { runProgram } from "../dm/exec.js";
import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit } from "../lib/errors.js";
import { checkDoc } from "../lib/schema.js";
import { forgetProblems, vgProblems, withProblemMemo } from "../lvm2/validate.js";
import type { VgMeta } from "../lvm2/vg.js";
import {
  type ActivateResult,
  type ActivationRequest,
  dmFailure,
  hasDmWork,
  planActivationFor,
  uuidPrefix,
} from "./activate.js";
import { GLOBAL_LOCK, type Lock, type LockOptions, lockAll, vgLockName } from "./lock.js";
import { readVg } from "./read.js";
import { type WritePlan, wipeVg, writeVg } from "./write.js";

/**
 * The transactions of dvm-tm (design.md, "Transactions"): take the locks,
 * read and verify, let a mutator compute the new metadata, check it, write
 * it with LVM2's commit protocol. Nothing is written unless every check passes.
 */

export interface TxOptions extends LockOptions {
  /** Scan the devices in scope (called once the locks are held). */
  scan: () => ScannedDevice[];
  dryRun?: boolean;
  warn?: (msg: string) => void;
  /** LVM2's description line, e.g. "Write from dvm lv create vg0/lv0 --size 8m." */
  description?: string;
  /** Keep device-mapper in step: reload active LVs inside a two-phase commit (design.md, Transactions). */
  activation?: ActivationRequest;
  /**
   * Also hold LVM2's global lock first, as vgextend, vgreduce and vgrename do: the update moves
   * PVs into or out of the VG (orphan PVs are everyone's), or renames it (VG names are too, and
   * with the global lock held first the two VG locks of a rename cannot deadlock with LVM2's).
   */
  globalLock?: boolean;
}

export interface TxResult {
  before: VgDoc | null;
  after: VgDoc;
  plan: WritePlan;
  /** The device-mapper side, when there was any: the plan, and the run's report (absent for a dry run). */
  dm?: ActivateResult;
}

/** A device-mapper run that failed: exit 8 (rolled back) or 9, with its report for the caller to show. */
export class DmRunError extends DvmError {
  constructor(
    readonly dm: ActivateResult,
    e: DvmError,
  ) {
    super(e.exitCode, e.message);
  }
}

/**
 * Run `fn` holding the locks. Within it a VG document is checked once
 * however often it is validated (read, the mutator's own checks, the
 * mutator's output): documents are replaced, never edited in place.
 */
function withLocks<T>(names: string[], opts: LockOptions, fn: () => T): T {
  const lock: Lock = lockAll(names, opts);
  try {
    return withProblemMemo(fn);
  } finally {
    lock.release();
  }
}

/** The VG's lock, after the global one when the update moves PVs (TxOptions.globalLock). */
const vgLocks = (name: string, opts: TxOptions) =>
  opts.globalLock ? [GLOBAL_LOCK, vgLockName(name)] : [vgLockName(name)];

const prefetched = (scanned: ScannedDevice[]) =>
  new Map(scanned.map((d) => [d.entry.path, { read: d.read, size: d.entry.size_bytes }]));

/** What a mutator returned, checked as design.md asks before anything is written. */
export function checkMutation(out: unknown, expectedSeqno: number, before: VgMeta | null): VgDoc {
  checkDoc("vg", out, "mutator output");
  const doc = out as VgDoc;
  if (doc.vg.seqno !== expectedSeqno)
    throw new DvmError(Exit.invalid, `mutator output: seqno ${doc.vg.seqno}, expected ${expectedSeqno}`);
  // A mutator that hands back the VG it was given changed it in place: what was known of it is void.
  if (doc.vg === before) forgetProblems(doc.vg);
  const problems = vgProblems(doc.vg);
  if (problems.length)
    throw new DvmError(
      Exit.invalid,
      `mutator output is not valid metadata: ${problems.slice(0, 5).join("; ")}`,
    );
  if (before && before.extent_size !== doc.vg.extent_size && (before.logical_volumes?.length ?? 0) > 0)
    throw new DvmError(Exit.invalid, "mutator output: extent_size changed while the VG has LVs");
  return doc;
}

/** PV sizes must fit the devices they are on. */
function checkSizes(vg: VgMeta, scanned: ScannedDevice[]) {
  const sizeOf = new Map(
    scanned.filter((d) => d.entry.pv).map((d) => [d.entry.pv!.uuid, d.entry.size_bytes]),
  );
  for (const pv of vg.physical_volumes) {
    const size = sizeOf.get(String(pv.id));
    if (size === undefined) continue;
    const endSectors = pv.pe_start + pv.pe_count * vg.extent_size;
    if (endSectors * 512 > size)
      throw new DvmError(
        Exit.invalid,
        `PV ${pv.name}: ${pv.pe_count} extents from sector ${pv.pe_start} end past the device's ${size} bytes`,
      );
  }
}

function toDoc(plan: WritePlan, scanned: ScannedDevice[]): VgDoc {
  return {
    kind: "vg",
    version: 1,
    vg: plan.vg,
    top: plan.top,
    comments: plan.comments,
    pv_devices: pvDevices(plan.vg, scanned),
  };
}

/** Where each PV of `vg` was found in this scan. */
function pvDevices(vg: VgMeta, scanned: ScannedDevice[]): VgDoc["pv_devices"] {
  const byUuid = new Map(scanned.filter((d) => d.entry.pv).map((d) => [d.entry.pv!.uuid, d]));
  return vg.physical_volumes.flatMap((pv) => {
    const d = byUuid.get(String(pv.id));
    return d
      ? [
          {
            pv_uuid: String(pv.id),
            path: d.entry.path,
            size_bytes: d.entry.size_bytes,
            mdas: d.entry.pv!.mdas,
          },
        ]
      : [];
  });
}

/**
 * dvm-tm update: `mutate` gets a copy of the current vg document and
 * returns the new one (from a dvm-manip function or a spawned mutator).
 */
export function updateVg(name: string, mutate: (doc: VgDoc) => unknown, opts: TxOptions): TxResult {
  return withLocks(vgLocks(name, opts), opts, () => {
    const scanned = opts.scan();
    const { doc } = readVg(devicesDoc(scanned), name, { warn: opts.warn, prefetched: prefetched(scanned) });
    // Mutators must not change their input (dvm-manip's are tested for it; processes get a copy).
    const out = checkMutation(mutate(doc), doc.vg.seqno + 1, doc.vg);
    checkSizes(out.vg, scanned);
    const dm = opts.activation ? planDm(doc, out, scanned, opts.activation) : undefined;
    const run = (): TxResult => {
      const plan = writeVg(out.vg, scanned, {
        before: doc.vg.physical_volumes.map((pv) => String(pv.id)),
        vgId: doc.vg.id,
        description: opts.description ?? "Write from dvm-tm update.",
        dryRun: opts.dryRun,
        // Phase 1 (load, suspend) runs after the precommit; the program's commit step commits.
        phase2:
          dm && !opts.dryRun
            ? (commitNow) => {
                dm.report = runProgram(dm.plan.program, opts.activation!.backend, { onCommit: commitNow });
              }
            : undefined,
      });
      if (dm?.report && dm.report.result !== "ok") throw new DmRunError(dm, dmFailure(dm.report));
      return { before: doc, after: toDoc(plan, scanned), plan, ...(dm ? { dm } : {}) };
    };
    if (out.vg.name === name) return run();
    // A rename: the new name is locked too and must be free.
    return withLocks([vgLockName(out.vg.name)], opts, () => {
      if (summarize(scanned).some((v) => v.name === out.vg.name))
        throw new DvmError(Exit.conflict, `volume group "${out.vg.name}" already exists`);
      return run();
    });
  });
}

/** The dm program of an update, planned before anything is written; none when no LV is or becomes active. */
function planDm(
  before: VgDoc,
  after: VgDoc,
  scanned: ScannedDevice[],
  req: ActivationRequest,
): ActivateResult | undefined {
  const current = req.backend.state(uuidPrefix(before));
  if (current.devices.length === 0 && !req.activate) return undefined;
  // Tables name PVs by the paths they were found at, which the mutator's document may not carry.
  const withPaths = { ...after, pv_devices: pvDevices(after.vg, scanned) };
  const plan = planActivationFor(before, withPaths, current, req, true);
  return hasDmWork(plan.program) ? { plan } : undefined;
}

/** dvm-tm create: a new VG on orphan PVs; the mutator gets no document and returns seqno 1. */
export function createVg(name: string, mutate: () => unknown, opts: TxOptions): TxResult {
  return withLocks([GLOBAL_LOCK, vgLockName(name)], opts, () => {
    const scanned = opts.scan();
    if (summarize(scanned).some((v) => v.name === name))
      throw new DvmError(Exit.conflict, `volume group "${name}" already exists`);
    const out = checkMutation(mutate(), 1, null);
    if (out.vg.name !== name)
      throw new DvmError(Exit.invalid, `mutator output: VG "${out.vg.name}", expected "${name}"`);
    checkSizes(out.vg, scanned);
    const plan = writeVg(out.vg, scanned, {
      before: [],
      vgId: out.vg.id,
      description: opts.description ?? "Write from dvm-tm create.",
      dryRun: opts.dryRun,
    });
    return { before: null, after: toDoc(plan, scanned), plan };
  });
}

/**
 * dvm-tm remove (vgremove): each PV's metadata areas are emptied in turn.
 * Until the last one is, the VG still reads whole from the rest.
 */
export function removeVg(
  name: string,
  opts: TxOptions & { force?: boolean },
): { vg: VgDoc; paths: string[] } {
  return withLocks([GLOBAL_LOCK, vgLockName(name)], opts, () => {
    const scanned = opts.scan();
    const { doc } = readVg(devicesDoc(scanned), name, {
      warn: opts.warn,
      partial: opts.force,
      prefetched: prefetched(scanned),
    });
    const lvs = doc.vg.logical_volumes?.length ?? 0;
    if (lvs > 0 && !opts.force)
      throw new DvmError(
        Exit.conflict,
        `volume group "${name}" still has ${lvs} logical volume(s) (use --force)`,
      );
    // Active LVs would keep mapping extents of a VG that no longer exists.
    const live = opts.activation?.backend.state(uuidPrefix(doc)).devices ?? [];
    if (live.length)
      throw new DvmError(
        Exit.conflict,
        `volume group "${name}" has active devices (${live.map((d) => d.name).join(", ")}): deactivate it first`,
      );
    const paths = doc.pv_devices.map((d) => d.path);
    if (!opts.dryRun) wipeVg(paths);
    return { vg: doc, paths };
  });
}

/** Whether an LV's segments name `pv` (a PV section name) anywhere in their area lists. */
function lvPvNames(lv: NonNullable<VgMeta["logical_volumes"]>[number]): Set<string> {
  const names = new Set<string>();
  for (const seg of lv.segments)
    for (const v of Object.values(seg))
      if (Array.isArray(v)) for (const x of v) if (typeof x === "string") names.add(x);
  return names;
}

/**
 * dvm-tm recover: with PVs missing, record them as MISSING (as LVM2 does)
 * so the rest stays usable; with removeMissing, drop them and the LVs that
 * lived wholly on them (LVs only partly on them need force).
 */
export function recoverVg(
  name: string,
  opts: TxOptions & { removeMissing?: boolean; force?: boolean },
): TxResult | null {
  return withLocks(vgLocks(name, opts), opts, () => {
    const scanned = opts.scan();
    const { doc, missing } = readVg(devicesDoc(scanned), name, {
      warn: opts.warn,
      partial: true,
      prefetched: prefetched(scanned),
    });
    const alreadyMarked = doc.vg.physical_volumes
      .filter((pv) => pv.flags?.includes("MISSING"))
      .map((pv) => String(pv.id));
    if (missing.length === 0 || (!opts.removeMissing && missing.every((u) => alreadyMarked.includes(u))))
      return null;
    const missingSet = new Set(missing);
    const missingNames = new Set(
      doc.vg.physical_volumes.filter((pv) => missingSet.has(String(pv.id))).map((pv) => pv.name),
    );
    const vg: VgMeta = structuredClone(doc.vg);
    vg.seqno += 1;
    if (!opts.removeMissing) {
      for (const pv of vg.physical_volumes)
        if (missingSet.has(String(pv.id)) && !pv.flags?.includes("MISSING"))
          pv.flags = [...(pv.flags ?? []), "MISSING"];
    } else {
      const lvs = vg.logical_volumes ?? [];
      const partly: string[] = [];
      const keep = lvs.filter((lv) => {
        const used = lvPvNames(lv);
        const onMissing = [...used].filter((n) => missingNames.has(n));
        if (onMissing.length === 0) return true;
        const onPresent = [...used].filter(
          (n) => !missingNames.has(n) && vg.physical_volumes.some((pv) => pv.name === n),
        );
        if (onPresent.length > 0) partly.push(lv.name);
        return false;
      });
      if (partly.length && !opts.force)
        throw new DvmError(
          Exit.conflict,
          `LV(s) ${partly.join(", ")} lie partly on missing PVs; use --force to remove them too`,
        );
      vg.physical_volumes = vg.physical_volumes.filter((pv) => !missingSet.has(String(pv.id)));
      if (keep.length) vg.logical_volumes = keep;
      else delete vg.logical_volumes;
    }
    const problems = vgProblems(vg);
    if (problems.length)
      throw new DvmError(Exit.internal, `recover produced invalid metadata: ${problems.join("; ")}`);
    const plan = writeVg(vg, scanned, {
      before: doc.vg.physical_volumes.map((pv) => String(pv.id)),
      vgId: doc.vg.id,
      description: opts.description ?? "Write from dvm-tm recover.",
      dryRun: opts.dryRun,
    });
    return { before: doc, after: toDoc(plan, scanned), plan };
  });
}
