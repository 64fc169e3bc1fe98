import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { VgDoc } from "../../src/lib/docs.js";
import { checkDoc } from "../../src/lib/schema.js";
import {
  displaySize,
  type LvCreateOptions,
  lvCreate,
  lvExtend,
  lvReduce,
  lvRemove,
  lvRename,
  parsePeRanges,
} from "../../src/manip/index.js";
import { expectFail, expectOk, idGen, makeVg, segs } from "./helpers.ts";

const MiB = 2048; // sectors
const create = (doc: VgDoc, name: string, size: number, more: Partial<LvCreateOptions> = {}) =>
  lvCreate(doc, { name, size, time: 1700000001, host: "host1", newId: idGen(name), ...more });

describe("lv-create", () => {
  test("a linear LV: LVM2's keys in LVM2's order, creation time and host as given", () => {
    const r = expectOk(makeVg([15, 23]), (d) => create(d, "lv0", 8 * MiB));
    checkDoc("vg", r.doc, "test");
    const lv = r.doc.vg.logical_volumes![0]!;
    assert.deepEqual(Object.keys(lv), [
      "name",
      "id",
      "status",
      "flags",
      "creation_time",
      "creation_host",
      "segment_count",
      "segments",
    ]);
    assert.deepEqual(lv.status, ["READ", "WRITE", "VISIBLE"]);
    assert.deepEqual([lv.creation_time, lv.creation_host, lv.segment_count], [1700000001, "host1", 1]);
    assert.deepEqual(lv.segments, [
      { start_extent: 0, extent_count: 2, type: "striped", stripe_count: 1, stripes: ["pv0", 0] },
    ]);
    assert.deepEqual(r.messages, []);
  });

  test("a striped LV: stripe_size after stripe_count; sizes rounded with LVM2's messages", () => {
    const r = expectOk(makeVg([15, 23, 31]), (d) => create(d, "st", 10 * MiB, { stripes: 2 }));
    assert.deepEqual(r.messages, [
      "Using default stripesize 64.00 KiB.",
      "Rounding up size to full physical extent 12.00 MiB",
      "Rounding size 12.00 MiB (3 extents) up to stripe boundary size 16.00 MiB (4 extents).",
    ]);
    const seg = r.doc.vg.logical_volumes![0]!.segments[0]!;
    assert.deepEqual(Object.keys(seg), [
      "start_extent",
      "extent_count",
      "type",
      "stripe_count",
      "stripe_size",
      "stripes",
    ]);
    assert.deepEqual(segs(r.doc, "st"), [[0, 4, 2, "pv0", 0, "pv1", 0]]);
    assert.equal(seg.stripe_size, 128);
  });

  test("stripe size: power of 2 >= 4 KiB, cut to the extent size, ignored for one stripe", () => {
    const doc = makeVg([15, 23]);
    expectFail(doc, 2, (d) => create(d, "x", MiB * 8, { stripes: 2, stripeSize: 6 }));
    expectFail(doc, 2, (d) => create(d, "x", MiB * 8, { stripes: 2, stripeSize: 24 }));
    const big = expectOk(doc, (d) => create(d, "x", MiB * 8, { stripes: 2, stripeSize: 16 * MiB }));
    assert.deepEqual(big.messages, [
      "Reducing requested stripe size 16.00 MiB to maximum, physical extent size 4.00 MiB.",
    ]);
    assert.equal(big.doc.vg.logical_volumes![0]!.segments[0]!.stripe_size, 8192);
    const one = expectOk(doc, (d) => create(d, "x", MiB * 8, { stripes: 1, stripeSize: 128 }));
    assert.deepEqual(one.messages, ["Ignoring stripesize argument with single stripe."]);
    assert.equal(one.doc.vg.logical_volumes![0]!.segments[0]!.stripe_size, undefined);
  });

  test("errors: names (2, 5), sizes (2), stripes (2, 6), space (6), PVs (3)", () => {
    let doc = makeVg([15, 23]);
    doc = create(doc, "a", MiB * 4).doc;
    expectFail(doc, 5, (d) => create(d, "a", MiB * 4), /already exists/);
    for (const bad of ["snapshot1", "pvmove0", "x_mimage", "a b", "-a", "."])
      expectFail(doc, 2, (d) => create(d, bad, MiB * 4));
    expectFail(doc, 2, (d) => create(d, "z", 0), /may not be zero/);
    expectFail(doc, 2, (d) => create(d, "z", MiB * 4, { stripes: 0 }));
    expectFail(doc, 2, (d) => create(d, "z", MiB * 4, { stripes: 129 }));
    expectFail(doc, 6, (d) => create(d, "z", MiB * 4, { stripes: 3 }), /must not exceed/);
    expectFail(doc, 6, (d) => create(d, "z", MiB * 4 * 38), /insufficient free space \(37 extents\)/);
    expectFail(doc, 3, (d) => create(d, "z", MiB * 4, { on: ["/dev/nope"] }));
    expectFail(doc, 2, (d) => create(d, "z", MiB * 4, { on: ["/dev/fake0:5-2"] }), /PE range error/);
    expectFail(doc, 2, (d) => create(d, "z", MiB * 4, { on: ["/dev/fake0:0-3:2-5"] }), /overlapping/);
    expectFail(doc, 2, (d) => create(d, "z", MiB * 4, { on: ["/dev/fake0:"] }), /parsing error/);
    // 2 stripes on one PV only: LVM2 refuses (not enough PVs), exit 6.
    expectFail(doc, 6, (d) => create(d, "z", MiB * 8, { stripes: 2, on: ["/dev/fake0"] }));
  });

  test("--on: PV by path, name or UUID, with PE ranges, in the order given", () => {
    const doc = makeVg([15, 23]);
    const uuid = String(doc.vg.physical_volumes[1]!.id);
    for (const spec of ["/dev/fake1:3-5", "pv1:3-5", `${uuid}:3-5`, "pv1:3+3", "pv1:3-5:10-"]) {
      const r = expectOk(doc, (d) => create(d, "x", 3 * 4 * MiB, { on: [spec] }));
      assert.deepEqual(segs(r.doc, "x"), [[0, 3, 1, "pv1", 3]], spec);
    }
    const r = expectOk(doc, (d) => create(d, "x", 5 * 4 * MiB, { on: ["pv1:20-", "pv0:2-3"] }));
    assert.deepEqual(segs(r.doc, "x"), [
      [0, 3, 1, "pv1", 20],
      [3, 2, 1, "pv0", 2],
    ]);
    expectFail(doc, 6, (d) => create(d, "x", 4 * 4 * MiB, { on: ["pv1:20-"] }));
  });

  test("parsePeRanges: LVM2's forms", () => {
    const p = (t: string) => {
      const out: { start: number; count: number }[] = [];
      parsePeRanges(t, 100, "pv", out);
      return out.map((r) => [r.start, r.start + r.count - 1]);
    };
    assert.deepEqual(p(":5"), [[5, 5]]);
    assert.deepEqual(p(":5-9"), [[5, 9]]);
    assert.deepEqual(p(":5-"), [[5, 99]]);
    assert.deepEqual(p(":-9"), [[0, 9]]);
    assert.deepEqual(p(":5+3"), [[5, 7]]);
    assert.deepEqual(p(":1-2:10-12"), [
      [1, 2],
      [10, 12],
    ]);
    for (const bad of [":", "::", ":5x", ":9-5", ":50-100", "5"]) assert.throws(() => p(bad), bad);
  });

  test("a new visible LV goes after the visible ones (LVM2 writes hidden LVs last)", () => {
    let doc = makeVg([40]);
    doc = create(doc, "a", MiB * 4).doc;
    doc = create(doc, "b", MiB * 4).doc;
    doc.vg.logical_volumes![1]!.status = ["READ", "WRITE"];
    const r = expectOk(doc, (d) => create(d, "c", MiB * 4));
    assert.deepEqual(
      r.doc.vg.logical_volumes!.map((l) => l.name),
      ["a", "c", "b"],
    );
  });
});

