import type { DmDevice, DmStateDoc } from "../dm/docs.js";
import type { DevArea, TargetLine } from "../dm/target.js";
import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit, invalidInput, notFound } from "../lib/errors.js";
import { rawId } from "../lvm2/uuid.js";
import type { LvMeta, PvMeta, SegmentMeta } from "../lvm2/vg.js";
import { dmName, dmUuid, mapperPath, vgUuidPrefix } from "./names.js";
import { moduleFor, type SegArea, type SegContext, supportedSegTypes } from "./segtypes/index.js";

/**
 * dvm-vol-activate: the device-mapper state that makes LVs active, computed
 * from the VG metadata alone (no I/O). One device per LV (plus a hidden
 * LV's device for every LV it is stacked on, plus missing-PV fillers under
 * partial activation), named and identified as LVM2 does, with one target
 * per segment from the segment type's module.
 */

export interface ActivateOptions {
  /** Map areas on missing PVs to `error` fillers instead of refusing (LVM2's --activate partial). */
  partial?: boolean;
}

const has = (list: unknown, flag: string) => Array.isArray(list) && list.includes(flag);
const isVisible = (lv: LvMeta) => has(lv.status, "VISIBLE") || has(lv.flags, "VISIBLE");
const isMissing = (pv: PvMeta) => has(pv.status, "MISSING") || has(pv.flags, "MISSING");

/** Does any value in `v` (nested arrays and sections included) equal `name`? */
function mentions(v: unknown, name: string): boolean {
  if (v === name) return true;
  if (Array.isArray(v)) return v.some((x) => mentions(x, name));
  if (v && typeof v === "object") return Object.values(v).some((x) => mentions(x, name));
  return false;
}

/**
 * Refuse, by name, every LV needed for `wanted` that has a segment type
 * without a module, or that an LV of such a type uses (a snapshot's origin,
 * a thin pool's data LV...): activating those as plain devices would be wrong.
 */
function checkSupported(doc: VgDoc, wanted: LvMeta[]): void {
  const vg = doc.vg;
  const lvs = vg.logical_volumes ?? [];
  const lvByName = new Map(lvs.map((l) => [l.name, l]));
  const pvNames = new Set(vg.physical_volumes.map((p) => p.name));
  const unsupported = (lv: LvMeta) => lv.segments.filter((s) => !moduleFor(s));
  const needed = new Set<LvMeta>();
  const visit = (lv: LvMeta) => {
    if (needed.has(lv)) return;
    needed.add(lv);
    if (unsupported(lv).length) return;
    for (const s of lv.segments) {
      for (const v of Object.values(s))
        if (Array.isArray(v))
          for (const x of v)
            if (typeof x === "string" && !pvNames.has(x) && lvByName.has(x)) visit(lvByName.get(x)!);
      // A mirror's disk log is named by a plain string, not in an area list.
      if (typeof s.mirror_log === "string" && lvByName.has(s.mirror_log)) visit(lvByName.get(s.mirror_log)!);
    }
  };
  wanted.forEach(visit);
  const refused: string[] = [];
  for (const lv of needed) {
    const bad = unsupported(lv);
    if (bad.length) {
      refused.push(`${vg.name}/${lv.name} (segment type ${[...new Set(bad.map((s) => s.type))].join(", ")})`);
      continue;
    }
    for (const user of lvs)
      for (const s of unsupported(user))
        if (user !== lv && Object.values(s).some((v) => mentions(v, lv.name))) {
          refused.push(`${vg.name}/${lv.name} (used by ${user.name}, segment type ${s.type})`);
          break;
        }
  }
  if (refused.length)
    throw invalidInput(
      `cannot activate ${refused.join("; ")}: no activation module for that segment type (modules: ${supportedSegTypes().join(", ")})`,
    );
}

