import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { VgDoc } from "../../src/lib/docs.js";
import { checkDoc } from "../../src/lib/schema.js";
import { vgProblems } from "../../src/lvm2/validate.js";
import { lvCreate } from "../../src/manip/index.js";
import { run } from "../helpers.ts";
import { idGen, makeVg, segs } from "./helpers.ts";

/** dvm-manip pvmove-start | pvmove-finish | pvmove-abort as a process. */

const manip = (args: string[], doc: VgDoc) => run("dvm-manip", args, JSON.stringify(doc));

function ok(args: string[], doc: VgDoc): VgDoc {
  const r = manip(args, doc);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as VgDoc;
  checkDoc("vg", out, "dvm-manip output");
  assert.deepEqual(vgProblems(out.vg), []);
  assert.equal(out.vg.seqno, doc.vg.seqno + 1);
  return out;
}

function vg(): VgDoc {
  let d = makeVg([10, 10, 10]);
  for (const [name, on] of [
    ["a", "pv0"],
    ["b", "pv0"],
    ["c", "pv1"],
  ] as const)
    d = lvCreate(d, { name, size: 2 * 8192, on: [on], time: 1, host: "h", newId: idGen(name) }).doc;
  return d;
}

describe("dvm-manip pvmove-*", () => {
  test("--help lists them", () => {
    const h = run("dvm-manip", ["--help"]);
    for (const op of ["pvmove-start", "pvmove-checkpoint", "pvmove-finish", "pvmove-abort"])
      assert.match(h.stdout, new RegExp(op));
  });

  test("start SOURCE DEST --lv VG/LV --time --host, then finish", () => {
    const d = vg();
    const s = ok(
      ["pvmove-start", "/dev/fake0", "pv2", "--lv", "vg0/b", "--time", "1700000001", "--host", "hh"],
      d,
    );
    const layer = s.vg.logical_volumes!.find((l) => l.name === "pvmove0")!;
    assert.equal(layer.creation_time, 1700000001);
    assert.equal(layer.creation_host, "hh");
    assert.deepEqual(layer.segments[0]!.mirrors, ["pv0", 2, "pv2", 0]);
    assert.deepEqual(segs(s, "b"), [[0, 2, 1, "pvmove0", 0]]);
    assert.deepEqual(segs(ok(["pvmove-finish"], s), "b"), [[0, 2, 1, "pv2", 0]]);
    assert.deepEqual(segs(ok(["pvmove-finish", "pvmove0"], s), "b"), [[0, 2, 1, "pv2", 0]]);
    assert.deepEqual(segs(ok(["pvmove-abort", "/dev/fake0"], s), "b"), [[0, 2, 1, "pv0", 2]]);
    // Checkpointed, the segment stays on the destination even through an abort.
    const c = ok(["pvmove-checkpoint", "pvmove0"], s);
    assert.equal(c.vg.logical_volumes!.find((l) => l.name === "pvmove0")!.segments[0]!.extents_moved, 2);
    assert.deepEqual(segs(ok(["pvmove-abort"], c), "b"), [[0, 2, 1, "pv2", 0]]);
  });

  test("exit codes: 1 usage, 2 nothing to move, 3 unknown PV / no pvmove, 5 one in progress, 6 no space", () => {
    const d = vg();
    const code = (args: string[], doc: VgDoc) => manip(args, doc).status;
    assert.equal(code(["pvmove-start"], d), 1);
    assert.equal(code(["pvmove-finish", "a", "b"], d), 1);
    assert.equal(code(["pvmove-start", "pv2"], d), 2);
    assert.equal(code(["pvmove-start", "/dev/none"], d), 3);
    assert.equal(code(["pvmove-finish"], d), 3);
    const s = ok(["pvmove-start", "pv0"], d);
    assert.equal(code(["pvmove-start", "pv1"], s), 5);
    const r = manip(["pvmove-start", "pv0", "pv1:0-4"], d);
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, /^dvm-manip: error: /m);
    assert.equal(r.stdout, "");
  });
});