describe("lv-extend, lv-reduce", () => {
  test("extending with +SIZE or to SIZE, with LVM2's messages; contiguous space merges into the last segment", () => {
    let doc = makeVg([15, 23, 31]);
    doc = create(doc, "c", 3 * 4 * MiB, { stripes: 3 }).doc;
    const r = expectOk(doc, (d) => lvExtend(d, { name: "c", size: { sectors: 5 * MiB, relative: true } }));
    assert.deepEqual(r.messages, [
      "Rounding size to boundary between physical extents: 8.00 MiB.",
      "Using stripesize of last segment 64.00 KiB",
      "Rounding size (5 extents) up to stripe boundary size for segment (6 extents).",
    ]);
    assert.deepEqual(segs(r.doc, "c"), [[0, 6, 3, "pv0", 0, "pv1", 0, "pv2", 0]]);
    const abs = expectOk(doc, (d) =>
      lvExtend(d, { name: "c", size: { sectors: 50 * MiB, relative: false } }),
    );
    assert.deepEqual(abs.messages.slice(0, 1), [
      "Rounding size to boundary between physical extents: 52.00 MiB.",
    ]);
    assert.equal(abs.doc.vg.logical_volumes![0]!.segments[0]!.extent_count, 15);
    expectFail(
      doc,
      2,
      (d) => lvExtend(d, { name: "c", size: { sectors: 12 * MiB, relative: false } }),
      /matches/,
    );
    expectFail(doc, 2, (d) => lvExtend(d, { name: "c", size: { sectors: 4 * MiB, relative: false } }));
    expectFail(doc, 2, (d) => lvExtend(d, { name: "c", size: { sectors: 0, relative: true } }));
    expectFail(doc, 3, (d) => lvExtend(d, { name: "nope", size: { sectors: MiB, relative: true } }));
    expectFail(doc, 6, (d) => lvExtend(d, { name: "c", size: { sectors: 300 * MiB, relative: true } }));
  });

  test("segments of different stripe counts need --stripes; with it, a new striped segment", () => {
    let doc = makeVg([15, 23]);
    doc = create(doc, "m", 4 * MiB).doc;
    doc = expectOk(doc, (d) =>
      lvExtend(d, { name: "m", size: { sectors: 8 * MiB, relative: true }, stripes: 2 }),
    ).doc;
    assert.deepEqual(segs(doc, "m"), [
      [0, 1, 1, "pv0", 0],
      [1, 2, 2, "pv0", 1, "pv1", 0],
    ]);
    expectFail(
      doc,
      2,
      (d) => lvExtend(d, { name: "m", size: { sectors: 4 * MiB, relative: true } }),
      /stripes/,
    );
    const r = expectOk(doc, (d) =>
      lvExtend(d, { name: "m", size: { sectors: 4 * MiB, relative: true }, stripes: 2 }),
    );
    assert.deepEqual(r.messages, [
      "Using stripesize of last segment 64.00 KiB",
      "Rounding size (4 extents) up to stripe boundary size for segment (5 extents).",
    ]);
    assert.deepEqual(segs(r.doc, "m"), [
      [0, 1, 1, "pv0", 0],
      [1, 4, 2, "pv0", 1, "pv1", 0],
    ]);
  });

  test("reducing: from the end, the cut segment keeps whole stripes", () => {
    let doc = makeVg([15, 23, 31]);
    doc = create(doc, "r", 4 * MiB).doc;
    doc = lvExtend(doc, { name: "r", size: { sectors: 32 * MiB, relative: true }, stripes: 2 }).doc;
    assert.deepEqual(segs(doc, "r"), [
      [0, 1, 1, "pv0", 0],
      [1, 8, 2, "pv0", 1, "pv1", 0],
    ]);
    const red = (sectors: number, relative: boolean) =>
      expectOk(doc, (d) => lvReduce(d, { name: "r", size: { sectors, relative } }));
    const r1 = red(16 * MiB, false);
    assert.deepEqual(r1.messages, [
      "Rounding size (4 extents) up to stripe boundary size for segment (5 extents).",
    ]);
    assert.deepEqual(segs(r1.doc, "r"), [
      [0, 1, 1, "pv0", 0],
      [1, 4, 2, "pv0", 1, "pv1", 0],
    ]);
    assert.deepEqual(segs(red(4 * MiB, false).doc, "r"), [[0, 1, 1, "pv0", 0]]);
    assert.deepEqual(segs(red(32 * MiB, true).doc, "r"), [[0, 1, 1, "pv0", 0]]);
    const r5 = red(5 * 4 * MiB + 1, true);
    assert.deepEqual(r5.messages, [
      "Rounding size to boundary between physical extents: 20.00 MiB.",
      "Rounding size (4 extents) up to stripe boundary size for segment (5 extents).",
    ]);
    expectFail(doc, 2, (d) => lvReduce(d, { name: "r", size: { sectors: MiB, relative: true } }), /matches/);
    expectFail(
      doc,
      2,
      (d) => lvReduce(d, { name: "r", size: { sectors: 4 * MiB, relative: true } }),
      /matches/,
    );
    expectFail(
      doc,
      2,
      (d) => lvReduce(d, { name: "r", size: { sectors: 36 * MiB, relative: true } }),
      /below 1/,
    );
    expectFail(doc, 2, (d) => lvReduce(d, { name: "r", size: { sectors: 40 * MiB, relative: false } }));
  });
});

