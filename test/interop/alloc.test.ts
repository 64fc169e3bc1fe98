import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { VgDoc } from "../../src/lib/docs.ts";
import { run } from "../helpers.ts";
import { Lab } from "./lvm.ts";

/**
 * The allocator against LVM2 2.03.16 itself. For each scenario, a VG on this
 * lab's loop devices; before each compared command the VG is read with
 * dvm-discover | dvm-tm read, the same change is made with dvm-manip (as a
 * process, through its command line), then LVM2 runs the command and the VG
 * is read again: every LV's segments (start, count, type, stripes, stripe
 * size, and the PV/extent of every area) must be what dvm-manip wrote, and
 * dvm-manip's messages must be LVM2's (size rounding, stripe size). When
 * LVM2 refuses, dvm-manip must refuse too, with the expected exit code and
 * nothing on stdout.
 */

const lab = new Lab();
after(() => lab.cleanup());

/** A command run both ways. Sizes are in LVM2's -L syntax (which dvm's --size shares). */
type Cmd =
  | {
      op: "create";
      lv: string;
      size: string;
      stripes?: number;
      stripeSize?: string;
      on?: string[];
      fail?: number;
    }
  | { op: "extend"; lv: string; size: string; stripes?: number; on?: string[]; fail?: number }
  | { op: "reduce"; lv: string; size: string; fail?: number }
  | { op: "remove"; lv: string; fail?: number };

/** A step: an LVM2-only command (setup), or a compared one. */
type Step = { lvm: string[] } | Cmd;

interface Scenario {
  name: string;
  /** Loop device sizes in MiB. */
  pvs: number[];
  extentSize?: string;
  alloc?: string;
  steps: Step[];
}

/** `%0`, `%1`, ... in arguments stand for the scenario's PVs (device paths). */
function expand(s: string, devs: string[]): string {
  return s.replace(/%(\d+)/g, (_, i) => devs[Number(i)]!);
}

function lvmArgs(c: Cmd, vg: string, devs: string[]): string[] {
  const on = ("on" in c && c.on ? c.on : []).map((o) => expand(o, devs));
  const stripes = "stripes" in c && c.stripes ? ["-i", String(c.stripes)] : [];
  switch (c.op) {
    case "create":
      return [
        "lvcreate",
        "-an",
        "-Zn",
        "-n",
        c.lv,
        "-L",
        c.size,
        ...stripes,
        ...(c.stripeSize ? ["-I", c.stripeSize] : []),
        vg,
        ...on,
      ];
    case "extend":
      return ["lvextend", "-L", c.size, ...stripes, `${vg}/${c.lv}`, ...on];
    case "reduce":
      return ["lvreduce", "-f", "-L", c.size, `${vg}/${c.lv}`];
    case "remove":
      return ["lvremove", "-f", `${vg}/${c.lv}`];
  }
}

function dvmArgs(c: Cmd, devs: string[]): string[] {
  const on = ("on" in c && c.on ? c.on : []).flatMap((o) => ["--on", expand(o, devs)]);
  const stripes = "stripes" in c && c.stripes ? ["--stripes", String(c.stripes)] : [];
  switch (c.op) {
    case "create":
      return [
        "lv-create",
        c.lv,
        "--size",
        c.size,
        ...stripes,
        ...(c.stripeSize ? ["--stripe-size", c.stripeSize] : []),
        ...on,
        "--time",
        "1700000000",
        "--host",
        "interop",
      ];
    case "extend":
      return ["lv-extend", c.lv, "--size", c.size, ...stripes, ...on];
    case "reduce":
      return ["lv-reduce", c.lv, "--size", c.size];
    case "remove":
      return ["lv-remove", c.lv];
  }
}

function readDoc(vg: string, devs: string[]): VgDoc {
  const find = run("dvm-discover", ["find", vg, "--devices", devs.join(",")]);
  assert.equal(find.status, 0, find.stderr);
  const read = run("dvm-tm", ["read", vg], find.stdout);
  assert.equal(read.status, 0, read.stderr);
  return JSON.parse(read.stdout) as VgDoc;
}

/** What is compared of each LV: its name and its segments' layout. */
function layout(doc: VgDoc) {
  return (doc.vg.logical_volumes ?? []).map((lv) => ({
    name: lv.name,
    segments: lv.segments.map((s) => ({
      start_extent: s.start_extent,
      extent_count: s.extent_count,
      type: s.type,
      stripe_count: s.stripe_count,
      stripe_size: s.stripe_size,
      stripes: s.stripes,
    })),
  }));
}

/** LVM2's stdout lines that dvm-manip has no reason to print. */
const LVM_ONLY =
  /^(Logical volume "[^"]*" (created|successfully removed)\.?|Size of logical volume .* changed .*|Logical volume .* successfully resized\.?)$/;

