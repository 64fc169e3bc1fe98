import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { VgDoc } from "../../src/lib/docs.js";
import { DvmError } from "../../src/lib/errors.js";
import { vgProblems } from "../../src/lvm2/validate.js";
import {
  allocate,
  type LvCreateOptions,
  lvCreate,
  lvExtend,
  lvReduce,
  lvRemove,
  type ManipResult,
} from "../../src/manip/index.js";
import { freeCount, idGen, lvSize, makeVg, segs } from "./helpers.ts";

const MiB = 2048;
const E = 4 * MiB; // one 4 MiB extent in sectors
const create = (doc: VgDoc, name: string, size: number, more: Partial<LvCreateOptions> = {}) =>
  lvCreate(doc, { name, size, time: 1, host: "h", newId: idGen(name), ...more }).doc;
const extend = (doc: VgDoc, name: string, sectors: number, more: { stripes?: number; on?: string[] } = {}) =>
  lvExtend(doc, { name, size: { sectors, relative: true }, ...more }).doc;

describe("the allocator picks LVM2 2.03.16's extents (cases recorded from LVM2)", () => {
  test("linear and striped creates, contiguous and spreading extends, a reduce and a re-extend", () => {
    // pv0 15, pv1 23, pv2 31 extents of 4 MiB: 64, 96 and 128 MiB loop devices.
    let doc = makeVg([15, 23, 31]);
    doc = create(doc, "a", 8 * MiB); // lvcreate -L 8m
    doc = create(doc, "b", 10 * MiB, { stripes: 2 }); // -L 10m -i2
    doc = create(doc, "c", 3 * E, { stripes: 3 }); // -l 3 -i3
    assert.deepEqual(segs(doc, "a"), [[0, 2, 1, "pv0", 0]]);
    assert.deepEqual(segs(doc, "b"), [[0, 4, 2, "pv0", 2, "pv1", 0]]);
    assert.deepEqual(segs(doc, "c"), [[0, 3, 3, "pv0", 4, "pv1", 2, "pv2", 0]]);
    doc = extend(doc, "c", 5 * MiB); // lvextend -L +5m: 6 extents
    doc = extend(doc, "c", E); // lvextend -l +1: 9 extents
    assert.deepEqual(segs(doc, "c"), [[0, 9, 3, "pv0", 4, "pv1", 2, "pv2", 0]]);
    doc = lvReduce(doc, { name: "a", size: { sectors: 3 * MiB, relative: false } }).doc; // -L 3m
    doc = lvExtend(doc, { name: "a", size: { sectors: 50 * MiB, relative: false } }).doc; // -L 50m
    assert.deepEqual(segs(doc, "a"), [
      [0, 2, 1, "pv0", 0],
      [2, 8, 1, "pv0", 7],
      [10, 3, 1, "pv1", 5],
    ]);
    doc = create(doc, "d", 2); // -L 1k
    doc = create(doc, "e", 8 * MiB, { stripes: 2, stripeSize: 8 * MiB }); // -i2 -I 8m
    doc = create(doc, "f", 8 * MiB, { stripes: 2, stripeSize: 8 }); // -i2 -I 4k
    doc = create(doc, "g", 8 * MiB, { stripes: 1, stripeSize: 128 }); // -i1 -I 64k
    assert.deepEqual(segs(doc, "d"), [[0, 1, 1, "pv1", 8]]);
    assert.deepEqual(segs(doc, "e"), [[0, 2, 2, "pv1", 9, "pv2", 3]]);
    assert.deepEqual(segs(doc, "f"), [[0, 2, 2, "pv1", 10, "pv2", 4]]);
    assert.deepEqual(segs(doc, "g"), [[0, 2, 1, "pv1", 11]]);
    doc = create(doc, "m", E); // -l 1
    doc = extend(doc, "m", 2 * E, { stripes: 2 }); // -i2 -l +2
    assert.deepEqual(segs(doc, "m"), [
      [0, 1, 1, "pv1", 13],
      [1, 2, 2, "pv1", 14, "pv2", 5],
    ]);
    doc = extend(doc, "m", E, { stripes: 2 }); // -i2 -l +1, rounded to 2
    doc = lvExtend(doc, { name: "m", size: { sectors: 8 * E, relative: false }, stripes: 2 }).doc; // -l 8 -> 9
    assert.deepEqual(segs(doc, "m"), [
      [0, 1, 1, "pv1", 13],
      [1, 8, 2, "pv1", 14, "pv2", 5],
    ]);
    assert.deepEqual(vgProblems(doc.vg), []);
  });

  test("a PV's smallest area that fits is preferred; failing that its largest; PV order breaks ties", () => {
    // pv0: free 0-3 (4), used 4-5, free 6-15 (10); pv1: 20 free.
    let doc = makeVg([16, 20]);
    doc = create(doc, "x", 4 * E, { on: ["pv0:0-3"] });
    doc = create(doc, "y", 2 * E, { on: ["pv0:4-5"] });
    doc = lvRemove(doc, { name: "x" }).doc;
    assert.deepEqual(segs(create(doc, "t", 3 * E), "t"), [[0, 3, 1, "pv0", 0]], "the 4-extent gap fits");
    assert.deepEqual(segs(create(doc, "t", 8 * E), "t"), [[0, 8, 1, "pv0", 6]], "the 10-extent area fits");
    assert.deepEqual(segs(create(doc, "t", 12 * E), "t"), [[0, 12, 1, "pv1", 0]], "only pv1 holds 12");
    assert.deepEqual(
      segs(create(doc, "t", 25 * E), "t"),
      [
        [0, 20, 1, "pv1", 0],
        [20, 5, 1, "pv0", 6],
      ],
      "the largest area first, then the rest",
    );
  });

  test("LVM2's list walk: a reserved area put back further down makes it skip a smaller area that fits", () => {
    // One PV of 63 1-MiB extents: free 0-7 and 9-18. LVM2 2.03.16 puts a 3-extent LV at 9, not at 0.
    let doc = makeVg([63], 2048);
    doc = create(doc, "k1", MiB, { on: ["pv0:8"] });
    doc = create(doc, "k2", 44 * MiB, { on: ["pv0:19-"] });
    assert.deepEqual(segs(create(doc, "q", 3 * MiB), "q"), [[0, 3, 1, "pv0", 9]]);
  });

  test("allocate() leaves the VG alone and reports runs per stripe", () => {
    const doc = makeVg([10, 10]);
    const before = structuredClone(doc);
    const runs = allocate({ vg: doc.vg, stripes: 2, extents: 6 });
    assert.deepEqual(runs, [
      {
        areaLen: 3,
        areas: [
          { pv: "pv0", pe: 0 },
          { pv: "pv1", pe: 0 },
        ],
      },
    ]);
    assert.deepEqual(doc, before);
    assert.throws(
      () => allocate({ vg: doc.vg, stripes: 3, extents: 3 }),
      (e: DvmError) => e.exitCode === 6,
    );
    assert.throws(
      () => allocate({ vg: doc.vg, stripes: 2, extents: 3 }),
      (e: DvmError) => e.exitCode === 2,
    );
  });
});

