import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit } from "../lib/errors.js";
import { vgProblems } from "../lvm2/validate.js";
import type { ManipResult } from "./common.js";

/**
 * dvm-manip: pure metadata mutators. Each takes a vg document (never
 * changed) and returns the next one (seqno + 1) with LVM2-style messages;
 * errors are DvmErrors with the documented exit codes. No I/O here: the
 * caller supplies time, host name and an ID generator.
 */

export {
  type AllocatedRun,
  type AllocPolicy,
  type AllocRequest,
  allocate,
  type ParallelArea,
  type PvChoice,
} from "./alloc.js";
export { displaySize, type ManipResult } from "./common.js";
export {
  type LvCreateOptions,
  type LvExtendOptions,
  lvCreate,
  lvExtend,
  lvReduce,
  lvRemove,
  lvRename,
  parsePeRanges,
  type SizeArg,
} from "./lv.js";
export {
  type PvmoveEndOptions,
  type PvmoveStartOptions,
  pvmoveAbort,
  pvmoveCheckpoint,
  pvmoveFinish,
  pvmoveStart,
} from "./pvmove.js";
export {
  type NewPv,
  parseNewPv,
  type VgCreateOptions,
  vgCreate,
  vgExtend,
  vgReduce,
  vgRename,
} from "./vg.js";

/**
 * Check that a mutation made no metadata problem that was not there before
 * (no extent used twice, references resolve, ...): a failure is a bug here.
 */
export function checkResult(before: VgDoc | null, r: ManipResult): ManipResult {
  const old = new Set(before ? vgProblems(before.vg) : []);
  const fresh = vgProblems(r.doc.vg).filter((p) => !old.has(p));
  if (fresh.length)
    throw new DvmError(Exit.internal, `internal error: the new metadata is not sound: ${fresh.join("; ")}`);
  return r;
}