const lines = (s: string) =>
  s
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("WARNING") && !LVM_ONLY.test(l));

function compare(c: Cmd, vg: string, devs: string[]) {
  const before = readDoc(vg, devs);
  const mine = run("dvm-manip", dvmArgs(c, devs), JSON.stringify(before));
  const lvm = lab.lvmRaw(lvmArgs(c, vg, devs), devs);
  const what = `${lvmArgs(c, vg, devs).join(" ")}\nLVM2: ${lvm.stdout}${lvm.stderr}\ndvm-manip: ${mine.stderr}`;
  if (lvm.status !== 0) {
    assert.notEqual(mine.status, 0, `LVM2 refused, dvm-manip did not: ${what}`);
    assert.equal(mine.stdout, "", "nothing on stdout on failure");
    if (c.fail !== undefined) assert.equal(mine.status, c.fail, what);
    assert.deepEqual(readDoc(vg, devs).vg.seqno, before.vg.seqno);
    return;
  }
  assert.equal(c.fail, undefined, `LVM2 did it, the scenario expected a failure: ${what}`);
  assert.equal(mine.status, 0, `dvm-manip failed: ${what}`);
  const ours = JSON.parse(mine.stdout) as VgDoc;
  const theirs = readDoc(vg, devs);
  assert.equal(ours.vg.seqno, before.vg.seqno + 1);
  assert.equal(theirs.vg.seqno, before.vg.seqno + 1);
  assert.deepEqual(layout(ours), layout(theirs), what);
  assert.deepEqual(lines(mine.stderr), lines(lvm.stdout), `messages: ${what}`);
}

function runScenario(s: Scenario) {
  const devs = s.pvs.map((mib, i) => lab.attach(`${s.name.replace(/\W+/g, "-")}-${i}`, mib));
  const vg = lab.vg(s.name.replace(/\W+/g, "").slice(0, 12));
  lab.lvm(["pvcreate", "-q", ...devs], devs);
  lab.lvm(["vgcreate", "-q", ...(s.extentSize ? ["-s", s.extentSize] : []), vg, ...devs], devs);
  if (s.alloc) lab.lvm(["vgchange", "-q", "--alloc", s.alloc, vg], devs);
  try {
    for (const step of s.steps)
      if ("lvm" in step)
        lab.lvm(
          step.lvm.map((a) => expand(a.replaceAll("%vg", vg), devs)),
          devs,
        );
      else compare(step, vg, devs);
  } finally {
    lab.lvmRaw(["vgremove", "-ff", vg], devs);
    for (const d of devs) lab.detach(d);
  }
}

const create = (lv: string, size: string, more: Partial<Extract<Cmd, { op: "create" }>> = {}): Cmd => ({
  op: "create",
  lv,
  size,
  ...more,
});
const extend = (lv: string, size: string, more: Partial<Extract<Cmd, { op: "extend" }>> = {}): Cmd => ({
  op: "extend",
  lv,
  size,
  ...more,
});
const reduce = (lv: string, size: string): Cmd => ({ op: "reduce", lv, size });
const remove = (lv: string): Cmd => ({ op: "remove", lv });
const setup = (...args: string[]): Step => ({ lvm: args });

