import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DIST, ROOT, toolEnv } from "../helpers.ts";
import { Lab } from "./lvm.ts";

/**
 * dvm and LVM2 lock a VG the same way (flock on /run/lock/lvm/V_<vg>), so they
 * exclude each other: whoever comes second waits, or fails with --nowait.
 */

const lab = new Lab();
after(() => lab.cleanup());
const LOCK_DIR = "/run/lock/lvm";
const EDIT = join(ROOT, "test/tm/mutators/edit.mjs");

let vg: string;
let devs: string[];

before(() => {
  vg = lab.vg("lock");
  devs = [lab.attach("lock-a", 32)];
  lab.lvm(["pvcreate", "-q", ...devs], devs);
  lab.lvm(["vgcreate", "-q", vg, ...devs], devs);
});

const seqno = () => Number(lab.lvm(["vgs", "--noheadings", "-o", "vg_seqno", vg], devs).trim());
const tags = () => lab.lvm(["vgs", "--noheadings", "-o", "vg_tags", vg], devs).trim();

/** Start a process and resolve with its exit status. */
function start(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stderr })),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("VG locks shared with LVM2", () => {
  test("LVM2 keeps out while dvm holds the VG (and waits for it by default)", async () => {
    const s0 = seqno();
    // A mutator that takes 2 s: dvm holds the lock all that time.
    const slow = `setTimeout(() => { const d = JSON.parse(require("fs").readFileSync(0, "utf8")); d.vg.seqno++; d.vg.tags = ["fromdvm"]; process.stdout.write(JSON.stringify(d)); }, 2000)`;
    const holder = start(
      process.execPath,
      [join(DIST, "dvm-tm.cjs"), "update", vg, "--devices", devs.join(","), "--", "node", "-e", slow],
      toolEnv(),
    );
    await sleep(700);
    assert.ok(existsSync(join(LOCK_DIR, `V_${vg}`)), "dvm's lock file is where LVM2 keeps its own");
    const nowait = lab.lvmRaw(
      ["vgchange", "-q", "--addtag", "nowait", "--config", "global { wait_for_locks = 0 }", vg],
      devs,
    );
    assert.notEqual(nowait.status, 0, "LVM2 must not change the VG while dvm holds its lock");
    // LVM2 waiting for the lock finishes after dvm, on top of dvm's commit.
    const waiter = start(
      "lvm",
      ["vgchange", "-q", "--addtag", "fromlvm", vg, "--devices", devs.join(",")],
      lab.env,
    );
    const [d, l] = await Promise.all([holder, waiter]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(l.code, 0, l.stderr);
    assert.equal(seqno(), s0 + 2);
    assert.equal(tags(), "fromdvm,fromlvm");
  });

  test("dvm keeps out while the VG lock is held elsewhere (--nowait: exit 5; else it waits)", async () => {
    const s0 = seqno();
    // flock(1) on LVM2's lock file stands in for an LVM2 command holding it.
    const tStart = Date.now();
    const holder = start("flock", [join(LOCK_DIR, `V_${vg}`), "sleep", "8"], process.env);
    await sleep(500);
    const lvmTry = lab.lvmRaw(
      ["vgchange", "-q", "--addtag", "x", "--config", "global { wait_for_locks = 0 }", vg],
      devs,
    );
    assert.notEqual(lvmTry.status, 0, "LVM2 itself honours the lock file");
    const tm = (extra: string[]) =>
      spawnSync(
        process.execPath,
        [
          join(DIST, "dvm-tm.cjs"),
          "update",
          vg,
          "--devices",
          devs.join(","),
          ...extra,
          "--",
          "node",
          EDIT,
          "tag",
          "waited",
        ],
        { env: toolEnv() },
      );
    const fast = tm(["--nowait"]);
    assert.equal(fast.status, 5, fast.stderr.toString());
    assert.match(fast.stderr.toString(), /locked by another process/);
    // (LVM2's vgs would wait for the lock here: it takes it shared. dvm reads without locking.)
    const read = spawnSync(
      process.execPath,
      [join(DIST, "dvm-tm.cjs"), "read", vg, "--devices", devs.join(",")],
      {
        env: toolEnv(),
      },
    );
    assert.equal(JSON.parse(read.stdout.toString()).vg.seqno, s0);
    const t0 = Date.now();
    const waited = tm([]);
    assert.equal(waited.status, 0, waited.stderr.toString());
    // The holder lets go 8 s after it started; dvm can only have finished after that.
    assert.ok(
      Date.now() - tStart > 7500,
      `dvm finished ${Date.now() - tStart} ms in, before the lock was free`,
    );
    assert.ok(Date.now() - t0 > 500, "dvm should have waited for the lock");
    await holder;
    assert.equal(seqno(), s0 + 1);
    assert.equal(tags(), "waited");
  });
});
