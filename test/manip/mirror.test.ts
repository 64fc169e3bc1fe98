import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { desiredState } from "../../src/activate/vol.js";
import type { MirrorTarget } from "../../src/dm/target.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { Exit } from "../../src/lib/errors.js";
import { isConvertingLv } from "../../src/lvm2/mirror.js";
import { vgProblems } from "../../src/lvm2/validate.js";
import type { LvMeta, SegmentMeta } from "../../src/lvm2/vg.js";
import { mirrorConvertFinish } from "../../src/manip/mirror.js";
import { addLv, seg, vgOn } from "../activate/helpers.ts";
import { fixtureDoc } from "../activate/mirror-fixtures.ts";
import { expectFail, expectOk } from "./helpers.ts";

/**
 * mirror-convert-finish: LVM2's lvpoll collapsing m2_mimagetmp_2 after
 * `lvconvert -m+1 cv/m2` (test/fixtures/mirror: LVM2's metadata before and
 * after), and properties over stacks of hand-made converting mirrors.
 */

const lvNames = (d: VgDoc) => (d.vg.logical_volumes ?? []).map((l) => l.name);
const lvOf = (d: VgDoc, n: string) => d.vg.logical_volumes!.find((l) => l.name === n)!;

describe("mirror-convert-finish against LVM2 2.03.16", () => {
  test("m2 over m2_mimagetmp_2 collapses into the metadata LVM2's poller wrote (seqno aside)", () => {
    const mid = fixtureDoc("m2-mid");
    const after = fixtureDoc("m2-after");
    assert.ok(isConvertingLv(lvOf(mid, "m2")));
    const r = expectOk(mid, (d) => mirrorConvertFinish(d, { target: "m2" }));
    assert.deepEqual({ ...r.doc.vg, seqno: 0 }, { ...after.vg, seqno: 0 });
    assert.deepEqual(r.messages, ["Logical volume cv/m2 converted."]);
    assert.ok(!isConvertingLv(lvOf(r.doc, "m2")));
  });

  test("a mirror not being converted (linear → mirror, core-log -m+1): nothing to collapse, exit 3", () => {
    const mid = fixtureDoc("m2-mid");
    for (const lv of ["lin", "mc", "m3"])
      expectFail(mid, Exit.notFound, (d) => mirrorConvertFinish(d, { target: lv }), /not being converted/);
    expectFail(mid, Exit.notFound, (d) => mirrorConvertFinish(d, { target: "nosuch" }), /not found/);
  });

  test("refused on a read-only VG; odd stacks are refused by name", () => {
    const ro = fixtureDoc("m2-mid");
    ro.vg.status = ["READ"];
    expectFail(ro, Exit.conflict, (d) => mirrorConvertFinish(d, { target: "m2" }), /read-only/);
    const two = fixtureDoc("m2-mid");
    const tmp = lvOf(two, "m2_mimagetmp_2");
    tmp.segments = [
      { ...tmp.segments[0]!, extent_count: 4 },
      { ...tmp.segments[0]!, start_extent: 4, extent_count: 4 },
    ];
    tmp.segment_count = 2;
    expectFail(two, Exit.invalid, (d) => mirrorConvertFinish(d, { target: "m2" }), /2 segments/);
  });
});

/** A hand-made converting mirror: how many old legs, new legs, nested layers, and what else is there. */
interface Stack {
  extents: number;
  oldLegs: number;
  /** New images per up-convert, innermost first: one entry per temporary layer. */
  added: number[];
  topLog: boolean;
  others: number;
}

/** Build the VG LVM2 would have after `added.length` up-converts of a disk-log mirror of `oldLegs` legs. */
function stackVg(s: Stack): VgDoc {
  const doc = vgOn([400, 400, 400]);
  doc.pv_devices = doc.pv_devices.map((d, i) => ({ ...d, path: `/dev/sd${"bcd"[i]}` }));
  let pe = 0;
  const linear = (name: string, n: number) => {
    addLv(doc, name, [seg(0, n, [`pv${pe % 3}`, pe])], ["READ", "WRITE"]);
    pe += n;
  };
  for (let i = 0; i < s.others; i++) linear(`other${i}`, 1);
  const mirrorSeg = (legs: string[], log?: string): SegmentMeta => ({
    start_extent: 0,
    extent_count: s.extents,
    type: "mirror",
    mirror_count: legs.length,
    ...(log ? { mirror_log: log } : {}),
    region_size: 1024,
    mirrors: legs.flatMap((l) => [l, 0]),
  });
  let image = 0;
  const images = (n: number) =>
    Array.from({ length: n }, () => {
      const name = `m_mimage_${image++}`;
      linear(name, s.extents);
      return name;
    });
  linear("m_mlog", 1);
  // Innermost first: the original mirror, then each up-convert puts the stack under a new layer.
  let below = images(s.oldLegs);
  let belowLog: string | undefined = "m_mlog";
  const layers: { name: string; seg: SegmentMeta }[] = [];
  for (const n of s.added) {
    const name = `m_mimagetmp_${image}`;
    layers.push({ name, seg: mirrorSeg(below, belowLog) });
    below = [name, ...images(n)];
    belowLog = undefined;
  }
  if (s.topLog) {
    linear("m_mlog_top", 1);
    belowLog = "m_mlog_top";
  }
  const top = addLv(doc, "m", [mirrorSeg(below, belowLog)]);
  doc.vg.logical_volumes = [top, ...doc.vg.logical_volumes!.filter((l) => l !== top)];
  for (const l of layers) addLv(doc, l.name, [l.seg], ["READ", "WRITE"]);
  return doc;
}

