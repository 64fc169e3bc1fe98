import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parseInterval } from "../../src/cli/dvm-poll.js";
import { labelDevices } from "../../src/discover/label.js";
import { devicesDoc, scan } from "../../src/discover/scan.js";
import type { DmBackend } from "../../src/dm/backend.js";
import { SimBackend } from "../../src/dm/sim/index.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { DvmError, Exit } from "../../src/lib/errors.js";
import { mirrorConvertFinish } from "../../src/manip/mirror.js";
import { convertProgress, percentText, pollConvert, progressLine } from "../../src/poll/convert.js";
import { POLLERS } from "../../src/poll/index.js";
import { activateVg } from "../../src/tm/activate.js";
import { readVg } from "../../src/tm/read.js";
import { createVg } from "../../src/tm/update.js";
import { fixtureDoc } from "../activate/mirror-fixtures.ts";

/**
 * dvm-poll's convert poller. Progress: from LVM2's metadata (fixtures) and
 * status lines as the kernel prints them. The loop: LVM2's VG mid
 * up-convert written onto image files, activated on the sim backend (a real
 * dm-mirror model: regions recovered with a clock the poller's sleep
 * advances, data copied leg 0 → the others), polled to the end.
 */

const scratch: string[] = [];
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

const lvOf = (d: VgDoc, n: string) => d.vg.logical_volumes!.find((l) => l.name === n)!;

describe("convert progress", () => {
  test("LVM2's copy percent: whole extents of the mirror in sync, two digits, 0 and 100 only when so", () => {
    const doc = fixtureDoc("m2-mid");
    const m2 = lvOf(doc, "m2");
    // 8 extents of 1 MiB, 4 regions of 2 MiB.
    const st = (n: number) => `0 16384 mirror 2 253:20 253:21 ${n}/4 1 AA 1 core\n`;
    assert.equal(progressLine(convertProgress(doc, m2, st(0))), "  cv/m2: Converted: 0.00%");
    assert.equal(progressLine(convertProgress(doc, m2, st(1))), "  cv/m2: Converted: 25.00%");
    assert.equal(convertProgress(doc, m2, st(3)).in_sync, false);
    const done = convertProgress(doc, m2, st(4));
    assert.deepEqual([done.percent, done.in_sync], ["100.00", true]);
    assert.equal(percentText(1, 3), "33.33");
    assert.equal(percentText(1, 1_000_000), "0.01");
    assert.equal(percentText(999_999, 1_000_000), "99.99");
    assert.equal(percentText(0, 0), "100.00");
  });

  test("a segment with one area counts whole; extents_copied is rounded down per segment", () => {
    const doc = fixtureDoc("reactivated");
    const m3 = lvOf(doc, "m3");
    // 5 extents, 3 regions: 1 region in sync is floor(5/3) = 1 extent.
    const p = convertProgress(doc, m3, "0 10240 mirror 3 253:8 253:9 253:10 1/3 1 AAA 3 disk 253:7 A");
    assert.equal(p.percent, "20.00");
    m3.segments[0]!.mirrors = ["m3_mimage_0", 0];
    assert.equal(convertProgress(doc, m3, "0 10240 linear ").percent, "100.00");
  });
});

/** LVM2's VG mid up-convert (m2 over m2_mimagetmp_2), written onto four image files. */
function onImages() {
  const dir = mkdtempSync(join(tmpdir(), "dvm-pollconv-"));
  scratch.push(dir);
  const paths = ["a", "b", "c", "d"].map((n) => {
    const p = join(dir, `${n}.img`);
    writeFileSync(p, "");
    truncateSync(p, 32 << 20);
    return p;
  });
  const labels = labelDevices(paths, {});
  const tx = { lockDir: join(dir, "lock"), scan: () => scan({ devices: paths }) };
  const mid = fixtureDoc("m2-mid");
  mid.vg.seqno = 1;
  mid.vg.physical_volumes.forEach((pv, i) => {
    pv.id = labels[i]!.pv_uuid;
    pv.device = paths[i];
    pv.pe_start = labels[i]!.pe_start_sectors;
  });
  createVg("cv", () => mid, tx);
  const read = () => readVg(devicesDoc(tx.scan()), "cv").doc;
  return { dir, paths, tx, read };
}

