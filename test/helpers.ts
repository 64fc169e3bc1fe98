import { spawnSync } from "node:child_process";
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Shared helpers for tests that run the built tools as processes. */

export const ROOT = new URL("..", import.meta.url).pathname;
export const DIST = join(ROOT, "dist");

export const toolEnv = () => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
};

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run a bundled tool (dist/NAME.cjs) with optional stdin. */
export function run(tool: string, args: string[], input = ""): RunResult {
  const r = spawnSync(process.execPath, [join(DIST, `${tool}.cjs`), ...args], {
    input,
    env: toolEnv(),
    maxBuffer: 1 << 28,
  });
  return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A scratch directory removed by the returned cleanup function. */
export function scratch(prefix = "dvm-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A sparse image file of `mib` MiB. */
export function image(dir: string, name: string, mib: number): string {
  const p = join(dir, name);
  writeFileSync(p, "");
  truncateSync(p, mib * 1024 * 1024);
  return p;
}

/** Build the bundles when `tool` is missing from dist/ (a tier run on its own, on a fresh checkout). */
export function ensureBuilt(tool = "dvm"): void {
  if (existsSync(join(DIST, `${tool}.cjs`))) return;
  const r = spawnSync(process.execPath, [join(ROOT, "scripts/build.mjs")], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed (exit ${r.status})`);
}

/** `len` bytes of a file (an image, read on the host) from byte `at`. */
export function fileBytes(path: string, at: number, len: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, at);
    return b;
  } finally {
    closeSync(fd);
  }
}

/**
 * A built tool as the build lays it out (TOOL.cjs, code/TOOL.js and, unless `cache` is false,
 * its code cache), copied into `dir`: away from node_modules, or onto a VM's share.
 */
export function copyTool(tool: string, dir: string, cache = true): void {
  mkdirSync(join(dir, "code"), { recursive: true });
  cpSync(join(DIST, `${tool}.cjs`), join(dir, `${tool}.cjs`));
  for (const f of readdirSync(join(DIST, "code")))
    if (f === `${tool}.js` || (cache && f.startsWith(`${tool}.`) && f.endsWith(".cache")))
      cpSync(join(DIST, "code", f), join(dir, "code", f));
}
