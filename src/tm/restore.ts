import type { ScannedDevice } from "../discover/scan.js";
import { DvmError, Exit } from "../lib/errors.js";
import { vgProblems } from "../lvm2/validate.js";
import type { VgText } from "../lvm2/vg.js";
import { type WritePlan, writeVg } from "./write.js";

/**
 * dvm-tm restore: write a VG's metadata, given as a document, to its PVs
 * (what vgcfgrestore does). The seqno is raised above every copy on those
 * PVs so the restored metadata wins everywhere.
 */
export function restoreVg(
  input: VgText,
  scanned: ScannedDevice[],
  opts: { dryRun?: boolean } = {},
): WritePlan {
  const problems = vgProblems(input.vg);
  if (problems.length)
    throw new DvmError(Exit.invalid, `vg document is not valid metadata: ${problems.slice(0, 5).join("; ")}`);
  return writeVg(input.vg, scanned, {
    before: [],
    vgId: input.vg.id,
    description: "Write from dvm-tm restore.",
    dryRun: opts.dryRun,
  });
}