describe("lv-remove, lv-rename, and LVs that cannot be changed", () => {
  test("remove frees the extents; rename checks the new name", () => {
    let doc = makeVg([10]);
    doc = create(doc, "a", 8 * MiB).doc;
    doc = create(doc, "b", 8 * MiB).doc;
    const rm = expectOk(doc, (d) => lvRemove(d, { name: "a" }));
    assert.deepEqual(
      rm.doc.vg.logical_volumes!.map((l) => l.name),
      ["b"],
    );
    const again = expectOk(rm.doc, (d) => lvRemove(d, { name: "b" }));
    assert.equal(again.doc.vg.logical_volumes, undefined);
    const rn = expectOk(doc, (d) => lvRename(d, { name: "a", newName: "c" }));
    assert.deepEqual(
      rn.doc.vg.logical_volumes!.map((l) => l.name),
      ["c", "b"],
    );
    expectFail(doc, 5, (d) => lvRename(d, { name: "a", newName: "b" }));
    expectFail(doc, 2, (d) => lvRename(d, { name: "a", newName: "a" }));
    expectFail(doc, 2, (d) => lvRename(d, { name: "a", newName: "snapshot" }));
    expectFail(doc, 3, (d) => lvRemove(d, { name: "zz" }));
  });

  test("unknown segment types survive untouched and are not editable (exit 2); LVs used by others: exit 5", () => {
    let doc = makeVg([20]);
    doc = create(doc, "data", 8 * MiB).doc;
    doc = create(doc, "origin", 8 * MiB).doc;
    const weird = {
      name: "weird",
      id: idGen("W")(),
      status: ["READ", "WRITE", "VISIBLE"],
      flags: [],
      segment_count: 1,
      segments: [
        { start_extent: 0, extent_count: 4, type: "frobnicate+NEW", some_key: "x", nested: { a: 1 } },
      ],
    };
    const snap = {
      name: "snapshot0",
      id: idGen("S")(),
      status: ["READ", "WRITE", "VISIBLE"],
      flags: [],
      segment_count: 1,
      segments: [
        {
          start_extent: 0,
          extent_count: 2,
          type: "snapshot",
          chunk_size: 8,
          origin: "origin",
          cow_store: "data",
        },
      ],
    };
    doc.vg.logical_volumes!.push(weird, snap);
    const r = expectOk(doc, (d) => create(d, "new", 4 * MiB));
    assert.deepEqual(
      r.doc.vg.logical_volumes!.find((l) => l.name === "weird"),
      weird,
    );
    const size = { sectors: 4 * MiB, relative: true };
    expectFail(doc, 2, (d) => lvExtend(d, { name: "weird", size }), /frobnicate/);
    expectFail(doc, 2, (d) => lvReduce(d, { name: "weird", size }));
    expectFail(doc, 2, (d) => lvRemove(d, { name: "weird" }));
    expectFail(doc, 2, (d) => lvRename(d, { name: "weird", newName: "w2" }));
    expectFail(doc, 5, (d) => lvRemove(d, { name: "origin" }), /used by snapshot0/);
    expectFail(doc, 5, (d) => lvExtend(d, { name: "data", size }));
  });

  test("a read-only or exported VG is not changed (5)", () => {
    const doc = makeVg([10]);
    doc.vg.status = ["RESIZEABLE", "READ"];
    expectFail(doc, 5, (d) => create(d, "a", MiB));
    doc.vg.status = ["EXPORTED", "RESIZEABLE", "READ", "WRITE"];
    expectFail(doc, 5, (d) => create(d, "a", MiB));
  });

  test("displaySize: LVM2's units", () => {
    assert.equal(displaySize(0), "0   ");
    assert.equal(displaySize(1), "512.00 B");
    assert.equal(displaySize(128), "64.00 KiB");
    assert.equal(displaySize(3 * 2048), "3.00 MiB");
    assert.equal(displaySize(3 * 1024), "1.50 MiB");
    assert.equal(displaySize(2 * 1024 * 1024 * 1024), "1.00 TiB");
  });
});
