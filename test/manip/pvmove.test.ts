import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { VgDoc } from "../../src/lib/docs.js";
import { DvmError } from "../../src/lib/errors.js";
import { adjustedRegionSize } from "../../src/lvm2/mirror.js";
import { vgProblems } from "../../src/lvm2/validate.js";
import { parseVgText, printVgText, type VgMeta } from "../../src/lvm2/vg.js";
import {
  type LvCreateOptions,
  lvCreate,
  lvExtend,
  lvRemove,
  type PvmoveStartOptions,
  pvmoveAbort,
  pvmoveFinish,
  pvmoveStart,
} from "../../src/manip/index.js";
import { expectFail, expectOk, idGen, lvSize, makeVg, segs } from "./helpers.ts";

/**
 * pvmove-start / -finish / -abort. The fixed cases are LVM2 2.03.16's own
 * results, recorded in a VM with a real device-mapper (pvmove -b, then
 * pvck --dump metadata / vgcfgbackup): the same VG built here with the
 * mutators must come out with the same metadata.
 */

const MiB = 2048;
const create = (doc: VgDoc, name: string, extents: number, more: Partial<LvCreateOptions> = {}) =>
  lvCreate(doc, {
    name,
    size: extents * doc.vg.extent_size,
    time: 1,
    host: "h",
    newId: idGen(name),
    ...(more.stripes && more.stripes > 1 ? { stripeSize: 128 } : {}),
    ...more,
  }).doc;
const start = (doc: VgDoc, source: string, more: Partial<PvmoveStartOptions> = {}) =>
  pvmoveStart(doc, { source, time: 1700000100, host: "mover", newId: idGen("M"), ...more });
const lvOf = (doc: VgDoc, name: string) => doc.vg.logical_volumes!.find((l) => l.name === name)!;
const mirrors = (doc: VgDoc, name = "pvmove0") =>
  lvOf(doc, name).segments.map((s) => [
    s.start_extent,
    s.extent_count,
    ...(s.mirrors as (string | number)[]),
  ]);

/** LVM2's scenario: 1 MiB extents, PVs of 31 extents; lvA has two segments on pv0, lvC is striped over pv0 and pv2. */
function scenarioA(): VgDoc {
  let d = makeVg([31, 31, 31], MiB, "vgx");
  d = create(d, "lvA", 2, { on: ["pv0:0-1"] });
  d = create(d, "lvB", 2, { on: ["pv0:2-3"] });
  d = lvExtend(d, { name: "lvA", size: { sectors: 2 * MiB, relative: true }, on: ["pv0:6-7"] }).doc;
  d = create(d, "lvC", 4, { on: ["pv0:4-5", "pv2:0-1"], stripes: 2 });
  d = create(d, "lvD", 3, { on: ["pv1:0-2"] });
  d = create(d, "lvE", 2, { on: ["pv2:2-3"] });
  return d;
}

