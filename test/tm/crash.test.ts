import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { openDevice } from "../../src/lib/blockdev.ts";
import { readPv, TextCache } from "../../src/lvm2/disk.ts";
import { nextCopyOffset } from "../../src/lvm2/mda.ts";
import { DIST, ROOT, run, scratch, toolEnv } from "../helpers.ts";
import { makeVg } from "./images.ts";

/**
 * Crash safety: every mutating operation is stopped after its Nth write
 * (crash:N) or with its Nth write torn (torn:N), for every N up to its last
 * write; afterwards the VG must read as exactly the old or the new metadata.
 */

const EDIT = join(ROOT, "test/tm/mutators/edit.mjs");

interface Op {
  name: string;
  /** The executable run: dvm-tm with a test mutator, or the dvm wrapper. */
  tool?: "dvm-tm" | "dvm";
  vg: string;
  /** dvm-tm arguments (before --devices). */
  args: (ctx: Ctx) => string[];
  /** The VG name after the operation, or null when it removes the VG. */
  after: string | null;
  /** Runs of the same tool that set the scene first (e.g. fill the ring so the next copy wraps). */
  prepare?: string[][];
  /** The scene must make the operation's copy wrap around the end of the ring. */
  wraps?: boolean;
  /** The VG does not exist before the operation. */
  creates?: boolean;
}
interface Ctx {
  paths: string[];
  spareUuid: string;
  lockDir: string;
}

let totalCrashPoints = 0;

function wrapperOps(): Op[] {
  const w = (name: string, args: (c: Ctx) => string[], after: string | null = "crash0"): Op => ({
    name: `dvm ${name}`,
    tool: "dvm",
    vg: "crash0",
    after,
    args,
  });
  return [
    w("lv create (striped)", () => ["lv", "create", "crash0/s", "--size", "8m", "--stripes", "2"]),
    w("lv extend", () => ["lv", "extend", "crash0/lv0", "--size", "+8m"]),
    {
      ...w("lv reduce", () => ["lv", "reduce", "crash0/big", "--size", "4m"]),
      prepare: [["lv", "create", "crash0/big", "--size", "12m"]],
    },
    w("lv rename", () => ["lv", "rename", "crash0/lv0", "renamed"]),
    w("lv remove", () => ["lv", "remove", "crash0/lv0"]),
    w("vg extend", (c) => ["vg", "extend", "crash0", c.paths[2]!]),
    w("vg rename", () => ["vg", "rename", "crash0", "crash7"], "crash7"),
    w("vg remove", () => ["vg", "remove", "crash0", "--force"], null),
    {
      // A new VG on orphan PVs: afterwards it exists whole or not at all.
      ...w("vg create", (c) => ["vg", "create", "crash5", c.paths[0]!, c.paths[1]!], "crash5"),
      vg: "crash5",
      creates: true,
      prepare: [["vg", "remove", "crash0", "--force"]],
    },
  ];
}

/** Whether the next copy of a text as large as the current one would wrap in the first area. */
function wraps(path: string, _op: Op): boolean {
  const io = openDevice(path);
  try {
    const m = readPv(io, new TextCache()).mdas[0]!;
    const h = m.header!;
    const next = nextCopyOffset(h, h.committed);
    return next + h.committed.size > h.size;
  } finally {
    io.close();
  }
}

