import { parseSnapshotStatus, parseStatusLines, type SnapshotStatus } from "../dm/status.js";
import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit, usageError } from "../lib/errors.js";
import { mergingSnapshot, snapshotMergeFinish, snapshotsOf } from "../manip/snapshot.js";
import { updateVg } from "../tm/update.js";
import { type PollOptions, pollLv } from "./common.js";

/**
 * dvm-poll for a snapshot merge (lvmpolld.md §4.3 `merge`,
 * device-mapper.md §4.9): `lvconvert --merge` of an old-style snapshot
 * leaves the origin's device on a `snapshot-merge` table, and the kernel
 * copies the COW's chunks back into the origin. Follow its status until the
 * COW holds nothing but its metadata, then finish in one dvm-tm transaction:
 * the merging snapshot's LVs leave the metadata while the origin's device is
 * reloaded with its own segments and the snapshot's devices (-real, -cow and
 * the snapshot's) go, in one two-phase commit.
 *
 * Messages and exit codes are LVM2 2.03.16's `lvm lvpoll --polloperation
 * merge` (recorded in a VM): the VG or LV gone, the origin inactive or no
 * longer merging all end the poll with 0. The names are the origin's
 * (lvmpolld passes the origin for a merge, and --lvid pins the origin).
 *
 * Limits: the finish reloads the VG's active LVs through dvm's activation,
 * which has no module for snapshots: when the origin keeps other snapshots,
 * or another active LV of the VG has a segment type dvm cannot activate,
 * nothing is changed and the poll fails with exit 2 (LVM2 can finish it:
 * `lvchange --poll y VG/ORIGIN`). A merge cannot be aborted (usage error):
 * half-merged chunks are in the origin already.
 */

export type MergePollOptions = PollOptions;

/** libdevmapper's dm_percent_t: percent × 1,000,000. */
const PERCENT_1 = 1_000_000;
const PERCENT_100 = 100 * PERCENT_1;

/** libdevmapper's dm_make_percent: never 0 or 100 unless exactly so. */
function makePercent(numerator: number, denominator: number): number {
  if (denominator === 0 || numerator === denominator) return PERCENT_100;
  if (numerator === 0) return 0;
  const p = Math.trunc(PERCENT_100 * (numerator / denominator));
  return p === PERCENT_100 ? PERCENT_100 - 1 : p === 0 ? 1 : p;
}

/**
 * How much of the COW is still to merge, as LVM2 computes it from the status
 * (dm_percent_t): 0 once only the metadata is allocated, which is "done".
 */
export function mergeLeft(s: Extract<SnapshotStatus, { state: "usage" }>): number {
  if (s.metadata_sectors !== null && s.allocated_sectors === s.metadata_sectors) return 0;
  if (s.allocated_sectors === s.total_sectors) return PERCENT_100;
  return makePercent(s.allocated_sectors, s.total_sectors);
}

/** C's printf("%.2f"): the exact value rounded, ties (only at odd multiples of 1/8) to even. */
function printf2(x: number): string {
  if (Number.isInteger(x * 8) && !Number.isInteger(x * 4)) {
    const lo = Math.floor(x * 100);
    return ((lo % 2 === 0 ? lo : lo + 1) / 100).toFixed(2);
  }
  return x.toFixed(2);
}

/**
 * LVM2's progress line: `  vg/origin: Merged: 99.71%`, "100 − what is
 * left", with what is left a single-precision float as LVM2 has it.
 */
export function mergedLine(display: string, left: number): string {
  const leftFloat = Math.fround(Math.fround(left) / PERCENT_1);
  return `  ${display}: Merged: ${printf2(100 - leftFloat)}%`;
}

/**
 * The merge's state from `status` of the origin's device: its dm_percent
 * left, or LVM2's reason to give up (exit 5, as LVM2's lvpoll).
 */
export function mergeProgress(display: string, statusText: string): number {
  const lines = parseStatusLines(statusText);
  const line = lines.length === 1 && lines[0]!.type === "snapshot-merge" ? lines[0] : undefined;
  const failed = (why: string) => new DvmError(Exit.conflict, `${display}: ${why}`);
  // The table is not snapshot-merge (merge deferred, origin reloaded by hand...): nothing to follow.
  if (!line) throw failed("Failed query for merging percentage. Aborting merge.");
  const s = parseSnapshotStatus(line.params);
  switch (s.state) {
    case "usage":
      return mergeLeft(s);
    case "invalid":
    case "overflow":
      throw failed("Merging snapshot invalidated. Aborting merge.");
    case "merge_failed":
      throw failed("Merge failed. Retry merge or inspect manually.");
    case "unknown":
      throw failed("Failed query for merging percentage. Aborting merge.");
  }
}

/** Poll one snapshot merge to its end. Returns the exit code (0: done, or nothing left to do). */
export function pollMerge(o: MergePollOptions): number {
  if (o.abort)
    throw usageError(
      "--abort: a snapshot merge cannot be aborted (part of the snapshot is in the origin already)",
    );
  return pollLv(o, ({ doc, lv: origin, status, display }) => {
    if (!mergingSnapshot(doc.vg, origin.name)) {
      o.say(`  Logical volume ${display} is no longer merging origin, polling has finished.`);
      return Exit.ok;
    }
    const left = mergeProgress(display, status);
    o.say(mergedLine(display, left));
    if (left === 0) {
      o.say(`  Merge of snapshot into logical volume ${display} has finished.`);
      const messages: string[] = [];
      updateVg(o.vg, (d) => finish(d, o.lv, display, messages), {
        ...o.tx,
        description: `Write from dvm-poll snapshot-merge-finish ${display}.`,
        activation: { backend: o.backend },
      });
      for (const m of messages) o.say(`  ${m}`);
      return Exit.ok;
    }
    return null;
  });
}

/** The finish's metadata step, on the VG as read under the lock; refused where dvm cannot reload the origin. */
function finish(doc: VgDoc, origin: string, display: string, messages: string[]): VgDoc {
  const r = snapshotMergeFinish(doc, { origin, messages: [] });
  const others = snapshotsOf(r.doc.vg, origin).map((s) => s.cow);
  if (others.length)
    throw new DvmError(
      Exit.invalid,
      `${display}: the merge is complete, but the origin keeps other snapshots (${others.join(", ")}), whose devices dvm cannot activate; nothing changed (LVM2 finishes it: lvchange --poll y ${display})`,
    );
  messages.push(...r.messages);
  return r.doc;
}
