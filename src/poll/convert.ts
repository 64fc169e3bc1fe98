import { dmName } from "../activate/names.js";
import { parseMirrorStatus, parseStatusLines } from "../dm/status.js";
import type { VgDoc } from "../lib/docs.js";
import { Exit, invalidInput, usageError } from "../lib/errors.js";
import { isConvertingLv } from "../lvm2/mirror.js";
import type { LvMeta, SegmentMeta } from "../lvm2/vg.js";
import { mirrorConvertFinish } from "../manip/mirror.js";
import { updateVg } from "../tm/update.js";
import { deviceStatus, type PollOptions, pollLv } from "./common.js";

/**
 * dvm-poll for a mirror conversion (lvmpolld.md §4.3 `convert`, LVM2's
 * poll_mirror_progress and lvconvert_mirror_finish): follow the sync of the
 * mirror LV through the dm status of its top device, printing LVM2's
 * `  vg/lv: Converted: NN.NN%`; once in sync, finish:
 *
 * - `lvconvert --type mirror -m1` of a linear LV and `-m+N` of a core-log
 *   mirror are complete in the metadata from the start: nothing is written;
 * - `-m+N` of a disk-log mirror left the LV over a temporary `_mimagetmp_`
 *   layer (LVM2's CONVERTING): collapse it (mirror-convert-finish) in one
 *   dvm-tm transaction that also reloads the LV's tables and removes the
 *   layer's device, and print `  Logical volume vg/lv converted.`
 *
 * Beyond LVM2, which only looks at the top mirror, the layers' own mirrors
 * must be in sync as well before the collapse, as each layer's log then
 * stands for all the legs.
 */

export type ConvertPollOptions = PollOptions;

export interface ConvertProgress {
  /** `vg/lv`, as LVM2's lvpoll prints it. */
  display: string;
  /** LVM2's copy_percent as it prints it: extents of mirror segments in sync (whole extents) over all. */
  percent: string;
  /** Every region of every mirror target of the LV is in sync (LVM2's segment percent at 100). */
  in_sync: boolean;
}

/**
 * LVM2's percentage text (dm_make_percent, then display_percent's rounding
 * to two digits): exactly 0 and 100 only when so, 0.01 and 99.99 at most
 * next to them.
 */
export function percentText(numerator: number, denominator: number): string {
  if (denominator === 0 || numerator === denominator) return "100.00";
  if (numerator === 0) return "0.00";
  const p = (100 * numerator) / denominator;
  return Math.min(Math.max(p, 0.01), 99.99).toFixed(2);
}

const isMirrorSeg = (s: SegmentMeta) => s.type === "mirror" && !Object.hasOwn(s, "extents_moved");
const areaCount = (s: SegmentMeta) => (Array.isArray(s.mirrors) ? s.mirrors.length / 2 : 0);

/**
 * Progress of a mirror LV from its metadata and the `status` of its top
 * device (one line per segment). A mirror line's segment counts
 * floor(extents · in_sync / regions) extents copied (LVM2's extents_copied);
 * other segments count whole. Pure: tested without a device-mapper.
 */
export function convertProgress(doc: VgDoc, lv: LvMeta, statusText: string): ConvertProgress {
  const es = doc.vg.extent_size;
  const segs = [...lv.segments].sort((a, b) => a.start_extent - b.start_extent);
  const lines = parseStatusLines(statusText);
  let copied = 0;
  let total = 0;
  let regionsIn = 0;
  let regions = 0;
  for (const s of segs) {
    total += s.extent_count;
    const line = lines.find((l) => l.start_sectors === s.start_extent * es);
    if (!isMirrorSeg(s) || areaCount(s) < 2) {
      copied += s.extent_count;
      continue;
    }
    if (line?.type !== "mirror") continue;
    const m = parseMirrorStatus(line.params);
    regionsIn += m.in_sync_regions;
    regions += m.total_regions;
    copied += Math.floor((s.extent_count * m.in_sync_regions) / m.total_regions);
  }
  return {
    display: `${doc.vg.name}/${lv.name}`,
    percent: percentText(copied, total),
    in_sync: regionsIn === regions && copied === total,
  };
}

/** LVM2's progress line: `  vg/lv: Converted: 42.00%`. */
export const progressLine = (p: ConvertProgress) => `  ${p.display}: Converted: ${p.percent}%`;

/** Whether every mirror target in a status text has all its regions in sync. */
export function allInSync(statusText: string): boolean {
  return parseStatusLines(statusText)
    .filter((l) => l.type === "mirror")
    .every((l) => {
      const m = parseMirrorStatus(l.params);
      return m.in_sync_regions === m.total_regions;
    });
}

/** The temporary layers under a converting LV, top first. */
function layersOf(doc: VgDoc, lv: LvMeta): LvMeta[] {
  const out: LvMeta[] = [];
  for (let at: LvMeta | undefined = lv; at && isConvertingLv(at) && out.length <= 64; ) {
    const name: unknown = (at.segments[0]!.mirrors as unknown[])[0];
    at = doc.vg.logical_volumes?.find((l) => l.name === name);
    if (at) out.push(at);
  }
  return out;
}

/** Poll one mirror conversion to its end. Returns the exit code (0 done, or nothing left to do). */
export function pollConvert(o: ConvertPollOptions): number {
  if (o.abort)
    throw usageError(
      `${o.vg}/${o.lv}: a mirror conversion has no abort (lvconvert the mirror back to what it was instead)`,
    );
  return pollLv(o, ({ doc, lv, status, display }) => {
    if (!lv.segments.some(isMirrorSeg)) {
      if (lv.segments.some((s) => /^raid/.test(String(s.type))))
        throw invalidInput(`${display}: dvm polls mirror LVs only, not segment type ${lv.segments[0]!.type}`);
      throw invalidInput(`${display}: ABORTING: Mirror percentage check failed (not a mirror LV).`);
    }
    const p = convertProgress(doc, lv, status);
    o.say(progressLine(p));
    if (p.in_sync) {
      if (!isConvertingLv(lv)) return Exit.ok;
      const layers = layersOf(doc, lv);
      const layerStatus = layers.map((l) => deviceStatus(o.backend, dmName(o.vg, l.name)));
      if (layerStatus.every((s) => s === null || allInSync(s))) {
        updateVg(o.vg, (d) => mirrorConvertFinish(d, { target: o.lv }).doc, {
          ...o.tx,
          description: `Write from dvm-poll mirror-convert-finish ${display}.`,
          activation: { backend: o.backend, activate: [] },
        });
        o.say(`  Logical volume ${display} converted.`);
        return Exit.ok;
      }
    }
    return null;
  });
}