describe("pvmove-start writes what LVM2 2.03.16 writes", () => {
  test("scenario A: one mirror segment per moved area, in VG order; stripes avoid their segment's PVs", () => {
    const d = scenarioA();
    assert.deepEqual(segs(d, "lvA"), [
      [0, 2, 1, "pv0", 0],
      [2, 2, 1, "pv0", 6],
    ]);
    const r = expectOk(d, (x) => start(x, "pv0"));
    const o = r.doc;
    // LVM2: lvA's two segments, lvB, then lvC's stripe 0; destinations pv1:3, 5, 7, 9 (lvC may not use pv2).
    assert.deepEqual(mirrors(o), [
      [0, 2, "pv0", 0, "pv1", 3],
      [2, 2, "pv0", 6, "pv1", 5],
      [4, 2, "pv0", 2, "pv1", 7],
      [6, 2, "pv0", 4, "pv1", 9],
    ]);
    assert.deepEqual(segs(o, "lvA"), [
      [0, 2, 1, "pvmove0", 0],
      [2, 2, 1, "pvmove0", 2],
    ]);
    assert.deepEqual(segs(o, "lvB"), [[0, 2, 1, "pvmove0", 4]]);
    assert.deepEqual(segs(o, "lvC"), [[0, 4, 2, "pvmove0", 6, "pv2", 0]]);
    for (const n of ["lvA", "lvB", "lvC"])
      assert.deepEqual(lvOf(o, n).status, ["READ", "WRITE", "VISIBLE", "LOCKED"], n);
    for (const n of ["lvD", "lvE"]) assert.deepEqual(lvOf(o, n), lvOf(d, n), `${n} untouched`);
    assert.deepEqual(o.vg.status, d.vg.status, "no VG flag (LVM2 no longer sets PVMOVE)");
    assert.equal(o.vg.logical_volumes!.at(-1)!.name, "pvmove0", "the hidden layer comes last");
  });

  test("the layer's text is LVM2's, key for key (on-disk form)", () => {
    const r = start(scenarioA(), "pv0");
    const text = printVgText({ vg: r.doc.vg, top: {} });
    const at = text.indexOf("pvmove0 {");
    const section = text.slice(at, text.indexOf("\nsegment2 {", at));
    assert.equal(
      section,
      [
        "pvmove0 {",
        `id = "${lvOf(r.doc, "pvmove0").id}"`,
        'status = ["READ", "WRITE", "PVMOVE", "LOCKED"]',
        "flags = []",
        "creation_time = 1700000100",
        'creation_host = "mover"',
        'allocation_policy = "contiguous"',
        "segment_count = 4",
        "",
        "segment1 {",
        "start_extent = 0",
        "extent_count = 2",
        "",
        'type = "mirror"',
        "mirror_count = 2",
        "extents_moved = 0",
        "region_size = 4096",
        "",
        "mirrors = [",
        '"pv0", 0,',
        '"pv1", 3',
        "]",
        "}",
      ].join("\n"),
    );
    // The text reads back to the same document.
    const full = printVgText({ vg: r.doc.vg, top: { contents: "Text Format Volume Group", version: 1 } });
    assert.deepEqual(parseVgText(full).vg, r.doc.vg);
  });

  test("finish: LVM2's final metadata (lvA's two pieces are adjacent on pv1: merged)", () => {
    const s = start(scenarioA(), "pv0").doc;
    const f = expectOk(s, (x) => pvmoveFinish(x)).doc;
    assert.deepEqual(segs(f, "lvA"), [[0, 4, 1, "pv1", 3]]);
    assert.deepEqual(segs(f, "lvB"), [[0, 2, 1, "pv1", 7]]);
    assert.deepEqual(segs(f, "lvC"), [[0, 4, 2, "pv1", 9, "pv2", 0]]);
    for (const n of ["lvA", "lvB", "lvC"]) assert.deepEqual(lvOf(f, n).status, ["READ", "WRITE", "VISIBLE"]);
    assert.equal(
      f.vg.logical_volumes!.find((l) => l.name === "pvmove0"),
      undefined,
    );
  });

  test("abort: copied segments stay on the destination (LVM2's abort), the rest go back", () => {
    const s = start(scenarioA(), "pv0").doc;
    // LVM2's poller recorded the first segment as copied (what the VM showed).
    const mid = structuredClone(s);
    lvOf(mid, "pvmove0").segments[0]!.extents_moved = 2;
    const a = expectOk(mid, (x) => pvmoveAbort(x)).doc;
    assert.deepEqual(segs(a, "lvA"), [
      [0, 2, 1, "pv1", 3],
      [2, 2, 1, "pv0", 6],
    ]);
    assert.deepEqual(segs(a, "lvB"), [[0, 2, 1, "pv0", 2]]);
    // Nothing copied yet: exactly the original LVs.
    const back = expectOk(s, (x) => pvmoveAbort(x)).doc;
    assert.deepEqual(back.vg.logical_volumes, scenarioA().vg.logical_volumes);
  });

  test("a destination in pieces splits the layer segment and the LV segment above it", () => {
    let d = makeVg([31, 31, 31, 31], MiB, "vgz");
    d = create(d, "fillB", 27, { on: ["pv1"] });
    d = create(d, "fillC", 28, { on: ["pv2"] });
    d = create(d, "fillD", 31, { on: ["pv3"] });
    d = create(d, "lvS", 5, { on: ["pv0:0-4"] });
    d = create(d, "lvT", 2, { on: ["pv0:5-6"] });
    const o = expectOk(d, (x) => start(x, "pv0")).doc;
    assert.deepEqual(mirrors(o), [
      [0, 4, "pv0", 0, "pv1", 27],
      [4, 1, "pv0", 4, "pv2", 28],
      [5, 2, "pv0", 5, "pv2", 29],
    ]);
    assert.deepEqual(segs(o, "lvS"), [
      [0, 4, 1, "pvmove0", 0],
      [4, 1, 1, "pvmove0", 4],
    ]);
    assert.deepEqual(segs(o, "lvT"), [[0, 2, 1, "pvmove0", 5]]);
    // Aborted: the split halves are adjacent on pv0 again, and merged.
    assert.deepEqual(pvmoveAbort(o).doc.vg.logical_volumes, d.vg.logical_volumes);
  });

  test("no room once the striped LV's other PV is ruled out: exit 6 with LVM2's message", () => {
    let d = makeVg([31, 31, 31, 31], MiB, "vgy");
    d = create(d, "fillB", 27, { on: ["pv1"] });
    d = create(d, "fillC", 28, { on: ["pv2"] });
    d = create(d, "lvS", 5, { on: ["pv0:0-4"] });
    d = create(d, "lvT", 2, { on: ["pv0:5-6"] });
    d = create(d, "lvU", 4, { on: ["pv0:10-11", "pv3:29-30"], stripes: 2 });
    d = create(d, "fillD", 27, { on: ["pv3:0-26"] });
    expectFail(
      d,
      6,
      (x) => start(x, "pv0"),
      /^insufficient suitable allocatable extents for logical volume : 2 more required$/,
    );
  });

  test("the region size written is LVM2's default, 2 MiB, whatever the layer's size (LVM2 in a VM: 7 extents of 1 MiB)", () => {
    let d = makeVg([20, 20], 1024, "vgr");
    d = create(d, "a", 3, { on: ["pv0"] });
    assert.equal(lvOf(start(d, "pv0").doc, "pvmove0").segments[0]!.region_size, 4096);
    assert.equal(lvOf(start(d, "pv0", { regionSize: 1024 }).doc, "pvmove0").segments[0]!.region_size, 1024);
    // The running segment's table cuts it (adjusted_mirror_region_size): to a power-of-two number of extents.
    assert.equal(adjustedRegionSize(2048, 8, 4096), 4096);
    assert.equal(adjustedRegionSize(8192, 1, 4096), 4096);
    assert.equal(adjustedRegionSize(1024, 1, 4096), 1024);
    assert.equal(adjustedRegionSize(1024, 6, 4096), 2048);
    assert.equal(adjustedRegionSize(2048, 3, 4096), 2048);
  });
});

