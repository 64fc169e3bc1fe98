import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit, invalidInput, notFound } from "../lib/errors.js";
import { rawId } from "../lvm2/uuid.js";
import type { LvMeta, PvMeta, VgMeta } from "../lvm2/vg.js";

/** What every mutator shares: results, messages, lookups, LVM2's size display. */

/** A mutator's outcome: the new document and LVM2-style messages for stderr. */
export interface ManipResult {
  doc: VgDoc;
  messages: string[];
}

/** A copy of the document to change, with the next seqno (the input is never touched). */
export function nextDoc(doc: VgDoc): VgDoc {
  const out = structuredClone(doc);
  out.vg.seqno = doc.vg.seqno + 1;
  return out;
}

/**
 * nextDoc for the LV operations, which change at most one LV: the copy has
 * its own list of LVs, but the LVs in it are the input's. An operation that
 * changes an LV takes its own copy first (ownLv); copying all of them would
 * cost more than the operation at a thousand LVs.
 */
export function nextLvDoc(doc: VgDoc): VgDoc {
  const lvs = doc.vg.logical_volumes;
  if (lvs === undefined) return nextDoc(doc);
  const out: VgDoc = structuredClone({ ...doc, vg: { ...doc.vg, logical_volumes: [] as LvMeta[] } });
  out.vg.logical_volumes = [...lvs];
  out.vg.seqno = doc.vg.seqno + 1;
  return out;
}

/** The LV `name` of a document from nextLvDoc, replaced by a copy that may be changed. */
export function ownLv(vg: VgMeta, name: string): LvMeta {
  const lv = findLv(vg, name);
  const lvs = vg.logical_volumes!;
  const copy = structuredClone(lv);
  lvs[lvs.indexOf(lv)] = copy;
  return copy;
}

export const conflict = (msg: string) => new DvmError(Exit.conflict, msg);
export const noSpace = (msg: string) => new DvmError(Exit.noSpace, msg);
export { invalidInput, notFound };

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** A size in sectors the way LVM2 shows it in messages ("8.00 MiB", "512.00 B", and "0   " for nothing). */
export function displaySize(sectors: number): string {
  if (sectors === 0) return "0   ";
  const bytes = sectors * 512;
  if (bytes < 1024) return `${bytes.toFixed(2)} B`;
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(2)} ${UNITS[u]}`;
}

export function findLv(vg: VgMeta, name: string): LvMeta {
  const lv = (vg.logical_volumes ?? []).find((l) => l.name === name);
  if (!lv) throw notFound(`logical volume "${name}" not found in volume group "${vg.name}"`);
  return lv;
}

/** Same ID whatever the dashes. */
export const sameId = (a: string, b: string) => (rawId(a) ?? a) === (rawId(b) ?? b);

/**
 * A PV of the VG by device path (the PV's `device` hint or where dvm-tm found
 * it), by section name (pv0, pv1, ...) or by UUID.
 */
export function findPv(doc: VgDoc, spec: string): PvMeta {
  const pvs = doc.vg.physical_volumes;
  const byName = pvs.find((p) => p.name === spec);
  if (byName) return byName;
  const byDevice = pvs.find((p) => p.device === spec);
  if (byDevice) return byDevice;
  const found = doc.pv_devices.find((d) => d.path === spec);
  if (found) {
    const pv = pvs.find((p) => sameId(String(p.id), found.pv_uuid));
    if (pv) return pv;
  }
  if (rawId(spec) !== null) {
    const pv = pvs.find((p) => sameId(String(p.id), spec));
    if (pv) return pv;
  }
  throw notFound(`physical volume "${spec}" not found in volume group "${doc.vg.name}"`);
}

/** The device path of a PV for messages. */
export function pvLabel(doc: VgDoc, pv: PvMeta): string {
  const d = doc.pv_devices.find((x) => sameId(x.pv_uuid, String(pv.id)));
  return d?.path ?? (typeof pv.device === "string" ? pv.device : pv.name);
}

/** Parse a positive integer argument. */
export function posInt(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw invalidInput(`${what}: "${text}" is not a number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw invalidInput(`${what}: "${text}" is too large`);
  return n;
}
