import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { VgDoc } from "../../src/lib/docs.js";
import { DIST, toolEnv } from "../helpers.js";
import { pattern, SimLab } from "./lab.js";

/**
 * pvmove end to end on the sim: `dvm pvmove` starts the move, dvm-polld
 * (started on demand, on the lab's own socket) runs dvm-poll, the sim's
 * mirror copies regions in the background. Data written through the moved
 * LV before and during the move reads back the same afterwards; a poller and
 * a daemon killed with SIGKILL mid-move are taken over by `dvm pvmove` with
 * no device; --abort gives the extents not yet copied back to the source.
 */

const lab = new SimLab([128, 128, 128]);
const [pv0, pv1] = lab.images as [string, string, string];
const env = {
  LVM_LVMPOLLD_SOCKET: join(lab.dir, "polld.sock"),
  LVM_LVMPOLLD_PIDFILE: join(lab.dir, "polld.pid"),
};
/**
 * Regions (2 MiB) per second the sim's mirrors copy (a 16 MiB LV takes 2 s at
 * 4), for every process on the lab's sim folder: the daemon, its pollers, us.
 */
function rate(n: number) {
  mkdirSync(lab.simDir, { recursive: true });
  writeFileSync(join(lab.simDir, "mirror_rate"), `${n}\n`);
  return env;
}

const lvOf = (doc: VgDoc, name: string) => doc.vg.logical_volumes?.find((l) => l.name === name);
const pvNames = (doc: VgDoc, lv: string) =>
  new Set(lvOf(doc, lv)!.segments.flatMap((s) => (s.stripes ?? []).filter((x) => typeof x === "string")));
const pvName = (doc: VgDoc, path: string) =>
  doc.vg.physical_volumes.find((p) => doc.pv_devices.find((d) => d.pv_uuid === String(p.id))?.path === path)!
    .name;

