import type { VgDoc } from "../lib/docs.js";
import { isConvertingLv } from "../lvm2/mirror.js";
import type { LvMeta, SegmentMeta, VgMeta } from "../lvm2/vg.js";
import { findLv, invalidInput, type ManipResult, nextLvDoc, notFound, ownLv } from "./common.js";
import { checkVgWritable } from "./vg.js";

/**
 * The end of LVM2's mirror up-convert (`lvconvert -m+N` on a mirror with a
 * disk log; lvmpolld.md §4.3 `convert`, LVM2's lvconvert_mirror_finish and
 * collapse_mirrored_lv). While the new images sync, the LV is a mirror of
 * the temporary layer `<lv>_mimagetmp_<k>` (the mirror as it was, with its
 * log) and the new images, with a core log. Once that mirror is in sync:
 *
 * - the layer's segment becomes the LV's own (its legs, its log, its region
 *   size, its keys), followed by the LV's other areas, the new images, in
 *   their order; mirror_count counts them all;
 * - a log the LV's own mirror had is removed with the LVs it is made of;
 * - sub-LVs named after the layer (`<layer>_...`) take the LV's name instead;
 * - the layer LV is removed.
 *
 * LVM2 never writes CONVERTING: it derives it from the layer (isConvertingLv),
 * so taking the layer away clears it. Layers nested under one another (a
 * second up-convert before the first finished) collapse one after the other,
 * top first, as LVM2's loop does; the caller checks that every mirror of the
 * stack is in sync. LVM2 commits the metadata two or three times along the
 * way; this is its final text in one step (seqno + 1).
 */

export interface MirrorConvertFinishOptions {
  /** The LV being converted (the top of the stack, not a layer). */
  target: string;
  messages?: string[];
}

/** The LV names in a mirror segment's `mirrors` (every area of a mirror LV is a whole sub-LV at extent 0). */
function mirrorAreas(vg: VgMeta, lv: LvMeta, seg: SegmentMeta): string[] {
  const list = seg.mirrors;
  const where = `${vg.name}/${lv.name}`;
  if (!Array.isArray(list) || list.length < 2 || list.length % 2 !== 0)
    throw invalidInput(`${where}: mirrors must be a list of LV name, extent pairs`);
  const names: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const n = list[i];
    if (typeof n !== "string" || list[i + 1] !== 0 || !(vg.logical_volumes ?? []).some((l) => l.name === n))
      throw invalidInput(`${where}: mirror area ${i / 2} is not a whole LV of the VG (${JSON.stringify(n)})`);
    names.push(n);
  }
  return names;
}

/** The only segment of a mirror LV that is no pvmove layer. */
function onlyMirrorSeg(vg: VgMeta, lv: LvMeta): SegmentMeta {
  const where = `${vg.name}/${lv.name}`;
  if (lv.segments.length !== 1)
    throw invalidInput(`${where}: ${lv.segments.length} segments; a converting mirror has one`);
  const seg = lv.segments[0]!;
  if (seg.type !== "mirror" || Object.hasOwn(seg, "extents_moved"))
    throw invalidInput(`${where}: segment type "${String(seg.type)}" is not a mirror LV's`);
  return seg;
}

/** An LV and every LV it is made of (areas, mirror log), depth first, each once. */
function withSubLvs(vg: VgMeta, name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const lv = (vg.logical_volumes ?? []).find((l) => l.name === name);
  if (!lv) return [];
  const out = [name];
  for (const s of lv.segments) {
    for (const v of Object.values(s))
      if (Array.isArray(v))
        for (const x of v) if (typeof x === "string") out.push(...withSubLvs(vg, x, seen));
    if (typeof s.mirror_log === "string") out.push(...withSubLvs(vg, s.mirror_log, seen));
  }
  return out;
}

