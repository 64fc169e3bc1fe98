import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DmStateDoc } from "../../src/dm/docs.js";
import { printTarget } from "../../src/dm/target.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { parseVgText } from "../../src/lvm2/vg.js";

/**
 * LVM2's own mirror LVs, captured in the kernel-tier VM (test/fixtures/mirror,
 * see its README): the metadata LVM2 wrote and the tables it loaded.
 */

const DIR = new URL("../fixtures/mirror/", import.meta.url).pathname;
export const fixtureText = (name: string) => readFileSync(join(DIR, name), "utf8");

/** The guest's disks as the kernel numbers them (virtio-blk, 16 minors each). */
const DISKS: Record<string, string> = {
  "/dev/vda": "254:0",
  "/dev/vdb": "254:16",
  "/dev/vdc": "254:32",
  "/dev/vdd": "254:48",
};

/** A fixture's metadata as a vg document, each PV found at its `device` hint (/dev/vdX). */
export function fixtureDoc(name: string): VgDoc {
  const t = parseVgText(fixtureText(`${name}.vg`));
  return {
    kind: "vg",
    version: 1,
    ...t,
    pv_devices: t.vg.physical_volumes.map((pv) => ({
      pv_uuid: String(pv.id),
      path: String(pv.device),
      size_bytes: 32 << 20,
      mdas: [],
    })),
  };
}

/** `dmsetup table | sort` as LVM2 left it. */
export const lvmTables = (name: string) => fixtureText(`${name}.table`).trim().split("\n");

/** `name:uuid` of every device LVM2 had, sorted. */
export const lvmInfo = (name: string) =>
  fixtureText(`${name}.info`)
    .trim()
    .split("\n")
    .map((l) => l.split(":").slice(0, 2).join(":"));

/** dvm's desired state printed as `dmsetup table` would, with LVM2's device numbers for its devices. */
export function dvmTables(state: DmStateDoc, lvmInfoOf: string): string[] {
  const num = new Map(Object.entries(DISKS));
  for (const l of fixtureText(`${lvmInfoOf}.info`).trim().split("\n")) {
    const [n, , major, minor] = l.split(":");
    num.set(`/dev/mapper/${n}`, `${major}:${minor}`);
  }
  return state.devices
    .flatMap((d) =>
      d.table!.map((t) => `${d.name}: ${printTarget(t).replace(/\/\S+/g, (p) => num.get(p) ?? p)}`),
    )
    .sort();
}

export const dvmInfo = (state: DmStateDoc) => state.devices.map((d) => `${d.name}:${d.uuid}`).sort();