describe("pvmove-start options", () => {
  test("destination PVs restrict the allocation, in the order given; the source is never one", () => {
    let d = makeVg([10, 10, 10, 10]);
    d = create(d, "a", 3, { on: ["pv0"] });
    const o = start(d, "pv0", { dest: ["pv0", "pv3", "pv2"] }).doc;
    assert.deepEqual(mirrors(o), [[0, 3, "pv0", 0, "pv3", 0]]);
    const ranged = start(d, "pv0", { dest: ["pv2:4-9"] }).doc;
    assert.deepEqual(mirrors(ranged), [[0, 3, "pv0", 0, "pv2", 4]]);
    expectFail(d, 6, (x) => start(x, "pv0", { dest: ["pv0"] }), /No extents available/);
    expectFail(d, 6, (x) => start(x, "pv0", { dest: ["pv1:0-1"] }), /insufficient/);
  });

  test("--lv moves only that LV; the others stay, unlocked", () => {
    let d = makeVg([10, 10]);
    d = create(d, "a", 2, { on: ["pv0"] });
    d = create(d, "b", 2, { on: ["pv0"] });
    const o = expectOk(d, (x) => start(x, "pv0", { lv: "b" })).doc;
    assert.deepEqual(mirrors(o), [[0, 2, "pv0", 2, "pv1", 0]]);
    assert.deepEqual(lvOf(o, "a"), lvOf(d, "a"));
    assert.deepEqual(lvOf(o, "b").status, ["READ", "WRITE", "VISIBLE", "LOCKED"]);
  });

  test("source PE ranges: segments are cut at the ranges' ends and only the inside moves", () => {
    let d = makeVg([10, 10]);
    d = create(d, "a", 6, { on: ["pv0"] });
    const o = expectOk(d, (x) => start(x, "pv0:2-3")).doc;
    assert.deepEqual(segs(o, "a"), [
      [0, 2, 1, "pv0", 0],
      [2, 2, 1, "pvmove0", 0],
      [4, 2, 1, "pv0", 4],
    ]);
    assert.deepEqual(mirrors(o), [[0, 2, "pv0", 2, "pv1", 0]]);
    assert.deepEqual(segs(pvmoveFinish(o).doc, "a"), [
      [0, 2, 1, "pv0", 0],
      [2, 2, 1, "pv1", 0],
      [4, 2, 1, "pv0", 4],
    ]);
    assert.deepEqual(pvmoveAbort(o).doc.vg.logical_volumes, d.vg.logical_volumes);
  });

  test("the PV may be named by device path or UUID; the next name is one above the highest pvmove<N>", () => {
    let d = makeVg([10, 10]);
    d = create(d, "a", 2, { on: ["pv0"] });
    const byPath = start(d, "/dev/fake0").doc;
    assert.equal(mirrors(byPath)[0]![2], "pv0");
    const byId = start(d, d.vg.physical_volumes[0]!.id).doc;
    assert.equal(mirrors(byId)[0]![2], "pv0");
    const old = structuredClone(d);
    old.vg.historical_logical_volumes = [{ name: "pvmove4", id: d.vg.id }];
    assert.ok(lvOf(start(old, "pv0").doc, "pvmove5"));
  });
});

