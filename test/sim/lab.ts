import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DmDevice, DmStateDoc } from "../../src/dm/docs.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { DIST, image, type RunResult, scratch, toolEnv } from "../helpers.js";

/**
 * A sim-tier lab: image files, a sim state folder, and the dvm wrapper run
 * as a process on them (no root, no kernel device-mapper).
 */
export class SimLab {
  readonly dir: string;
  readonly simDir: string;
  readonly images: string[];
  private readonly done: () => void;

  constructor(imagesMiB: number[]) {
    const s = scratch("dvm-sim-");
    this.dir = s.dir;
    this.done = s.cleanup;
    this.simDir = join(this.dir, "sim");
    this.images = imagesMiB.map((m, i) => image(this.dir, `pv${i}.img`, m));
  }

  /** Run `dvm ARGS` on the lab's images and sim; `env` adds fault switches. */
  dvm(
    args: string[],
    opts: { input?: string | Buffer; env?: Record<string, string> } = {},
  ): RunResult & {
    raw: Buffer;
  } {
    const r = spawnSync(
      process.execPath,
      [
        join(DIST, "dvm.cjs"),
        ...args,
        "--devices",
        this.images.join(","),
        "--dm-backend",
        "sim",
        "--sim-dir",
        this.simDir,
      ],
      { input: opts.input ?? "", env: { ...toolEnv(), ...opts.env }, maxBuffer: 1 << 28 },
    );
    return {
      status: r.status ?? -1,
      stdout: r.stdout.toString(),
      stderr: r.stderr.toString(),
      raw: r.stdout,
    };
  }

  /** Like dvm(), but the command must succeed. */
  ok(args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}) {
    const r = this.dvm(args, opts);
    if (r.status !== 0) throw new Error(`dvm ${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
    return r;
  }

  vg(name: string): VgDoc {
    return JSON.parse(this.ok(["tm", "read", name]).stdout) as VgDoc;
  }

  state(): DmStateDoc {
    return JSON.parse(this.ok(["dmexec", "state"]).stdout) as DmStateDoc;
  }

  device(name: string): DmDevice | undefined {
    return this.state().devices.find((d) => d.name === name);
  }

  write(dev: string, offset: number, data: Buffer) {
    this.ok(["dmsim", "write", dev, String(offset), String(data.length)], { input: data });
  }

  read(dev: string, offset: number, length: number): Buffer {
    return this.ok(["dmsim", "read", dev, String(offset), String(length)]).raw;
  }

  /** Bytes of a PV image file. */
  pvBytes(pv: number, offset: number, length: number): Buffer {
    return readFileSync(this.images[pv]!).subarray(offset, offset + length);
  }

  cleanup() {
    this.done();
  }
}

/** Deterministic test data: `n` bytes seeded by `seed`. */
export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