const SCENARIOS: Scenario[] = [
  {
    name: "fresh VG, PVs of different sizes",
    pvs: [64, 96, 128],
    steps: [
      create("a", "8m"),
      create("b", "10m", { stripes: 2 }),
      create("c", "12m", { stripes: 3 }),
      extend("c", "+5m"),
      extend("c", "+4m"),
      create("d", "1k"),
      create("e", "20m"),
      extend("a", "+40m"),
      create("f", "8m", { stripes: 2, stripeSize: "4k" }),
      create("g", "8m", { stripes: 2, stripeSize: "8m" }),
      reduce("a", "-6m"),
      extend("a", "60m"),
      create("big", "200m", { fail: 6 }),
      create("wide", "8m", { stripes: 4, fail: 6 }),
      create("h", "100m"),
    ],
  },
  {
    name: "gaps left by removed LVs",
    pvs: [64, 64],
    steps: [
      setup("lvcreate", "-an", "-Zn", "-n", "g1", "-l", "2", "%vg", "%0"),
      setup("lvcreate", "-an", "-Zn", "-n", "g2", "-l", "1", "%vg", "%0"),
      setup("lvcreate", "-an", "-Zn", "-n", "g3", "-l", "4", "%vg", "%0"),
      setup("lvcreate", "-an", "-Zn", "-n", "g4", "-l", "1", "%vg", "%0"),
      setup("lvcreate", "-an", "-Zn", "-n", "g5", "-l", "3", "%vg", "%0"),
      setup("lvcreate", "-an", "-Zn", "-n", "h1", "-l", "5", "%vg", "%1"),
      setup("lvcreate", "-an", "-Zn", "-n", "h2", "-l", "2", "%vg", "%1"),
      remove("g1"),
      remove("g3"),
      remove("h1"),
      create("t1", "12m"),
      create("t2", "8m"),
      create("t3", "24m"),
      create("s", "16m", { stripes: 2 }),
      remove("g5"),
      remove("t2"),
      create("t4", "40m"),
      extend("t1", "+16m"),
      create("t5", "8m", { stripes: 2 }),
    ],
  },
  {
    name: "extend contiguously and not",
    pvs: [64, 64, 64],
    steps: [
      create("x", "8m"),
      extend("x", "+12m"),
      create("y", "8m"),
      extend("x", "+8m"),
      remove("y"),
      extend("x", "+16m"),
      extend("x", "+40m"),
      create("s", "16m", { stripes: 2 }),
      extend("s", "+16m"),
      setup("lvcreate", "-an", "-Zn", "-n", "block", "-l", "1", "%vg", "%1"),
      extend("s", "+8m"),
      extend("s", "+8m", { stripes: 1 }),
      extend("s", "+8m", { stripes: 3 }),
      extend("s", "+8m", { fail: 2 }),
      extend("s", "+12m", { stripes: 3 }),
      create("t", "12m", { stripes: 3 }),
      extend("t", "+24m"),
    ],
  },
  {
    name: "--on with PE ranges",
    pvs: [64, 64, 96],
    steps: [
      create("r1", "20m", { on: ["%1:5-9"] }),
      create("r2", "20m", { on: ["%0:2-3:10-12"] }),
      create("r3", "16m", { on: ["%2", "%0"] }),
      create("r4", "12m", { on: ["%0:0-", "%1:0-1"] }),
      extend("r1", "+8m", { on: ["%2:20-"] }),
      extend("r2", "+12m", { on: ["%1:12+3", "%2:5"] }),
      create("r5", "16m", { stripes: 2, on: ["%1:0-3", "%2:10-"] }),
      create("r6", "16m", { stripes: 2, on: ["%1"] }),
      create("r7", "40m", { on: ["%1:12-14"], fail: 6 }),
      create("r8", "8m", { on: ["%0:3-1"], fail: 2 }),
      create("r9", "8m", { on: ["%0:1-4:3-5"], fail: 2 }),
      create("r10", "400m", { fail: 6 }),
    ],
  },
  {
    name: "1 MiB extents",
    pvs: [32, 48, 64],
    extentSize: "1m",
    steps: [
      create("a", "10m"),
      create("b", "7m", { stripes: 3 }),
      create("c", "25m"),
      remove("a"),
      create("d", "5m"),
      create("e", "30m", { stripes: 2 }),
      extend("b", "+5m"),
      extend("d", "+40m"),
      reduce("e", "-5m"),
      extend("e", "+9m"),
      create("f", "1000k"),
    ],
  },
  {
    name: "free areas in LVM2's list order",
    pvs: [64, 64],
    extentSize: "1m",
    steps: [
      setup("lvcreate", "-an", "-Zn", "-n", "t1", "-l", "8", "%vg", "%0"),
      setup("lvcreate", "-an", "-Zn", "-n", "k1", "-l", "1", "%vg", "%0"),
      setup("lvcreate", "-an", "-Zn", "-n", "t2", "-l", "10", "%vg", "%0"),
      setup("lvcreate", "-an", "-Zn", "-n", "k2", "-l", "44", "%vg", "%0"),
      setup("lvremove", "-f", "%vg/t1", "%vg/t2"),
      // Not the smallest area that fits (0-7): the 10-extent one, as LVM2's list walk skips the other.
      create("q", "3m", { on: ["%0"] }),
      create("r", "5m", { on: ["%0"] }),
      create("s", "2m", { on: ["%0"] }),
      create("u", "3m"),
      create("v", "6m", { stripes: 2 }),
    ],
  },
  {
    name: "VG allocation policy cling",
    pvs: [64, 64, 64],
    alloc: "cling",
    steps: [
      create("a", "40m"),
      create("b", "40m"),
      extend("a", "+20m"),
      create("s", "24m", { stripes: 2 }),
      extend("s", "+16m"),
      extend("b", "+80m"),
    ],
  },
  {
    name: "VG allocation policy contiguous",
    pvs: [64, 64],
    alloc: "contiguous",
    steps: [
      create("a", "20m"),
      create("b", "8m"),
      extend("a", "+8m", { fail: 6 }),
      extend("b", "+8m"),
      create("c", "60m"),
    ],
  },
];

