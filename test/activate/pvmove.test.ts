import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dmUuid } from "../../src/activate/names.js";
import { planActivation } from "../../src/activate/plan.js";
import { simulateProgram } from "../../src/activate/simulate.js";
import { desiredState } from "../../src/activate/vol.js";
import type { DmStateDoc } from "../../src/dm/docs.js";
import { printTable } from "../../src/dm/target.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { DvmError } from "../../src/lib/errors.js";
import { lvCreate, lvExtend, pvmoveStart } from "../../src/manip/index.js";
import { idGen } from "../manip/helpers.ts";
import { addLv, emptyState, vgOn } from "./helpers.ts";

/**
 * Activation of a VG with a pvmove in progress: the tables LVM2 2.03.16 loads
 * for it, recorded in a VM with a real device-mapper (dmsetup table after
 * `pvmove -b`, LVM2's poller having recorded the first layer segment as
 * copied). Disks: the VM's 254:0/16/32 are /dev/sdb, sdc, sdd here, and
 * 253:5 was vgx-pvmove0.
 */

const MiB = 2048;

/** The VG of the recorded pvmove: 1 MiB extents, lvA (2 segments), lvB, lvC striped with pv2, lvD, lvE. */
function midMove(): VgDoc {
  let d = vgOn([31, 31, 31], "vgx", MiB);
  const c = (name: string, extents: number, on: string[], stripes = 1) =>
    (d = lvCreate(d, {
      name,
      size: extents * MiB,
      on,
      stripes,
      ...(stripes > 1 ? { stripeSize: 128 } : {}),
      time: 1,
      host: "h",
      newId: idGen(name),
    }).doc);
  c("lvA", 2, ["pv0:0-1"]);
  c("lvB", 2, ["pv0:2-3"]);
  d = lvExtend(d, { name: "lvA", size: { sectors: 2 * MiB, relative: true }, on: ["pv0:6-7"] }).doc;
  c("lvC", 4, ["pv0:4-5", "pv2:0-1"], 2);
  c("lvD", 3, ["pv1:0-2"]);
  c("lvE", 2, ["pv2:2-3"]);
  const s = pvmoveStart(d, { source: "pv0", time: 2, host: "h", newId: idGen("M") }).doc;
  return s;
}

const layerOf = (d: VgDoc) => d.vg.logical_volumes!.find((l) => l.name === "pvmove0")!;

/** Tables as dmsetup table prints them, with the VM's device numbers. */
function dmsetupTable(s: DmStateDoc): string {
  const num: Record<string, string> = {
    "/dev/sdb": "254:0",
    "/dev/sdc": "254:16",
    "/dev/sdd": "254:32",
    "/dev/mapper/vgx-pvmove0": "253:5",
  };
  return [...s.devices]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((d) =>
      printTable(d.table!)
        .trimEnd()
        .split("\n")
        .map((l) => `${d.name}: ${l.replace(/\/dev\/\S+/g, (p) => num[p] ?? p)}`),
    )
    .join("\n");
}

