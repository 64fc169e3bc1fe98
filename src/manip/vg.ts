import type { VgDoc } from "../lib/docs.js";
import { nameProblem } from "../lvm2/names.js";
import { normalizeId, rawId } from "../lvm2/uuid.js";
import { validExtentSize } from "../lvm2/validate.js";
import type { PvMeta, VgMeta } from "../lvm2/vg.js";
import {
  conflict,
  findPv,
  invalidInput,
  type ManipResult,
  nextDoc,
  posInt,
  pvLabel,
  sameId,
} from "./common.js";
import { knownPvRefs, pairAreaKey, usedCount, usedExtents } from "./extents.js";

/** VG mutators: vg-create, vg-extend, vg-reduce, vg-rename. */

/** A PV joining a VG, as the caller found it on its device. */
export interface NewPv {
  path: string;
  uuid: string;
  /** First extent, in sectors from the start of the device. */
  peStart: number;
  /** Device (PV) size in sectors. */
  devSize: number;
}

/** LVM2's default extent size: 4 MiB. */
export const DEFAULT_EXTENT_SECTORS = 8192;

/**
 * Parse `PATH:UUID:PE_START_SECTORS:DEV_SIZE_SECTORS` (the path may itself
 * hold colons, e.g. /dev/disk/by-path names: the last three fields are split off).
 */
export function parseNewPv(text: string): NewPv {
  const parts = text.split(":");
  if (parts.length < 4)
    throw invalidInput(`--pv "${text}": expected PATH:UUID:PE_START_SECTORS:DEV_SIZE_SECTORS`);
  const devSize = posInt(parts.pop()!, `--pv "${text}" device size`);
  const peStart = posInt(parts.pop()!, `--pv "${text}" pe_start`);
  const uuid = parts.pop()!;
  const path = parts.join(":");
  if (!path) throw invalidInput(`--pv "${text}": the device path is empty`);
  return { path, uuid, peStart, devSize };
}

export function vgNameProblem(name: string): string | null {
  return nameProblem(name);
}

function checkVgName(name: string) {
  const p = vgNameProblem(name);
  if (p) throw invalidInput(`new volume group name "${name}" is invalid: ${p}`);
}

/** Validate an extent size in sectors the way vgcreate does. */
export function checkExtentSize(sectors: number) {
  if (!Number.isInteger(sectors) || sectors < 2)
    throw invalidInput(`extent size ${sectors * 512} bytes is below the minimum of 1 KiB`);
  if (sectors > 0xffffffff) throw invalidInput("extent size is too large");
  if (!validExtentSize(sectors))
    throw invalidInput("physical extent size must be a multiple of 128.00 KiB when not a power of 2");
}

/** PV sections for new PVs, named after their future position; key order as LVM2 writes it. */
function pvSections(pvs: NewPv[], extentSize: number, taken: VgMeta | null, firstIndex: number): PvMeta[] {
  const seenIds = new Set<string>();
  const seenPaths = new Set<string>();
  return pvs.map((p, i) => {
    let id: string;
    try {
      id = normalizeId(p.uuid, `PV ${p.path}`);
    } catch {
      throw invalidInput(`PV ${p.path}: "${p.uuid}" is not a valid UUID`);
    }
    const raw = rawId(id)!;
    if (seenIds.has(raw) || seenPaths.has(p.path))
      throw invalidInput(`physical volume ${p.path} (${id}) is named twice`);
    seenIds.add(raw);
    seenPaths.add(p.path);
    if (taken) {
      const dup = taken.physical_volumes.find(
        (x) => sameId(String(x.id), id) || (typeof x.device === "string" && x.device === p.path),
      );
      if (dup) throw conflict(`physical volume "${p.path}" is already in volume group "${taken.name}"`);
    }
    if (p.devSize <= p.peStart)
      throw invalidInput(`PV ${p.path}: pe_start ${p.peStart} is not below the device size ${p.devSize}`);
    const peCount = Math.floor((p.devSize - p.peStart) / extentSize);
    if (peCount > 0xffffffff) throw invalidInput(`PV ${p.path}: too many extents`);
    return {
      name: `pv${firstIndex + i}`,
      id,
      device: p.path,
      status: ["ALLOCATABLE"],
      flags: [],
      dev_size: p.devSize,
      pe_start: p.peStart,
      pe_count: peCount,
    };
  });
}

export interface VgCreateOptions {
  name: string;
  /** Extent size in sectors (default 4 MiB). */
  extentSize?: number;
  pvs: NewPv[];
  newId: () => string;
  time: number;
  host: string;
}

/** vgcreate: a new VG (seqno 1) on PVs that belong to no VG. */
export function vgCreate(o: VgCreateOptions): ManipResult {
  checkVgName(o.name);
  const extentSize = o.extentSize ?? DEFAULT_EXTENT_SECTORS;
  checkExtentSize(extentSize);
  if (o.pvs.length === 0) throw invalidInput("a volume group needs at least one physical volume (--pv)");
  const vg: VgMeta = {
    name: o.name,
    id: o.newId(),
    seqno: 1,
    format: "lvm2",
    status: ["RESIZEABLE", "READ", "WRITE"],
    flags: [],
    extent_size: extentSize,
    max_lv: 0,
    max_pv: 0,
    metadata_copies: 0,
    physical_volumes: pvSections(o.pvs, extentSize, null, 0),
  };
  const doc: VgDoc = {
    kind: "vg",
    version: 1,
    vg,
    top: {
      contents: "Text Format Volume Group",
      version: 1,
      description: `Write from dvm-manip vg-create ${o.name}.`,
      creation_host: o.host,
      creation_time: o.time,
    },
    pv_devices: [],
  };
  return { doc, messages: [] };
}

