import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { DEFAULT_MIRROR_RATE, MIRROR_RATE_ENV, SimBackend, type SimOptions } from "../../src/dm/sim/index.js";
import type { TargetLine } from "../../src/dm/target.js";

/**
 * Background mirror recovery in the sim (resync.ts): progress with time on
 * an injected fake clock (no timed assertions), data really copied leg 0 →
 * other legs, suspend/reload/nosync semantics, the completion event, and
 * copy-then-record under crashes.
 */

const ROOT = new URL("../..", import.meta.url).pathname;
const SIM_MODULE = join(ROOT, "src/dm/sim/index.ts");
const S = 512;
const scratchDirs: string[] = [];
after(() => {
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
});

/** A fake clock (ms) that only moves when told. */
function fakeClock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
    get t() {
      return t;
    },
  };
}

function setup(rate: number, opts: SimOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), "dvm-simmir-"));
  scratchDirs.push(dir);
  const simDir = join(dir, "sim");
  const clock = fakeClock();
  const sim = new SimBackend(simDir, { mirrorRate: rate, now: clock.now, ...opts });
  /** An image of `sectors` sectors, zeroed or filled by fill(sector) patterns. */
  const img = (name: string, sectors: number, fill?: (sector: number) => number) => {
    const p = join(dir, name);
    writeFileSync(p, "");
    truncateSync(p, sectors * S);
    if (fill) writeFileSync(p, pattern(sectors, fill));
    return p;
  };
  return { dir, simDir, sim, clock, img };
}

/** `sectors` sectors whose bytes depend on the sector number and the byte's position. */
function pattern(sectors: number, seed: (sector: number) => number): Buffer {
  const b = Buffer.alloc(sectors * S);
  for (let s = 0; s < sectors; s++) for (let i = 0; i < S; i++) b[s * S + i] = (seed(s) + i * 7) & 0xff;
  return b;
}

const sectorsOf = (path: string, first: number, count: number) =>
  readFileSync(path).subarray(first * S, (first + count) * S);

const raw = (start: number, len: number, type: string, params: string): TargetLine => ({
  start_sectors: start,
  length_sectors: len,
  type,
  params,
});
const linear = (start: number, len: number, device: string, offset = 0): TargetLine => ({
  start_sectors: start,
  length_sectors: len,
  type: "linear",
  device,
  offset_sectors: offset,
});

function up(sim: SimBackend, name: string, table: TargetLine[]) {
  sim.create(name);
  sim.load(name, table, false);
  sim.resume(name);
}

/** [in-sync, regions] of the first mirror target's status line. */
function progress(sim: SimBackend, name: string): [number, number] {
  const m = / mirror \d+ (?:\S+ )+(\d+)\/(\d+) 1 A+ /.exec(sim.query("status", name));
  assert.ok(m, `no mirror status for ${name}: ${sim.query("status", name)}`);
  return [Number(m[1]), Number(m[2])];
}
const events = (sim: SimBackend, name: string) => Number(sim.query("info", name).split("|")[6]);