/** The VG as compared: everything but the IDs LVM2 and dvm each make up, and LV creation stamps. */
function comparable(doc: VgDoc) {
  const vg = structuredClone(doc.vg) as unknown as Record<string, unknown> & VgDoc["vg"];
  delete (vg as Record<string, unknown>).id;
  for (const lv of vg.logical_volumes ?? []) {
    delete (lv as Record<string, unknown>).id;
    delete lv.creation_time;
    delete lv.creation_host;
  }
  return JSON.stringify(vg);
}

describe("dvm-manip's VG operations = LVM2's (interop)", () => {
  test("vg-create, vg-extend, vg-reduce, vg-rename, lv-rename, lv-remove", () => {
    const devs = [lab.attach("vgops-0", 64), lab.attach("vgops-1", 96), lab.attach("vgops-2", 40)];
    const vg = lab.vg("vgops");
    try {
      lab.lvm(["pvcreate", "-q", ...devs], devs);
      const scan = run("dvm-discover", ["scan", "--devices", devs.join(",")]);
      assert.equal(scan.status, 0, scan.stderr);
      const pvArg = (dev: string) => {
        const d = JSON.parse(scan.stdout).devices.find((x: { path: string }) => x.path === dev);
        return `${dev}:${d.pv.uuid}:${d.pv.data_areas[0].offset_bytes / 512}:${d.pv.device_size_bytes / 512}`;
      };
      const step = (dvm: string[], lvm: string[], stdin?: VgDoc, name = vg) => {
        const mine = run("dvm-manip", dvm, stdin ? JSON.stringify(stdin) : "");
        assert.equal(mine.status, 0, mine.stderr);
        lab.lvm(lvm, devs);
        const theirs = readDoc(name, devs);
        assert.equal(comparable(JSON.parse(mine.stdout)), comparable(theirs), `${lvm.join(" ")}`);
        return theirs;
      };
      let doc = step(
        ["vg-create", vg, "--extent-size", "2m", "--pv", pvArg(devs[0]!), "--pv", pvArg(devs[1]!)],
        ["vgcreate", "-q", "-s", "2m", vg, devs[0]!, devs[1]!],
      );
      doc = step(["vg-extend", "--pv", pvArg(devs[2]!)], ["vgextend", "-q", vg, devs[2]!], doc);
      lab.lvm(["lvcreate", "-q", "-an", "-Zn", "-n", "on2", "-l", "3", vg, devs[2]!], devs);
      lab.lvm(["lvcreate", "-q", "-an", "-Zn", "-n", "on0", "-l", "2", vg, devs[0]!], devs);
      doc = readDoc(vg, devs);
      doc = step(["vg-reduce", devs[1]!], ["vgreduce", "-q", vg, devs[1]!], doc);
      assert.deepEqual(
        doc.vg.physical_volumes.map((p) => p.name),
        ["pv0", "pv1"],
      );
      doc = step(["lv-rename", "on2", "moved"], ["lvrename", "-q", vg, "on2", "moved"], doc);
      doc = step(["lv-remove", "on0"], ["lvremove", "-q", "-f", `${vg}/on0`], doc);
      const renamed = `${vg}x`;
      step(["vg-rename", renamed], ["vgrename", "-q", vg, renamed], doc, renamed);
      lab.lvmRaw(["vgremove", "-ff", renamed], devs);
    } finally {
      lab.lvmRaw(["vgremove", "-ff", vg], devs);
      for (const d of devs) lab.detach(d);
    }
  });
});

describe("dvm-manip's allocation = LVM2's (interop)", () => {
  for (const s of SCENARIOS)
    test(s.name, () => {
      runScenario(s);
    });

  test("random scenarios (seeded)", () => {
    let seed = 20240611;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    for (let k = 0; k < 6; k++) {
      const pvs = Array.from({ length: 1 + rnd(4) }, () => 32 + 16 * rnd(5));
      const steps: Step[] = [];
      const names: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = rnd(10);
        if (r < 5 || names.length === 0) {
          const stripes = rnd(3) === 0 ? 1 + rnd(Math.min(3, pvs.length)) : 1;
          const on = rnd(4) === 0 ? [`%${rnd(pvs.length)}`] : [];
          steps.push(create(`l${i}`, `${4 * (1 + rnd(8))}m`, { stripes, on }));
          names.push(`l${i}`);
        } else if (r < 7) steps.push(remove(names.splice(rnd(names.length), 1)[0]!));
        else steps.push(extend(names[rnd(names.length)]!, `+${4 * (1 + rnd(10))}m`));
      }
      runScenario({ name: `random ${k}`, pvs, extentSize: ["1m", "2m", "4m"][rnd(3)], steps });
    }
  });
});
