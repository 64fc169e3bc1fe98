import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { VgDoc } from "../../src/lib/docs.js";
import { parseVgText } from "../../src/lvm2/vg.js";
import { DIST, run, toolEnv } from "../helpers.ts";
import { compareReport, FIELDS, JSON_BYTES, Lab } from "./lvm.ts";

/**
 * A pvmove written by dvm, read by LVM2 2.03.16 on loop devices: after
 * pvmove-start (a VG LVM2 made: a two-segment linear LV, a linear LV and a
 * striped LV with one stripe on the source), after pvmove-finish and after a
 * second start and pvmove-abort, LVM2's vgck accepts the VG, its
 * `lvs -a --segments` and `lvs -a` (JSON and text) equal dvm's reports byte
 * for byte (pvmove0 and the moved LVs with their devices and segments), and
 * LVM2's own re-export of the VG (vgcfgbackup) is dvm's metadata, key for key.
 */

const lab = new Lab();
after(() => lab.cleanup());

let devs: string[] = [];
let vg = "";

/** `dvm-tm update VG -- dvm-manip OP...`: the new vg document. */
function manipTx(op: string[]): VgDoc {
  const r = spawnSync(
    process.execPath,
    [
      join(DIST, "dvm-tm.cjs"),
      "update",
      vg,
      "--devices",
      devs.join(","),
      "--lock-dir",
      join(lab.dir, "lock"),
      "--",
      process.execPath,
      join(DIST, "dvm-manip.cjs"),
      ...op,
    ],
    { env: toolEnv(), encoding: "utf8" },
  );
  assert.equal(r.status, 0, `dvm-tm update -- dvm-manip ${op.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as VgDoc;
}

/** Everything LVM2 must agree with dvm on, for the VG as it is now. */
function lvm2Agrees(doc: VgDoc, step: string) {
  const ck = lab.lvmRaw(["vgck", vg], devs);
  assert.equal(ck.status, 0, `${step}: vgck: ${ck.stderr}`);
  assert.doesNotMatch(
    ck.stderr.replace(/.*Activation disabled.*\n/g, ""),
    /\S/,
    `${step}: vgck says nothing`,
  );
  compareReport(lab, "segs", devs, ["-a", ...JSON_BYTES, "-o", FIELDS.segs]);
  compareReport(lab, "lvs", devs, ["-a", ...JSON_BYTES, "-o", `${FIELDS.lvs},move_pv`]);
  compareReport(lab, "lvs", devs, ["-a"]);
  compareReport(lab, "segs", devs, ["-a", "-o", "+devices,seg_pe_ranges"]);
  // LVM2's own export of what it read is dvm's metadata (it merges nothing, drops nothing).
  const file = join(lab.dir, `${step}.vg`);
  lab.lvm(["vgcfgbackup", "-f", file, vg], devs);
  assert.deepEqual(parseVgText(readFileSync(file, "utf8")).vg, doc.vg, `${step}: LVM2's vgcfgbackup`);
}

const lvOf = (d: VgDoc, n: string) => d.vg.logical_volumes!.find((l) => l.name === n);

describe("a pvmove written by dvm, read by LVM2", () => {
  before(() => {
    devs = ["a", "b", "c"].map((n) => lab.attach(n, 16));
    vg = lab.vg("pm");
    lab.lvm(["pvcreate", "-q", ...devs], devs);
    lab.lvm(["vgcreate", "-q", "-s", "1m", vg, ...devs], devs);
    lab.lvcreate(["-l2", "-n", "lvA", vg, `${devs[0]}:0-1`], devs);
    lab.lvcreate(["-l2", "-n", "lvB", vg, `${devs[0]}:2-3`], devs);
    lab.lvm(["lvextend", "-q", "-l+2", `${vg}/lvA`, `${devs[0]}:6-7`], devs);
    lab.lvcreate(["-i2", "-I64k", "-l4", "-n", "lvC", vg, `${devs[0]}:4-5`, `${devs[2]}:0-1`], devs);
    lab.lvcreate(["-l3", "-n", "lvD", vg, `${devs[1]}:0-2`], devs);
  });

  test("pvmove-start: pvmove0 and the LOCKED LVs on it", () => {
    const s = manipTx(["pvmove-start", devs[0]!]);
    const layer = lvOf(s, "pvmove0")!;
    assert.deepEqual(
      layer.segments.map((x) => x.mirrors),
      [
        ["pv0", 0, "pv1", 3],
        ["pv0", 6, "pv1", 5],
        ["pv0", 2, "pv1", 7],
        ["pv0", 4, "pv1", 9],
      ],
    );
    lvm2Agrees(s, "start");
    // LVM2 reads the layer as a pvmove in progress on the source PV.
    const out = lab.lvm(
      ["lvs", "-a", "--noheadings", "-o", "lv_name,move_pv,lv_attr", `${vg}/pvmove0`],
      devs,
    );
    assert.match(out, new RegExp(`\\[pvmove0\\]\\s+${devs[0]!.replace(/\//g, "\\/")}\\s+p-C-`));
  });

  test("pvmove-finish: the LVs on the destination, merged, unlocked; no layer", () => {
    const f = manipTx(["pvmove-finish"]);
    assert.equal(lvOf(f, "pvmove0"), undefined);
    assert.deepEqual(
      lvOf(f, "lvA")!.segments.map((x) => [x.extent_count, ...(x.stripes as unknown[])]),
      [[4, "pv1", 3]],
    );
    lvm2Agrees(f, "finish");
    assert.equal(
      lab.lvm(["pvs", "--noheadings", "-o", "pv_used", "--units", "b", "--nosuffix", devs[0]!], devs).trim(),
      "0",
      "nothing left on the source",
    );
  });

  test("a second start, then pvmove-abort: back to the source exactly", () => {
    const before = JSON.parse(run("dvm", ["tm", "read", vg, "--devices", devs.join(",")]).stdout) as VgDoc;
    const s = manipTx(["pvmove-start", devs[1]!, devs[0]!, "--lv", "lvB"]);
    assert.deepEqual(
      lvOf(s, "pvmove0")!.segments.map((x) => x.mirrors),
      [["pv1", 7, "pv0", 0]],
    );
    lvm2Agrees(s, "start2");
    const a = manipTx(["pvmove-abort"]);
    assert.deepEqual(a.vg.logical_volumes, before.vg.logical_volumes);
    lvm2Agrees(a, "abort");
  });
});