describe("sim mirror: background recovery", () => {
  it("progresses with time at the rate, carrying fractions of a region between looks", () => {
    const { sim, clock, img } = setup(2);
    up(sim, "m", [raw(0, 512, "mirror", `core 1 64 2 ${img("a", 512)} 0 ${img("b", 512)} 0`)]);
    assert.deepEqual(progress(sim, "m"), [0, 8]);
    clock.advance(499);
    assert.deepEqual(progress(sim, "m"), [0, 8]);
    clock.advance(1);
    assert.deepEqual(progress(sim, "m"), [1, 8]);
    // Ten looks 100 ms apart make 1 s: two regions, not zero (fractions are not lost by looking).
    for (let i = 0; i < 10; i++) {
      clock.advance(100);
      sim.query("info", "m");
    }
    assert.deepEqual(progress(sim, "m"), [3, 8]);
    clock.advance(1500);
    assert.deepEqual(progress(sim, "m"), [6, 8]);
    // Long past the end: capped at the region count.
    clock.advance(60_000);
    assert.deepEqual(progress(sim, "m"), [8, 8]);
  });

  it("an odd rate adds up exactly over many looks", () => {
    const { sim, clock, img } = setup(3);
    up(sim, "m", [raw(0, 64 * 30, "mirror", `core 1 64 2 ${img("a", 64 * 30)} 0 ${img("b", 64 * 30)} 0`)]);
    for (let i = 0; i < 30; i++) {
      clock.advance(100);
      sim.state();
    }
    assert.deepEqual(progress(sim, "m"), [9, 30]);
  });

  it("copies leg 0 to leg 1 exactly for the regions in sync, and nothing beyond (mirror in a pvmove-like table)", () => {
    const { sim, clock, img } = setup(1);
    const a = img("a", 600, (s) => s * 13 + 1);
    const b = img("b", 600);
    const c = img("c", 64);
    const leg0 = readFileSync(a);
    // Like pvmove0: a linear segment, then the running mirror (200 sectors, region 64: 64+64+64+8).
    up(sim, "pvmove0", [linear(0, 16, c), raw(16, 200, "mirror", `core 1 64 2 ${a} 100 ${b} 300`)]);
    const expectCopied = (regions: number) => {
      const upto = Math.min(200, regions * 64);
      assert.deepEqual(
        sectorsOf(b, 300, upto),
        leg0.subarray(100 * S, (100 + upto) * S),
        `${regions} regions`,
      );
      assert.ok(
        sectorsOf(b, 300 + upto, 600 - 300 - upto).every((x) => x === 0),
        "nothing beyond",
      );
      assert.ok(
        sectorsOf(b, 0, 300).every((x) => x === 0),
        "nothing before",
      );
      assert.deepEqual(readFileSync(a), leg0, "leg 0 unchanged");
    };
    expectCopied(0);
    clock.advance(1000);
    assert.equal(sim.query("status", "pvmove0"), "0 16 linear \n16 200 mirror 2 7:1 7:2 1/4 1 AA 1 core\n");
    expectCopied(1);
    clock.advance(2000);
    assert.deepEqual(progress(sim, "pvmove0"), [3, 4]);
    expectCopied(3);
    clock.advance(1000);
    assert.deepEqual(progress(sim, "pvmove0"), [4, 4]);
    expectCopied(4);
    // Reads through the mirror come from leg 0 throughout.
    assert.deepEqual(sim.readData("pvmove0", 16 * S, 200 * S), leg0.subarray(100 * S, 300 * S));
  });

  it("writes during recovery reach every leg and read back; after sync the legs are identical", () => {
    const { sim, clock, img } = setup(1);
    const a = img("a", 256, (s) => s + 5);
    const b = img("b", 256, () => 0xee);
    const c = img("c", 256, () => 0x11);
    up(sim, "m", [raw(0, 256, "mirror", `core 1 64 3 ${a} 0 ${b} 0 ${c} 0`)]);
    clock.advance(1000);
    assert.deepEqual(progress(sim, "m"), [1, 4]);
    // Into region 0 (in sync), across regions 1-2 (not yet), unaligned at both ends.
    const w1 = Buffer.from("in sync already");
    const w2 = Buffer.alloc(64 * S + 100, 0x5a);
    sim.writeData("m", 10 * S + 3, w1);
    sim.writeData("m", 120 * S + 50, w2);
    for (const leg of [a, b, c]) {
      const f = readFileSync(leg);
      assert.deepEqual(f.subarray(10 * S + 3, 10 * S + 3 + w1.length), w1);
      assert.deepEqual(f.subarray(120 * S + 50, 120 * S + 50 + w2.length), w2);
    }
    assert.deepEqual(sim.readData("m", 120 * S + 50, w2.length), w2);
    clock.advance(3000);
    assert.equal(sim.query("status", "m"), "0 256 mirror 3 7:0 7:1 7:2 4/4 1 AAA 1 core\n");
    const legs = [a, b, c].map((p) => readFileSync(p));
    assert.deepEqual(legs[1], legs[0]);
    assert.deepEqual(legs[2], legs[0]);
    assert.deepEqual(sim.readData("m", 10 * S + 3, w1.length), w1);
  });

  it("suspend stops the clock, resume continues from where it was", () => {
    const { sim, clock, img } = setup(1);
    up(sim, "m", [raw(0, 640, "mirror", `core 1 64 2 ${img("a", 640)} 0 ${img("b", 640)} 0`)]);
    clock.advance(2500);
    assert.deepEqual(progress(sim, "m"), [2, 10]);
    sim.suspend("m");
    clock.advance(60_000);
    assert.deepEqual(progress(sim, "m"), [2, 10]);
    sim.resume("m");
    assert.deepEqual(progress(sim, "m"), [2, 10]);
    clock.advance(999);
    assert.deepEqual(progress(sim, "m"), [2, 10]);
    clock.advance(1);
    assert.deepEqual(progress(sim, "m"), [3, 10]);
    // A resume that is a no-op (not suspended) does not touch the clock.
    clock.advance(500);
    sim.resume("m");
    clock.advance(500);
    assert.deepEqual(progress(sim, "m"), [4, 10]);
  });

  it("a reload with a new mirror table starts over from 0 at its resume; nosync starts in sync", () => {
    const { sim, clock, img } = setup(1);
    const a = img("a", 512, (s) => s);
    const b = img("b", 512);
    up(sim, "m", [raw(0, 256, "mirror", `core 1 64 2 ${a} 0 ${b} 0`)]);
    clock.advance(3000);
    assert.deepEqual(progress(sim, "m"), [3, 4]);
    sim.load("m", [raw(0, 512, "mirror", `core 1 64 2 ${a} 0 ${b} 0`)], false);
    // Staged only: the live mirror goes on recovering meanwhile.
    clock.advance(1000);
    assert.deepEqual(progress(sim, "m"), [4, 4]);
    assert.equal(events(sim, "m"), 1);
    clock.advance(5000);
    sim.resume("m");
    assert.deepEqual(progress(sim, "m"), [0, 8]);
    clock.advance(2000);
    assert.deepEqual(progress(sim, "m"), [2, 8]);

    // nosync: all in sync at once, nothing copied, no event.
    const c = img("c", 256, (s) => s + 1);
    const d = img("d", 256);
    up(sim, "n", [raw(0, 256, "mirror", `core 2 64 nosync 2 ${c} 0 ${d} 0`)]);
    assert.equal(sim.query("status", "n"), "0 256 mirror 2 7:2 7:3 4/4 1 AA 1 core\n");
    clock.advance(10_000);
    assert.deepEqual(progress(sim, "n"), [4, 4]);
    assert.equal(events(sim, "n"), 0);
    assert.ok(readFileSync(d).every((x) => x === 0));
  });

  it("raises one event when recovery completes; a poller waiting on the event number wakes", () => {
    // A clock that moves 250 ms each time it is read: waitEvent's polling makes time pass.
    let t = 0;
    const { sim, img } = setup(4, { now: () => (t += 250) });
    up(sim, "m", [raw(0, 512, "mirror", `core 1 64 2 ${img("a", 512)} 0 ${img("b", 512)} 0`)]);
    const before = sim.globalEventNr();
    assert.equal(events(sim, "m"), 0);
    assert.equal(sim.waitEvent("m", 0, { timeoutMs: 20_000 }), 1);
    assert.deepEqual(progress(sim, "m"), [8, 8]);
    assert.ok(sim.globalEventNr() > before);
    for (let i = 0; i < 5; i++) sim.query("status", "m");
    assert.equal(events(sim, "m"), 1);
  });

  it("tick and time compose; tick copies data too", () => {
    const { sim, clock, img } = setup(1);
    const a = img("a", 640, (s) => s * 3);
    const b = img("b", 640);
    up(sim, "m", [raw(0, 640, "mirror", `core 1 64 2 ${a} 0 ${b} 0`)]);
    clock.advance(2000);
    sim.tick("m", 3);
    assert.deepEqual(progress(sim, "m"), [5, 10]);
    assert.deepEqual(sectorsOf(b, 0, 320), sectorsOf(a, 0, 320));
    assert.ok(sectorsOf(b, 320, 320).every((x) => x === 0));
    clock.advance(1000);
    assert.deepEqual(progress(sim, "m"), [6, 10]);
    sim.tick("m", 100);
    assert.deepEqual(progress(sim, "m"), [10, 10]);
    assert.equal(events(sim, "m"), 1);
    assert.deepEqual(readFileSync(b), readFileSync(a));
  });

  it("rate 0 freezes recovery (only tick moves it)", () => {
    const { sim, clock, img } = setup(0);
    up(sim, "m", [raw(0, 256, "mirror", `core 1 64 2 ${img("a", 256)} 0 ${img("b", 256)} 0`)]);
    clock.advance(1e9);
    assert.deepEqual(progress(sim, "m"), [0, 4]);
    sim.tick("m", 1);
    assert.deepEqual(progress(sim, "m"), [1, 4]);
  });

  it("a suspended device on a leg's way stalls recovery without blocking anyone; the stalled time does not count", () => {
    const { sim, clock, img } = setup(1);
    const a = img("a", 300, (s) => s + 9);
    const b = img("b", 300);
    up(sim, "leg0", [linear(0, 256, a, 10)]);
    up(sim, "leg1", [linear(0, 256, b, 20)]);
    up(sim, "m", [raw(0, 256, "mirror", "core 1 64 2 /dev/mapper/leg0 0 /dev/mapper/leg1 0")]);
    clock.advance(1000);
    assert.deepEqual(progress(sim, "m"), [1, 4]);
    sim.suspend("leg1");
    clock.advance(5000);
    // Status answers at once; recovery is stuck.
    assert.deepEqual(progress(sim, "m"), [1, 4]);
    sim.resume("leg1");
    assert.deepEqual(progress(sim, "m"), [1, 4]);
    clock.advance(1000);
    assert.deepEqual(progress(sim, "m"), [2, 4]);
    assert.deepEqual(sectorsOf(b, 20, 128), sectorsOf(a, 10, 128));
    assert.ok(sectorsOf(b, 148, 152).every((x) => x === 0));
  });

  it("DVM_SIM_MIRROR_RATE sets the rate; a bad value is refused", () => {
    const { simDir } = setup(0);
    const saved = process.env[MIRROR_RATE_ENV];
    try {
      delete process.env[MIRROR_RATE_ENV];
      assert.equal(new SimBackend(simDir).mirrorRate, DEFAULT_MIRROR_RATE);
      process.env[MIRROR_RATE_ENV] = "0";
      assert.equal(new SimBackend(simDir).mirrorRate, 0);
      process.env[MIRROR_RATE_ENV] = "2.5";
      assert.equal(new SimBackend(simDir).mirrorRate, 2.5);
      assert.equal(new SimBackend(simDir, { mirrorRate: 7 }).mirrorRate, 7);
      for (const bad of ["fast", "-1", "Infinity", "1x"]) {
        process.env[MIRROR_RATE_ENV] = bad;
        assert.throws(() => new SimBackend(simDir), /DVM_SIM_MIRROR_RATE/, bad);
      }
      assert.throws(() => new SimBackend(simDir, { mirrorRate: -1 }), /mirrorRate/);
      // The folder's mirror_rate file: the rate of every process sharing it, unless the env says otherwise.
      delete process.env[MIRROR_RATE_ENV];
      writeFileSync(join(simDir, "mirror_rate"), "0.5\n");
      assert.equal(new SimBackend(simDir).mirrorRate, 0.5);
      process.env[MIRROR_RATE_ENV] = "3";
      assert.equal(new SimBackend(simDir).mirrorRate, 3);
      delete process.env[MIRROR_RATE_ENV];
      writeFileSync(join(simDir, "mirror_rate"), "slow");
      assert.throws(() => new SimBackend(simDir), /mirror_rate/);
      rmSync(join(simDir, "mirror_rate"));
    } finally {
      if (saved === undefined) delete process.env[MIRROR_RATE_ENV];
      else process.env[MIRROR_RATE_ENV] = saved;
    }
  });
});