/** A VG that may be changed: not exported, writable, resizeable. */
export function checkVgWritable(vg: VgMeta, resize = false) {
  const st = Array.isArray(vg.status) ? vg.status : [];
  const flags = Array.isArray(vg.flags) ? vg.flags : [];
  if (st.includes("EXPORTED")) throw conflict(`volume group "${vg.name}" is exported`);
  if (!st.includes("WRITE") && !flags.includes("WRITE_LOCKED"))
    throw conflict(`volume group "${vg.name}" is read-only`);
  if (resize && !st.includes("RESIZEABLE")) throw conflict(`volume group "${vg.name}" is not resizeable`);
}

/**
 * PV section names are positional (pv0, pv1, ... in list order) and LVM2
 * renumbers them on every write; do the same, fixing the references in
 * segments. If a segment of a type whose PV references are unknown exists,
 * names are left alone (they only need to be unique).
 */
function renumberPvs(vg: VgMeta) {
  const lvs = vg.logical_volumes ?? [];
  if (!lvs.every((lv) => lv.segments.every((s) => knownPvRefs(s)))) {
    const names = new Set<string>();
    for (const pv of vg.physical_volumes) {
      if (!names.has(pv.name)) {
        names.add(pv.name);
        continue;
      }
      let i = 0;
      while (names.has(`pv${i}`) || lvs.some((l) => l.name === `pv${i}`)) i++;
      pv.name = `pv${i}`;
      names.add(pv.name);
    }
    return;
  }
  const map = new Map<string, string>();
  vg.physical_volumes.forEach((pv, i) => {
    map.set(pv.name, `pv${i}`);
  });
  for (const lv of lvs)
    for (const seg of lv.segments) {
      const key = pairAreaKey(seg);
      const a = key ? seg[key] : undefined;
      if (!Array.isArray(a)) continue;
      for (let i = 0; i + 1 < a.length; i += 2) {
        const n = a[i];
        if (typeof n === "string" && map.has(n)) a[i] = map.get(n)!;
      }
    }
  for (const pv of vg.physical_volumes) pv.name = map.get(pv.name)!;
}

/** vgextend: add PVs that belong to no VG. */
export function vgExtend(doc: VgDoc, o: { pvs: NewPv[] }): ManipResult {
  checkVgWritable(doc.vg, true);
  if (o.pvs.length === 0) throw invalidInput("vg-extend needs at least one --pv");
  const out = nextDoc(doc);
  const vg = out.vg;
  const added = pvSections(o.pvs, vg.extent_size, vg, vg.physical_volumes.length);
  if (vg.max_pv > 0 && vg.physical_volumes.length + added.length > vg.max_pv)
    throw conflict(`volume group "${vg.name}" may hold at most ${vg.max_pv} physical volumes`);
  // Fresh names must not clash with the ones already there (they are renumbered below when possible).
  const taken = new Set(vg.physical_volumes.map((p) => p.name));
  for (const pv of added) {
    let i = vg.physical_volumes.length;
    while (taken.has(pv.name)) pv.name = `pv${i++}`;
    taken.add(pv.name);
    vg.physical_volumes.push(pv);
  }
  renumberPvs(vg);
  return { doc: out, messages: [] };
}

/** vgreduce: remove PVs that hold no extents of any LV. */
export function vgReduce(doc: VgDoc, o: { pvs: string[] }): ManipResult {
  checkVgWritable(doc.vg, true);
  if (o.pvs.length === 0) throw invalidInput("vg-reduce needs the PVs to remove");
  const used = usedExtents(doc.vg);
  const remove = new Set<string>();
  for (const spec of o.pvs) {
    const pv = findPv(doc, spec);
    const label = pvLabel(doc, pv);
    const n = usedCount(used.get(pv.name));
    const referenced = (doc.vg.logical_volumes ?? []).some((lv) =>
      lv.segments.some((s) => Object.values(s).some((v) => Array.isArray(v) && v.includes(pv.name))),
    );
    if (n > 0 || referenced)
      throw conflict(`physical volume "${label}" still in use (${n} extents allocated)`);
    remove.add(pv.name);
  }
  if (remove.size >= doc.vg.physical_volumes.length)
    throw conflict(`can't remove the final physical volume from volume group "${doc.vg.name}"`);
  const out = nextDoc(doc);
  const gone = out.vg.physical_volumes.filter((p) => remove.has(p.name));
  out.vg.physical_volumes = out.vg.physical_volumes.filter((p) => !remove.has(p.name));
  out.pv_devices = out.pv_devices.filter((d) => !gone.some((p) => sameId(String(p.id), d.pv_uuid)));
  renumberPvs(out.vg);
  return { doc: out, messages: [] };
}

/** vgrename. */
export function vgRename(doc: VgDoc, o: { name: string }): ManipResult {
  checkVgName(o.name);
  checkVgWritable(doc.vg);
  if (o.name === doc.vg.name) throw invalidInput("old and new volume group names need to differ");
  const out = nextDoc(doc);
  out.vg.name = o.name;
  return { doc: out, messages: [] };
}