const checkExtent = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** The desired dm state for `lvs` (LV names, or "all" for every visible LV) of the VG in `doc`. */
export function desiredState(doc: VgDoc, lvs: string[] | "all", opts: ActivateOptions = {}): DmStateDoc {
  const vg = doc.vg;
  const allLvs = vg.logical_volumes ?? [];
  const lvByName = new Map(allLvs.map((l) => [l.name, l]));
  const pvByName = new Map(vg.physical_volumes.map((p) => [p.name, p]));
  const es = vg.extent_size;
  if (!Number.isSafeInteger(es) || es < 1) throw invalidInput(`VG ${vg.name}: extent_size ${es} is invalid`);
  const wanted =
    lvs === "all"
      ? allLvs.filter(isVisible)
      : lvs.map((n) => {
          const lv = lvByName.get(n);
          if (!lv) throw notFound(`logical volume "${vg.name}/${n}" not found`);
          return lv;
        });
  checkSupported(doc, wanted);

  const devices: DmDevice[] = [];
  const done = new Map<string, string>();
  const inProgress = new Set<string>();

  function pvArea(pv: PvMeta, area: SegArea, len: number, where: string, filler: () => DevArea): DevArea {
    const dev = doc.pv_devices.find((d) => (rawId(d.pv_uuid) ?? d.pv_uuid) === (rawId(pv.id) ?? pv.id));
    if (!dev || isMissing(pv)) {
      if (!opts.partial)
        throw new DvmError(
          Exit.incomplete,
          `${where}: PV ${pv.name} (${pv.id}) is missing; use partial activation to map its extents to errors`,
        );
      return filler();
    }
    if (area.start_extent + len > pv.pe_count)
      throw invalidInput(`${where}: extents ${area.start_extent}+${len} lie beyond the end of ${pv.name}`);
    return { device: dev.path, offset_sectors: pv.pe_start + area.start_extent * es };
  }

  /** Activate one LV (after what it uses); returns its dm name. */
  function activate(lv: LvMeta): string {
    const known = done.get(lv.name);
    if (known) return known;
    if (inProgress.has(lv.name)) throw invalidInput(`LV ${vg.name}/${lv.name} is stacked on itself`);
    inProgress.add(lv.name);
    const name = dmName(vg.name, lv.name);
    const uuid = dmUuid(vg.id, lv.id);
    const deps: string[] = [];
    const addDep = (d: string) => {
      if (!deps.includes(d)) deps.push(d);
    };
    const table: TargetLine[] = [];
    let le = 0;
    lv.segments.forEach((seg: SegmentMeta, segIndex) => {
      const where = `${vg.name}/${lv.name} segment ${segIndex + 1}`;
      if (seg.start_extent !== le)
        throw invalidInput(
          `${where}: starts at extent ${seg.start_extent}, expected ${le} (segments must be contiguous)`,
        );
      le += seg.extent_count;
      const ctx: SegContext = {
        where,
        segments: lv.segments,
        segIndex,
        extent_size_sectors: es,
        start_sectors: seg.start_extent * es,
        length_sectors: seg.extent_count * es,
        fail: (why) => invalidInput(`${where}: ${why}`),
        areas(key) {
          const list = seg[key];
          if (!Array.isArray(list) || list.length % 2 !== 0)
            throw invalidInput(`${where}: ${key} must be a list of name, extent pairs`);
          const out: SegArea[] = [];
          for (let i = 0; i < list.length; i += 2) {
            const n = list[i];
            const e = list[i + 1];
            if (typeof n !== "string" || !checkExtent(e))
              throw invalidInput(`${where}: ${key} area ${i / 2}: expected a name and an extent number`);
            out.push({ name: n, start_extent: e });
          }
          return out;
        },
        resolve(area, areaIndex, len) {
          const pv = pvByName.get(area.name);
          if (pv)
            return pvArea(pv, area, len, where, () => {
              // LVM2's missing_stripe_filler: an error device of the area's size, named after the segment and area.
              const layer = `missing_${segIndex}_${areaIndex}`;
              const fname = dmName(vg.name, lv.name, layer);
              if (!devices.some((d) => d.name === fname))
                devices.push({
                  name: fname,
                  uuid: dmUuid(vg.id, lv.id, layer),
                  read_only: false,
                  table: [{ start_sectors: 0, length_sectors: len * es, type: "error" }],
                  depends_on: [],
                  lv: `${vg.name}/${lv.name}`,
                });
              addDep(fname);
              return { device: mapperPath(fname), offset_sectors: 0 };
            });
          const sub = lvByName.get(area.name);
          if (!sub)
            throw invalidInput(`${where}: area ${areaIndex} is on "${area.name}", which is no PV or LV`);
          const subExtents = sub.segments.reduce((n, s) => n + s.extent_count, 0);
          if (area.start_extent + len > subExtents)
            throw invalidInput(
              `${where}: extents ${area.start_extent}+${len} lie beyond the end of LV ${sub.name}`,
            );
          const subName = activate(sub);
          addDep(subName);
          return { device: mapperPath(subName), offset_sectors: area.start_extent * es };
        },
        lvDevice(subLvName) {
          const sub = lvByName.get(subLvName);
          if (!sub) throw invalidInput(`${where}: "${subLvName}" is no LV of the VG`);
          const subName = activate(sub);
          addDep(subName);
          return {
            device: mapperPath(subName),
            extents: sub.segments.reduce((n, s) => n + s.extent_count, 0),
          };
        },
      };
      const mod = moduleFor(seg);
      // checkSupported refused these already; kept as a guard for callers that skip it.
      if (!mod) throw invalidInput(`${where}: segment type ${seg.type} has no activation module`);
      table.push(...mod.targets(seg, ctx));
    });
    for (const t of table)
      if (!Number.isSafeInteger(t.start_sectors + t.length_sectors))
        throw invalidInput(`${vg.name}/${lv.name}: the LV is too large`);
    inProgress.delete(lv.name);
    done.set(lv.name, name);
    devices.push({
      name,
      uuid,
      read_only: !has(lv.status, "WRITE"),
      table,
      depends_on: deps,
      lv: `${vg.name}/${lv.name}`,
    });
    return name;
  }

  wanted.forEach(activate);
  return { kind: "dm-state", version: 1, source: "desired", uuid_prefix: vgUuidPrefix(vg.id), devices };
}
