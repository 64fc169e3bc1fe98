import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { desiredState } from "../../src/activate/index.js";
import { parseInterval } from "../../src/cli/dvm-poll.js";
import { type MirrorTarget, printTarget } from "../../src/dm/target.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { Exit } from "../../src/lib/errors.js";
import { lvCreate, pvmoveStart } from "../../src/manip/index.js";
import { pvmoveCheckpoint, pvmoveFinish } from "../../src/manip/pvmove.js";
import { percent, progressLine, pvmoveProgress } from "../../src/poll/pvmove.js";
import { expectFail, expectOk, idGen, makeVg } from "../manip/helpers.ts";

/** A VG mid-move: lvA (2 segments) and lvB on pv0, moving to pv1: a layer of three segments. */
function midMove(): VgDoc {
  let d = makeVg([16, 16], 8192, "vgp");
  const mk = (name: string, on: string) =>
    (d = lvCreate(d, { name, size: 2 * 8192, time: 1, host: "h", newId: idGen(name), on: [on] }).doc);
  mk("lvA", "pv0:0-1");
  mk("lvB", "pv0:2-3");
  d = lvCreate(d, {
    name: "lvC",
    size: 2 * 8192,
    time: 1,
    host: "h",
    newId: idGen("C"),
    on: ["pv0:4-5"],
  }).doc;
  const out = pvmoveStart(d, { source: "pv0", time: 2, host: "h", newId: idGen("M") }).doc;
  // Where the PVs are, as dvm-tm read says: activation names them by path.
  out.pv_devices = out.vg.physical_volumes.map((pv) => ({
    pv_uuid: String(pv.id),
    path: String(pv.device),
    size_bytes: 64 << 20,
    mdas: [],
  }));
  return out;
}
const layerOf = (d: VgDoc) => d.vg.logical_volumes!.find((l) => l.name === "pvmove0")!;

/** The status text of the layer's live table, with the running mirror at `inSync` of its regions. */
function statusOf(d: VgDoc, inSync: number): string {
  const st = desiredState(d, ["pvmove0"]);
  const dev = st.devices.find((x) => x.name === "vgp-pvmove0")!;
  return dev
    .table!.map((t) => {
      if (t.type !== "mirror") return `${t.start_sectors} ${t.length_sectors} ${t.type} `;
      const total = Math.ceil(t.length_sectors / (t as MirrorTarget).log.region_sectors);
      return `${t.start_sectors} ${t.length_sectors} mirror 2 7:0 7:1 ${Math.min(inSync, total)}/${total} 1 AA 1 core`;
    })
    .join("\n");
}

describe("pvmove progress", () => {
  test("from the checkpoints in the metadata and the running mirror's regions", () => {
    let d = midMove();
    const layer = layerOf(d);
    const total = layer.segments.reduce((n, s) => n + s.extent_count, 0);
    assert.equal(total, 6);
    let p = pvmoveProgress(d, layer, statusOf(d, 0));
    assert.deepEqual([p.extents_done, p.running_in_sync, p.all_copied], [0, false, false]);
    assert.equal(p.display, "/dev/fake0");
    assert.equal(progressLine(p), "  /dev/fake0: Moved: 0.00%");
    // The running segment (2 extents of 4 MiB, 4 regions of 2 MiB) half in sync: 1 of 6 extents.
    p = pvmoveProgress(d, layer, statusOf(d, 2));
    assert.equal(p.extents_done, 1);
    assert.equal(progressLine(p), "  /dev/fake0: Moved: 16.67%");
    p = pvmoveProgress(d, layer, statusOf(d, 99));
    assert.equal(p.running_in_sync, true);
    // Checkpointed: that segment counts as copied; the next one runs from 0.
    d = pvmoveCheckpoint(d, {}).doc;
    p = pvmoveProgress(d, layerOf(d), statusOf(d, 0));
    assert.deepEqual([p.extents_done, p.running_in_sync, p.all_copied], [2, false, false]);
    d = pvmoveCheckpoint(d, {}).doc;
    d = pvmoveCheckpoint(d, {}).doc;
    p = pvmoveProgress(d, layerOf(d), statusOf(d, 0));
    assert.deepEqual([p.extents_done, p.all_copied, percent(p)], [6, true, 100]);
  });

  test("no status (layer not active): only the checkpoints count", () => {
    const d = pvmoveCheckpoint(midMove(), {}).doc;
    const p = pvmoveProgress(d, layerOf(d), null);
    assert.deepEqual([p.extents_done, p.running_in_sync], [2, false]);
  });
});

describe("pvmove-checkpoint", () => {
  test("marks the first segment not copied as copied; the layer's table moves on", () => {
    const d = midMove();
    const mirrorAt = (x: VgDoc) =>
      desiredState(x, ["pvmove0"])
        .devices.find((v) => v.name === "vgp-pvmove0")!
        .table!.map((t) => t.type);
    assert.deepEqual(mirrorAt(d), ["mirror", "linear", "linear"]);
    const r = expectOk(d, (x) => pvmoveCheckpoint(x, { target: "pvmove0" }));
    const segs = layerOf(r.doc).segments;
    assert.deepEqual(
      segs.map((s) => s.extents_moved),
      [segs[0]!.extent_count, 0, 0],
    );
    assert.deepEqual(mirrorAt(r.doc), ["linear", "mirror", "linear"]);
    // The copied segment now maps to the destination (pv1), the others still to the source.
    const table = desiredState(r.doc, ["pvmove0"]).devices.find((v) => v.name === "vgp-pvmove0")!.table!;
    assert.match(printTarget(table[0]!), /fake1/);
    assert.match(printTarget(table[2]!), /fake0/);
  });

  test("with every segment copied it refuses (finish instead); no move: not found", () => {
    let d = midMove();
    for (let i = 0; i < 3; i++) d = pvmoveCheckpoint(d, {}).doc;
    expectFail(d, Exit.conflict, (x) => pvmoveCheckpoint(x, {}), /finish/);
    const done = pvmoveFinish(d, {}).doc;
    expectFail(done, Exit.notFound, (x) => pvmoveCheckpoint(x, {}), /no pvmove/);
  });
});

describe("poll intervals", () => {
  test("seconds, +N waits first, LVM2's trailing junk ignored, junk refused", () => {
    assert.deepEqual(parseInterval(undefined), { seconds: 15, waitFirst: false });
    assert.deepEqual(parseInterval("0.5"), { seconds: 0.5, waitFirst: false });
    assert.deepEqual(parseInterval("+3"), { seconds: 3, waitFirst: true });
    assert.deepEqual(parseInterval("5x"), { seconds: 5, waitFirst: false });
    assert.throws(() => parseInterval("abc"), /interval/);
  });
});