function fakeClock() {
  let t = 1_000_000;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe("the convert poll loop on the sim backend", () => {
  test("m2 over m2_mimagetmp_2: progress each look, then the layer collapses, tables and data follow", () => {
    const { dir, tx, read } = onImages();
    const clock = fakeClock();
    // 1 region a second: the 4-region top mirror (and the layer under it) take a few looks.
    const sim = new SimBackend(join(dir, "sim"), { mirrorRate: 1, now: clock.now });
    assert.equal(activateVg("cv", { backend: sim, activate: ["m2"] }, tx).report?.result, "ok");
    const data = randomBytes(8 << 20);
    sim.writeData("cv-m2", 0, data);
    const said: string[] = [];
    const code = POLLERS.convert!({
      vg: "cv",
      lv: "m2",
      backend: sim,
      tx,
      intervalS: parseInterval("1").seconds,
      say: (l) => said.push(l),
      sleep: clock.advance,
    });
    assert.equal(code, Exit.ok);
    const pct = said.filter((l) => l.includes("Converted")).map((l) => Number(/([\d.]+)%/.exec(l)![1]));
    assert.ok(pct.length >= 3, said.join("\n"));
    assert.deepEqual(
      pct,
      [...pct].sort((a, b) => a - b),
      "progress only grows",
    );
    assert.equal(said.at(-1), "  Logical volume cv/m2 converted.");
    assert.equal(said.at(-2), "  cv/m2: Converted: 100.00%");

    const doc = read();
    const expected = mirrorConvertFinish(fixtureDoc("m2-mid"), { target: "m2" }).doc;
    assert.deepEqual(
      doc.vg.logical_volumes!.map((l) => [l.name, l.segments]),
      expected.vg.logical_volumes!.map((l) => [l.name, l.segments]),
    );
    const names = sim.state().devices.map((d) => d.name);
    assert.ok(!names.includes("cv-m2_mimagetmp_2"), names.join(" "));
    assert.match(sim.query("table", "cv-m2"), /mirror disk 2 \S+ 4096 3 /);
    for (const leg of ["cv-m2", "cv-m2_mimage_0", "cv-m2_mimage_1", "cv-m2_mimage_2"])
      assert.ok(sim.readData(leg, 0, data.length).equals(data), leg);

    // Polled again: a mirror with nothing to collapse: it follows the sync to the end, writes nothing.
    // (The sim's new disk-log mirror recovers from scratch; the kernel would take the log's state.)
    const seqno = doc.vg.seqno;
    const again: string[] = [];
    pollConvert({
      vg: "cv",
      lv: "m2",
      backend: sim,
      tx,
      intervalS: 1,
      say: (l) => again.push(l),
      sleep: clock.advance,
    });
    assert.equal(again.at(-1), "  cv/m2: Converted: 100.00%");
    assert.ok(
      again.every((l) => l.includes("Converted")),
      again.join("\n"),
    );
    assert.equal(read().vg.seqno, seqno);
  });

  test("not found, inactive, pinned to another LV id, not a mirror, --abort", () => {
    const { dir, tx } = onImages();
    const sim: DmBackend = new SimBackend(join(dir, "sim"));
    const run = (lv: string, extra: object = {}) => {
      const said: string[] = [];
      const code = pollConvert({
        vg: "cv",
        lv,
        backend: sim,
        tx,
        intervalS: 0,
        say: (l) => said.push(l),
        ...extra,
      });
      return { code, said };
    };
    assert.deepEqual(run("nosuch"), { code: 0, said: ["  Can't find LV in cv for cv/nosuch."] });
    assert.deepEqual(run("m2"), { code: 0, said: ["  cv/m2: Interrupted: No longer active."] });
    assert.deepEqual(run("m2", { lvid: "x".repeat(64) }), {
      code: 0,
      said: ["  Can't find LV in cv for cv/m2."],
    });
    assert.deepEqual(run("m2", { vg: "nosuchvg" }), {
      code: 0,
      said: ["  Can't find VG nosuchvg/m2. No longer active."],
    });
    activateVg("cv", { backend: sim, activate: ["m2_mlog"] }, tx);
    assert.throws(
      () => run("m2_mlog"),
      (e: unknown) =>
        e instanceof DvmError &&
        e.exitCode === Exit.invalid &&
        /Mirror percentage check failed/.test(e.message),
    );
    assert.throws(
      () => run("m2", { abort: true }),
      (e: unknown) => e instanceof DvmError && e.exitCode === Exit.usage && /no abort/.test(e.message),
    );
  });
});