function tm(args: string[], fault?: string, tool = "dvm-tm") {
  const env = toolEnv();
  if (fault) env.DVM_FAULT = fault;
  const r = spawnSync(process.execPath, [join(DIST, `${tool}.cjs`), ...args], { env, maxBuffer: 1 << 28 });
  return { status: r.status, signal: r.signal, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/**
 * The VG's metadata as dvm-tm reads it now, or null when no device has it.
 * New VGs and LVs get a random id, LVs also the current time, different in
 * every run of the same command: those are blanked so runs compare.
 */
function state(name: string, devs: string): unknown {
  const r = run("dvm-tm", ["read", name, "--devices", devs]);
  if (r.status === 3) return null;
  assert.equal(r.status, 0, r.stderr);
  const vg = JSON.parse(r.stdout).vg;
  vg.id = "";
  for (const lv of vg.logical_volumes ?? []) {
    lv.id = "";
    lv.creation_time = 0;
  }
  return vg;
}

describe("crash safety of dvm-tm transactions", () => {
  let s: ReturnType<typeof scratch>;
  let ctx: Ctx;
  let pristine: string[];
  before(() => {
    s = scratch();
    const vg = makeVg(s.dir, "crash0", [16, 16, 16], [{ name: "lv0", extents: [[0, 0, 1]] }]);
    // The third image leaves the VG at once: a labelled orphan PV to extend onto.
    const reduce = tm([
      "update",
      "crash0",
      "--devices",
      vg.paths.join(","),
      "--lock-dir",
      `${s.dir}/lock`,
      "--",
      "node",
      EDIT,
      "drop-last-pv",
    ]);
    assert.equal(reduce.status, 0, reduce.stderr);
    ctx = { paths: vg.paths, spareUuid: vg.uuids[2]!, lockDir: `${s.dir}/lock` };
    pristine = vg.paths.map((p) => {
      copyFileSync(p, `${p}.pristine`);
      return `${p}.pristine`;
    });
  });
  after(() => s.cleanup());

  const copyAll = (from: string[]) => {
    for (const [i, p] of ctx.paths.entries()) copyFileSync(from[i]!, p);
  };
  const restore = () => copyAll(pristine);

  const ops: Op[] = [
    {
      name: "update (add an LV)",
      vg: "crash0",
      after: "crash0",
      args: () => ["update", "crash0", "--", "node", EDIT, "add-lv", "lv1", "pv1", "0", "2"],
    },
    {
      name: "update (large metadata: the new copy wraps around the ring's end)",
      vg: "crash0",
      after: "crash0",
      wraps: true,
      prepare: [30000, 30001, 30002].map((n) => [
        "update",
        "crash0",
        "--",
        "node",
        EDIT,
        "grow-text",
        String(n),
      ]),
      args: () => ["update", "crash0", "--", "node", EDIT, "grow-text", "30003"],
    },
    {
      name: "vg extend (a PV joins)",
      vg: "crash0",
      after: "crash0",
      args: (c) => [
        "update",
        "crash0",
        "--",
        "node",
        EDIT,
        "add-pv",
        c.spareUuid,
        c.paths[2]!,
        String(16 * 2048),
      ],
    },
    {
      name: "vg reduce (a PV leaves)",
      vg: "crash0",
      after: "crash0",
      args: () => ["update", "crash0", "--", "node", EDIT, "drop-last-pv"],
    },
    {
      name: "vg rename",
      vg: "crash0",
      after: "crash9",
      args: () => ["update", "crash0", "--", "node", EDIT, "rename", "crash9"],
    },
    { name: "vg remove", vg: "crash0", after: null, args: () => ["remove", "crash0", "--force"] },
    // The wrapper's commands: dvm-manip's mutators inside the same transactions.
    ...wrapperOps(),
  ];

  for (const op of ops)
    test(op.name, () => {
      const devs = ctx.paths.join(",");
      const common = ["--devices", devs, "--lock-dir", ctx.lockDir];
      const withDevs = (a: string[]) => {
        const dash = a.indexOf("--");
        return dash < 0 ? [...a, ...common] : [...a.slice(0, dash), ...common, ...a.slice(dash)];
      };
      restore();
      for (const a of op.prepare ?? []) assert.equal(tm(withDevs(a), undefined, op.tool).status, 0);
      const scene = ctx.paths.map((p) => {
        copyFileSync(p, `${p}.scene`);
        return `${p}.scene`;
      });
      const restoreScene = () => copyAll(scene);
      const old = state(op.vg, devs);
      assert.ok(op.creates ? old === null : old);
      if (op.wraps) assert.ok(wraps(ctx.paths[0]!, op), "the scene should make the next copy wrap");
      const ok = tm(withDevs(op.args(ctx)), undefined, op.tool);
      assert.equal(ok.status, 0, ok.stderr);
      const fresh = op.after === null ? null : state(op.after, devs);
      if (op.after !== null) assert.ok(fresh);
      const acceptable = [JSON.stringify(old), JSON.stringify(fresh)];
      let points = 0;
      for (const mode of ["crash", "torn"]) {
        for (let n = 1; ; n++) {
          restoreScene();
          const r = tm(withDevs(op.args(ctx)), `${mode}:${n}`, op.tool);
          if (r.status === 0) break; // fewer than n writes: every point covered
          assert.equal(r.signal, "SIGKILL", `${mode}:${n} ${r.stderr}`);
          points++;
          const seen = [op.vg, op.after]
            .filter((x): x is string => x !== null)
            .map((name) => state(name, devs));
          const found = seen.filter((x) => x !== null);
          if (op.after === null || op.after !== op.vg) {
            // remove: whole or gone; rename: under exactly one of the two names.
            assert.ok(found.length <= 1, `${mode}:${n}: VG readable under both names`);
          }
          const now = found[0] ?? null;
          assert.ok(acceptable.includes(JSON.stringify(now)), `${mode}:${n}: neither old nor new metadata`);
        }
      }
      assert.ok(points >= 6, `${op.name}: only ${points} crash points`);
      totalCrashPoints += points;
    });

  test("count of crash points", () => {
    console.log(`crash safety: ${totalCrashPoints} crash points over ${ops.length} operations`);
    assert.ok(totalCrashPoints > 0);
  });
});