// ---------------------------------------------------------------- properties

type Op =
  | { kind: "create"; stripes: number; extents: number; on: number[] }
  | { kind: "extend"; lv: number; extents: number; on: number[] }
  | { kind: "reduce"; lv: number; extents: number }
  | { kind: "remove"; lv: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("create" as const),
    stripes: fc.integer({ min: 1, max: 4 }),
    extents: fc.integer({ min: 1, max: 40 }),
    on: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant("extend" as const),
    lv: fc.nat(),
    extents: fc.integer({ min: 1, max: 30 }),
    on: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant("reduce" as const), lv: fc.nat(), extents: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant("remove" as const), lv: fc.nat() }),
);

/** Invariants of every mutation: see each assert. */
function step(doc: VgDoc, op: Op, n: number): VgDoc {
  const lvs = doc.vg.logical_volumes ?? [];
  const lv = "lv" in op && lvs.length ? lvs[op.lv % lvs.length]! : undefined;
  if (op.kind !== "create" && !lv) return doc;
  const pvs = doc.vg.physical_volumes;
  const on = "on" in op ? [...new Set(op.on.filter((i) => i < pvs.length).map((i) => pvs[i]!.name))] : [];
  const snapshot = structuredClone(doc);
  const freeBefore = freeCount(doc);
  let r: ManipResult;
  try {
    if (op.kind === "create")
      r = lvCreate(doc, {
        name: `l${n}`,
        size: op.extents * E,
        stripes: op.stripes,
        on,
        time: 1,
        host: "h",
        newId: idGen(`L${n}`),
      });
    else if (op.kind === "extend")
      r = lvExtend(doc, { name: lv!.name, size: { sectors: op.extents * E, relative: true }, on });
    else if (op.kind === "reduce")
      r = lvReduce(doc, { name: lv!.name, size: { sectors: op.extents * E, relative: true } });
    else r = lvRemove(doc, { name: lv!.name });
  } catch (e) {
    assert.ok(e instanceof DvmError, String(e));
    assert.ok([2, 5, 6].includes(e.exitCode), `exit ${e.exitCode}: ${e.message}`);
    assert.deepEqual(doc, snapshot, "a failed mutation leaves its input untouched");
    if (op.kind === "create" && op.stripes === 1 && on.length === 0)
      assert.ok(freeBefore < op.extents, `linear create of ${op.extents} failed with ${freeBefore} free`);
    if (op.kind === "extend" && (lv!.segments.at(-1)!.stripe_count ?? 1) === 1 && on.length === 0)
      assert.ok(freeBefore < op.extents || e.exitCode !== 6, "linear extend fails only for lack of space");
    return doc;
  }
  const out = r.doc;
  assert.deepEqual(doc, snapshot, "the input document is unchanged");
  assert.equal(out.vg.seqno, doc.vg.seqno + 1);
  assert.deepEqual(vgProblems(out.vg), [], "sound metadata: no extent used twice, segments tile the LV");
  for (const l of out.vg.logical_volumes ?? [])
    for (const s of l.segments) {
      const names = (s.stripes ?? []).filter((_, i) => i % 2 === 0);
      assert.equal(new Set(names).size, names.length, `${l.name}: stripes of a segment on distinct PVs`);
    }
  const after = (name: string) => out.vg.logical_volumes?.find((l) => l.name === name);
  if (op.kind === "create") {
    const size = Math.ceil(op.extents / op.stripes) * op.stripes;
    assert.equal(lvSize(after(`l${n}`)!), size, "LV size = requested, rounded to the stripes");
    assert.equal(freeCount(out), freeBefore - size, "free space accounting");
    if (on.length) {
      const allowed = new Set(on);
      for (const s of after(`l${n}`)!.segments)
        for (const [i, v] of (s.stripes ?? []).entries()) if (i % 2 === 0) assert.ok(allowed.has(String(v)));
    }
  } else if (op.kind === "extend") {
    const stripes =
      out.vg.logical_volumes!.find((l) => l.name === lv!.name)!.segments.at(-1)!.stripe_count ?? 1;
    const grown = lvSize(after(lv!.name)!) - lvSize(lv!);
    assert.equal(grown, Math.ceil(op.extents / stripes) * stripes);
    assert.equal(freeCount(out), freeBefore - grown);
  } else if (op.kind === "reduce") {
    const shrunk = lvSize(lv!) - lvSize(after(lv!.name)!);
    assert.ok(shrunk > 0 && shrunk <= op.extents);
    assert.equal(freeCount(out), freeBefore + shrunk);
  } else {
    assert.equal(after(lv!.name), undefined);
    assert.equal(freeCount(out), freeBefore + lvSize(lv!));
  }
  return out;
}

describe("allocator properties", () => {
  test("random VGs and op sequences keep every invariant", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 5 }),
        fc.array(opArb, { minLength: 1, maxLength: 25 }),
        (pes, ops) => {
          let doc = makeVg(pes);
          ops.forEach((op, i) => {
            doc = step(doc, op, i);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("--on with PE ranges: only extents inside the ranges are used", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 1, max: 60 }),
        (pe, a, b, want) => {
          const [lo, hi] = [Math.min(a, b), Math.max(a, b)];
          if (hi >= pe) return;
          const doc = makeVg([pe, 30]);
          try {
            const out = lvCreate(doc, {
              name: "x",
              size: want * E,
              on: [`pv0:${lo}-${hi}`],
              time: 1,
              host: "h",
              newId: idGen(),
            }).doc;
            assert.ok(want <= hi - lo + 1);
            for (const s of out.vg.logical_volumes![0]!.segments) {
              assert.equal(s.stripes![0], "pv0");
              assert.ok(Number(s.stripes![1]) >= lo && Number(s.stripes![1]) + s.extent_count - 1 <= hi);
            }
          } catch (e) {
            assert.equal((e as DvmError).exitCode, 6);
            assert.ok(want > hi - lo + 1);
          }
        },
      ),
    );
  });
});
