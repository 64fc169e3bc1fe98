import { dmName } from "../activate/names.js";
import { parseMirrorStatus, parseStatusLines } from "../dm/status.js";
import type { VgDoc } from "../lib/docs.js";
import { Exit } from "../lib/errors.js";
import { sleepSync } from "../lib/time.js";
import { isPvmoveLv } from "../lvm2/mirror.js";
import type { LvMeta, SegmentMeta } from "../lvm2/vg.js";
import type { ManipResult } from "../manip/common.js";
import { pvmoveAbort, pvmoveCheckpoint, pvmoveFinish } from "../manip/pvmove.js";
import { activateVg } from "../tm/activate.js";
import { updateVg } from "../tm/update.js";
import { deviceStatus, NAP_MS, type PollOptions, polledLv, readPolledVg } from "./common.js";

/**
 * dvm-poll for a pvmove (lvmpolld.md §4.3, device-mapper.md §5.9): follow
 * the running mirror of the layer LV (pvmove<N>) through its dm status;
 * when it is in sync, checkpoint it in the metadata, which makes the next
 * layer segment the running mirror (the layer is reloaded in the same
 * two-phase commit); when none is left, finish the move (the moved LVs take
 * the destination extents, the layer goes). Every metadata change is one
 * dvm-tm transaction, so a poller killed at any point leaves a move that the
 * next poller carries on from its last checkpoint.
 */

export type PvmovePollOptions = PollOptions;

/** Where a pvmove stands, from the metadata and the running mirror's status. */
export interface PvmoveProgress {
  /** The source PV's device (what LVM2 prints progress against). */
  display: string;
  extents_total: number;
  /** Extents of segments checkpointed as copied, plus the running segment's in-sync share. */
  extents_done: number;
  /** The running segment is fully in sync: time to checkpoint. */
  running_in_sync: boolean;
  /** No segment left to copy: time to finish. */
  all_copied: boolean;
}

const segCopied = (s: SegmentMeta) => s.extents_moved === s.extent_count;

export const percent = (p: PvmoveProgress) =>
  p.extents_total === 0 ? 100 : (100 * p.extents_done) / p.extents_total;

/** LVM2's progress line: `  <display>: Moved: 12.50%`. */
export const progressLine = (p: PvmoveProgress) => `  ${p.display}: Moved: ${percent(p).toFixed(2)}%`;

/** The source PV's device path of a layer (its first segment's first area). */
function sourceDisplay(doc: VgDoc, layer: LvMeta): string {
  const seg = [...layer.segments].sort((a, b) => a.start_extent - b.start_extent)[0];
  const pvName = Array.isArray(seg?.mirrors) ? String(seg.mirrors[0]) : "";
  const pv = doc.vg.physical_volumes.find((p) => p.name === pvName);
  const dev = pv ? doc.pv_devices.find((d) => d.pv_uuid === String(pv.id)) : undefined;
  return dev?.path ?? (pv?.device as string | undefined) ?? pvName;
}

/**
 * Progress from the layer's metadata and `status` of its dm device (one
 * line per layer segment: `linear` for the ones copied and to come, one
 * `mirror` for the running one). Pure: tested without a device-mapper.
 */
export function pvmoveProgress(doc: VgDoc, layer: LvMeta, statusText: string | null): PvmoveProgress {
  const segs = [...layer.segments].sort((a, b) => a.start_extent - b.start_extent);
  const total = segs.reduce((n, s) => n + s.extent_count, 0);
  let done = segs.filter(segCopied).reduce((n, s) => n + s.extent_count, 0);
  const running = segs.find((s) => !segCopied(s));
  let inSync = false;
  if (running && statusText !== null) {
    const es = doc.vg.extent_size;
    const at = running.start_extent * es;
    const line = parseStatusLines(statusText).find((l) => l.start_sectors === at);
    if (line?.type === "mirror") {
      const m = parseMirrorStatus(line.params);
      inSync = m.in_sync_regions === m.total_regions;
      done += inSync ? running.extent_count : (running.extent_count * m.in_sync_regions) / m.total_regions;
    }
  }
  return {
    display: sourceDisplay(doc, layer),
    extents_total: total,
    extents_done: done,
    running_in_sync: inSync,
    all_copied: running === undefined,
  };
}

/** Poll one pvmove to its end. Returns the exit code (0 done, or nothing left to do). */
export function pollPvmove(o: PvmovePollOptions): number {
  const sleep = o.sleep ?? sleepSync;
  const intervalMs = Math.round(o.intervalS * 1000);
  if (o.waitFirst && intervalMs > 0) sleep(intervalMs);
  const name = dmName(o.vg, o.lv);
  const change = (what: string, step: (doc: VgDoc) => ManipResult, activate: string[] = []) =>
    updateVg(o.vg, (doc) => step(doc).doc, {
      ...o.tx,
      description: `Write from dvm-poll ${what} ${o.vg}/${o.lv}.`,
      activation: { backend: o.backend, activate },
    });
  for (;;) {
    const doc = readPolledVg(o);
    if (!doc) {
      o.say(`  Can't find VG ${o.vg}. No longer active.`);
      return Exit.ok;
    }
    const layer = polledLv(doc, o);
    if (!layer || !isPvmoveLv(layer)) {
      o.say(`  ${o.lv}: No pvmove in progress - already finished or aborted.`);
      return Exit.ok;
    }
    if (o.abort) {
      change("pvmove-abort", (d) => pvmoveAbort(d, { target: o.lv }));
      o.say(`  ${o.lv}: pvmove aborted.`);
      return Exit.ok;
    }
    const status = deviceStatus(o.backend, name);
    if (status === null) {
      o.say(`  ${o.lv}: Interrupted: No longer active.`);
      return Exit.ok;
    }
    const p = pvmoveProgress(doc, layer, status);
    o.say(progressLine(p));
    if (p.all_copied) {
      change("pvmove-finish", (d) => pvmoveFinish(d, { target: o.lv }));
      return Exit.ok;
    }
    if (p.running_in_sync) {
      // Checkpoint: the next segment becomes the running mirror; the layer stays active.
      change("pvmove-checkpoint", (d) => pvmoveCheckpoint(d, { target: o.lv }), [o.lv]);
      continue;
    }
    if (!parseStatusLines(status).some((l) => l.type === "mirror")) {
      // The live table has no running mirror although the metadata has one (a layer activated
      // from older metadata): reload it from the metadata.
      activateVg(o.vg, { backend: o.backend, activate: [o.lv] }, o.tx);
      continue;
    }
    sleep(intervalMs > 0 ? intervalMs : NAP_MS);
  }
}
