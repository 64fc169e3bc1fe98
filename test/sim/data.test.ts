import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { VgDoc } from "../../src/lib/docs.js";
import { pattern, SimLab } from "./lab.js";

/**
 * Data through LVs on the sim: what is written through an LV's device lands
 * at the PV offsets its segments say (pe_start + pe × extent size), for
 * linear, striped and multi-segment LVs, before and after an active extend.
 */

const lab = new SimLab([32, 32]);
const MiB = 1024 * 1024;
const SECTOR = 512;

interface Piece {
  pv: number;
  pvOffsetBytes: number;
}

/** Where byte `off` of an LV lives on the PVs, computed from the vg document alone. */
function locate(doc: VgDoc, lv: string, off: number): Piece {
  const vg = doc.vg;
  const extentBytes = vg.extent_size * SECTOR;
  const l = vg.logical_volumes!.find((x) => x.name === lv)!;
  const le = Math.floor(off / extentBytes);
  const seg = l.segments.find((s) => le >= s.start_extent && le < s.start_extent + s.extent_count)!;
  const stripes = seg.stripes as (string | number)[];
  const n = stripes.length / 2;
  const inSeg = off - seg.start_extent * extentBytes;
  let stripe = 0;
  let inArea = inSeg;
  if (n > 1) {
    const chunk = (seg.stripe_size as number) * SECTOR;
    const chunkNo = Math.floor(inSeg / chunk);
    stripe = chunkNo % n;
    inArea = Math.floor(chunkNo / n) * chunk + (inSeg % chunk);
  }
  const pvName = stripes[stripe * 2] as string;
  const pe = stripes[stripe * 2 + 1] as number;
  const pv = vg.physical_volumes.find((p) => p.name === pvName)!;
  const pvIndex = lab.images.indexOf(doc.pv_devices.find((d) => d.pv_uuid === String(pv.id))!.path);
  return { pv: pvIndex, pvOffsetBytes: pv.pe_start * SECTOR + pe * extentBytes + inArea };
}

/** Check that `data` written at `off` through the LV sits where locate() says, one sector-bounded piece at a time. */
function assertPlaced(doc: VgDoc, lv: string, off: number, data: Buffer) {
  const files = lab.images.map((_, i) => lab.pvBytes(i, 0, Number.MAX_SAFE_INTEGER));
  for (let i = 0; i < data.length; ) {
    // Pieces end on sector boundaries of the LV, so none crosses an extent or a stripe chunk.
    const end = Math.min(data.length, (Math.floor((off + i) / SECTOR) + 1) * SECTOR - off);
    const at = locate(doc, lv, off + i);
    const want = data.subarray(i, end);
    const got = files[at.pv]!.subarray(at.pvOffsetBytes, at.pvOffsetBytes + want.length);
    if (!got.equals(want))
      assert.fail(`${lv} byte ${off + i}: not at PV ${at.pv} offset ${at.pvOffsetBytes}`);
    i = end;
  }
}

