import { invalidInput } from "../../lib/errors.js";
import { DmFailure, ERRNO, type ErrnoName } from "../backend.js";

/**
 * Injected failures, so tests can drive the recovery branches of dm
 * programs: a matching call fails with the given errno before it changes
 * anything. Faults come from faults.json in the sim folder (shared by all
 * processes) and from DVM_SIM_FAULTS (this process only).
 */

export const FAULT_OPS = [
  "create",
  "load",
  "suspend",
  "resume",
  "clear",
  "remove",
  "rename",
  "message",
] as const;
export type FaultOp = (typeof FAULT_OPS)[number];

/**
 * Where inside a resume the fault strikes (§1.5): "suspend" = the implicit
 * suspend (staged table kept, device active), "swap" = the table swap
 * (device left suspended, staged table dropped), "preresume" = the target
 * resume hooks (new table live, device left suspended). Without a stage the
 * call fails before doing anything.
 */
export const RESUME_STAGES = ["suspend", "swap", "preresume"] as const;
export type ResumeStage = (typeof RESUME_STAGES)[number];

export interface SimFault {
  op: FaultOp;
  /** Only calls on this device (the name the call was given); any device if absent. */
  name?: string;
  errno: ErrnoName;
  /** How many matching calls fail (default 1). */
  count?: number;
  /** Let this many matching calls pass first. */
  after?: number;
  /** resume only. */
  stage?: ResumeStage;
}

const isCount = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Check a fault list (from faults.json, DVM_SIM_FAULTS or addFault), naming the bad field. */
export function checkFaults(v: unknown, where: string): SimFault[] {
  if (!Array.isArray(v)) throw invalidInput(`${where}: expected a JSON array of faults`);
  return v.map((f, i) => {
    const at = `${where}[${i}]`;
    if (!f || typeof f !== "object") throw invalidInput(`${at}: expected an object`);
    const o = f as Record<string, unknown>;
    if (!FAULT_OPS.includes(o.op as FaultOp))
      throw invalidInput(`${at}.op: "${String(o.op)}" is not one of ${FAULT_OPS.join(", ")}`);
    if (typeof o.errno !== "string" || !(o.errno in ERRNO))
      throw invalidInput(
        `${at}.errno: "${String(o.errno)}" is not an errno name (${Object.keys(ERRNO).join(", ")})`,
      );
    if (o.name !== undefined && typeof o.name !== "string")
      throw invalidInput(`${at}.name: expected a string`);
    if (o.count !== undefined && !(isCount(o.count) && (o.count as number) > 0))
      throw invalidInput(`${at}.count: expected a positive integer, got ${JSON.stringify(o.count)}`);
    if (o.after !== undefined && !isCount(o.after))
      throw invalidInput(`${at}.after: expected a non-negative integer, got ${JSON.stringify(o.after)}`);
    if (o.stage !== undefined) {
      if (o.op !== "resume") throw invalidInput(`${at}.stage: only resume faults have a stage`);
      if (!RESUME_STAGES.includes(o.stage as ResumeStage))
        throw invalidInput(`${at}.stage: "${String(o.stage)}" is not one of ${RESUME_STAGES.join(", ")}`);
    }
    return o as unknown as SimFault;
  });
}

export function parseFaults(text: string, where: string): SimFault[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalidInput(`${where}: not JSON: ${(e as Error).message}`);
  }
  return checkFaults(v, where);
}

/**
 * Apply one call to a fault list: matching faults still waiting (after > 0)
 * count it; the first armed one fires and loses one of its count. Returns
 * the failure to throw, and whether the list changed (to be saved).
 */
export function matchFault(
  list: SimFault[],
  op: FaultOp,
  name: string | undefined,
  stage: ResumeStage | undefined,
): { failure?: DmFailure; changed: boolean } {
  let changed = false;
  for (let i = 0; i < list.length; i++) {
    const f = list[i]!;
    if (f.op !== op || f.stage !== stage || (f.name !== undefined && f.name !== name)) continue;
    if ((f.after ?? 0) > 0) {
      f.after = f.after! - 1;
      changed = true;
      continue;
    }
    const left = (f.count ?? 1) - 1;
    if (left > 0) f.count = left;
    else list.splice(i, 1);
    const where = stage ? ` (at ${stage})` : "";
    return {
      failure: new DmFailure(f.errno, `${op} ${name ?? ""}: injected fault${where}: ${f.errno}`),
      changed: true,
    };
  }
  return { changed };
}
