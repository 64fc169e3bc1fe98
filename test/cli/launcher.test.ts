import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DIST, ensureBuilt, scratch, toolEnv } from "../helpers.ts";

/** dist/TOOL.cjs runs dist/code/TOOL.js with the build's V8 code cache (scripts/launcher.cjs). */

ensureBuilt();
const TOOLS = readdirSync(DIST)
  .filter((f) => f.endsWith(".cjs"))
  .map((f) => f.slice(0, -4));
const { dir, cleanup } = scratch("dvm-launcher-");
after(cleanup);

const node = (args: string[]) => {
  const r = spawnSync(process.execPath, args, { env: toolEnv() });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

describe("launcher", () => {
  test("every tool has a launcher, a bundle and a code cache", () => {
    assert.ok(TOOLS.includes("dvm") && TOOLS.includes("dvm-tm") && TOOLS.length >= 10, TOOLS.join(" "));
    const code = readdirSync(join(DIST, "code"));
    for (const t of TOOLS) assert.ok(code.includes(`${t}.js`) && code.includes(`${t}.cache`), t);
  });

  test("a plain node accepts every code cache the build made", () => {
    // What the launcher does, asking V8 whether it took the cache.
    const check = `
      const { readFileSync } = require("node:fs"); const { Script } = require("node:vm");
      for (const f of process.argv.slice(1)) {
        const s = new Script(readFileSync(f + ".js", "utf8"), { filename: f + ".js", cachedData: readFileSync(f + ".cache") });
        if (s.cachedDataRejected) { console.log("rejected " + f); process.exitCode = 1; }
      }`;
    const r = node(["-e", check, ...TOOLS.map((t) => join(DIST, "code", t))]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test("a tool runs without its cache, and with a cache V8 rejects", () => {
    const copy = join(dir, "nocache");
    mkdirSync(join(copy, "code"), { recursive: true });
    cpSync(join(DIST, "dvm-report.cjs"), join(copy, "dvm-report.cjs"));
    cpSync(join(DIST, "code", "dvm-report.js"), join(copy, "code", "dvm-report.js"));
    assert.equal(node([join(copy, "dvm-report.cjs"), "--version"]).stdout, "dvm-report 0.1.0\n");
    writeFileSync(join(copy, "code", "dvm-report.cache"), Buffer.alloc(4096, 0x5a));
    const r = node([join(copy, "dvm-report.cjs"), "--version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "dvm-report 0.1.0\n");
  });

  test("through a symlink (npm's bin links), run as an executable, a tool finds its bundle and its siblings", () => {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(join(DIST, "dvm.cjs"), join(bin, "dvm"));
    const r = spawnSync(join(bin, "dvm"), ["--version"], { env: toolEnv() });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), "dvm 0.1.0\n");
    // The wrapper's --pipeline runs dvm-manip from beside its own bundle (import.meta.url).
    const imgs = scratch("dvm-launcher-img-");
    try {
      const img = join(imgs.dir, "a.img");
      writeFileSync(img, "");
      spawnSync("truncate", ["-s", "64M", img]);
      const g = ["--devices", img, "--lock-dir", imgs.dir];
      const run = (...a: string[]) => spawnSync(join(bin, "dvm"), [...a, ...g], { env: toolEnv() });
      const vg = run("vg", "create", "lnch", img, "--pipeline", "--verbose");
      assert.equal(vg.status, 0, vg.stderr.toString());
      assert.match(vg.stderr.toString(), /dvm: running dvm-manip vg-create lnch/);
      const lvs = run("report", "vgs", "--reportformat", "json");
      assert.match(lvs.stdout.toString(), /"vg_name":"lnch"/);
    } finally {
      imgs.cleanup();
    }
  });
});