/** Rename `old` to `now` in every reference of the VG's segments (area lists and mirror logs). */
function renameRefs(vg: VgMeta, old: string, now: string): void {
  for (const lv of vg.logical_volumes ?? [])
    for (const s of lv.segments) {
      const refers =
        s.mirror_log === old || Object.values(s).some((v) => Array.isArray(v) && v.includes(old));
      if (!refers) continue;
      const own = ownLv(vg, lv.name).segments[lv.segments.indexOf(s)]!;
      for (const [k, v] of Object.entries(own))
        if (Array.isArray(v)) own[k] = v.map((x) => (x === old ? now : x));
      if (own.mirror_log === old) own.mirror_log = now;
    }
}

/** Collapse the LV's top temporary layer into it (one turn of LVM2's collapse loop). */
function collapseOnce(vg: VgMeta, top: LvMeta): void {
  const topSeg = onlyMirrorSeg(vg, top);
  const [layerName, ...added] = mirrorAreas(vg, top, topSeg);
  const layer = findLv(vg, layerName!);
  const layerSeg = onlyMirrorSeg(vg, layer);
  const legs = mirrorAreas(vg, layer, layerSeg);
  if (layerSeg.extent_count !== topSeg.extent_count || layerSeg.start_extent !== 0)
    throw invalidInput(
      `${vg.name}/${layer.name}: ${layerSeg.extent_count} extents under ${top.name}'s ${topSeg.extent_count}`,
    );
  const users = (vg.logical_volumes ?? []).filter(
    (l) => l !== top && withSubLvs(vg, l.name).includes(layer.name),
  );
  if (users.some((u) => u.name !== layer.name))
    throw invalidInput(`${vg.name}/${layer.name} is used by LVs other than ${top.name}`);
  // The top mirror's own log (LVM2 gives it a core log, so normally none) goes with the layer.
  const gone = new Set([layer.name]);
  if (typeof topSeg.mirror_log === "string") for (const n of withSubLvs(vg, topSeg.mirror_log)) gone.add(n);
  const mirrors = [...legs, ...added].flatMap((n) => [n, 0]);
  // The layer's segment, keys in LVM2's order, with the new images after its legs.
  // (The destructuring keeps the rest in its order: start_extent, extent_count, type, [tags], others.)
  const { mirror_count: _c, mirror_log, region_size, mirrors: _m, ...rest } = layerSeg;
  const seg: SegmentMeta = {
    ...rest,
    mirror_count: legs.length + added.length,
    ...(mirror_log !== undefined ? { mirror_log } : {}),
    ...(region_size !== undefined ? { region_size } : {}),
    mirrors,
  };
  const own = ownLv(vg, top.name);
  own.segments = [seg];
  own.segment_count = 1;
  vg.logical_volumes = (vg.logical_volumes ?? []).filter((l) => !gone.has(l.name));
  // Sub-LVs named after the layer take the LV's name (LVM2's remove_layer_from_lv).
  const prefix = `${layer.name}_`;
  for (const n of withSubLvs(vg, top.name))
    if (n.startsWith(prefix)) {
      const now = `${top.name}_${n.slice(prefix.length)}`;
      if (vg.logical_volumes.some((l) => l.name === now))
        throw invalidInput(`${vg.name}/${n}: cannot take the name ${now}, an LV has it`);
      ownLv(vg, n).name = now;
      renameRefs(vg, n, now);
    }
}

/** mirror-convert-finish: collapse the temporary mirror layer(s) of an up-converted mirror LV. */
export function mirrorConvertFinish(doc: VgDoc, o: MirrorConvertFinishOptions): ManipResult {
  const messages = o.messages ?? [];
  const lv = findLv(doc.vg, o.target);
  if (!isConvertingLv(lv))
    throw notFound(`${doc.vg.name}/${lv.name}: no temporary mirror layer (not being converted)`);
  checkVgWritable(doc.vg);
  const out = nextLvDoc(doc);
  for (let guard = (doc.vg.logical_volumes ?? []).length; isConvertingLv(findLv(out.vg, lv.name)); guard--) {
    if (guard < 0) throw invalidInput(`${doc.vg.name}/${lv.name}: its mirror layers form a loop`);
    collapseOnce(out.vg, findLv(out.vg, lv.name));
  }
  messages.push(`Logical volume ${doc.vg.name}/${lv.name} converted.`);
  return { doc: out, messages };
}
