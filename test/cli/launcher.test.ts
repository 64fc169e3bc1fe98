import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { copyTool, DIST, ensureBuilt, scratch, toolEnv } from "../helpers.ts";

/** dist/TOOL.cjs runs dist/code/TOOL.js with the build's V8 code cache (scripts/launcher.cjs). */

ensureBuilt();
const TOOLS = readdirSync(DIST)
  .filter((f) => f.endsWith(".cjs"))
  .map((f) => f.slice(0, -4));
const { dir, cleanup } = scratch("dvm-launcher-");
after(cleanup);

/** The cache the build made for a bundle: named after the hash on the bundle's first line. */
const cacheOf = (dir: string, tool: string) => {
  const first = readFileSync(join(dir, "code", `${tool}.js`), "utf8").split("\n", 1)[0]!;
  const m = /^\/\/dvm-bundle ([0-9a-f]{16})$/.exec(first);
  assert.ok(m, `${tool}: first line ${first}`);
  return join(dir, "code", `${tool}.${m[1]}.cache`);
};

const node = (args: string[]) => {
  const r = spawnSync(process.execPath, args, { env: toolEnv() });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

describe("launcher", () => {
  test("every tool has a launcher, a bundle and a code cache", () => {
    assert.ok(TOOLS.includes("dvm") && TOOLS.includes("dvm-tm") && TOOLS.length >= 10, TOOLS.join(" "));
    const code = readdirSync(join(DIST, "code"));
    for (const t of TOOLS) {
      const caches = code.filter((f) => f.startsWith(`${t}.`) && f.endsWith(".cache"));
      assert.deepEqual(
        caches.map((f) => join(DIST, "code", f)),
        [cacheOf(DIST, t)],
        "one cache, this build's",
      );
    }
  });

  test("a plain node accepts every code cache the build made", () => {
    // What the launcher does, asking V8 whether it took the cache.
    const check = `
      const { readFileSync } = require("node:fs"); const { Script } = require("node:vm");
      for (let i = 1; i < process.argv.length; i += 2) {
        const [f, c] = process.argv.slice(i, i + 2);
        const s = new Script(readFileSync(f, "utf8"), { filename: f, cachedData: readFileSync(c) });
        if (s.cachedDataRejected) { console.log("rejected " + c); process.exitCode = 1; }
      }`;
    const r = node(["-e", check, ...TOOLS.flatMap((t) => [join(DIST, "code", `${t}.js`), cacheOf(DIST, t)])]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test("a tool runs without its cache, and with a cache V8 rejects", () => {
    const copy = join(dir, "nocache");
    copyTool("dvm-report", copy, false);
    assert.equal(node([join(copy, "dvm-report.cjs"), "--version"]).stdout, "dvm-report 0.1.0\n");
    writeFileSync(cacheOf(copy, "dvm-report"), Buffer.alloc(4096, 0x5a));
    const r = node([join(copy, "dvm-report.cjs"), "--version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "dvm-report 0.1.0\n");
  });

  test("a rebuilt bundle never runs with the cache of the build before", () => {
    // V8 takes a cache made from another source of the same length, and runs that source's code.
    const copy = join(dir, "rebuilt");
    copyTool("dvm-report", copy);
    const source = readFileSync(join(DIST, "code", "dvm-report.js"), "utf8");
    const body = source.slice(source.indexOf("\n") + 1).replace('"0.1.0"', '"9.9.9"');
    assert.equal(body.length, source.length - source.indexOf("\n") - 1, "same length");
    // As scripts/build.mjs names a bundle.
    const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
    writeFileSync(join(copy, "code", "dvm-report.js"), `//dvm-bundle ${hash}\n${body}`);
    const r = node([join(copy, "dvm-report.cjs"), "--version"]);
    assert.equal(r.stdout, "dvm-report 9.9.9\n", r.stderr);
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