describe("activation of a VG with a pvmove in progress", () => {
  it("LVM2's tables: the running segment a core-log mirror, copied ones on the destination, the rest on the source", () => {
    const doc = midMove();
    layerOf(doc).segments[0]!.extents_moved = 2;
    const s = desiredState(doc, "all");
    assert.equal(
      dmsetupTable(s),
      [
        "vgx-lvA: 0 4096 linear 253:5 0",
        "vgx-lvA: 4096 4096 linear 253:5 4096",
        "vgx-lvB: 0 4096 linear 253:5 8192",
        "vgx-lvC: 0 8192 striped 2 128 253:5 12288 254:32 2048",
        "vgx-lvD: 0 6144 linear 254:16 2048",
        "vgx-lvE: 0 4096 linear 254:32 6144",
        "vgx-pvmove0: 0 4096 linear 254:16 8192",
        "vgx-pvmove0: 4096 4096 mirror core 1 4096 2 254:0 14336 254:16 12288",
        "vgx-pvmove0: 8192 4096 linear 254:0 6144",
        "vgx-pvmove0: 12288 4096 linear 254:0 10240",
      ].join("\n"),
    );
    // Name and uuid as LVM2 2.03.16 (no -real suffix before 2.03.36); the layer comes before its users.
    const layer = s.devices.find((d) => d.name === "vgx-pvmove0")!;
    assert.equal(layer.uuid, dmUuid(doc.vg.id, layerOf(doc).id));
    assert.equal(layer.read_only, false);
    assert.deepEqual(layer.depends_on, []);
    const names = s.devices.map((d) => d.name);
    assert.ok(names.indexOf("vgx-pvmove0") < names.indexOf("vgx-lvA"));
    for (const n of ["vgx-lvA", "vgx-lvB", "vgx-lvC"])
      assert.deepEqual(s.devices.find((d) => d.name === n)!.depends_on, ["vgx-pvmove0"], n);
    for (const n of ["vgx-lvD", "vgx-lvE"])
      assert.deepEqual(s.devices.find((d) => d.name === n)!.depends_on, []);
  });

  it("nothing copied: the first segment runs; everything copied: all linear on the destination", () => {
    const doc = midMove();
    const s0 = desiredState(doc, ["lvA"]);
    assert.deepEqual(
      s0.devices.map((d) => d.name),
      ["vgx-pvmove0", "vgx-lvA"],
    );
    assert.deepEqual(
      s0.devices[0]!.table!.map((t) => t.type),
      ["mirror", "linear", "linear", "linear"],
    );
    for (const seg of layerOf(doc).segments) seg.extents_moved = seg.extent_count;
    const s1 = desiredState(doc, ["pvmove0"]);
    assert.equal(
      printTable(s1.devices[0]!.table!),
      [
        "0 4096 linear /dev/sdc 8192",
        "4096 4096 linear /dev/sdc 12288",
        "8192 4096 linear /dev/sdc 16384",
        "12288 4096 linear /dev/sdc 20480",
        "",
      ].join("\n"),
    );
  });

  it("the region of the running mirror is cut to the segment (2 MiB at most, a power-of-two number of extents)", () => {
    const doc = vgOn([64, 64], "vgr", 1024); // 512 KiB extents
    addLv(doc, "a", [
      { start_extent: 0, extent_count: 6, type: "striped", stripe_count: 1, stripes: ["pvmove0", 0] },
    ]);
    addLv(
      doc,
      "pvmove0",
      [
        {
          start_extent: 0,
          extent_count: 6,
          type: "mirror",
          mirror_count: 2,
          extents_moved: 0,
          region_size: 2048,
          mirrors: ["pv0", 0, "pv1", 0],
        },
      ],
      ["READ", "WRITE", "PVMOVE", "LOCKED"],
    );
    const t = desiredState(doc, ["a"]).devices[0]!.table![0]!;
    assert.equal(printTable([t]), "0 6144 mirror core 1 2048 2 /dev/sdb 2048 /dev/sdc 2048\n");
  });

  it("activating from nothing: the layer is created and resumed before the LVs on it", () => {
    const doc = midMove();
    const desired = desiredState(doc, "all");
    const prog = planActivation(emptyState(), desired);
    const at = (op: string, name: string) => prog.steps.findIndex((s) => s.op === op && s.name === name);
    assert.ok(at("resume", "vgx-pvmove0") >= 0);
    assert.ok(at("resume", "vgx-pvmove0") < at("resume", "vgx-lvA"));
    assert.ok(at("load", "vgx-pvmove0") < at("load", "vgx-lvA"));
    const r = simulateProgram(emptyState(), prog);
    assert.equal(r.result, "ok");
  });

  it("a mirror LV's segment (no extents_moved) is a mirror LV's, not a layer's: no region_size, exit 2", () => {
    const doc = vgOn([20, 20]);
    addLv(doc, "m", [
      {
        start_extent: 0,
        extent_count: 2,
        type: "mirror",
        mirror_count: 2,
        mirrors: ["m_mimage_0", 0, "m_mimage_1", 0],
      },
    ]);
    assert.throws(
      () => desiredState(doc, ["m"]),
      (e: unknown) =>
        e instanceof DvmError &&
        e.exitCode === 2 &&
        /vg\/m segment 1: region_size undefined is not a power of two/.test(e.message),
    );
  });
});