const stacks = fc.record({
  extents: fc.integer({ min: 1, max: 8 }),
  oldLegs: fc.integer({ min: 1, max: 3 }),
  added: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 1, maxLength: 3 }),
  topLog: fc.boolean(),
  others: fc.integer({ min: 0, max: 3 }),
});

describe("mirror-convert-finish properties", () => {
  test("one mirror of every leg, old legs first, the layer's log; nothing else changes", () => {
    fc.assert(
      fc.property(stacks, (s) => {
        const doc = stackVg(s);
        assert.deepEqual(vgProblems(doc.vg), []);
        const r = expectOk(doc, (d) => mirrorConvertFinish(d, { target: "m" }));
        const m = lvOf(r.doc, "m");
        const legs = s.oldLegs + s.added.reduce((a, b) => a + b, 0);
        const seg0 = m.segments[0]!;
        assert.equal(m.segments.length, 1);
        assert.equal(seg0.mirror_count, legs);
        // Images in the order they were made: the original legs, then each up-convert's.
        assert.deepEqual(seg0.mirrors, Array.from({ length: legs }, (_, i) => [`m_mimage_${i}`, 0]).flat());
        assert.equal(seg0.mirror_log, "m_mlog");
        assert.ok(!isConvertingLv(m));
        // Gone: every layer, and the top's own log; every other LV is as it was.
        const gone = (n: string) => n.includes("_mimagetmp_") || n === "m_mlog_top";
        assert.deepEqual(
          lvNames(r.doc),
          lvNames(doc).filter((n) => !gone(n)),
        );
        for (const lv of doc.vg.logical_volumes!)
          if (lv.name !== "m" && !gone(lv.name)) assert.deepEqual(lvOf(r.doc, lv.name), lv);
        // Nothing left to finish; and the result activates as one mirror of every leg.
        expectFail(r.doc, Exit.notFound, (d) => mirrorConvertFinish(d, { target: "m" }));
        const top = desiredState(r.doc, ["m"]).devices.find((d) => d.name === "vg-m")!;
        const t = top.table![0] as MirrorTarget;
        assert.equal(t.legs.length, legs);
        assert.deepEqual(t.log, { type: "disk", device: "/dev/mapper/vg-m_mlog", region_sectors: 1024 });
      }),
    );
  });

  test("sub-LVs named after a layer take the LV's name (LVM2's remove_layer_from_lv)", () => {
    const doc = stackVg({ extents: 2, oldLegs: 2, added: [1], topLog: false, others: 0 });
    // The layer's log named after the layer, as LVM2 names the sub-LVs of whatever LV they belong to.
    const log = lvOf(doc, "m_mlog");
    log.name = "m_mimagetmp_2_mlog";
    lvOf(doc, "m_mimagetmp_2").segments[0]!.mirror_log = "m_mimagetmp_2_mlog";
    const r = expectOk(doc, (d) => mirrorConvertFinish(d, { target: "m" }));
    assert.equal(lvOf(r.doc, "m").segments[0]!.mirror_log, "m_mlog");
    assert.ok(lvNames(r.doc).includes("m_mlog"));
    assert.ok(!lvNames(r.doc).some((n) => n.includes("mimagetmp")));
  });

  test("a layer some other LV uses too is refused; a mirrored top log goes with its images", () => {
    const doc = stackVg({ extents: 2, oldLegs: 2, added: [1], topLog: false, others: 0 });
    addLv(doc, "user", [{ ...seg(0, 2, ["m_mimagetmp_2", 0]) }]);
    expectFail(doc, Exit.invalid, (d) => mirrorConvertFinish(d, { target: "m" }), /used by LVs other than m/);

    const two = stackVg({ extents: 2, oldLegs: 2, added: [1], topLog: true, others: 0 });
    const topLog = lvOf(two, "m_mlog_top");
    // Make the top's log a mirror of two 1-extent images (LVM2's --mirrorlog mirrored).
    const img = (n: string, pe: number): LvMeta => addLv(two, n, [seg(0, 1, ["pv2", pe])], ["READ", "WRITE"]);
    img("m_mlog_top_mimage_0", 390);
    img("m_mlog_top_mimage_1", 391);
    topLog.segments = [
      {
        start_extent: 0,
        extent_count: 1,
        type: "mirror",
        mirror_count: 2,
        region_size: 1024,
        mirrors: ["m_mlog_top_mimage_0", 0, "m_mlog_top_mimage_1", 0],
      },
    ];
    const r = expectOk(two, (d) => mirrorConvertFinish(d, { target: "m" }));
    assert.ok(!lvNames(r.doc).some((n) => n.startsWith("m_mlog_top")));
  });
});