describe("sim mirror: copy first, then record", () => {
  it("each region reaches the other legs before the saved state counts it", () => {
    const seen: number[] = [];
    let paths!: { a: string; b: string; simDir: string };
    const ctx = setup(1, {
      onRegionCopied: (e) => {
        seen.push(e.region);
        const st = JSON.parse(readFileSync(join(paths.simDir, "state.json"), "utf8"));
        const dev = st.devices.find((d: { name: string }) => d.name === e.device);
        assert.ok(dev.live_rt[e.target].in_sync_regions <= e.region, "recorded before the copy finished");
        assert.deepEqual(sectorsOf(paths.b, e.region * 64, 64), sectorsOf(paths.a, e.region * 64, 64));
      },
    });
    const sim = ctx.sim;
    paths = { a: ctx.img("a", 256, (s) => s * 5 + 2), b: ctx.img("b", 256), simDir: ctx.simDir };
    up(sim, "m", [raw(0, 256, "mirror", `core 1 64 2 ${paths.a} 0 ${paths.b} 0`)]);
    ctx.clock.advance(3000);
    assert.deepEqual(progress(sim, "m"), [3, 4]);
    assert.deepEqual(seen, [0, 1, 2]);
  });

  it("a failure between copy and record leaves the regions counted out of sync; they are copied again", () => {
    let failAt = 2;
    const ctx = setup(1, {
      onRegionCopied: (e) => {
        if (e.region === failAt) throw new Error("crash point");
      },
    });
    const a = ctx.img("a", 256, (s) => s + 77);
    const b = ctx.img("b", 256);
    up(ctx.sim, "m", [raw(0, 256, "mirror", `core 1 64 2 ${a} 0 ${b} 0`)]);
    ctx.clock.advance(4000);
    assert.throws(() => ctx.sim.query("status", "m"), /crash point/);
    failAt = -1;
    const fresh = new SimBackend(ctx.simDir, { mirrorRate: 0, now: ctx.clock.now });
    assert.deepEqual(progress(fresh, "m"), [0, 4], "nothing recorded");
    assert.deepEqual(progress(ctx.sim, "m"), [4, 4]);
    assert.deepEqual(readFileSync(b), readFileSync(a));
  });

  it("a process killed mid-copy never leaves regions counted in sync whose data was not copied", async () => {
    const { sim, simDir, clock, img } = setup(4);
    const a = img("a", 512, (s) => s * 11 + 3);
    const b = img("b", 512);
    up(sim, "m", [raw(0, 512, "mirror", `core 1 64 2 ${a} 0 ${b} 0`)]);
    // Another process, 10 s later on the same clock, at the env's rate, is killed right after copying region 2.
    const code = `import { SimBackend } from ${JSON.stringify(SIM_MODULE)};
      const sim = new SimBackend(${JSON.stringify(simDir)}, {
        now: () => ${clock.t + 10_000},
        onRegionCopied: (e) => { if (e.region === 2) process.kill(process.pid, "SIGKILL"); },
      });
      sim.query("status", "m");
      console.log("not killed");`;
    const env: NodeJS.ProcessEnv = { ...process.env, [MIRROR_RATE_ENV]: "4" };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    const signal = await new Promise((res) => child.on("close", (_c, sig) => res(sig)));
    assert.equal(signal, "SIGKILL", out);
    // The copies of regions 0-2 happened, but none was recorded: the state still says 0.
    const frozen = new SimBackend(simDir, { mirrorRate: 0, now: clock.now });
    assert.deepEqual(progress(frozen, "m"), [0, 8]);
    assert.deepEqual(sectorsOf(b, 0, 192), sectorsOf(a, 0, 192));
    // Whatever is recorded is copied: catch up (the lock died with the process) and check.
    clock.advance(1500);
    const [k] = progress(sim, "m");
    assert.equal(k, 6);
    assert.deepEqual(sectorsOf(b, 0, k * 64), sectorsOf(a, 0, k * 64));
    assert.ok(sectorsOf(b, k * 64, 512 - k * 64).every((x) => x === 0));
  });
});

