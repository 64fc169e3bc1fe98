import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { dmUuid } from "../../src/activate/names.js";
import type { MirrorTarget } from "../../src/dm/target.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { DIST, toolEnv } from "../helpers.js";
import { pattern, SimLab } from "./lab.js";

/**
 * A VG with a pvmove in progress on the sim, step by step with the tools (no
 * poller): dvm-tm update runs dvm-manip pvmove-start (then -finish or -abort)
 * as its mutator, and the VG is activated in between: the layer's running
 * segment is a core-log mirror whose writes land on both PVs, reads come
 * through it, and after finish the LV's data is read back from the
 * destination (after abort, from the source).
 */

// What is checked does not depend on how far the sim's background mirror recovery has got.
const lab = new SimLab([16, 16]);
const MiB = 1024 * 1024;
const VG = "pm0";

/** `dvm-tm update VG -- dvm-manip OP ARGS` on the lab's images (no activation: the LVs are inactive). */
function manipTx(op: string[]) {
  const r = spawnSync(
    process.execPath,
    [
      join(DIST, "dvm-tm.cjs"),
      "update",
      VG,
      "--devices",
      lab.images.join(","),
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

const ok = (args: string[]) => lab.ok(args);
const lvOf = (d: VgDoc, n: string) => d.vg.logical_volumes!.find((l) => l.name === n)!;
/** Byte offset of extent `pe` of image `pv` (pe_start from the metadata). */
const peOffset = (d: VgDoc, pv: number, pe: number) =>
  (d.vg.physical_volumes[pv]!.pe_start + pe * d.vg.extent_size) * 512;

describe("a VG mid-pvmove on the sim", () => {
  after(() => lab.cleanup());

  it("activates through the layer, mirrors writes, and finishes or aborts with the data where the metadata says", () => {
    const [img0, img1] = lab.images as [string, string];
    ok(["vg", "create", VG, img0, img1, "--extent-size", "1m"]);
    ok(["lv", "create", `${VG}/lv`, "--size", "4m", "--on", img0]);
    ok(["lv", "create", `${VG}/lv2`, "--size", "2m", "--on", img0]);
    const DATA = pattern(4 * MiB, 1);
    const DATA_2 = pattern(2 * MiB, 2);
    ok(["activate", VG]);
    lab.write(`${VG}-lv`, 0, DATA);
    lab.write(`${VG}-lv2`, 0, DATA_2);
    ok(["deactivate", VG]);

    // Start moving lv off pv0; activate the VG in mid-move.
    const s = manipTx(["pvmove-start", img0, "--lv", "lv"]);
    const layer = lvOf(s, "pvmove0");
    assert.deepEqual(layer.status, ["READ", "WRITE", "PVMOVE", "LOCKED"]);
    assert.deepEqual(layer.segments[0]!.mirrors, ["pv0", 0, "pv1", 0]);
    assert.deepEqual(lvOf(s, "lv").segments[0]!.stripes, ["pvmove0", 0]);
    ok(["activate", VG]);
    const dev = lab.device(`${VG}-pvmove0`);
    assert.ok(dev, "the layer is active");
    assert.equal(dev.uuid, dmUuid(s.vg.id, layer.id));
    const t = dev.table![0] as MirrorTarget;
    assert.equal(t.type, "mirror");
    assert.deepEqual(t.log, { type: "core", region_sectors: 4096 });
    assert.equal(t.legs.length, 2);
    assert.deepEqual(lab.device(`${VG}-lv`)!.table![0], {
      start_sectors: 0,
      length_sectors: 8192,
      type: "linear",
      device: `${dev.major}:${dev.minor}`, // the state echoes devices as the kernel does
      offset_sectors: 0,
    });
    // Reads come through the mirror (from the source leg); lv2 is untouched.
    assert.deepEqual(lab.read(`${VG}-lv`, 0, DATA.length), DATA);
    assert.deepEqual(lab.read(`${VG}-lv2`, 0, DATA_2.length), DATA_2);
    // Writes through the LV land on both legs: the source and the destination extents.
    const NEW = pattern(4 * MiB, 3);
    lab.write(`${VG}-lv`, 0, NEW);
    assert.deepEqual(lab.pvBytes(0, peOffset(s, 0, 0), NEW.length), NEW, "on the source");
    assert.deepEqual(lab.pvBytes(1, peOffset(s, 1, 0), NEW.length), NEW, "on the destination");
    ok(["deactivate", VG]);
    assert.equal(lab.device(`${VG}-pvmove0`), undefined, "the layer goes with its users");

    // Finish (every byte of lv went through the mirror, so the destination holds it all).
    const f = manipTx(["pvmove-finish"]);
    assert.deepEqual(lvOf(f, "lv").segments[0]!.stripes, ["pv1", 0]);
    assert.deepEqual(lvOf(f, "lv").status, ["READ", "WRITE", "VISIBLE"]);
    ok(["activate", VG]);
    assert.equal(lab.device(`${VG}-pvmove0`), undefined);
    assert.deepEqual(lab.read(`${VG}-lv`, 0, NEW.length), NEW, "lv read back from the destination");
    ok(["deactivate", VG]);

    // Move lv2 off pv0 too, write through it mid-move, then abort: the data is on the source.
    const s2 = manipTx(["pvmove-start", "pv0"]);
    assert.deepEqual(lvOf(s2, "pvmove0").segments[0]!.mirrors, ["pv0", 4, "pv1", 4]);
    ok(["activate", VG]);
    const NEW_2 = pattern(1 * MiB, 4);
    lab.write(`${VG}-lv2`, MiB, NEW_2);
    ok(["deactivate", VG]);
    const a = manipTx(["pvmove-abort"]);
    assert.deepEqual(lvOf(a, "lv2").segments[0]!.stripes, ["pv0", 4]);
    assert.equal(a.vg.logical_volumes!.length, 2);
    ok(["activate", VG]);
    assert.deepEqual(
      lab.read(`${VG}-lv2`, 0, 2 * MiB),
      Buffer.concat([DATA_2.subarray(0, MiB), NEW_2]),
      "lv2 read back from the source",
    );
    ok(["deactivate", VG]);
    ok(["vg", "remove", VG, "--force"]);
  });
});
