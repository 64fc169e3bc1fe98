import { dmName } from "../activate/names.js";
import { devicesDoc } from "../discover/scan.js";
import { type DmBackend, DmFailure } from "../dm/backend.js";
import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit } from "../lib/errors.js";
import { sleepSync } from "../lib/time.js";
import { rawId } from "../lvm2/uuid.js";
import type { LvMeta } from "../lvm2/vg.js";
import { readVg } from "../tm/read.js";
import type { TxOptions } from "../tm/update.js";

/** What every poller takes (dvm-poll's command line, lvmpolld.md §4.3). */
export interface PollOptions {
  vg: string;
  /** The LV lvmpolld names: the pvmove layer (pvmove0...), the converting mirror, the merging origin. */
  lv: string;
  /** Pin the LV by id (VG id + LV id, no dashes): a same-named LV made later is not adopted. */
  lvid?: string;
  backend: DmBackend;
  tx: TxOptions;
  /** Seconds between looks; 0 = as fast as it goes (a short nap between looks). */
  intervalS: number;
  /** `+N`: wait one interval before the first look. */
  waitFirst?: boolean;
  abort?: boolean;
  /** One line of progress or news (LVM2's lvpoll prints "  /dev/sdb: Moved: 12.50%"). */
  say: (line: string) => void;
  sleep?: (ms: number) => void;
}

/** The nap between looks at interval 0. */
export const NAP_MS = 100;

/** The VG as it is now, or null when it is gone. */
export function readPolledVg(o: PollOptions): VgDoc | null {
  try {
    return readVg(devicesDoc(o.tx.scan()), o.vg, { warn: o.tx.warn }).doc;
  } catch (e) {
    if (e instanceof DvmError && e.exitCode === Exit.notFound) return null;
    throw e;
  }
}

/** The polled LV of `doc`, unless it is gone or (with --lvid) another LV now has its name. */
export function polledLv(doc: VgDoc, o: PollOptions): LvMeta | undefined {
  const lv = doc.vg.logical_volumes?.find((l) => l.name === o.lv);
  if (!lv || (o.lvid && `${rawId(String(doc.vg.id))}${rawId(String(lv.id))}` !== o.lvid)) return undefined;
  return lv;
}

/** `status` of a dm device, or null when it is not active. */
export function deviceStatus(backend: DmBackend, name: string): string | null {
  try {
    return backend.query("status", name);
  } catch (e) {
    if (e instanceof DmFailure && e.errno === "ENXIO") return null;
    throw e;
  }
}

/** What a poller sees at each look: the VG, the polled LV, the status of the LV's top device. */
export interface Look {
  doc: VgDoc;
  lv: LvMeta;
  status: string;
  /** `vg/lv`, as LVM2's lvpoll names the LV. */
  display: string;
}

/**
 * The loop of an lvconvert poller (LVM2's lvpoll for convert and merge):
 * with `+N` wait first; then at each look read the VG, find the LV and the
 * status of its top device — the poll ends with 0 and LVM2's words when the
 * VG or the LV is gone or the LV is inactive — and hand them to `look`, which
 * returns an exit code when the operation is over, or null to look again
 * after the interval.
 */
export function pollLv(o: PollOptions, look: (l: Look) => number | null): number {
  const sleep = o.sleep ?? sleepSync;
  const intervalMs = Math.round(o.intervalS * 1000);
  if (o.waitFirst && intervalMs > 0) sleep(intervalMs);
  const display = `${o.vg}/${o.lv}`;
  for (;;) {
    const doc = readPolledVg(o);
    if (!doc) {
      o.say(`  Can't find VG ${display}. No longer active.`);
      return Exit.ok;
    }
    const lv = polledLv(doc, o);
    if (!lv) {
      o.say(`  Can't find LV in ${o.vg} for ${display}.`);
      return Exit.ok;
    }
    const status = deviceStatus(o.backend, dmName(o.vg, o.lv));
    if (status === null) {
      o.say(`  ${display}: Interrupted: No longer active.`);
      return Exit.ok;
    }
    const done = look({ doc, lv, status, display });
    if (done !== null) return done;
    sleep(intervalMs > 0 ? intervalMs : NAP_MS);
  }
}
