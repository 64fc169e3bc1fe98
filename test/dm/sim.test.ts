import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { DmFailure, type ErrnoName } from "../../src/dm/backend.js";
import { SimBackend, type SimFault, type SimOptions } from "../../src/dm/sim/index.js";
import type { TargetLine } from "../../src/dm/target.js";
import { fileBytes } from "../helpers.ts";

// ---- helpers ----

const ROOT = new URL("../..", import.meta.url).pathname;
const SIM_MODULE = join(ROOT, "src/dm/sim/index.ts");
const scratchDirs: string[] = [];
after(() => {
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
});

/** Mirror recovery frozen (rate 0) unless asked: these tests drive it with tick() (time-based: sim-mirror.test.ts). */
function setup(opts?: SimOptions) {
  const dir = mkdtempSync(join(tmpdir(), "dvm-sim-"));
  scratchDirs.push(dir);
  const simDir = join(dir, "sim");
  const sim = new SimBackend(simDir, { mirrorRate: 0, ...opts });
  /** A zeroed image file of `sectors` 512-byte sectors. */
  const img = (name: string, sectors: number) => {
    const p = join(dir, name);
    writeFileSync(p, "");
    truncateSync(p, sectors * 512);
    return p;
  };
  return { dir, simDir, sim, img };
}

