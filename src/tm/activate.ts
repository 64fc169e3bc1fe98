import { desiredState, planActivation, vgUuidPrefix } from "../activate/index.js";
import { devicesDoc, type ScannedDevice } from "../discover/scan.js";
import type { DmBackend } from "../dm/backend.js";
import type { DmProgramDoc, DmStateDoc, ExecReportDoc } from "../dm/docs.js";
import { runProgram } from "../dm/exec.js";
import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit } from "../lib/errors.js";
import { rawId } from "../lvm2/uuid.js";
import { type LockOptions, lockAll, vgLockName } from "./lock.js";
import { readVg } from "./read.js";

/**
 * Activation in dvm-tm: which LVs of a VG should be live in device-mapper,
 * and the dm program that gets them there — alone (activate, deactivate) or
 * inside an update's two-phase commit, so an active LV that changes
 * (extend, reduce, rename, remove) has its tables reloaded while its
 * metadata commits.
 */

export interface ActivationRequest {
  backend: DmBackend;
  /** LVs (names in the new metadata) to activate too; "all" = every visible LV. */
  activate?: string[] | "all";
  /** LVs to deactivate; "all" = every LV. */
  deactivate?: string[] | "all";
  /** Map areas on missing PVs to error targets instead of refusing. */
  partial?: boolean;
}

export interface ActivationPlan {
  current: DmStateDoc;
  desired: DmStateDoc;
  program: DmProgramDoc;
  /** The LVs that are active afterwards. */
  active: string[];
}

export const uuidPrefix = (doc: VgDoc) => vgUuidPrefix(String(doc.vg.id));

/** LV ids whose top device (uuid without a layer suffix) is in the state, with or without a live table. */
function activeLvIds(doc: VgDoc, current: DmStateDoc): Set<string> {
  const prefix = uuidPrefix(doc);
  const ids = new Set<string>();
  for (const d of current.devices)
    if (d.uuid?.startsWith(prefix) && d.uuid.length === prefix.length + 32)
      ids.add(d.uuid.slice(prefix.length));
  return ids;
}

const isVisible = (lv: { status: string[] }) => lv.status.includes("VISIBLE");

/**
 * Plan the dm side of going from `before` (null: no metadata change) to
 * `after`: LVs active before stay active (followed by LV id, so a rename is
 * a rename), plus and minus what the request names.
 */
export function planActivationFor(
  before: VgDoc | null,
  after: VgDoc,
  current: DmStateDoc,
  req: ActivationRequest,
  commit: boolean,
): ActivationPlan {
  const wasActive = activeLvIds(before ?? after, current);
  const lvs = after.vg.logical_volumes ?? [];
  const names = new Set(
    lvs.filter((lv) => wasActive.has(rawId(String(lv.id)) ?? "") && isVisible(lv)).map((lv) => lv.name),
  );
  const known = new Set(lvs.map((lv) => lv.name));
  const check = (list: string[]) => {
    for (const n of list)
      if (!known.has(n))
        throw new DvmError(Exit.notFound, `logical volume "${after.vg.name}/${n}" not found`);
  };
  if (req.activate === "all") {
    for (const lv of lvs) if (isVisible(lv)) names.add(lv.name);
  } else if (req.activate) {
    check(req.activate);
    for (const n of req.activate) names.add(n);
  }
  if (req.deactivate === "all") names.clear();
  else if (req.deactivate) {
    check(req.deactivate);
    for (const n of req.deactivate) names.delete(n);
  }
  const active = lvs.filter((lv) => names.has(lv.name)).map((lv) => lv.name);
  const desired = desiredState(after, active, { partial: req.partial });
  const program = planActivation(current, desired, { commit });
  return { current, desired, program, active };
}

/** Whether a plan does any device-mapper work. */
export const hasDmWork = (p: DmProgramDoc) => p.steps.some((s) => s.op !== "end" && s.op !== "commit");

export interface ActivateResult {
  plan: ActivationPlan;
  /** Absent for a dry run. */
  report?: ExecReportDoc;
}

/** dvm-tm activate / deactivate: under the VG lock, read the VG, plan, run. */
export function activateVg(
  name: string,
  req: ActivationRequest,
  opts: LockOptions & { scan: () => ScannedDevice[]; dryRun?: boolean; warn?: (m: string) => void },
): ActivateResult {
  const lock = lockAll([vgLockName(name)], opts);
  try {
    const scanned = opts.scan();
    const prefetched = new Map(
      scanned.map((d) => [d.entry.path, { read: d.read, size: d.entry.size_bytes }]),
    );
    const { doc } = readVg(devicesDoc(scanned), name, { warn: opts.warn, prefetched, partial: req.partial });
    const current = req.backend.state(uuidPrefix(doc));
    const plan = planActivationFor(null, doc, current, req, false);
    if (opts.dryRun) return { plan };
    return { plan, report: runProgram(plan.program, req.backend) };
  } finally {
    lock.release();
  }
}

/** The exit code and message of a device-mapper run that did not finish cleanly. */
export function dmFailure(report: ExecReportDoc): DvmError {
  const failed = report.steps.filter((s) => s.outcome === "failed");
  const first = failed[0];
  const what = first
    ? `step ${first.id} ${first.op}${first.name ? ` ${first.name}` : ""}: ${first.message}`
    : "";
  return report.result === "rolled_back"
    ? new DvmError(Exit.dmRolledBack, `device-mapper ${what}; rolled back, nothing changed`)
    : new DvmError(
        Exit.dmStuck,
        `device-mapper ${what}; recovery did not complete: ${(report.left ?? []).join("; ")}`,
      );
}
