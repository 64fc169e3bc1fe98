import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planActivation } from "../../src/activate/plan.js";
import { simulateProgram } from "../../src/activate/simulate.js";
import { desiredState } from "../../src/activate/vol.js";
import { printTable } from "../../src/dm/target.js";
import { DvmError } from "../../src/lib/errors.js";
import type { LvMeta } from "../../src/lvm2/vg.js";
import { emptyState } from "./helpers.ts";
import { dvmInfo, dvmTables, fixtureDoc, lvmInfo, lvmTables } from "./mirror-fixtures.ts";

/**
 * Activation of LVM2's mirror LVs: dvm-vol-activate's desired state for the
 * metadata LVM2 2.03.16 wrote must be the devices LVM2 made (names, uuids)
 * with the tables it loaded, for disk-log, core-log, 3-leg and --nosync
 * mirrors, and for a mirror in the middle of `lvconvert -m+1` (over its
 * temporary _mimagetmp_ layer) and after LVM2's poller collapsed the layer.
 */

const lvOf = (doc: ReturnType<typeof fixtureDoc>, name: string) =>
  doc.vg.logical_volumes!.find((l) => l.name === name)!;

describe("mirror LVs as LVM2 activates them", () => {
  for (const [name, what] of [
    ["reactivated", "disk and core logs, 2 and 3 legs, a --nosync mirror (reactivated: no nosync)"],
    ["m2-mid", "m2 mid up-convert: a core-log mirror over m2_mimagetmp_2 (the old disk-log mirror)"],
    ["m2-after", "m2 after the collapse: one 3-leg disk-log mirror"],
  ] as const)
    it(`${name}: ${what}`, () => {
      const st = desiredState(fixtureDoc(name), "all");
      assert.deepEqual(dvmTables(st, name), lvmTables(name));
      assert.deepEqual(dvmInfo(st), lvmInfo(name));
    });

  it("the images and the log are dependencies of the top device; activation order children first", () => {
    const st = desiredState(fixtureDoc("m2-mid"), ["m2"]);
    assert.deepEqual(
      st.devices.map((d) => d.name),
      ["cv-m2_mlog", "cv-m2_mimage_0", "cv-m2_mimage_1", "cv-m2_mimagetmp_2", "cv-m2_mimage_2", "cv-m2"],
    );
    const top = st.devices.find((d) => d.name === "cv-m2")!;
    assert.deepEqual(top.depends_on, ["cv-m2_mimagetmp_2", "cv-m2_mimage_2"]);
    const tmp = st.devices.find((d) => d.name === "cv-m2_mimagetmp_2")!;
    assert.deepEqual(tmp.depends_on, ["cv-m2_mlog", "cv-m2_mimage_0", "cv-m2_mimage_1"]);
    const prog = planActivation({ ...emptyState(), disks: [] }, st);
    const at = (op: string, n: string) => prog.steps.findIndex((s) => s.op === op && s.name === n);
    for (const sub of ["cv-m2_mlog", "cv-m2_mimage_0", "cv-m2_mimagetmp_2", "cv-m2_mimage_2"])
      assert.ok(at("resume", sub) < at("resume", "cv-m2"), sub);
    assert.ok(at("resume", "cv-m2_mlog") < at("resume", "cv-m2_mimagetmp_2"));
    // The model executor checks each table (mirror log and legs, region size) as the kernel would.
    const disks = ["vda", "vdb", "vdc", "vdd"].map((d, i) => ({
      path: `/dev/${d}`,
      major: 254,
      minor: 16 * i,
      size_sectors: 65536,
    }));
    const empty = { ...emptyState(), disks };
    assert.equal(simulateProgram(empty, planActivation(empty, st)).result, "ok");
  });

  it("a mirror segment left with one area is linear on it (LVM2's MIRR_DISABLED)", () => {
    const doc = fixtureDoc("reactivated");
    const m2 = lvOf(doc, "m2");
    m2.segments[0]!.mirrors = ["m2_mimage_1", 0];
    m2.segments[0]!.mirror_count = 1;
    const top = desiredState(doc, ["m2"]).devices.find((d) => d.name === "cv-m2")!;
    assert.equal(printTable(top.table!), "0 16384 linear /dev/mapper/cv-m2_mimage_1 0\n");
    assert.deepEqual(top.depends_on, ["cv-m2_mimage_1"]);
  });

  it("a multi-segment mirror (lvextend): one mirror target per segment, legs at their offsets", () => {
    const doc = fixtureDoc("reactivated");
    const mc = lvOf(doc, "mc");
    const s = mc.segments[0]!;
    // Two segments of 3 extents over the same 6-extent images.
    mc.segments = [
      { ...s, extent_count: 3, mirrors: ["mc_mimage_0", 0, "mc_mimage_1", 0] },
      { ...s, start_extent: 3, extent_count: 3, mirrors: ["mc_mimage_0", 3, "mc_mimage_1", 3] },
    ];
    mc.segment_count = 2;
    const top = desiredState(doc, ["mc"]).devices.find((d) => d.name === "cv-mc")!;
    assert.equal(
      printTable(top.table!),
      "0 6144 mirror core 1 4096 2 /dev/mapper/cv-mc_mimage_0 0 /dev/mapper/cv-mc_mimage_1 0 1 handle_errors\n" +
        "6144 6144 mirror core 1 4096 2 /dev/mapper/cv-mc_mimage_0 6144 /dev/mapper/cv-mc_mimage_1 6144 1 handle_errors\n",
    );
  });

  const refused = (change: (lv: LvMeta) => void, why: RegExp) => {
    const doc = fixtureDoc("reactivated");
    change(lvOf(doc, "m2"));
    assert.throws(
      () => desiredState(doc, ["m2"]),
      (e: unknown) => e instanceof DvmError && e.exitCode === 2 && why.test(e.message),
    );
  };

  it("refuses a region size that is not a power of two, or missing", () => {
    refused((lv) => {
      lv.segments[0]!.region_size = 3000;
    }, /cv\/m2 segment 1: region_size 3000 is not a power of two/);
    refused((lv) => {
      delete lv.segments[0]!.region_size;
    }, /region_size undefined/);
  });

  it("refuses a mirror_count that disagrees with the areas, a log that is no LV, too many legs", () => {
    refused((lv) => {
      lv.segments[0]!.mirror_count = 3;
    }, /mirror_count 3 but 2 area/);
    refused((lv) => {
      lv.segments[0]!.mirror_log = "nosuch";
    }, /"nosuch" is no LV/);
    refused((lv) => {
      lv.segments[0]!.mirror_count = 10;
      lv.segments[0]!.mirrors = Array.from({ length: 10 }, () => ["m2_mimage_0", 0]).flat();
    }, /1 to 9 areas, this one 10/);
  });
});