function throwsErrno(fn: () => unknown, errno: ErrnoName, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DmFailure, `expected a DmFailure, got ${String(e)}`);
    assert.equal(e.errno, errno, `errno of: ${e.message}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

const linear = (start: number, len: number, device: string, offset = 0): TargetLine => ({
  start_sectors: start,
  length_sectors: len,
  type: "linear",
  device,
  offset_sectors: offset,
});
const striped = (start: number, len: number, chunk: number, stripes: [string, number][]): TargetLine => ({
  start_sectors: start,
  length_sectors: len,
  type: "striped",
  chunk_sectors: chunk,
  stripes: stripes.map(([device, offset_sectors]) => ({ device, offset_sectors })),
});
const errorT = (start: number, len: number) =>
  ({ start_sectors: start, length_sectors: len, type: "error" }) as TargetLine;
const zeroT = (start: number, len: number) =>
  ({ start_sectors: start, length_sectors: len, type: "zero" }) as TargetLine;
/** A target written as kernel parameter text (for arguments the typed lines cannot even hold). */
const raw = (start: number, len: number, type: string, params: string): TargetLine => ({
  start_sectors: start,
  length_sectors: len,
  type,
  params,
});

/** dmsetup create with a table: create + load + resume. */
function up(sim: SimBackend, name: string, table: TargetLine[], opts: { uuid?: string; ro?: boolean } = {}) {
  sim.create(name, opts.uuid);
  sim.load(name, table, opts.ro ?? false);
  sim.resume(name);
}

const info = (sim: SimBackend, name: string, inactive = false) => {
  const f = sim.query("info", name, inactive).replace(/\n$/, "").split("|");
  return {
    name: f[0],
    uuid: f[1],
    major: f[2],
    minor: f[3],
    open: Number(f[4]),
    segments: Number(f[5]),
    events: Number(f[6]),
    attr: f[7],
  };
};
const dev = (sim: SimBackend, name: string) => sim.state().devices.find((d) => d.name === name);

const childEnv = (extra: Record<string, string> = {}) => {
  const env: NodeJS.ProcessEnv = { ...process.env, DVM_SIM_MIRROR_RATE: "0", ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
};

/** Start a node process running `body` as an ES module with SimBackend and writeFileSync in scope. */
function startChild(body: string, env: Record<string, string> = {}): ChildProcess {
  const code = `import { SimBackend } from ${JSON.stringify(SIM_MODULE)};\nimport { writeFileSync } from "node:fs";\n${body}`;
  return spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function finished(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  return new Promise((res) => child.on("close", (code) => res({ code, stdout, stderr })));
}

const runChild = (body: string, env?: Record<string, string>) => finished(startChild(body, env));

// ---- device model (device-mapper.md §1, §7.2) ----

describe("sim: device lifecycle (§7.2)", () => {
  it("1: resume of a fresh device succeeds and does nothing", () => {
    const { sim } = setup();
    sim.create("a");
    sim.resume("a");
    assert.equal(sim.query("table", "a"), "\n");
    assert.equal(sim.query("info", "a"), "a||253|0|0|0|0|---w\n");
  });

  it("2: suspend then resume of a table-less device is EINVAL and leaves it suspended", () => {
    const { sim } = setup();
    sim.create("a");
    sim.suspend("a");
    throwsErrno(() => sim.resume("a"), "EINVAL");
    assert.equal(info(sim, "a").attr, "--sw");
    assert.equal(dev(sim, "a")!.suspended, true);
  });

  it("3: suspend is not nested: two suspends, one resume", () => {
    const { sim, img } = setup();
    up(sim, "a", [linear(0, 100, img("d", 100))]);
    sim.suspend("a");
    sim.suspend("a");
    assert.equal(info(sim, "a").attr, "L-sw");
    sim.resume("a");
    assert.equal(info(sim, "a").attr, "L--w");
  });

  it("4: adjacency: tables must start at 0 without gaps, overlaps or empty targets; a failed load keeps the staged table", () => {
    const { sim, img } = setup();
    const d = img("d", 400);
    sim.create("a");
    sim.load("a", [linear(0, 100, d), linear(100, 50, d, 200)], false);
    const staged = "0 100 linear 7:0 0\n100 50 linear 7:0 200\n";
    assert.equal(sim.query("table", "a", true), staged);
    for (const bad of [
      [linear(1, 100, d)],
      [linear(0, 100, d), linear(101, 50, d)],
      [linear(0, 100, d), linear(99, 50, d)],
      [linear(0, 100, d), linear(100, 0, d)],
      [linear(100, 50, d), linear(0, 100, d)],
    ]) {
      throwsErrno(() => sim.load("a", bad, false), "EINVAL");
      assert.equal(sim.query("table", "a", true), staged);
    }
    throwsErrno(() => sim.load("a", [], false), "EINVAL", /no targets/);
    throwsErrno(() => sim.load("a", [linear(1, 100, d)], false), "EINVAL", /Gap in table/);
    throwsErrno(() => sim.load("a", [linear(0, 0, d)], false), "EINVAL", /zero-length/);
    throwsErrno(() => sim.load("a", [raw(0, 10, "frobnicate", "")], false), "EINVAL", /unknown target type/);
    // Kernel order: the gap is found before the second target's bad arguments.
    throwsErrno(() => sim.load("a", [linear(0, 10, d), raw(11, 10, "linear", "x")], false), "EINVAL", /Gap/);
  });

  it("5: striped length must divide by stripes and per-stripe length by chunk", () => {
    const { sim, img } = setup();
    const [d1, d2, d3] = [img("d1", 2048), img("d2", 2048), img("d3", 2048)];
    sim.create("s");
    throwsErrno(
      () =>
        sim.load(
          "s",
          [
            striped(0, 1000, 8, [
              [d1, 0],
              [d2, 0],
              [d3, 0],
            ]),
          ],
          false,
        ),
      "EINVAL",
      /not divisible by number of stripes/,
    );
    throwsErrno(
      () =>
        sim.load(
          "s",
          [
            striped(0, 960, 128, [
              [d1, 0],
              [d2, 0],
            ]),
          ],
          false,
        ),
      "EINVAL",
      /not divisible by chunk size/,
    );
    throwsErrno(() => sim.load("s", [raw(0, 960, "striped", `2 0 ${d1} 0 ${d2} 0`)], false), "EINVAL");
    throwsErrno(() => sim.load("s", [raw(0, 960, "striped", `2 8 ${d1} 0`)], false), "EINVAL");
    sim.load(
      "s",
      [
        striped(0, 1024, 128, [
          [d1, 0],
          [d2, 0],
        ]),
      ],
      false,
    );
    assert.equal(sim.query("table", "s", true), "0 1024 striped 2 128 7:0 0 7:1 0\n");
  });

  it("6: a device used by another's table (live or only inactive) cannot be removed", () => {
    const { sim, img } = setup();
    const d = img("d", 100);
    up(sim, "b", [linear(0, 100, d)]);
    up(sim, "a", [linear(0, 100, "/dev/mapper/b")]);
    throwsErrno(() => sim.remove("b"), "EBUSY");
    sim.remove("a");
    sim.remove("b");

    up(sim, "b", [linear(0, 100, d)]);
    sim.create("a");
    sim.load("a", [linear(0, 100, "/dev/mapper/b")], false);
    throwsErrno(() => sim.remove("b"), "EBUSY");
    sim.clear("a");
    sim.remove("b");
    assert.deepEqual(
      sim.state().devices.map((x) => x.name),
      ["a"],
    );
  });

  it("7: inactive tables hold their devices", () => {
    const { sim, img } = setup();
    up(sim, "b", [linear(0, 100, img("b", 100))]);
    up(sim, "c", [linear(0, 100, img("c", 100))]);
    up(sim, "a", [linear(0, 100, "/dev/mapper/b")]);
    sim.load("a", [linear(0, 100, "/dev/mapper/c")], false);
    throwsErrno(() => sim.remove("c"), "EBUSY");
    assert.deepEqual(dev(sim, "a")!.depends_on, ["b", "c"]);
    sim.resume("a");
    // The swap released b.
    sim.remove("b");
    throwsErrno(() => sim.remove("c"), "EBUSY");
  });

  it("8: open count counts distinct upper devices, not targets", () => {
    const { sim, img } = setup();
    up(sim, "b", [linear(0, 200, img("b", 200))]);
    up(sim, "a", [linear(0, 100, "/dev/mapper/b"), linear(100, 100, "/dev/mapper/b", 100)]);
    up(sim, "c", [linear(0, 50, "/dev/mapper/b")]);
    assert.equal(info(sim, "b").open, 2);
    assert.equal(dev(sim, "b")!.open_count, 2);
    sim.open("b");
    assert.equal(info(sim, "b").open, 3);
    sim.close("b");
    throwsErrno(() => sim.close("b"), "EINVAL");
  });

  it("9: deps list the table's devices in reverse order of first reference", () => {
    const { sim, img } = setup();
    const d = img("d", 100);
    up(sim, "x0", [linear(0, 100, d)]);
    up(sim, "x1", [linear(0, 100, d)]);
    up(sim, "x2", [linear(0, 100, d)]);
    up(sim, "top", [linear(0, 50, "253:1"), linear(50, 50, "253:2"), linear(100, 50, "253:1", 50)]);
    assert.equal(sim.query("deps", "top"), "2 dependencies\t: (253, 2) (253, 1)\n");
    assert.equal(sim.query("deps", "top", true), "0 dependencies\t:\n");
    assert.equal(sim.query("deps", "x0"), "1 dependencies\t: (7, 0)\n");
  });

  it("10: rename onto an existing name is EBUSY; a uuid can only be set once", () => {
    const { sim } = setup();
    sim.create("a");
    sim.create("b", "U-b");
    throwsErrno(() => sim.rename("a", "b"), "EBUSY");
    throwsErrno(() => sim.rename("a", "a"), "EBUSY");
    throwsErrno(() => sim.setUuid("b", "U-new"), "EINVAL", /already has uuid/);
    throwsErrno(() => sim.setUuid("a", "U-b"), "EBUSY");
    sim.setUuid("a", "U-a");
    assert.equal(info(sim, "a").uuid, "U-a");
    throwsErrno(() => sim.rename("a", "x/y"), "EINVAL");
    throwsErrno(() => sim.rename("nope", "c"), "ENXIO");
    // Kernel order: the new name is checked before the source is looked up.
    throwsErrno(() => sim.rename("nope", "b"), "EBUSY");
    sim.rename("a", "c");
    assert.deepEqual(
      sim.state().devices.map((d) => [d.name, d.uuid, d.minor]),
      [
        ["b", "U-b", 1],
        ["c", "U-a", 0],
      ],
    );
  });

  it("11: event_nr: unchanged by load+resume, +1 on rename only with a live table", () => {
    const { sim, img } = setup();
    const d = img("d", 100);
    sim.create("a");
    sim.rename("a", "a2");
    assert.equal(info(sim, "a2").events, 0);
    sim.load("a2", [linear(0, 100, d)], false);
    sim.resume("a2");
    sim.load("a2", [linear(0, 50, d)], false);
    sim.resume("a2");
    assert.equal(info(sim, "a2").events, 0);
    sim.rename("a2", "a3");
    assert.equal(info(sim, "a3").events, 1);
  });

  it("12: wait returns at once for a stale event number and waits for a new event", () => {
    const { sim, img } = setup();
    up(sim, "m", [raw(0, 1024, "mirror", `core 1 512 2 ${img("l0", 1024)} 0 ${img("l1", 1024)} 0`)]);
    sim.rename("m", "m2");
    assert.equal(sim.waitEvent("m2", 0), 1);
    throwsErrno(() => sim.waitEvent("m2", 1, { timeoutMs: 60 }), "EINTR");
    sim.tick("m2", 1);
    assert.equal(info(sim, "m2").events, 1);
    sim.tick("m2", 1);
    // The mirror came in sync: a target event.
    assert.equal(sim.waitEvent("m2", 1), 2);
    sim.tick("m2", 1);
    assert.equal(info(sim, "m2").events, 2);
  });

  it("13: a later table too big for its device loads, but its resume fails: suspended, old table live, staged gone", () => {
    const { sim, img } = setup();
    const d = img("d", 100);
    up(sim, "a", [linear(0, 100, d)]);
    sim.load("a", [linear(0, 100, d, 50)], false);
    throwsErrno(() => sim.resume("a"), "EINVAL", /too small/);
    assert.equal(info(sim, "a").attr, "L-sw");
    assert.equal(sim.query("table", "a"), "0 100 linear 7:0 0\n");
    assert.equal(sim.query("table", "a", true), "\n");
    sim.resume("a");
    assert.equal(info(sim, "a").attr, "L--w");
  });

  it("14: the same oversize table as a device's first table fails at load", () => {
    const { sim, img } = setup();
    const d = img("d", 100);
    sim.create("a");
    throwsErrno(() => sim.load("a", [linear(0, 100, d, 50)], false), "EINVAL", /too small/);
    throwsErrno(
      () =>
        sim.load(
          "a",
          [
            striped(0, 200, 8, [
              [d, 0],
              [d, 8],
            ]),
          ],
          false,
        ),
      "EINVAL",
    );
    assert.equal(info(sim, "a").attr, "---w");
    // A grown image is seen at the next load.
    truncateSync(d, 150 * 512);
    sim.load("a", [linear(0, 100, d, 50)], false);
    assert.equal(sim.state().disks![0]!.size_sectors, 150);
  });

  it("size-0 devices are never checked; a device without any table yet cannot be opened", () => {
    const { sim, img } = setup();
    sim.create("low");
    sim.create("up");
    throwsErrno(() => sim.load("up", [linear(0, 100, "/dev/mapper/low")], false), "ENXIO", /no disk yet/);
    sim.load("low", [linear(0, 100, img("d", 100))], false);
    // low has a disk now but size 0 (nothing live): the first-load check skips it.
    sim.load("up", [linear(0, 1000, "/dev/mapper/low", 5000)], false);
    // At resume low still has size 0, so the swap passes too.
    sim.resume("up");
    assert.equal(info(sim, "up").attr, "L--w");
    sim.resume("low");
    sim.load("up", [linear(0, 1000, "/dev/mapper/low", 5000)], false);
    throwsErrno(() => sim.resume("up"), "EINVAL");
  });

  it("15: missing referenced devices: ENXIO for maj:min, ENOENT for a path, ENOTBLK for a directory", () => {
    const { sim, dir, img } = setup();
    sim.create("a");
    throwsErrno(() => sim.load("a", [linear(0, 10, "9:99")], false), "ENXIO");
    throwsErrno(() => sim.load("a", [linear(0, 10, "253:7")], false), "ENXIO");
    throwsErrno(() => sim.load("a", [linear(0, 10, "7:3")], false), "ENXIO");
    throwsErrno(() => sim.load("a", [linear(0, 10, "4096:0")], false), "EOVERFLOW");
    throwsErrno(() => sim.load("a", [linear(0, 10, "/dev/nope")], false), "ENOENT");
    throwsErrno(() => sim.load("a", [linear(0, 10, join(dir, "missing.img"))], false), "ENOENT");
    throwsErrno(() => sim.load("a", [linear(0, 10, "/dev/mapper/nope")], false), "ENOENT");
    throwsErrno(() => sim.load("a", [linear(0, 10, "/dev/dm-42")], false), "ENOENT");
    throwsErrno(() => sim.load("a", [linear(0, 10, dir)], false), "ENOTBLK");
    throwsErrno(() => sim.load("a", [linear(0, 10, "/dev/mapper/control")], false), "ENOTBLK");
    // A device may not reference itself, whatever the spelling.
    for (const self of ["/dev/mapper/a", "253:0", "/dev/dm-0"])
      throwsErrno(() => sim.load("a", [linear(0, 10, self)], false), "EINVAL", /itself/);
    // The first error in target order wins.
    throwsErrno(
      () =>
        sim.load(
          "a",
          [linear(0, 10, img("d", 100)), linear(10, 10, "9:99"), linear(20, 10, "/dev/nope")],
          false,
        ),
      "ENXIO",
    );
    assert.equal(info(sim, "a").attr, "---w");
  });

  it("16: create rules: unique name and uuid, valid names, minors", () => {
    const { sim } = setup();
    sim.create("a", "U-1");
    throwsErrno(() => sim.create("b", "U-1"), "EBUSY");
    throwsErrno(() => sim.create("a"), "EBUSY");
    for (const bad of ["control", ".", "..", "", "x/y", "n".repeat(128)])
      throwsErrno(() => sim.create(bad), "EINVAL");
    sim.create("n".repeat(127));
    throwsErrno(() => sim.create("u", "u".repeat(129)), "EINVAL");
    sim.create("u", "u".repeat(128));
    throwsErrno(() => sim.create("m", undefined, { minor: 0 }), "EBUSY");
    throwsErrno(() => sim.create("m", undefined, { minor: 1 << 20 }), "EINVAL");
    sim.create("m", undefined, { minor: 9 });
    assert.equal(info(sim, "m").minor, "9");
  });

  it("minors: lowest free from 0, reused after remove; list sorted by name", () => {
    const { sim } = setup();
    for (const n of ["c", "a", "b"]) sim.create(n);
    sim.remove("a");
    sim.create("z");
    sim.create("y");
    assert.deepEqual(
      sim.state().devices.map((d) => `${d.name}:${d.minor}`),
      ["b:2", "c:0", "y:3", "z:1"],
    );
  });

  it("lookup uses exactly one key, uuid before name before number, and answers the canonical identity", () => {
    const { sim } = setup();
    sim.create("a", "U-a");
    sim.create("b");
    assert.deepEqual(sim.lookup({ uuid: "U-a" }), { name: "a", uuid: "U-a", major: 253, minor: 0 });
    assert.deepEqual(sim.lookup({ name: "b" }), { name: "b", major: 253, minor: 1 });
    assert.deepEqual(sim.lookup({ major: 253, minor: 0 }), { name: "a", uuid: "U-a", major: 253, minor: 0 });
    throwsErrno(() => sim.lookup({ name: "a", uuid: "U-a" }), "EINVAL");
    throwsErrno(() => sim.lookup({ name: "a", major: 253, minor: 0 }), "ENXIO");
    throwsErrno(() => sim.lookup({ major: 7, minor: 0 }), "ENXIO");
    throwsErrno(() => sim.lookup({ uuid: "U-b" }), "ENXIO");
    throwsErrno(() => sim.lookup({}), "ENXIO");
  });

  it("20: mirror constructor checks", () => {
    const { sim, img } = setup();
    const [l0, l1] = [img("l0", 4096), img("l1", 4096)];
    const legs = (n: number) =>
      `${n} ${Array.from({ length: n }, (_, i) => `${i % 2 ? l1 : l0} 0`).join(" ")}`;
    sim.create("m");
    const bad = [
      `core 1 1000 ${legs(2)}`,
      `core 1 1 ${legs(2)}`,
      `core 1 8192 ${legs(2)}`,
      `core 1 1024 ${legs(10)}`,
      `core 1 1024 ${legs(1)}`,
      `core 1 1024 ${legs(2)} 1 keep_log`,
      `core 1 1024 ${legs(2)} 1 frob`,
      `core 1 1024 ${legs(2)} 2 handle_errors`,
      `core 1 1024 ${legs(2)} 1 handle_errors extra`,
      `core 2 1024 maybe ${legs(2)}`,
      `core 3 1024 sync x ${legs(2)}`,
      `disk 1 1024 ${legs(2)}`,
      `fancy 1 1024 ${legs(2)}`,
    ];
    for (const p of bad) throwsErrno(() => sim.load("m", [raw(0, 4096, "mirror", p)], false), "EINVAL");
    sim.load("m", [raw(0, 4096, "mirror", `core 2 1024 nosync ${legs(9)} 2 keep_log handle_errors`)], false);
    assert.match(sim.query("table", "m", true), / 2 handle_errors keep_log\n$/);
    sim.load("m", [raw(0, 4096, "mirror", `core 1 1024 ${legs(2)} 1 handle_errors`)], false);
    assert.equal(sim.query("table", "m", true), "0 4096 mirror core 1 1024 2 7:0 0 7:1 0 1 handle_errors\n");
  });

  it("21: table of an error target keeps the trailing space", () => {
    const { sim } = setup();
    up(sim, "e", [errorT(0, 2048)]);
    assert.equal(sim.query("table", "e"), "0 2048 error \n");
    assert.equal(sim.query("status", "e"), "0 2048 error \n");
    throwsErrno(() => sim.load("e", [raw(0, 8, "zero", "1")], false), "EINVAL");
  });

  it("24: messages: no live table is a silent success; otherwise no target takes messages", () => {
    const { sim, img } = setup();
    sim.create("a");
    assert.equal(sim.message("a", 0, "anything at all"), "");
    throwsErrno(() => sim.message("a", 0, "  "), "EINVAL", /empty/);
    throwsErrno(() => sim.message("nope", 0, "x"), "ENXIO");
    up(sim, "b", [linear(0, 100, img("d", 100))]);
    throwsErrno(() => sim.message("b", 0, "hello"), "EINVAL", /does not support messages/);
    throwsErrno(() => sim.message("b", 100, "hello"), "EINVAL", /outside/);
    throwsErrno(() => sim.message("b", 0, "@stats_list"), "EINVAL");
    assert.equal(sim.message("b", 0, "@cancel_deferred_remove"), "");
  });

  it("26: deferred remove of an open device; the last close removes it", () => {
    const { sim, img } = setup();
    up(sim, "a", [linear(0, 100, img("d", 100))]);
    sim.open("a");
    throwsErrno(() => sim.remove("a"), "EBUSY");
    sim.remove("a", { deferred: true });
    assert.equal(dev(sim, "a")!.deferred_remove, true);
    assert.equal(info(sim, "a").open, 1);
    sim.close("a");
    assert.equal(dev(sim, "a"), undefined);

    // Cancelled by the core message.
    up(sim, "b", [linear(0, 100, img("d2", 100))]);
    sim.open("b");
    sim.remove("b", { deferred: true });
    sim.message("b", 0, "@cancel_deferred_remove");
    sim.close("b");
    assert.ok(dev(sim, "b"));

    // Held by an upper table: removing the upper device releases it, and it goes.
    up(sim, "top", [linear(0, 100, "/dev/mapper/b")]);
    sim.remove("b", { deferred: true });
    assert.ok(dev(sim, "b"));
    sim.remove("top");
    assert.equal(dev(sim, "b"), undefined);

    // Not open: deferred remove removes at once.
    sim.create("c");
    sim.remove("c", { deferred: true });
    assert.equal(dev(sim, "c"), undefined);
  });

  it("30: resume with a staged table on an active device suspends, swaps and resumes", () => {
    const { sim, img } = setup();
    const d = img("d", 200);
    up(sim, "a", [linear(0, 100, d)]);
    sim.load("a", [linear(0, 200, d)], true);
    assert.equal(info(sim, "a").attr, "LI-w");
    assert.equal(info(sim, "a", true).attr, "LI-r");
    assert.equal(info(sim, "a", true).segments, 1);
    sim.resume("a");
    assert.equal(info(sim, "a").attr, "L--r");
    assert.equal(sim.query("table", "a"), "0 200 linear 7:0 0\n");
    assert.equal(dev(sim, "a")!.read_only, true);
  });
});

describe("sim: misuse matrix (§1.10)", () => {
  it("a missing device is ENXIO for every op but create", () => {
    const { sim } = setup();
    const ops: [string, () => unknown][] = [
      ["load", () => sim.load("x", [zeroT(0, 8)], false)],
      ["suspend", () => sim.suspend("x")],
      ["resume", () => sim.resume("x")],
      ["clear", () => sim.clear("x")],
      ["remove", () => sim.remove("x")],
      ["rename", () => sim.rename("x", "y")],
      ["setUuid", () => sim.setUuid("x", "U")],
      ["message", () => sim.message("x", 0, "m")],
      ["table", () => sim.query("table", "x")],
      ["status", () => sim.query("status", "x")],
      ["deps", () => sim.query("deps", "x")],
      ["info", () => sim.query("info", "x")],
      ["open", () => sim.open("x")],
    ];
    for (const [, op] of ops) throwsErrno(op, "ENXIO");
  });

  it("no-ops: clear without a staged table, suspend while suspended, resume of an active device", () => {
    const { sim, img } = setup();
    up(sim, "a", [linear(0, 8, img("d", 8))]);
    sim.clear("a");
    sim.resume("a");
    sim.suspend("a");
    sim.suspend("a");
    assert.equal(info(sim, "a").attr, "L-sw");
    sim.clear("a");
    sim.resume("a");
    assert.equal(info(sim, "a").attr, "L--w");
  });

  it("claims: a claimed disk cannot be used by a table, a used disk cannot be claimed", () => {
    const { sim, img } = setup();
    const [d1, d2] = [img("d1", 100), img("d2", 100)];
    sim.claimDisk(d1);
    throwsErrno(() => sim.claimDisk(d1), "EBUSY");
    sim.create("a");
    throwsErrno(() => sim.load("a", [linear(0, 100, d1)], false), "EBUSY", /held exclusively/);
    sim.releaseDisk(d1);
    throwsErrno(() => sim.releaseDisk(d1), "EINVAL");
    sim.load("a", [linear(0, 100, d1)], false);
    throwsErrno(() => sim.claimDisk(d1), "EBUSY", /used by a dm table/);
    throwsErrno(() => sim.claimDisk("7:0"), "EBUSY");
    sim.claimDisk(d2);
    // A mounted dm device: counts as open, cannot be removed or stacked on.
    sim.resume("a");
    sim.claimDisk("/dev/mapper/a");
    assert.equal(info(sim, "a").open, 1);
    throwsErrno(() => sim.remove("a"), "EBUSY");
    sim.create("top");
    throwsErrno(() => sim.load("top", [linear(0, 100, "/dev/mapper/a")], false), "EBUSY");
    sim.releaseDisk("/dev/mapper/a");
    sim.remove("a");
  });

  it("a failed operation changes nothing", () => {
    const { sim, img, simDir } = setup();
    const d = img("d", 100);
    up(sim, "a", [linear(0, 100, d)]);
    sim.load("a", [linear(0, 50, d)], false);
    const before = readFileSync(join(simDir, "state.json"), "utf8");
    throwsErrno(
      () => sim.load("a", [linear(0, 50, d), linear(50, 50, img("new", 100)), linear(100, 5, "9:9")], false),
      "ENXIO",
    );
    throwsErrno(() => sim.create("a"), "EBUSY");
    throwsErrno(() => sim.remove("nope"), "ENXIO");
    assert.equal(readFileSync(join(simDir, "state.json"), "utf8"), before);
    assert.equal(sim.state().disks!.length, 1, "the disk of the failed load was not registered");
  });
});

describe("sim: output formats (§3.2, §4)", () => {
  it("table echo is canonical: paths become maj:min", () => {
    const { sim, img, dir } = setup();
    const [d0, d1] = [img("d0", 1000), img("d1", 1000)];
    up(sim, "low", [linear(0, 1000, d0)]);
    up(sim, "top", [
      linear(0, 100, "/dev/mapper/low", 10),
      linear(100, 100, "/dev/dm-0", 200),
      linear(200, 100, "253:0", 300),
      linear(300, 100, d1),
      linear(400, 100, "7:1", 100),
      raw(500, 100, "linear", `${d0} 0900`),
    ]);
    assert.equal(
      sim.query("table", "top"),
      [
        "0 100 linear 253:0 10",
        "100 100 linear 253:0 200",
        "200 100 linear 253:0 300",
        "300 100 linear 7:1 0",
        "400 100 linear 7:1 100",
        "500 100 linear 7:0 900",
        "",
      ].join("\n"),
    );
    assert.equal(
      sim.query("status", "top"),
      "0 100 linear \n100 100 linear \n200 100 linear \n300 100 linear \n400 100 linear \n500 100 linear \n",
    );
    assert.equal(sim.query("deps", "top"), "3 dependencies\t: (7, 0) (7, 1) (253, 0)\n");
    // The same file under a second name is the same disk.
    const alias = join(dir, "alias");
    symlinkSync(d0, alias);
    up(sim, "again", [linear(0, 10, alias)]);
    assert.equal(sim.query("table", "again"), "0 10 linear 7:0 0\n");
  });

  it("status of striped and mirror targets; mirror sync advances with tick", () => {
    const { sim, img } = setup();
    const [a, b, c] = [img("a", 4096), img("b", 4096), img("c", 4096)];
    up(sim, "s", [
      striped(0, 2048, 64, [
        [a, 0],
        [b, 0],
      ]),
    ]);
    assert.equal(sim.query("status", "s"), "0 2048 striped 2 7:0 7:1 1 AA\n");
    up(sim, "m", [raw(0, 1000, "mirror", `core 1 256 2 ${a} 2048 ${b} 2048`)]);
    assert.equal(sim.query("table", "m"), "0 1000 mirror core 1 256 2 7:0 2048 7:1 2048\n");
    assert.equal(sim.query("status", "m"), "0 1000 mirror 2 7:0 7:1 0/4 1 AA 1 core\n");
    sim.tick("m", 3);
    assert.equal(sim.query("status", "m"), "0 1000 mirror 2 7:0 7:1 3/4 1 AA 1 core\n");
    sim.suspend("m");
    sim.tick("m", 3);
    sim.resume("m");
    assert.equal(sim.query("status", "m"), "0 1000 mirror 2 7:0 7:1 3/4 1 AA 1 core\n");
    sim.tick("m", 3);
    assert.equal(sim.query("status", "m"), "0 1000 mirror 2 7:0 7:1 4/4 1 AA 1 core\n");
    assert.equal(info(sim, "m").events, 1);

    up(sim, "n", [raw(0, 1024, "mirror", `core 2 256 nosync 3 ${a} 3072 ${b} 3072 ${c} 0`)]);
    assert.equal(sim.query("status", "n"), "0 1024 mirror 3 7:0 7:1 7:2 4/4 1 AAA 1 core\n");
    // A staged table's status shows its own fresh state.
    sim.load("n", [raw(0, 1024, "mirror", `core 1 256 2 ${a} 3072 ${b} 3072`)], false);
    assert.equal(sim.query("status", "n", true), "0 1024 mirror 2 7:0 7:1 0/4 1 AA 1 core\n");

    // Disk log: a log device, checked for size.
    up(sim, "mlog", [linear(0, 3, c, 1024)]);
    up(sim, "tiny", [linear(0, 2, c, 1040)]);
    up(sim, "md", [raw(0, 1024, "mirror", `disk 2 /dev/mapper/mlog 256 2 ${a} 0 ${b} 0 1 handle_errors`)]);
    const mlog = info(sim, "mlog").minor;
    assert.equal(
      sim.query("table", "md"),
      `0 1024 mirror disk 2 253:${mlog} 256 2 7:0 0 7:1 0 1 handle_errors\n`,
    );
    assert.equal(sim.query("status", "md"), `0 1024 mirror 2 7:0 7:1 0/4 1 AA 3 disk 253:${mlog} A\n`);
    assert.equal(sim.query("deps", "md"), `3 dependencies\t: (7, 1) (7, 0) (253, ${mlog})\n`);
    sim.create("md2");
    throwsErrno(
      () => sim.load("md2", [raw(0, 1024, "mirror", `disk 2 /dev/mapper/tiny 256 2 ${a} 0 ${b} 0`)], false),
      "EINVAL",
      /too small/,
    );
  });

  it("info and state()", () => {
    const { sim, img } = setup();
    const d = img("d", 300);
    up(sim, "vg-low", [linear(0, 100, d)], { uuid: "LVM-vgA-low" });
    up(sim, "vg-top", [linear(0, 100, "/dev/mapper/vg-low")], { uuid: "LVM-vgA-top" });
    sim.load("vg-top", [linear(0, 100, d, 100)], true);
    sim.create("other", "LVM-vgB-x");
    sim.suspend("vg-low");
    assert.equal(sim.query("info", "vg-low"), "vg-low|LVM-vgA-low|253|0|1|1|0|L-sw\n");
    assert.equal(sim.query("info", "vg-top"), "vg-top|LVM-vgA-top|253|1|0|1|0|LI-w\n");
    const st = sim.state("LVM-vgA");
    assert.equal(st.kind, "dm-state");
    assert.equal(st.source, "sim");
    assert.equal(st.uuid_prefix, "LVM-vgA");
    assert.deepEqual(
      st.devices.map((x) => x.name),
      ["vg-low", "vg-top"],
    );
    assert.deepEqual(st.devices[1], {
      name: "vg-top",
      uuid: "LVM-vgA-top",
      read_only: false,
      table: [{ start_sectors: 0, length_sectors: 100, type: "linear", device: "253:0", offset_sectors: 0 }],
      depends_on: ["vg-low"],
      major: 253,
      minor: 1,
      suspended: false,
      open_count: 0,
      event_nr: 0,
      inactive_table: [
        { start_sectors: 0, length_sectors: 100, type: "linear", device: "7:0", offset_sectors: 100 },
      ],
      deferred_remove: false,
    });
    assert.deepEqual(st.disks, [{ path: d, major: 7, minor: 0, size_sectors: 300 }]);
    assert.deepEqual(sim.state("LVM-vgB").disks, []);
    assert.equal(sim.state().devices.length, 3);
  });
});

describe("sim: shared state between processes", () => {
  it("two instances on one folder see each other's changes", () => {
    const { sim, simDir, img } = setup();
    const other = new SimBackend(simDir);
    up(sim, "a", [linear(0, 100, img("d", 100))]);
    assert.equal(other.query("table", "a"), "0 100 linear 7:0 0\n");
    other.suspend("a");
    assert.equal(info(sim, "a").attr, "L-sw");
    other.rename("a", "b");
    throwsErrno(() => sim.resume("a"), "ENXIO");
    sim.resume("b");
    assert.equal(info(other, "b").attr, "L--w");
  });

  it("concurrent creates from several processes: none lost", async () => {
    const { simDir, img } = setup();
    const d = img("d", 64);
    const kids = Array.from({ length: 4 }, (_, k) =>
      runChild(`
        const sim = new SimBackend(${JSON.stringify(simDir)});
        for (let i = 0; i < 6; i++) {
          const name = "p${k}-" + i;
          sim.create(name, "U-" + name);
          sim.load(name, [{ start_sectors: 0, length_sectors: 8, type: "linear", device: ${JSON.stringify(d)}, offset_sectors: 0 }], false);
          sim.resume(name);
        }
      `),
    );
    const results = await Promise.all(kids);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const st = new SimBackend(simDir).state();
    assert.equal(st.devices.length, 24);
    assert.deepEqual(
      st.devices.map((x) => x.minor).sort((a, b) => a! - b!),
      Array.from({ length: 24 }, (_, i) => i),
    );
    assert.ok(st.devices.every((x) => x.table?.length === 1 && !x.suspended));
    assert.equal(st.disks!.length, 1);
  });
});

describe("sim: faults", () => {
  it("a fault fails the call with its errno before anything changes, and is used up", () => {
    const { sim, simDir, img } = setup();
    const d = img("d", 100);
    up(sim, "a", [linear(0, 100, d)]);
    sim.addFault({ op: "load", name: "a", errno: "ENOMEM", after: 1 });
    sim.addFault({ op: "remove", errno: "EIO", count: 2 });
    const before = readFileSync(join(simDir, "state.json"), "utf8");
    sim.load("a", [linear(0, 50, d)], false);
    throwsErrno(() => sim.load("a", [linear(0, 60, d)], false), "ENOMEM", /injected/);
    assert.equal(sim.query("table", "a", true), "0 50 linear 7:0 0\n");
    sim.clear("a");
    assert.equal(readFileSync(join(simDir, "state.json"), "utf8"), before);
    sim.load("a", [linear(0, 60, d)], false);
    throwsErrno(() => sim.remove("a"), "EIO");
    throwsErrno(() => sim.remove("a"), "EIO");
    assert.deepEqual(sim.faults(), []);
    sim.remove("a");
    // faults.json written by hand works too, and another process's faults are shared.
    writeFileSync(join(simDir, "faults.json"), JSON.stringify([{ op: "create", errno: "EBUSY" }]));
    throwsErrno(() => new SimBackend(simDir).create("x"), "EBUSY");
    sim.create("x");
    sim.addFault({ op: "message", errno: "EINVAL" });
    sim.clearFaults();
    assert.equal(sim.message("x", 0, "hi"), "");
    assert.throws(() => sim.addFault({ op: "frob", errno: "EIO" } as unknown as SimFault), /op/);
    assert.throws(() => sim.addFault({ op: "load", errno: "EWHAT" } as unknown as SimFault), /errno/);
  });

  it("resume faults at each stage give the kernel's three failure outcomes", () => {
    const { sim, img } = setup();
    const d = img("d", 200);
    const fresh = () => {
      for (const x of sim.state().devices) sim.remove(x.name);
      up(sim, "a", [linear(0, 100, d)]);
      sim.load("a", [linear(0, 200, d)], false);
    };
    fresh();
    sim.addFault({ op: "resume", stage: "suspend", errno: "EINTR" });
    throwsErrno(() => sim.resume("a"), "EINTR");
    assert.equal(info(sim, "a").attr, "LI-w");
    assert.equal(sim.query("table", "a", true), "0 200 linear 7:0 0\n");

    fresh();
    sim.addFault({ op: "resume", stage: "swap", errno: "EINVAL" });
    throwsErrno(() => sim.resume("a"), "EINVAL");
    assert.equal(info(sim, "a").attr, "L-sw");
    assert.equal(sim.query("table", "a"), "0 100 linear 7:0 0\n");

    fresh();
    sim.addFault({ op: "resume", stage: "preresume", errno: "EIO" });
    throwsErrno(() => sim.resume("a"), "EIO");
    assert.equal(info(sim, "a").attr, "L-sw");
    assert.equal(sim.query("table", "a"), "0 200 linear 7:0 0\n");
    sim.resume("a");
    assert.equal(info(sim, "a").attr, "L--w");
  });

  it("DVM_SIM_FAULTS injects faults into one process only", async () => {
    const { sim, simDir } = setup();
    const r = await runChild(
      `
      const sim = new SimBackend(${JSON.stringify(simDir)});
      try { sim.create("x"); } catch (e) { console.log("failed", e.errno); }
      sim.create("y");
      try { sim.rename("y", "z"); } catch (e) { console.log("rename", e.errno); }
    `,
      {
        DVM_SIM_FAULTS: JSON.stringify([
          { op: "create", errno: "ENOMEM" },
          { op: "rename", name: "y", errno: "EBUSY" },
        ]),
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "failed ENOMEM\nrename EBUSY\n");
    assert.deepEqual(
      sim.state().devices.map((x) => x.name),
      ["y"],
    );
    sim.create("x");
    assert.deepEqual(sim.faults(), []);
    const bad = await runChild(`new SimBackend(${JSON.stringify(simDir)});`, { DVM_SIM_FAULTS: "[{" });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /DVM_SIM_FAULTS/);
  });
});

// ---- data path (§7.1 item 17) ----

describe("sim: data path", () => {
  it("linear: bytes land at offset + (s - start) in the image", () => {
    const { sim, img } = setup();
    const d = img("d", 1000);
    up(sim, "a", [linear(0, 100, d, 300)]);
    sim.writeData("a", 512 * 10, Buffer.from("hello"));
    assert.equal(fileBytes(d, 512 * 310, 5).toString(), "hello");
    assert.equal(sim.readData("a", 512 * 10, 5).toString(), "hello");
    throwsErrno(() => sim.readData("a", 512 * 100 - 2, 4), "EIO", /beyond the device end/);
    throwsErrno(() => sim.writeData("a", 512 * 100, Buffer.from("x")), "EIO");
    assert.equal(sim.readData("a", 512 * 100, 0).length, 0);
    throwsErrno(() => sim.readData("nope", 0, 1), "ENXIO");
    sim.create("empty");
    throwsErrno(() => sim.readData("empty", 0, 1), "ENXIO");
    sim.load("empty", [linear(0, 10, d)], false);
    throwsErrno(() => sim.readData("empty", 0, 1), "EIO", /no live table/);
  });

  it("striped: chunks go round the stripes at the formula's offsets", () => {
    const { sim, img } = setup();
    const [d0, d1, d2] = [img("d0", 512), img("d1", 512), img("d2", 512)];
    // 3 stripes, chunk 4 sectors, 96 sectors: 8 chunks per stripe... 32 sectors each.
    up(sim, "s", [
      striped(0, 96, 4, [
        [d0, 10],
        [d1, 20],
        [d2, 30],
      ]),
    ]);
    const data = Buffer.alloc(96 * 512);
    for (let s = 0; s < 96; s++) data.fill(s + 1, s * 512, (s + 1) * 512);
    sim.writeData("s", 0, data);
    const files = [d0, d1, d2];
    const offs = [10, 20, 30];
    for (let s = 0; s < 96; s++) {
      const chunkNo = Math.floor(s / 4);
      const stripe = chunkNo % 3;
      const at = offs[stripe]! + Math.floor(chunkNo / 3) * 4 + (s % 4);
      assert.equal(fileBytes(files[stripe]!, at * 512, 1)[0], s + 1, `sector ${s}`);
      assert.equal(fileBytes(files[stripe]!, at * 512 + 511, 1)[0], s + 1, `sector ${s} end`);
    }
    // Spot checks: sector 4 is chunk 1 → stripe 1 at 20; sector 13 is chunk 3 → stripe 0 at 10 + 4 + 1.
    assert.equal(fileBytes(d1, 20 * 512, 1)[0], 5);
    assert.equal(fileBytes(d0, 15 * 512, 1)[0], 14);
    assert.deepEqual(sim.readData("s", 0, data.length), data);
  });

  it("multi-segment table, zero and error targets, unaligned offsets", () => {
    const { sim, img } = setup();
    const [d0, d1] = [img("d0", 100), img("d1", 100)];
    up(sim, "m", [linear(0, 8, d0, 50), zeroT(8, 8), linear(16, 8, d1, 0), errorT(24, 8)]);
    // Across the linear → zero boundary, unaligned both ends: the zero part is dropped.
    const text = Buffer.from("0123456789abcdefghij");
    sim.writeData("m", 8 * 512 - 10, text);
    assert.equal(fileBytes(d0, 58 * 512 - 10, 10).toString(), "0123456789");
    assert.equal(sim.readData("m", 8 * 512 - 10, 20).toString("latin1"), `0123456789${"\0".repeat(10)}`);
    // Unaligned inside one sector keeps its neighbours.
    writeFileSync(d1, Buffer.alloc(512, "x"), { flag: "r+" });
    sim.writeData("m", 16 * 512 + 100, Buffer.from("MID"));
    assert.equal(fileBytes(d1, 98, 7).toString(), "xxMIDxx");
    // Spanning several sectors with both edges unaligned.
    const long = Buffer.alloc(1500, "L");
    sim.writeData("m", 16 * 512 + 300, long);
    assert.equal(fileBytes(d1, 299, 1502).toString(), `x${"L".repeat(1500)}\0`);
    assert.deepEqual(sim.readData("m", 16 * 512 + 300, 1500), long);
    throwsErrno(() => sim.readData("m", 24 * 512, 1), "EIO", /error target/);
    throwsErrno(() => sim.writeData("m", 20 * 512, Buffer.alloc(4 * 512 + 1)), "EIO");
    assert.equal(fileBytes(d1, 4 * 512, 1)[0], 0, "a failing write writes nothing");
  });

  it("stacked devices and mirrors: through the whole stack to the files", () => {
    const { sim, img } = setup();
    const [a, b, c] = [img("a", 400), img("b", 400), img("c", 400)];
    up(sim, "leg0", [linear(0, 200, a, 100)]);
    up(sim, "leg1", [
      striped(0, 200, 2, [
        [b, 0],
        [c, 0],
      ]),
    ]);
    up(sim, "mir", [raw(0, 200, "mirror", "core 1 64 2 /dev/mapper/leg0 0 /dev/mapper/leg1 0")]);
    up(sim, "top", [linear(0, 100, "/dev/mapper/mir", 50)]);
    const payload = Buffer.from("stacked!");
    // Top sector 3 → mir sector 53 → leg0 → a sector 153; leg1 sector 53 → chunk 26 → stripe 0 (b) at 26 + 1 = 27.
    sim.writeData("top", 3 * 512 + 7, payload);
    assert.deepEqual(fileBytes(a, 153 * 512 + 7, 8), payload);
    assert.deepEqual(fileBytes(b, 27 * 512 + 7, 8), payload);
    assert.deepEqual(sim.readData("top", 3 * 512 + 7, 8), payload);
    assert.deepEqual(sim.readData("leg1", 53 * 512 + 7, 8), payload);
    // A suspended device below the top blocks I/O; read-only devices refuse writes.
    sim.suspend("leg0");
    throwsErrno(
      () => sim.readData("top", 0, 1, { timeoutMs: 80 }),
      "EIO",
      /timed out waiting for resume of leg0/,
    );
    sim.resume("leg0");
    up(sim, "ro", [linear(0, 10, c, 300)], { ro: true });
    throwsErrno(() => sim.writeData("ro", 0, Buffer.from("x")), "EPERM");
    assert.equal(sim.readData("ro", 0, 1).length, 1);
  });

  it("an I/O error under a stripe marks it D and raises an event", () => {
    const { sim, img } = setup();
    const a = img("a", 100);
    up(sim, "bad", [errorT(0, 64)]);
    up(sim, "s", [
      striped(0, 128, 8, [
        [a, 0],
        ["/dev/mapper/bad", 0],
      ]),
    ]);
    sim.readData("s", 0, 512);
    throwsErrno(() => sim.readData("s", 8 * 512, 512), "EIO");
    const bad = info(sim, "bad").minor;
    assert.equal(sim.query("status", "s"), `0 128 striped 2 7:0 253:${bad} 1 AD\n`);
    assert.equal(info(sim, "s").events, 1);
  });

  it("a write to a suspended device completes after another process resumes it", async () => {
    const { sim, simDir, img, dir } = setup();
    const d = img("d", 64);
    up(sim, "a", [linear(0, 64, d)]);
    sim.suspend("a");
    const marker = join(dir, "resuming");
    const child = startChild(`
      await new Promise((r) => setTimeout(r, 200));
      writeFileSync(${JSON.stringify(marker)}, "");
      new SimBackend(${JSON.stringify(simDir)}).resume("a");
    `);
    const done = finished(child);
    // Blocks (polling) until the child's resume.
    sim.writeData("a", 1000, Buffer.from("after resume"));
    assert.ok(existsSync(marker), "the write waited for the resume");
    assert.equal(fileBytes(d, 1000, 12).toString(), "after resume");
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(info(sim, "a").attr, "L--w");
  });

  it("property: random linear/striped layouts read back what was written, at the formula's file offsets", () => {
    const { sim, dir } = setup();
    mkdirSync(join(dir, "prop"));
    const IMAGES = 3;
    const seg = fc.oneof(
      fc.record({
        kind: fc.constant("linear" as const),
        len: fc.integer({ min: 1, max: 24 }),
        img: fc.nat(IMAGES - 1),
      }),
      fc.record({
        kind: fc.constant("striped" as const),
        stripes: fc.array(fc.nat(IMAGES - 1), { minLength: 1, maxLength: 3 }),
        chunk: fc.constantFrom(1, 2, 4, 8),
        chunksPerStripe: fc.integer({ min: 1, max: 3 }),
      }),
    );
    let run = 0;
    fc.assert(
      fc.property(
        fc.array(seg, { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.record({
            at: fc.double({ min: 0, max: 1, noNaN: true }),
            len: fc.integer({ min: 1, max: 3000 }),
            seed: fc.nat(255),
          }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        (segs, writes) => {
          run++;
          const images = Array.from({ length: IMAGES }, (_, i) => {
            const p = join(dir, "prop", `img${i}`);
            writeFileSync(p, "");
            truncateSync(p, 512 * 512);
            return p;
          });
          // Bump allocation in each image, so no two device sectors share a file sector.
          const next = Array.from({ length: IMAGES }, (_, i) => 3 + i);
          const table: TargetLine[] = [];
          /** Where each device sector lives: [image, sector]. */
          const where: [number, number][] = [];
          let start = 0;
          for (const s of segs) {
            if (s.kind === "linear") {
              const off = next[s.img]!;
              next[s.img]! += s.len;
              table.push(linear(start, s.len, images[s.img]!, off));
              for (let k = 0; k < s.len; k++) where.push([s.img, off + k]);
              start += s.len;
            } else {
              const n = s.stripes.length;
              const width = s.chunk * s.chunksPerStripe;
              const offs = s.stripes.map((i) => {
                const o = next[i]!;
                next[i]! += width;
                return o;
              });
              const len = width * n;
              table.push(
                striped(
                  start,
                  len,
                  s.chunk,
                  s.stripes.map((i, k) => [images[i]!, offs[k]!]),
                ),
              );
              for (let o = 0; o < len; o++) {
                const chunkNo = Math.floor(o / s.chunk);
                const k = chunkNo % n;
                where.push([s.stripes[k]!, offs[k]! + Math.floor(chunkNo / n) * s.chunk + (o % s.chunk)]);
              }
              start += len;
            }
          }
          const name = `p${run}`;
          up(sim, name, table);
          try {
            const size = start * 512;
            const model = Buffer.alloc(size);
            for (const w of writes) {
              const len = Math.min(w.len, size);
              const at = Math.floor(w.at * (size - len));
              const data = Buffer.alloc(len);
              for (let i = 0; i < len; i++) data[i] = (w.seed + i * 7 + 1) & 0xff;
              sim.writeData(name, at, data);
              data.copy(model, at);
            }
            assert.deepEqual(sim.readData(name, 0, size), model);
            const fileData = images.map((p) => readFileSync(p));
            for (let s = 0; s < start; s++) {
              const [i, fs] = where[s]!;
              assert.deepEqual(
                fileData[i]!.subarray(fs * 512, fs * 512 + 512),
                model.subarray(s * 512, s * 512 + 512),
                `device sector ${s}`,
              );
            }
          } finally {
            sim.remove(name);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