describe("sim mirror: property", () => {
  it("random writes, clock advances, ticks and suspends: reads return the last write; in-sync regions are identical on both legs; after full sync the legs are byte-identical", () => {
    const { sim, clock, dir } = setup(2);
    const REGION = 8;
    const REGIONS = 6;
    const LEN = REGION * REGIONS - 3; // a short last region
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("write" as const),
        at: fc.nat(LEN * S - 1),
        len: fc.integer({ min: 1, max: 3 * REGION * S }),
        seed: fc.nat(255),
      }),
      fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 1600 }) }),
      fc.record({ kind: fc.constant("tick" as const), n: fc.nat(2) }),
      fc.record({ kind: fc.constant("suspend" as const), ms: fc.integer({ min: 0, max: 5000 }) }),
    );
    let run = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), fc.nat(255), (ops, seed) => {
        run++;
        const a = join(dir, `pa${run}`);
        const b = join(dir, `pb${run}`);
        writeFileSync(
          a,
          pattern(LEN + 20, (s) => s * 31 + seed),
        );
        writeFileSync(
          b,
          pattern(LEN + 20, (s) => s * 17 + seed + 101),
        );
        const name = `p${run}`;
        up(sim, name, [raw(0, LEN, "mirror", `core 1 ${REGION} 2 ${a} 5 ${b} 9`)]);
        try {
          // Reads come from leg 0: its initial content, then the writes.
          const model = Buffer.from(readFileSync(a).subarray(5 * S, (5 + LEN) * S));
          const check = () => {
            assert.deepEqual(sim.readData(name, 0, LEN * S), model);
            const [k] = progress(sim, name);
            const synced = Math.min(LEN, k * REGION);
            assert.deepEqual(sectorsOf(b, 9, synced), model.subarray(0, synced * S), `${k} regions in sync`);
          };
          for (const o of ops) {
            if (o.kind === "write") {
              const len = Math.min(o.len, LEN * S - o.at);
              const data = Buffer.alloc(len);
              for (let i = 0; i < len; i++) data[i] = (o.seed + i * 3) & 0xff;
              sim.writeData(name, o.at, data);
              data.copy(model, o.at);
            } else if (o.kind === "advance") clock.advance(o.ms);
            else if (o.kind === "tick") sim.tick(name, o.n);
            else {
              const [k] = progress(sim, name);
              sim.suspend(name);
              clock.advance(o.ms);
              assert.deepEqual(progress(sim, name), [k, REGIONS], "no progress while suspended");
              sim.resume(name);
            }
            check();
          }
          clock.advance((REGIONS / 2) * 1000);
          assert.deepEqual(progress(sim, name), [REGIONS, REGIONS]);
          check();
          assert.deepEqual(sectorsOf(b, 9, LEN), sectorsOf(a, 5, LEN));
          assert.equal(events(sim, name), 1);
        } finally {
          sim.remove(name);
        }
      }),
      { numRuns: 30 },
    );
  });
});