describe("pvmove refusals leave the document as it was", () => {
  let d = makeVg([10, 10, 10]);
  d = create(d, "a", 2, { on: ["pv0"] });
  d = create(d, "b", 2, { on: ["pv1"] });

  test("a PV that is not in the VG: exit 3", () => {
    expectFail(d, 3, (x) => start(x, "/dev/nowhere"), /not found/);
  });
  test("a missing source PV: exit 4", () => {
    const x = structuredClone(d);
    x.vg.physical_volumes[0]!.flags = ["MISSING"];
    expectFail(x, 4, (y) => start(y, "pv0"), /missing/);
  });
  test("nothing to move: exit 2", () => {
    expectFail(d, 2, (x) => start(x, "pv2"), /No data to move for vg0/);
  });
  test("--lv naming an LV not on the source: exit 2; an unknown LV: exit 3", () => {
    expectFail(d, 2, (x) => start(x, "pv0", { lv: "b" }), /no extents on/);
    expectFail(d, 3, (x) => start(x, "pv0", { lv: "zz" }), /not found/);
  });
  test("a pvmove in progress: exit 5, for a new start; finish/abort without one: exit 3", () => {
    const s = start(d, "pv0").doc;
    expectFail(s, 5, (x) => start(x, "pv1"), /already in progress/);
    expectFail(d, 3, (x) => pvmoveFinish(x), /no pvmove in progress/);
    expectFail(d, 3, (x) => pvmoveAbort(x, { target: "pv1" }), /no pvmove in progress/);
    expectFail(s, 2, (x) => pvmoveFinish(x, { target: "a" }), /not a pvmove/);
    assert.ok(pvmoveFinish(s, { target: "pv0" }));
    assert.ok(pvmoveFinish(s, { target: "pvmove0" }));
  });
  test("the moved LVs are on the layer: lv-remove and lv-extend refuse them", () => {
    const s = start(d, "pv0").doc;
    expectFail(s, 2, (x) => lvRemove(x, { name: "a" }), /pvmove0/);
    expectFail(s, 2, (x) => lvExtend(x, { name: "a", size: { sectors: 8192, relative: true } }), /pvmove0/);
  });
  test("LVs other LVs use are skipped (with LVM2-like messages), and named ones refused", () => {
    const x = structuredClone(d);
    x.vg.logical_volumes!.push({
      name: "snapshot0",
      id: d.vg.id,
      status: ["READ", "WRITE"],
      flags: [],
      segment_count: 1,
      segments: [
        { start_extent: 0, extent_count: 2, type: "snapshot", chunk_size: 8, origin: "a", cow_store: "b" },
      ],
    });
    expectFail(x, 2, (y) => start(y, "pv0"), /No data to move/);
    expectFail(x, 2, (y) => start(y, "pv0", { lv: "a" }), /used by snapshot0/);
  });
});

