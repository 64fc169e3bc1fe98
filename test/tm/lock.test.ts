import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DvmError } from "../../src/lib/errors.ts";
import { GLOBAL_LOCK, lockAll, lockFile } from "../../src/tm/lock.ts";
import { copyTool, ensureBuilt, image, scratch, toolEnv } from "../helpers.ts";

describe("VG lock files (flock)", () => {
  let s: ReturnType<typeof scratch>;
  before(() => {
    s = scratch();
  });
  after(() => s.cleanup());

  test("a held lock refuses a second taker with --nowait (exit 5), and is free after release", () => {
    const dir = join(s.dir, "a");
    const l = lockFile("V_vg0", { lockDir: dir });
    assert.ok(existsSync(join(dir, "V_vg0")));
    assert.throws(
      () => lockFile("V_vg0", { lockDir: dir, nowait: true }),
      (e: DvmError) => e.exitCode === 5 && /locked by another process/.test(e.message),
    );
    l.release();
    lockFile("V_vg0", { lockDir: dir, nowait: true }).release();
  });

  test("lockAll takes the global lock first and releases everything on failure", () => {
    const dir = join(s.dir, "b");
    const held = lockFile("V_b", { lockDir: dir });
    assert.throws(() => lockAll(["V_a", "V_b", GLOBAL_LOCK], { lockDir: dir, nowait: true }));
    // Neither P_global nor V_a stayed locked by the failed attempt.
    lockAll(["V_a", GLOBAL_LOCK], { lockDir: dir, nowait: true }).release();
    held.release();
  });

  test("a waiter gets the lock when another process lets go", async () => {
    const dir = join(s.dir, "c");
    lockFile("V_c", { lockDir: dir }).release();
    const holder = spawn("flock", [join(dir, "V_c"), "sleep", "1"]);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const l = lockFile("V_c", { lockDir: dir });
    assert.ok(Date.now() - t0 > 300, "should have waited");
    l.release();
    await new Promise((r) => holder.on("close", r));
  });

  test("without koffi a transaction stops before any read or write, naming what is missing", () => {
    // dist/dvm-tm.cjs and its bundle alone, out of reach of node_modules/koffi.
    ensureBuilt("dvm-tm");
    const bare = join(s.dir, "bare");
    copyTool("dvm-tm", bare);
    const img = image(s.dir, "nokoffi.img", 8);
    const args = ["update", "vg0", "--devices", img, "--lock-dir", join(s.dir, "nk"), "--", "true"];
    const r = spawnSync(process.execPath, [join(bare, "dvm-tm.cjs"), ...args], { env: toolEnv() });
    assert.equal(r.status, 10, r.stderr.toString());
    assert.equal(
      r.stderr.toString().split("\n")[0],
      "dvm-tm: error: cannot take VG locks: koffi, dvm's FFI for flock(2), could not be loaded (Cannot find module 'koffi'); reinstall dvm with its dependencies",
    );
    assert.doesNotMatch(r.stderr.toString(), /\n\s+at /, "no stack trace");
    assert.ok(
      readFileSync(img).every((b) => b === 0),
      "the device is untouched",
    );
  });
});