describe("data through LVs on the sim", () => {
  after(() => lab.cleanup());

  it("linear, striped and multi-segment LVs map to the right PV offsets, before and after an active extend", () => {
    lab.ok(["vg", "create", "dp", ...lab.images]);
    try {
      lab.ok(["lv", "create", "dp/lin", "--size", "4m"]);
      lab.ok(["lv", "create", "dp/str", "--size", "8m", "--stripes", "2", "--stripe-size", "16k"]);
      lab.ok(["lv", "create", "dp/gap", "--size", "4m"]);
      // lin grows into a second segment after the others' extents.
      lab.ok(["lv", "extend", "dp/lin", "--size", "+4m"]);
      lab.ok(["activate", "dp"]);
      let doc = lab.vg("dp");
      assert.equal(doc.vg.logical_volumes!.find((l) => l.name === "lin")!.segments.length, 2);

      const a = pattern(8 * MiB, 1);
      const b = pattern(8 * MiB, 2);
      lab.write("dp-lin", 0, a);
      lab.write("dp-str", 0, b);
      assertPlaced(doc, "lin", 0, a);
      assertPlaced(doc, "str", 0, b);
      // Unaligned I/O spanning the segment boundary of lin.
      const edge = pattern(10_000, 3);
      lab.write("dp-lin", 4 * MiB - 5_000, edge);
      assert.deepEqual(lab.read("dp-lin", 4 * MiB - 5_000, edge.length), edge);
      assertPlaced(doc, "lin", 4 * MiB - 5_000, edge);

      // Extend both while active (two-phase commit), then write into the new space.
      lab.ok(["lv", "extend", "dp/lin", "--size", "+8m"]);
      lab.ok(["lv", "extend", "dp/str", "--size", "+8m"]);
      doc = lab.vg("dp");
      const lin = lab.device("dp-lin")!;
      assert.equal(
        lin.table!.reduce((n, t) => n + t.length_sectors, 0),
        16 * 2048,
      );
      assert.equal(
        lab.device("dp-str")!.table!.reduce((n, t) => n + t.length_sectors, 0),
        16 * 2048,
      );
      const c = pattern(8 * MiB, 4);
      lab.write("dp-lin", 8 * MiB, c);
      assertPlaced(doc, "lin", 8 * MiB, c);
      const d = pattern(8 * MiB, 5);
      lab.write("dp-str", 8 * MiB, d);
      assertPlaced(doc, "str", 8 * MiB, d);
      // What was there before the extends is still there.
      const aNow = Buffer.from(a);
      edge.copy(aNow, 4 * MiB - 5_000);
      assert.deepEqual(lab.read("dp-lin", 0, 8 * MiB), aNow);
      assert.deepEqual(lab.read("dp-str", 0, 8 * MiB), b);

      // Reads past the end fail; a reduce of an active LV shrinks the device.
      const past = lab.dvm(["dmsim", "read", "dp-lin", String(16 * MiB), "512"]);
      assert.notEqual(past.status, 0);
      lab.ok(["lv", "reduce", "dp/lin", "--size", "-8m"]);
      assert.equal(
        lab.device("dp-lin")!.table!.reduce((n, t) => n + t.length_sectors, 0),
        8 * 2048,
      );
      assert.deepEqual(lab.read("dp-lin", 0, 8 * MiB), aNow);

      // The report shows activation; deactivation leaves no devices.
      const rep = JSON.parse(
        lab.ok(["report", "lvs", "--reportformat", "json", "-o", "lv_name,lv_attr,lv_active"]).stdout,
      );
      assert.deepEqual(
        rep.report[0].lv.map((l: Record<string, string>) => [l.lv_name, l.lv_attr, l.lv_active]),
        [
          ["gap", "-wi-a-----", "active"],
          ["lin", "-wi-a-----", "active"],
          ["str", "-wi-a-----", "active"],
        ],
      );
      // The same through the tools as processes (the dm state joins the report's input).
      const piped = lab.ok(["report", "lvs", "--pipeline", "--noheadings", "-o", "lv_name,lv_attr"]).stdout;
      assert.deepEqual(
        piped
          .trim()
          .split("\n")
          .map((l) => l.trim().split(/\s+/)),
        [
          ["gap", "-wi-a-----"],
          ["lin", "-wi-a-----"],
          ["str", "-wi-a-----"],
        ],
      );
      lab.ok(["deactivate", "dp/gap"]);
      assert.equal(lab.device("dp-gap"), undefined);
      assert.ok(lab.device("dp-lin"));
      lab.ok(["deactivate", "dp"]);
      assert.deepEqual(lab.state().devices, []);
      const off = JSON.parse(
        lab.ok(["report", "lvs", "--reportformat", "json", "-o", "lv_name,lv_attr"]).stdout,
      );
      assert.ok(off.report[0].lv.every((l: Record<string, string>) => l.lv_attr === "-wi-------"));
    } finally {
      lab.dvm(["deactivate", "dp"]);
      lab.dvm(["vg", "remove", "dp", "--force"]);
    }
  });

  it("dmsim refuses bad arguments with usage errors and a length that does not match stdin", () => {
    const r = lab.dvm(["dmsim", "write", "nope", "0", "10"], { input: Buffer.alloc(5) });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /LENGTH is 10 bytes but stdin had 5/);
    assert.equal(lab.dvm(["dmsim", "frob", "x", "0", "1"]).status, 1);
    assert.equal(lab.dvm(["dmsim", "read", "x", "zero", "1"]).status, 2);
    const missing = lab.dvm(["dmsim", "read", "no-such-device", "0", "512"]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /no-such-device/);
  });
});