// ---------------------------------------------------------------- properties

/** An LV's extents as rows (one per area offset, one PV extent per stripe), through the layer's leg `leg`. */
function rows(vg: VgMeta, name: string, leg: 0 | 1): string[] {
  const byName = new Map((vg.logical_volumes ?? []).map((l) => [l.name, l]));
  const through = (area: string, at: number): string => {
    const sub = byName.get(area);
    if (!sub) return `${area}:${at}`;
    const s = sub.segments.find((x) => x.start_extent <= at && at < x.start_extent + x.extent_count)!;
    const m = s.mirrors as (string | number)[];
    return `${m[2 * leg]}:${(m[2 * leg + 1] as number) + at - s.start_extent}`;
  };
  const out: string[] = [];
  for (const s of [...byName.get(name)!.segments].sort((a, b) => a.start_extent - b.start_extent)) {
    const st = s.stripes as (string | number)[];
    const n = st.length / 2;
    for (let j = 0; j < s.extent_count / n; j++)
      out.push(
        Array.from({ length: n }, (_, k) => through(st[2 * k] as string, (st[2 * k + 1] as number) + j)).join(
          " ",
        ),
      );
  }
  return out;
}

const lvSpec = fc.record({
  extents: fc.integer({ min: 1, max: 12 }),
  stripes: fc.integer({ min: 1, max: 3 }),
  on: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
});