function daemonPid(): number | undefined {
  if (!existsSync(env.LVM_LVMPOLLD_PIDFILE)) return undefined;
  const pid = Number(readFileSync(env.LVM_LVMPOLLD_PIDFILE, "utf8").trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** The dvm-poll processes running for this lab (their command lines name its sim folder). */
function pollers(): number[] {
  const r = spawnSync("pgrep", ["-f", `dvm-poll.cjs.*${lab.simDir}`]);
  return r.stdout.toString().split("\n").filter(Boolean).map(Number);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until the VG has no pvmove layer (or the time is up). */
async function waitMoved(vg: string, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!lvOf(lab.vg(vg), "pvmove0")) return;
    await sleep(200);
  }
  assert.fail(`${vg}: pvmove still in progress after ${ms} ms`);
}

function killDaemon() {
  const pid = daemonPid();
  if (pid) process.kill(pid, "SIGKILL");
  for (const p of pollers()) process.kill(p, "SIGKILL");
}

describe("pvmove on the sim", { timeout: 300_000 }, () => {
  after(() => {
    try {
      killDaemon();
    } finally {
      lab.cleanup();
    }
  });

  it("moves an active LV (two segments) off a PV: metadata, tables and data follow", () => {
    lab.ok(["vg", "create", "mv0", ...lab.images]);
    lab.ok(["lv", "create", "mv0/a", "--size", "8m", "--on", pv0]);
    lab.ok(["lv", "create", "mv0/b", "--size", "8m", "--on", pv0]);
    lab.ok(["lv", "extend", "mv0/a", "--size", "+8m", "--on", pv0]);
    lab.ok(["activate", "mv0"]);
    const dataA = pattern(16 << 20, 1);
    const dataB = pattern(8 << 20, 2);
    lab.write("mv0-a", 0, dataA);
    lab.write("mv0-b", 0, dataB);
    const seqno = lab.vg("mv0").vg.seqno;
    const dry = lab.ok(["pvmove", pv0, pv1, "--dry-run"], { env: rate(16) });
    assert.match(dry.stdout, /Would write seqno/);
    assert.match(dry.stdout, /mv0-pvmove0/);
    assert.equal(lab.vg("mv0").vg.seqno, seqno, "--dry-run wrote nothing");
    assert.equal(lab.device("mv0-pvmove0"), undefined);
    const r = lab.ok(["pvmove", pv0, pv1, "--interval", "0.2"], { env: rate(16) });
    assert.match(r.stdout, /Moved: 100\.00%/);
    const doc = lab.vg("mv0");
    assert.equal(lvOf(doc, "pvmove0"), undefined, "the layer is gone");
    const p0 = pvName(doc, pv0);
    const p1 = pvName(doc, pv1);
    assert.deepEqual([...pvNames(doc, "a")], [p1]);
    assert.deepEqual([...pvNames(doc, "b")], [p1]);
    assert.ok(!lvOf(doc, "a")!.status.includes("LOCKED"));
    assert.equal(lab.device("mv0-pvmove0"), undefined, "no layer device left");
    assert.ok(lab.device("mv0-a")!.table!.every((t) => t.type === "linear"));
    assert.deepEqual(lab.read("mv0-a", 0, dataA.length), dataA);
    assert.deepEqual(lab.read("mv0-b", 0, dataB.length), dataB);
    // The data is on pv1 now, where the new metadata says.
    const seg = lvOf(doc, "b")!.segments[0]!;
    const at =
      (doc.vg.physical_volumes.find((p) => p.name === p1)!.pe_start +
        (seg.stripes![1] as number) * doc.vg.extent_size) *
      512;
    assert.deepEqual(lab.pvBytes(1, at, 4096), dataB.subarray(0, 4096));
    assert.ok(!pvNames(doc, "a").has(p0));
  });

  it("data written during a background move reads back after it", async () => {
    lab.ok(["lv", "create", "mv0/c", "--size", "16m", "--on", pv0]);
    lab.ok(["activate", "mv0/c"]);
    const before = pattern(16 << 20, 3);
    lab.write("mv0-c", 0, before);
    const r = lab.ok(["pvmove", pv0, "--background", "--interval", "0.2"], { env: rate(2) });
    assert.equal(r.stdout, "");
    assert.ok(daemonPid(), "dvm pvmove started the daemon");
    // While the mirror copies: overwrite pieces at both ends and the middle.
    const during = pattern(1 << 20, 4);
    for (const off of [0, 7 << 20, 15 << 20]) {
      lab.write("mv0-c", off, during);
      during.copy(before, off);
    }
    assert.ok(lvOf(lab.vg("mv0"), "pvmove0"), "the writes went in while the move ran");
    await waitMoved("mv0");
    const doc = lab.vg("mv0");
    assert.ok(!pvNames(doc, "c").has(pvName(doc, pv0)));
    assert.deepEqual(lab.read("mv0-c", 0, before.length), before);
  });

  it("SIGKILL of the poller and the daemon mid-move; dvm pvmove with no device finishes it", async () => {
    lab.ok(["lv", "create", "mv0/d", "--size", "16m", "--on", pv1]);
    lab.ok(["activate", "mv0/d"]);
    const data = pattern(16 << 20, 5);
    lab.write("mv0-d", 0, data);
    lab.ok(["pvmove", pv1, "--background", "--interval", "0.2"], { env: rate(1) });
    await sleep(1500);
    assert.ok(lvOf(lab.vg("mv0"), "pvmove0"), "still moving");
    killDaemon();
    assert.equal(pollers().length, 0);
    // Nobody polls now: the move stays where it was, the LV still reads right.
    assert.deepEqual(lab.read("mv0-d", 0, 1 << 20), data.subarray(0, 1 << 20));
    const r = lab.ok(["pvmove", "--interval", "0.2"], { env: rate(16) });
    assert.match(r.stdout, /Moved: 100\.00%/);
    const doc = lab.vg("mv0");
    assert.equal(lvOf(doc, "pvmove0"), undefined);
    assert.ok(!pvNames(doc, "d").has(pvName(doc, pv1)));
    assert.deepEqual(lab.read("mv0-d", 0, data.length), data);
  });

  it("--abort puts the extents not yet copied back on the source", async () => {
    lab.ok(["lv", "create", "mv0/e", "--size", "16m", "--on", pv0]);
    const before = lab.vg("mv0");
    const segsBefore = structuredClone(lvOf(before, "e")!.segments);
    lab.ok(["activate", "mv0/e"]);
    const data = pattern(16 << 20, 6);
    lab.write("mv0-e", 0, data);
    lab.ok(["pvmove", pv0, "--background", "--interval", "0.2"], { env: rate(0.5) });
    assert.ok(lvOf(lab.vg("mv0"), "pvmove0"));
    const r = lab.ok(["pvmove", "--abort", pv0], { env: rate(0.5) });
    assert.equal(r.status, 0, r.stderr);
    await waitMoved("mv0");
    const doc = lab.vg("mv0");
    // One layer segment, never checkpointed: everything is back where it was.
    assert.deepEqual(lvOf(doc, "e")!.segments, segsBefore);
    assert.ok(!lvOf(doc, "e")!.status.includes("LOCKED"));
    assert.deepEqual(lab.read("mv0-e", 0, data.length), data);
  });

  it("an inactive LV moves too (the layer alone is activated), and pvmove with nothing to move says so", () => {
    lab.ok(["lv", "create", "mv0/f", "--size", "8m", "--on", pv0]);
    lab.ok(["activate", "mv0/f"]);
    const data = pattern(8 << 20, 7);
    lab.write("mv0-f", 0, data);
    lab.ok(["deactivate", "mv0/f"]);
    lab.ok(["pvmove", pv0, "--lv", "f", "--interval", "0.2"], { env: rate(16) });
    const doc = lab.vg("mv0");
    assert.ok(!pvNames(doc, "f").has(pvName(doc, pv0)));
    assert.equal(lab.device("mv0-f"), undefined, "still inactive");
    lab.ok(["activate", "mv0/f"]);
    assert.deepEqual(lab.read("mv0-f", 0, data.length), data);
    const none = lab.ok(["pvmove"], { env });
    assert.match(none.stdout, /No pvmove in progress/);
    // f is not on pv0 any more: nothing of it to move, nothing changed.
    const seqno = lab.vg("mv0").vg.seqno;
    const empty = lab.dvm(["pvmove", pv0, "--lv", "f"], { env });
    assert.notEqual(empty.status, 0);
    assert.match(empty.stderr, /f/);
    assert.equal(lab.vg("mv0").vg.seqno, seqno);
  });

  it("after a crash and deactivation, dvm activate carries the interrupted move on", async () => {
    lab.ok(["lv", "create", "mv0/h", "--size", "16m", "--on", pv0]);
    lab.ok(["activate", "mv0/h"]);
    const data = pattern(16 << 20, 8);
    lab.write("mv0-h", 0, data);
    lab.ok(["pvmove", pv0, "--lv", "h", "--background", "--interval", "0.2"], { env: rate(0.5) });
    killDaemon();
    lab.ok(["deactivate", "mv0"]);
    assert.equal(lab.device("mv0-pvmove0"), undefined);
    assert.ok(lvOf(lab.vg("mv0"), "pvmove0"), "the move is still in the metadata");
    const r = lab.ok(["activate", "mv0", "--interval", "0.2"], { env: rate(16) });
    assert.match(r.stdout, /interrupted pvmove.*dvm-polld/);
    await waitMoved("mv0");
    const doc = lab.vg("mv0");
    assert.ok(!pvNames(doc, "h").has(pvName(doc, pv0)));
    assert.deepEqual(lab.read("mv0-h", 0, data.length), data);
  });

  it("on a terminal the progress is a bar (cli-progress), not lines", () => {
    lab.ok(["lv", "create", "mv0/t", "--size", "8m", "--on", pv0]);
    rate(16);
    const argv = [join(DIST, "dvm.cjs"), "pvmove", pv0, "--lv", "t", "--interval", "0.2"];
    argv.push("--devices", lab.images.join(","), "--dm-backend", "sim", "--sim-dir", lab.simDir);
    // script(1) gives the command a pseudo-terminal.
    const cmd = [process.execPath, ...argv].map((a) => `'${a}'`).join(" ");
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { env: { ...toolEnv(), ...env } });
    const out = r.stdout.toString();
    assert.equal(r.status, 0, out);
    assert.match(out, /Moved \[[█░]+\] 100%/);
    assert.doesNotMatch(out, /Moved: \d/);
  });

  it("a move whose layer is deactivated under it ends as interrupted (exit 5), and resumes later", async () => {
    lab.ok(["lv", "create", "mv0/i", "--size", "16m", "--on", pv0]);
    lab.ok(["activate", "mv0/i"]);
    rate(0.5);
    const argv = [join(DIST, "dvm.cjs"), "pvmove", pv0, "--lv", "i", "--interval", "0.2"];
    argv.push("--devices", lab.images.join(","), "--dm-backend", "sim", "--sim-dir", lab.simDir);
    const fg = spawn(process.execPath, argv, { env: { ...toolEnv(), ...env } });
    let err = "";
    fg.stderr.on("data", (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((r) => fg.on("exit", r));
    for (let i = 0; i < 100 && !lab.device("mv0-pvmove0"); i++) await sleep(100);
    lab.ok(["deactivate", "mv0"]);
    assert.equal(await exited, 5, err);
    assert.match(err, /interrupted/);
    assert.ok(lvOf(lab.vg("mv0"), "pvmove0"), "still to be moved");
    lab.ok(["pvmove", "--interval", "0.2"], { env: rate(16) });
    assert.equal(lvOf(lab.vg("mv0"), "pvmove0"), undefined);
  });

  it("dvm-polld is one daemon: a second pvmove request for the same move starts no second poller", async () => {
    lab.ok(["lv", "create", "mv0/g", "--size", "16m", "--on", pv1]);
    lab.ok(["pvmove", pv1, "--background", "--interval", "0.2"], { env: rate(1) });
    // Resuming while the first poller runs: the daemon deduplicates by LV id.
    const again = spawn(
      process.execPath,
      [
        join(DIST, "dvm.cjs"),
        "pvmove",
        "--background",
        "--interval",
        "0.2",
        "--devices",
        lab.images.join(","),
        "--dm-backend",
        "sim",
        "--sim-dir",
        lab.simDir,
      ],
      { env: { ...toolEnv(), ...rate(1) } },
    );
    await new Promise((r) => again.on("exit", r));
    assert.equal(again.exitCode, 0);
    assert.equal(pollers().length, 1);
    lab.ok(["pvmove", "--interval", "0.2"], { env: rate(16) });
    await waitMoved("mv0");
  });
});
