import type { VgDoc } from "../lib/docs.js";
import type { LvMeta, SegmentMeta, VgMeta } from "../lvm2/vg.js";
import { findLv, invalidInput, type ManipResult, nextLvDoc, notFound } from "./common.js";
import { checkVgWritable } from "./vg.js";

/**
 * Old-style (COW) snapshots in the metadata (lvm2-on-disk-format.md §16.3):
 * an internal LV `snapshot<N>` with one `snapshot` segment names the origin
 * and its COW LV (`cow_store`, or `merging_store` once `lvconvert --merge`
 * has asked for the snapshot to be merged back into the origin).
 *
 * snapshot-merge-finish: the kernel has copied every chunk of the COW back
 * into the origin. What LVM2 2.03.16's lvpoll leaves behind then
 * (lvconvert_merge_finish, recorded in a VM): the merging `snapshot<N>` LV
 * and its COW LV are gone, and nothing else changed — not the origin, not
 * other snapshots, not the VG. LVM2 gets there in two commits (the snapshot
 * is detached, then the COW LV, visible for a moment, is removed: seqno + 2);
 * here it is one.
 */

/** One snapshot of an origin, as the metadata records it. */
export interface SnapshotRef {
  /** The internal snapshot<N> LV. */
  snapshot: LvMeta;
  /** The COW LV (the name the user gave the snapshot). */
  cow: string;
  merging: boolean;
}

const isSnapshotSeg = (s: SegmentMeta) => s.type === "snapshot";

/** The snapshots of `origin`, in metadata order. */
export function snapshotsOf(vg: VgMeta, origin: string): SnapshotRef[] {
  const out: SnapshotRef[] = [];
  for (const lv of vg.logical_volumes ?? []) {
    const seg = lv.segments.find(isSnapshotSeg);
    if (!seg || seg.origin !== origin) continue;
    const merging = typeof seg.merging_store === "string";
    const cow = merging ? seg.merging_store : seg.cow_store;
    if (typeof cow === "string") out.push({ snapshot: lv, cow, merging });
  }
  return out;
}

/** The snapshot merging into `origin`, if any (LVM2 allows one at a time). */
export const mergingSnapshot = (vg: VgMeta, origin: string): SnapshotRef | undefined =>
  snapshotsOf(vg, origin).find((s) => s.merging);

export interface SnapshotMergeFinishOptions {
  /** The origin LV the snapshot merged into. */
  origin: string;
  messages?: string[];
}

/** Does any value of the LV's segments (an area list, origin, cow_store...) name `name`? */
function segmentsName(lv: LvMeta, name: string): boolean {
  return lv.segments.some((s) =>
    Object.values(s).some((v) => v === name || (Array.isArray(v) && v.includes(name))),
  );
}

/** The merge into `origin` is complete: drop the merging snapshot<N> LV and its COW LV. */
export function snapshotMergeFinish(doc: VgDoc, o: SnapshotMergeFinishOptions): ManipResult {
  const vg = doc.vg;
  checkVgWritable(vg);
  const origin = findLv(vg, o.origin);
  const merge = mergingSnapshot(vg, origin.name);
  if (!merge) throw notFound(`logical volume "${vg.name}/${origin.name}" has no merging snapshot`);
  const { snapshot, cow } = merge;
  const where = `snapshot ${vg.name}/${snapshot.name} of ${origin.name}`;
  if (snapshot.segments.length !== 1)
    throw invalidInput(`${where}: ${snapshot.segments.length} segments (a snapshot has exactly one)`);
  const cowLv = (vg.logical_volumes ?? []).find((l) => l.name === cow);
  if (!cowLv) throw invalidInput(`${where}: its COW LV "${cow}" does not exist`);
  // Removing LVs something else still names would leave dangling references.
  for (const lv of vg.logical_volumes ?? []) {
    if (lv === snapshot || lv === cowLv) continue;
    for (const gone of [snapshot.name, cow])
      if (segmentsName(lv, gone))
        throw invalidInput(`${where}: LV ${lv.name} still uses ${gone}; not removing it`);
  }
  const out = nextLvDoc(doc);
  out.vg.logical_volumes = out.vg.logical_volumes!.filter((l) => l.name !== snapshot.name && l.name !== cow);
  const messages = o.messages ?? [];
  messages.push(`Logical volume "${cow}" successfully removed.`);
  return { doc: out, messages };
}