describe("pvmove properties", () => {
  test("start, then finish or abort: sound metadata at each step, sizes kept, extents where they must be", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 4, max: 30 }), { minLength: 2, maxLength: 5 }),
        fc.array(lvSpec, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 4 }),
        fc.option(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 })),
        fc.option(fc.integer({ min: 0, max: 7 })),
        fc.array(fc.boolean(), { maxLength: 20 }),
        (pes, specs, srcIx, destIx, lvIx, copiedFlags) => {
          let doc = makeVg(pes, MiB);
          const pvName = (i: number) => `pv${i % pes.length}`;
          specs.forEach((sp, i) => {
            try {
              doc = create(doc, `l${i}`, sp.extents, {
                stripes: Math.min(sp.stripes, pes.length),
                on: [...new Set(sp.on.map(pvName))],
              });
            } catch (e) {
              assert.ok(e instanceof DvmError);
            }
          });
          const lvNames = (doc.vg.logical_volumes ?? []).map((l) => l.name);
          // Mostly a PV that holds data, and an LV on it (the refusals have their own tests).
          const on = (lv: string, pv: string) => lvOf(doc, lv).segments.some((x) => x.stripes?.includes(pv));
          const busy = pes.map((_, i) => pvName(i)).filter((pv) => lvNames.some((n) => on(n, pv)));
          const src = busy.length && srcIx < 4 ? busy[srcIx % busy.length]! : pvName(srcIx);
          const opts: Partial<PvmoveStartOptions> = {};
          if (destIx) opts.dest = [...new Set(destIx.map(pvName))];
          const here = lvNames.filter((n) => on(n, src));
          if (lvIx !== null && here.length) opts.lv = here[lvIx % here.length];
          const before = structuredClone(doc);
          let s: VgDoc;
          try {
            s = start(doc, src, opts).doc;
          } catch (e) {
            assert.ok(e instanceof DvmError, String(e));
            assert.ok([2, 6].includes(e.exitCode), `exit ${e.exitCode}: ${e.message}`);
            assert.deepEqual(doc, before, "a refused start leaves its input untouched");
            return;
          }
          assert.deepEqual(doc, before, "start does not change its input");
          assert.deepEqual(vgProblems(s.vg), [], "start: sound, no extent used twice");
          const layer = lvOf(s, "pvmove0");
          const moved = new Set(
            (s.vg.logical_volumes ?? [])
              .filter((l) => l.status.includes("LOCKED") && l !== layer)
              .map((l) => l.name),
          );
          assert.ok(moved.size > 0);
          if (opts.lv) assert.deepEqual([...moved], [opts.lv]);
          for (const seg of layer.segments) {
            const m = seg.mirrors as (string | number)[];
            assert.equal(m[0], src);
            assert.notEqual(m[2], src);
            if (opts.dest) assert.ok(opts.dest.includes(m[2] as string), `dest ${m[2]} in ${opts.dest}`);
          }
          for (const name of lvNames) {
            assert.equal(lvSize(lvOf(s, name)), lvSize(lvOf(doc, name)), `${name}: same size`);
            // Through the source leg, every LV still maps to exactly its old extents.
            assert.deepEqual(rows(s.vg, name, 0), rows(doc.vg, name, 0), `${name} through the source leg`);
            const r1 = rows(s.vg, name, 1);
            // No two stripes of one row on one PV through the destination leg either.
            for (const row of r1) {
              const pvs = row.split(" ").map((x) => x.split(":")[0]);
              assert.equal(new Set(pvs).size, pvs.length, `${name}: stripes apart: ${row}`);
            }
          }

          // Finish: the destination leg becomes the LVs' extents.
          const sSnap = structuredClone(s);
          const f = pvmoveFinish(s).doc;
          assert.deepEqual(s, sSnap, "finish does not change its input");
          assert.deepEqual(vgProblems(f.vg), [], "finish: sound");
          assert.equal(f.vg.seqno, s.vg.seqno + 1);
          assert.ok(
            !(f.vg.logical_volumes ?? []).some((l) => l.name === "pvmove0" || l.status.includes("LOCKED")),
          );
          for (const name of lvNames) {
            assert.equal(lvSize(lvOf(f, name)), lvSize(lvOf(doc, name)));
            assert.deepEqual(rows(f.vg, name, 0), rows(s.vg, name, 1), `${name} on the destination`);
            if (moved.has(name) && !opts.dest?.includes(src))
              assert.ok(!rows(f.vg, name, 0).some((r) => r.split(" ").some((x) => x.startsWith(`${src}:`))));
            if (!moved.has(name)) assert.deepEqual(lvOf(f, name), lvOf(doc, name));
          }

          // Abort: the original allocation, exactly.
          const a = pvmoveAbort(s).doc;
          assert.deepEqual(s, sSnap, "abort does not change its input");
          assert.deepEqual(vgProblems(a.vg), [], "abort: sound");
          assert.deepEqual(a.vg.logical_volumes, doc.vg.logical_volumes, "abort gives back the original LVs");

          // Abort after some segments were recorded as copied: those on the destination, the rest at the source.
          const mid = structuredClone(s);
          const segsOfLayer = lvOf(mid, "pvmove0").segments;
          segsOfLayer.forEach((seg, i) => {
            if (copiedFlags[i]) seg.extents_moved = seg.extent_count;
          });
          const am = pvmoveAbort(mid).doc;
          assert.deepEqual(vgProblems(am.vg), [], "partial abort: sound");
          const pick = (name: string) => {
            // Expected rows: per extent, the leg its layer segment resolves to.
            const copy = structuredClone(mid.vg);
            for (const seg of lvOf({ ...mid, vg: copy }, "pvmove0").segments)
              if (seg.extents_moved !== seg.extent_count) {
                const m = seg.mirrors as (string | number)[];
                seg.mirrors = [m[0]!, m[1]!, m[0]!, m[1]!];
              }
            return rows(copy, name, 1);
          };
          for (const name of lvNames)
            assert.deepEqual(rows(am.vg, name, 0), pick(name), `${name} after a partial abort`);
        },
      ),
      { numRuns: 300 },
    );
  });
});
