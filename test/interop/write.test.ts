import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunResult, run } from "../helpers.ts";
import { compareReport, FIELDS, JSON_BYTES, KINDS, Lab, linearLvBackupText, rows } from "./lvm.ts";

/**
 * dvm's write path against LVM2 2.03 on loop devices:
 *  - VGs and LVs made and changed by dvm pass LVM2's vgck and pvck, and LVM2's
 *    pvs / vgs / lvs / lvs --segments equal dvm's reports after every step;
 *    then LVM2 changes them and dvm reads the result;
 *  - the same commands given to dvm and to LVM2 on two identical VGs allocate
 *    the same extents;
 *  - dvm's exit codes when it refuses, and that a refusal or --dry-run leaves
 *    every byte of the PVs as it was;
 *  - a full metadata area: dvm refuses (exit 6) and LVM2 still reads the VG.
 */

const lab = new Lab();
after(() => lab.cleanup());

/** The dvm wrapper, looking only at `devs`. */
const dvmOn = (devs: string[], args: string[]): RunResult =>
  run("dvm", [...args, "--devices", devs.join(",")]);

function dvmOk(devs: string[], args: string[]): string {
  const r = dvmOn(devs, args);
  assert.equal(r.status, 0, `dvm ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** dvm must refuse with `code`, print nothing on stdout and one `dvm: error:` line. */
function dvmFails(devs: string[], args: string[], code: number, message?: RegExp): RunResult {
  const r = dvmOn(devs, args);
  const what = `dvm ${args.join(" ")}: exit ${r.status}, stderr:\n${r.stderr}`;
  assert.equal(r.status, code, what);
  assert.equal(r.stdout, "", `nothing on stdout: ${what}`);
  assert.match(r.stderr, /^dvm: error: .+$/m, what);
  if (message) assert.match(r.stderr, message, what);
  return r;
}

/** LVM2's stderr without the warnings it prints because activation and backups are off here. */
const complaints = (stderr: string) =>
  stderr
    .split("\n")
    .filter(
      (l) =>
        l.trim() !== "" &&
        !/Activation disabled|not zeroed|NOT backed up|Using default stripesize|Rounding size/.test(l),
    )
    .join("\n");

const seqno = (vg: string, devs: string[]) =>
  Number(lab.lvm(["vgs", "--noheadings", "-o", "vg_seqno", vg], devs).trim());

/** A digest of every byte of the devices (or of their first `bytes`). */
function digest(devs: string[], bytes?: number): string {
  return devs
    .map((d) => {
      let data: Buffer;
      if (bytes === undefined) data = readFileSync(d);
      else {
        data = Buffer.alloc(bytes);
        const fd = openSync(d, "r");
        try {
          readSync(fd, data, 0, bytes, 0);
        } finally {
          closeSync(fd);
        }
      }
      return `${d}=${createHash("sha256").update(data).digest("hex")}`;
    })
    .join(" ");
}

/** Name the step in an assertion's message. */
function during<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error) e.message = `[${what}] ${e.message}`;
    throw e;
  }
}

/** The devices among `devs` that LVM2 sees as PVs. */
const pvsOf = (devs: string[]) =>
  rows(lab.lvm(["pvs", ...JSON_BYTES, "-o", "pv_name"], devs)).map((r) => r.pv_name!);

/**
 * LVM2 accepts every VG among `devs` (vgck, pvck on every PV) and reports
 * what dvm reports (all four kinds with the interop field lists, in JSON
 * bytes, and lvs in default columns); dvm-tm verify finds every metadata
 * copy current.
 */
function agree(devs: string[], vgs: string[]) {
  for (const vg of vgs) {
    const ck = lab.lvmRaw(["vgck", vg], devs);
    assert.equal(ck.status, 0, `vgck ${vg}: ${ck.stderr}`);
    assert.equal(complaints(ck.stderr), "", `vgck ${vg} complains`);
    const mdas = Number(lab.lvm(["vgs", "--noheadings", "-o", "vg_mda_used_count", vg], devs).trim());
    const v = run("dvm-tm", ["verify", vg, "--devices", devs.join(",")]);
    assert.equal(v.status, 0, `dvm-tm verify ${vg}: ${v.stderr}`);
    assert.match(v.stderr, new RegExp(`: ${mdas} current, 0 stale, 0 bad metadata copies; 0 PVs missing`));
  }
  for (const kind of KINDS) compareReport(lab, kind, devs, [...JSON_BYTES, "-o", FIELDS[kind]]);
  compareReport(lab, "lvs", devs, []);
  for (const pv of pvsOf(devs)) {
    const r = lab.pvck(pv);
    assert.equal(r.status, 0, `pvck ${pv}: ${r.stderr}`);
    assert.equal(complaints(r.stderr), "", `pvck ${pv} complains`);
  }
}

describe("a VG made and changed by dvm, checked by LVM2; then changed by LVM2, read by dvm", () => {
  let devs: string[];
  let a: string;
  let b: string;
  let c: string;
  let e: string;
  let f: string;
  let vg = lab.vg("w");
  let seq = 0;

  /** One dvm command: exit 0, seqno + 1 (when it writes the VG), then agree. */
  const step = (args: string[], writes = true) =>
    during(`dvm ${args.join(" ")}`, () => {
      dvmOk(devs, args);
      if (writes) {
        seq++;
        assert.equal(seqno(vg, devs), seq, "seqno rises by 1");
      }
      agree(devs, seq ? [vg] : []);
    });
  /** One LVM2 command, then dvm must read the result as LVM2 does. */
  const lvmStep = (args: string[], writes = true) =>
    during(`lvm ${args.join(" ")}`, () => {
      lab.lvm(args, devs);
      if (writes) {
        seq++;
        assert.equal(seqno(vg, devs), seq, "seqno rises by 1");
      }
      agree(devs, [vg]);
    });

  before(() => {
    a = lab.attach("w-a", 96);
    b = lab.attach("w-b", 128);
    c = lab.attach("w-c", 128);
    e = lab.attach("w-e", 48);
    f = lab.attach("w-f", 40);
    devs = [a, b, c, e, f];
  });

  test("dvm pv create, vg create (labelling the device that is no PV yet)", () => {
    step(["pv", "create", a], false);
    assert.deepEqual(pvsOf(devs), [a]);
    step(["vg", "create", vg, a, b]);
    assert.deepEqual(pvsOf(devs).sort(), [a, b].sort());
  });

  test("dvm lv create: linear, striped, on a PV, on PE ranges, odd names; vg extend", () => {
    step(["lv", "create", `${vg}/lin`, "--size", "8m"]);
    step(["lv", "create", `${vg}/s2`, "--size", "16m", "--stripes", "2"]);
    step(["lv", "create", `${vg}/s3`, "--size", "24m"]);
    step(["vg", "extend", vg, c]);
    step(["lv", "create", `${vg}/s3b`, "--size", "24m", "--stripes", "3", "--stripe-size", "128k"]);
    step(["lv", "create", `${vg}/onc`, "--size", "8m", "--on", c]);
    step(["lv", "create", `${vg}/rng`, "--size", "8m", "--on", `${a}:12-13`]);
    step(["lv", "create", `${vg}/Odd_name.x+y-z`, "--size", "5m"]);
    step(["lv", "create", `${vg}/tiny`, "--size", "1k", "--type", "linear"]);
    step([
      "lv",
      "create",
      `${vg}/s2k`,
      "--size",
      "8m",
      "--type",
      "striped",
      "--stripes",
      "2",
      "--stripe-size",
      "4k",
    ]);
  });

  test("dvm lv extend, reduce, rename, remove", () => {
    step(["lv", "extend", `${vg}/lin`, "--size", "+12m"]);
    step(["lv", "extend", `${vg}/s2`, "--size", "+8m"]);
    step(["lv", "extend", `${vg}/s3b`, "--size", "36m"]);
    step(["lv", "extend", `${vg}/onc`, "--size", "+8m", "--on", `${b}:20-`]);
    step(["lv", "reduce", `${vg}/lin`, "--size", "-4m"]);
    step(["lv", "reduce", `${vg}/s2`, "--size", "16m"]);
    step(["lv", "rename", `${vg}/onc`, "moved"]);
    step(["lv", "remove", `${vg}/rng`]);
    step(["lv", "remove", `${vg}/tiny`]);
    step(["lv", "extend", `${vg}/lin`, "--size", "+40m"]); // into the gaps: several segments
  });

  test("dvm vg extend, vg reduce, vg rename", () => {
    step(["vg", "extend", vg, e]);
    step(["lv", "create", `${vg}/one`, "--size", "4m", "--on", e]);
    step(["lv", "remove", `${vg}/one`]);
    step(["vg", "reduce", vg, e]);
    assert.ok(pvsOf(devs).includes(e), "a reduced PV stays a PV, an orphan");
    const to = lab.vg("w2");
    dvmOk(devs, ["vg", "rename", vg, to]);
    vg = to;
    seq++;
    assert.equal(seqno(vg, devs), seq);
    agree(devs, [vg]);
    step(["lv", "create", `${vg}/after-rename`, "--size", "4m"]);
  });

  test("LVM2 changes the dvm-made VG: lvextend, lvcreate, lvremove, vgextend, vgreduce, lvrename, vgrename", () => {
    lvmStep(["lvextend", "-q", "-L", "+8m", `${vg}/lin`]);
    lvmStep(["lvcreate", "-q", "-an", "-Zn", "-n", "fromlvm", "-L", "12m", "-i", "2", vg]);
    lvmStep(["lvremove", "-q", "-f", `${vg}/s3`]);
    lvmStep(["pvcreate", "-q", f], false);
    lvmStep(["vgextend", "-q", vg, f]);
    lvmStep(["lvcreate", "-q", "-an", "-Zn", "-n", "onf", "-l", "2", vg, f]);
    lvmStep(["lvreduce", "-q", "-f", "-L", "-12m", `${vg}/s3b`]);
    lvmStep(["lvremove", "-q", "-f", `${vg}/onf`]);
    lvmStep(["vgreduce", "-q", vg, f]);
    lvmStep(["lvrename", "-q", vg, "moved", "onc"]);
    lvmStep(["vgchange", "-q", "--addtag", "lvm_tag", vg]);
    const to = lab.vg("w3");
    lab.lvm(["vgrename", "-q", vg, to], devs);
    vg = to;
    seq++;
    agree(devs, [vg]);
  });

  test("dvm writes on top of LVM2's changes", () => {
    step(["lv", "create", `${vg}/again`, "--size", "20m", "--stripes", "2"]);
    step(["lv", "extend", `${vg}/fromlvm`, "--size", "+8m"]);
    step(["vg", "extend", vg, f]);
    step(["lv", "rename", `${vg}/again`, "again2"]);
    step(["vg", "reduce", vg, f]);
  });

  test("dvm vg remove: refused while LVs exist (exit 5), done with --force; the PVs are orphans for LVM2", () => {
    const before = digest(devs);
    dvmFails(devs, ["vg", "remove", vg], 5, /logical volume/);
    assert.equal(digest(devs), before, "a refused vg remove writes nothing");
    dvmOk(devs, ["vg", "remove", vg, "--force"]);
    assert.deepEqual(
      rows(lab.lvm(["vgs", ...JSON_BYTES, "-o", "vg_name"], devs)),
      [],
      "LVM2 sees no VG any more",
    );
    for (const p of rows(lab.lvm(["pvs", ...JSON_BYTES, "-o", "pv_name,vg_name,pv_attr"], devs)))
      assert.equal(p.vg_name, "", `${p.pv_name} is an orphan`);
    agree(devs, []);
    // LVM2 can use the orphans at once.
    const v = lab.vg("wlvm");
    lab.lvm(["vgcreate", "-q", v, a, b], devs);
    lab.lvcreate(["-n", "x", "-L", "8m", v], devs);
    agree(devs, [v]);
  });
});

// ---------------------------------------------------------------------------
// Metadata areas: two per PV, none, ignored ones.

const MDA_PV = "pv_name,vg_name,pv_mda_count,pv_mda_used_count,pv_mda_size";
const MDA_VG = "vg_name,vg_mda_count,vg_mda_used_count,vg_mda_copies";

function agreeMdas(devs: string[], vgs: string[]) {
  agree(devs, vgs);
  compareReport(lab, "pvs", devs, [...JSON_BYTES, "-o", MDA_PV]);
  compareReport(lab, "vgs", devs, [...JSON_BYTES, "-o", MDA_VG]);
}

const mdaUse = (devs: string[]) =>
  rows(lab.lvm(["pvs", ...JSON_BYTES, "-o", "pv_name,pv_mda_count,pv_mda_used_count"], devs)).map(
    (r) => `${devs.indexOf(r.pv_name!)}:${r.pv_mda_used_count}/${r.pv_mda_count}`,
  );

describe("metadata areas: two per PV, none, ignored ones (vgmetadatacopies)", () => {
  test("dvm writes every area in use and none that is ignored; LVM2 agrees", () => {
    const devs = [0, 1, 2, 3].map((i) => lab.attach(`mda-${i}`, 48));
    const [d0, d1, d2, d3] = devs as [string, string, string, string];
    const vg = lab.vg("mda");
    lab.lvm(["pvcreate", "-q", "--pvmetadatacopies", "2", d0, d1], devs);
    lab.lvm(["pvcreate", "-q", "--pvmetadatacopies", "0", d2], devs);
    dvmOk(devs, ["vg", "create", vg, d0, d1, d2]);
    agreeMdas(devs, [vg]);
    dvmOk(devs, ["lv", "create", `${vg}/a`, "--size", "40m"]);
    agreeMdas(devs, [vg]);
    lab.lvm(["vgchange", "-q", "--vgmetadatacopies", "1", vg], devs);
    const use = mdaUse(devs);
    dvmOk(devs, ["lv", "create", `${vg}/b`, "--size", "8m", "--stripes", "3"]);
    dvmOk(devs, ["lv", "extend", `${vg}/a`, "--size", "+20m"]);
    assert.deepEqual(mdaUse(devs), use, "dvm keeps LVM2's choice of the area in use");
    agreeMdas(devs, [vg]);
    lab.lvm(["vgchange", "-q", "--vgmetadatacopies", "unmanaged", vg], devs);
    dvmOk(devs, ["lv", "remove", `${vg}/b`]);
    agreeMdas(devs, [vg]);
    // A PV of LVM2's default layout joins the VG; dvm's vg reduce takes out the one without an area.
    lab.lvm(["pvcreate", "-q", d3], devs);
    dvmOk(devs, ["vg", "extend", vg, d3]);
    agreeMdas(devs, [vg]);
    dvmOk(devs, ["vg", "reduce", vg, d2]);
    agreeMdas(devs, [vg]);
    lab.lvmRaw(["vgremove", "-ff", vg], devs);
    for (const d of devs) lab.detach(d);
  });

  test("dvm vg extend in a VG with vgmetadatacopies 1 keeps one area in use (as LVM2's vgextend does)", () => {
    const devs = [0, 1, 2].map((i) => lab.attach(`mdc-${i}`, 32));
    const vg = lab.vg("mdc");
    try {
      lab.lvm(["pvcreate", "-q", ...devs], devs);
      lab.lvm(["vgcreate", "-q", vg, devs[0]!, devs[1]!], devs);
      lab.lvm(["vgchange", "-q", "--vgmetadatacopies", "1", vg], devs);
      dvmOk(devs, ["vg", "extend", vg, devs[2]!]);
      agreeMdas(devs, [vg]);
      const r = rows(lab.lvm(["vgs", ...JSON_BYTES, "-o", "vg_mda_copies,vg_mda_used_count", vg], devs))[0]!;
      assert.deepEqual(r, { vg_mda_copies: "1", vg_mda_used_count: "1" });
    } finally {
      lab.lvmRaw(["vgremove", "-ff", vg], devs);
      for (const d of devs) lab.detach(d);
    }
  });

  test("dvm vg create on a PV whose areas are all ignored puts one back in use (as LVM2's vgcreate does)", () => {
    const devs = [lab.attach("mdi-0", 32)];
    const vg = lab.vg("mdi");
    try {
      lab.lvm(["pvcreate", "-q", "--pvmetadatacopies", "2", devs[0]!], devs);
      lab.lvm(["pvchange", "-q", "--metadataignore", "y", devs[0]!], devs);
      assert.deepEqual(mdaUse(devs), ["0:0/2"]);
      dvmOk(devs, ["vg", "create", vg, devs[0]!]);
      assert.deepEqual(mdaUse(devs), ["0:1/2"]);
      agreeMdas(devs, [vg]);
    } finally {
      lab.lvmRaw(["vgremove", "-ff", vg], devs);
      for (const d of devs) lab.detach(d);
    }
  });
});

// ---------------------------------------------------------------------------
// The allocation dvm picks = the one LVM2 picks, on twin VGs.

type Op =
  | {
      op: "create";
      lv: string;
      size: string;
      stripes?: number;
      stripeSize?: string;
      on?: string[];
      fail?: number;
    }
  | { op: "extend"; lv: string; size: string; on?: string[]; fail?: number }
  | { op: "reduce"; lv: string; size: string }
  | { op: "remove"; lv: string }
  | { op: "vgextend"; pv: number };

interface Twin {
  vg: string;
  devs: string[];
  /** The devices in the VG, in PV order. */
  inVg: string[];
}

/** `%N` stands for the twin's N-th device. */
const expand = (s: string, t: Twin) => s.replace(/%(\d+)/g, (_, i) => t.devs[Number(i)]!);

function lvmOp(o: Op, t: Twin): string[] {
  const on = "on" in o && o.on ? o.on.map((x) => expand(x, t)) : [];
  switch (o.op) {
    case "create":
      return [
        "lvcreate",
        "-q",
        "-an",
        "-Zn",
        "-n",
        o.lv,
        "-L",
        o.size,
        ...(o.stripes ? ["-i", String(o.stripes)] : []),
        ...(o.stripeSize ? ["-I", o.stripeSize] : []),
        t.vg,
        ...on,
      ];
    case "extend":
      return ["lvextend", "-q", "-L", o.size, `${t.vg}/${o.lv}`, ...on];
    case "reduce":
      return ["lvreduce", "-q", "-f", "-L", o.size, `${t.vg}/${o.lv}`];
    case "remove":
      return ["lvremove", "-q", "-f", `${t.vg}/${o.lv}`];
    case "vgextend":
      return ["vgextend", "-q", t.vg, t.devs[o.pv]!];
  }
}

function dvmOp(o: Op, t: Twin): string[] {
  const on = "on" in o && o.on ? o.on.flatMap((x) => ["--on", expand(x, t)]) : [];
  switch (o.op) {
    case "create":
      return [
        "lv",
        "create",
        `${t.vg}/${o.lv}`,
        "--size",
        o.size,
        ...(o.stripes ? ["--stripes", String(o.stripes)] : []),
        ...(o.stripeSize ? ["--stripe-size", o.stripeSize] : []),
        ...on,
      ];
    case "extend":
      return ["lv", "extend", `${t.vg}/${o.lv}`, "--size", o.size, ...on];
    case "reduce":
      return ["lv", "reduce", `${t.vg}/${o.lv}`, "--size", o.size];
    case "remove":
      return ["lv", "remove", `${t.vg}/${o.lv}`];
    case "vgextend":
      return ["vg", "extend", t.vg, t.devs[o.pv]!];
  }
}

/** What LVM2 reports of a twin, with device names replaced by the device's position (`#N`). */
function layout(t: Twin) {
  const pos = (s: string) => s.replace(/\/dev\/loop\d+/g, (d) => `#${t.devs.indexOf(d)}`);
  const segs = rows(
    lab.lvm(
      [
        "lvs",
        "--segments",
        ...JSON_BYTES,
        "-o",
        "lv_name,lv_size,segtype,stripes,stripe_size,seg_start_pe,seg_size_pe,seg_pe_ranges",
        t.vg,
      ],
      t.devs,
    ),
  ).map((r) => ({ ...r, seg_pe_ranges: pos(r.seg_pe_ranges!) }));
  const pvs = rows(
    lab.lvm(
      ["pvs", ...JSON_BYTES, "-o", "pv_name,pe_start,pv_pe_count,pv_pe_alloc_count", "-S", `vg_name=${t.vg}`],
      t.devs,
    ),
  )
    .map((r) => ({ ...r, pv_name: pos(r.pv_name!) }))
    .sort((x, y) => x.pv_name.localeCompare(y.pv_name));
  const vg = rows(
    lab.lvm(["vgs", ...JSON_BYTES, "-o", "lv_count,vg_seqno,vg_extent_count,vg_free_count", t.vg], t.devs),
  );
  return { segs, pvs, vg };
}

const create = (lv: string, size: string, more: Partial<Extract<Op, { op: "create" }>> = {}): Op => ({
  op: "create",
  lv,
  size,
  ...more,
});
const extend = (lv: string, size: string, more: Partial<Extract<Op, { op: "extend" }>> = {}): Op => ({
  op: "extend",
  lv,
  size,
  ...more,
});
const reduce = (lv: string, size: string): Op => ({ op: "reduce", lv, size });
const remove = (lv: string): Op => ({ op: "remove", lv });

interface TwinScenario {
  name: string;
  /** Device sizes in MiB; the VG starts on the first `initial` of them. */
  sizes: number[];
  initial: number;
  extentSize?: string;
  ops: Op[];
}

const TWIN_SCENARIOS: TwinScenario[] = [
  {
    name: "creates, gaps from removes, extends, striped -i 2 / -i 3, --on DEV and DEV:PE-PE",
    sizes: [128, 160, 192, 96],
    initial: 3,
    ops: [
      create("f", "8m", { on: ["%0:12-13"] }),
      create("a", "8m"),
      create("b", "12m"),
      create("c", "20m"),
      create("s2", "16m", { stripes: 2 }),
      remove("b"),
      create("d", "4m"),
      extend("a", "+8m"),
      create("s3", "24m", { stripes: 3 }),
      extend("s2", "+8m"),
      create("e", "8m", { on: ["%2"] }),
      create("g", "12m", { on: ["%1:1-", "%2:20-21"] }),
      extend("e", "+8m", { on: ["%1:20-"] }),
      remove("c"),
      create("h", "12m", { stripes: 2, stripeSize: "16k" }),
      reduce("a", "-4m"),
      extend("d", "+40m"),
      create("big", "1g", { fail: 6 }),
      create("wide", "8m", { stripes: 4, fail: 6 }),
      create("r", "8m", { on: ["%0:12-13"], fail: 6 }),
      { op: "vgextend", pv: 3 },
      create("wide", "16m", { stripes: 4 }),
      extend("s3", "+12m"),
      create("s3r", "12m", { stripes: 3, on: ["%0", "%1", "%3:5-"] }),
      remove("s2"),
      extend("wide", "+16m"),
      create("rest", "60m"),
      extend("h", "+4m"),
    ],
  },
  {
    name: "1 MiB extents, many small gaps",
    sizes: [32, 48],
    initial: 2,
    extentSize: "1m",
    ops: [
      ...["g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8"].map((n, i) =>
        create(n, `${1 + (i % 3)}m`, { on: ["%0"] }),
      ),
      remove("g2"),
      remove("g4"),
      remove("g7"),
      create("x", "3m"),
      create("y", "2m", { on: ["%0"] }),
      create("s", "6m", { stripes: 2 }),
      extend("g1", "+9m"),
      extend("g8", "+6m", { on: ["%0"], fail: 6 }),
      extend("g8", "+3m", { on: ["%0"] }),
      create("z", "30m"),
      reduce("z", "-7m"),
      extend("s", "+4m", { fail: 6 }),
      reduce("s", "-2m"),
      create("last", "100m", { fail: 6 }),
    ],
  },
];

describe("allocation: dvm on one VG = LVM2 on its twin (same PV sizes, same commands)", () => {
  for (const s of TWIN_SCENARIOS)
    test(s.name, () => {
      const tag = s.name.replace(/\W+/g, "").slice(0, 6);
      const mk = (who: string): Twin => {
        const devs = s.sizes.map((mib, i) => lab.attach(`tw-${who}-${tag}-${i}`, mib));
        return { vg: lab.vg(`t${who}${tag}`), devs, inVg: devs.slice(0, s.initial) };
      };
      const mine = mk("d");
      const theirs = mk("l");
      const es = s.extentSize ? ["--extent-size", s.extentSize] : [];
      dvmOk(mine.devs, ["pv", "create", ...mine.devs]);
      dvmOk(mine.devs, ["vg", "create", mine.vg, ...mine.inVg, ...es]);
      lab.lvm(["pvcreate", "-q", ...theirs.devs], theirs.devs);
      lab.lvm(
        ["vgcreate", "-q", ...(s.extentSize ? ["-s", s.extentSize] : []), theirs.vg, ...theirs.inVg],
        theirs.devs,
      );
      let before = layout(mine);
      assert.deepEqual(before, layout(theirs), "the twins start equal");
      for (const o of s.ops) {
        const what = lvmOp(o, theirs).join(" ");
        during(what, () => {
          const seq = Number(before.vg[0]!.vg_seqno);
          const l = lab.lvmRaw(lvmOp(o, theirs), theirs.devs);
          const d = dvmOn(mine.devs, dvmOp(o, mine));
          const expectFail = "fail" in o ? o.fail : undefined;
          if (l.status !== 0) {
            assert.notEqual(
              expectFail,
              undefined,
              `LVM2 refused: ${l.stderr}\nLVM2's VG: ${JSON.stringify(layout(theirs), null, 1)}`,
            );
            assert.equal(d.status, expectFail, `LVM2 refused (${complaints(l.stderr)}); dvm: ${d.stderr}`);
          } else {
            assert.equal(expectFail, undefined, "LVM2 did it, a failure was expected");
            assert.equal(d.status, 0, `dvm failed: ${d.stderr}`);
          }
          const now = layout(mine);
          assert.equal(Number(now.vg[0]!.vg_seqno), l.status === 0 ? seq + 1 : seq, "dvm's seqno");
          assert.deepEqual(now, layout(theirs));
          before = now;
          const ck = lab.lvmRaw(["vgck", mine.vg], mine.devs);
          assert.equal(ck.status, 0, ck.stderr);
        });
      }
      agree(mine.devs, [mine.vg]);
      for (const t of [mine, theirs]) {
        lab.lvmRaw(["vgremove", "-ff", t.vg], t.devs);
        for (const dv of t.devs) lab.detach(dv);
      }
    });
});

// ---------------------------------------------------------------------------
// Exit codes, and that a refusal or a dry run changes nothing.

describe("dvm's exit codes; refusals and --dry-run leave every byte of the PVs as it was", () => {
  let devs: string[];
  let a: string;
  let b: string;
  let orphan: string;
  let blank: string;
  const vg = lab.vg("err");
  const other = lab.vg("other");

  before(() => {
    a = lab.attach("err-a", 32);
    b = lab.attach("err-b", 32);
    orphan = lab.attach("err-orphan", 24);
    const o2 = lab.attach("err-other", 16);
    blank = lab.attach("err-blank", 16);
    devs = [a, b, orphan, o2, blank];
    dvmOk(devs, ["vg", "create", vg, a, b]);
    dvmOk(devs, ["vg", "create", other, o2]);
    dvmOk(devs, ["pv", "create", orphan]);
    dvmOk(devs, ["lv", "create", `${vg}/a`, "--size", "8m"]);
    dvmOk(devs, ["lv", "create", `${vg}/b`, "--size", "8m", "--on", b]);
    agree(devs, [vg, other]);
  });

  /** Run `fn`, then check the VGs' seqnos and every device's bytes are unchanged. */
  function unchanged(fn: () => void) {
    const s = seqno(vg, devs);
    const before = digest(devs);
    fn();
    assert.equal(seqno(vg, devs), s, "seqno unchanged");
    assert.equal(digest(devs), before, "the devices' bytes unchanged");
  }

  test("not enough free space: exit 6", () => {
    unchanged(() => {
      dvmFails(devs, ["lv", "create", `${vg}/huge`, "--size", "1g"], 6, /insufficient free space/);
      dvmFails(devs, ["lv", "create", `${vg}/s3`, "--size", "8m", "--stripes", "3"], 6);
      dvmFails(devs, ["lv", "extend", `${vg}/a`, "--size", "+100m"], 6);
      dvmFails(devs, ["lv", "create", `${vg}/used`, "--size", "4m", "--on", `${a}:0-1`], 6);
    });
    // LVM2 refuses the same commands.
    for (const args of [
      ["lvcreate", "-an", "-Zn", "-n", "huge", "-L", "1g", vg],
      ["lvcreate", "-an", "-Zn", "-n", "s3", "-L", "8m", "-i", "3", vg],
      ["lvextend", "-L", "+100m", `${vg}/a`],
      ["lvcreate", "-an", "-Zn", "-n", "used", "-L", "4m", vg, `${a}:0-1`],
    ])
      assert.notEqual(lab.lvmRaw(args, devs).status, 0, args.join(" "));
  });

  test("name exists: exit 5", () => {
    unchanged(() => {
      dvmFails(devs, ["lv", "create", `${vg}/a`, "--size", "4m"], 5, /already exists/);
      dvmFails(devs, ["lv", "rename", `${vg}/b`, "a"], 5, /already exists/);
      dvmFails(devs, ["vg", "create", vg, orphan], 5, /already exists/);
      dvmFails(devs, ["vg", "rename", vg, other], 5, /already exists/);
    });
  });

  test("unknown VG, LV or device: exit 3", () => {
    const nosuch = lab.vg("nosuch");
    unchanged(() => {
      dvmFails(devs, ["lv", "create", `${nosuch}/x`, "--size", "4m"], 3, /not found/);
      dvmFails(devs, ["lv", "extend", `${nosuch}/x`, "--size", "+4m"], 3);
      dvmFails(devs, ["lv", "reduce", `${nosuch}/x`, "--size", "-4m"], 3);
      dvmFails(devs, ["lv", "remove", `${nosuch}/x`], 3);
      dvmFails(devs, ["lv", "rename", `${nosuch}/x`, "y"], 3);
      dvmFails(devs, ["vg", "extend", nosuch, orphan], 3);
      dvmFails(devs, ["vg", "reduce", nosuch, orphan], 3);
      dvmFails(devs, ["vg", "rename", nosuch, lab.vg("y")], 3);
      dvmFails(devs, ["vg", "remove", nosuch], 3);
      dvmFails(devs, ["report", "vgs", nosuch], 3);
      dvmFails(devs, ["lv", "remove", `${vg}/nolv`], 3, /not found/);
      dvmFails(devs, ["lv", "extend", `${vg}/nolv`, "--size", "+4m"], 3);
      dvmFails(devs, ["lv", "rename", `${vg}/nolv`, "z"], 3);
      dvmFails(devs, ["lv", "create", `${vg}/orph`, "--size", "4m", "--on", orphan], 3, /not found/);
      dvmFails(devs, ["lv", "create", `${vg}/nodev`, "--size", "4m", "--on", "/dev/nosuchdev"], 3);
    });
  });

  test("a PV in use, bad names and sizes: exit 5 and 2", () => {
    unchanged(() => {
      dvmFails(devs, ["vg", "reduce", vg, b], 5, /in use/);
      dvmFails(devs, ["vg", "extend", vg, devs[3]!], 5);
      dvmFails(devs, ["pv", "create", a], 5, /belongs to volume group/);
      dvmFails(devs, ["lv", "create", `${vg}/-bad`, "--size", "4m"], 2);
      dvmFails(devs, ["lv", "create", `${vg}/snapshot`, "--size", "4m"], 2);
      dvmFails(devs, ["lv", "create", `${vg}/ok`, "--size", "4q"], 2);
      dvmFails(devs, ["lv", "reduce", `${vg}/a`, "--size", "+4m"], 2);
      dvmFails(devs, ["lv", "extend", `${vg}/a`, "--size", "4m"], 2);
    });
    // LVM2 agrees on the names it refuses.
    assert.notEqual(lab.lvmRaw(["lvcreate", "-an", "-Zn", "-n", "snapshot", "-L", "4m", vg], devs).status, 0);
  });

  test("vg remove with LVs: exit 5 without --force", () => {
    unchanged(() => {
      dvmFails(devs, ["vg", "remove", vg], 5, /use --force/);
    });
  });

  test("--dry-run changes nothing and says what it would write", () => {
    const s = seqno(vg, devs);
    const would = new RegExp(`^Would write seqno ${s + 1} of volume group "(${vg}|${lab.vg("dry")})"`);
    unchanged(() => {
      for (const args of [
        ["lv", "create", `${vg}/dry`, "--size", "4m"],
        ["lv", "create", `${vg}/drys`, "--size", "8m", "--stripes", "2"],
        ["lv", "extend", `${vg}/a`, "--size", "+4m"],
        ["lv", "reduce", `${vg}/a`, "--size", "-4m"],
        ["lv", "rename", `${vg}/a`, "dry"],
        ["lv", "remove", `${vg}/a`],
        ["vg", "extend", vg, orphan],
        ["vg", "rename", vg, lab.vg("dry")],
      ])
        assert.match(dvmOk(devs, [...args, "--dry-run"]), would, args.join(" "));
      assert.match(
        dvmOk(devs, ["vg", "create", lab.vg("dry"), orphan, "--dry-run"]),
        /^Would write seqno 1 /,
      );
      assert.match(dvmOk(devs, ["vg", "remove", vg, "--force", "--dry-run"]), /^Would remove/);
      assert.match(dvmOk(devs, ["vg", "remove", other, "--dry-run"]), /^Would remove/);
      assert.match(dvmOk(devs, ["pv", "create", blank, "--dry-run"]), /^Would create physical volume/);
      assert.match(dvmOk(devs, ["pv", "remove", orphan, "--dry-run"]), /^Would wipe/);
      // --json --dry-run prints the metadata it would write.
      const j = JSON.parse(dvmOk(devs, ["lv", "create", `${vg}/dry`, "--size", "4m", "--dry-run", "--json"]));
      assert.equal(j.dry_run, true);
      assert.equal(j.vg.seqno, s + 1);
      assert.ok(j.vg.logical_volumes.some((l: { name: string }) => l.name === "dry"));
    });
    assert.deepEqual(pvsOf(devs).sort(), [a, b, orphan, devs[3]!].sort(), "the blank device is still no PV");
    agree(devs, [vg, other]);
  });

  test("vg remove --force: LVM2 sees orphans", () => {
    dvmOk(devs, ["vg", "remove", vg, "--force"]);
    dvmOk(devs, ["vg", "remove", other]);
    assert.deepEqual(rows(lab.lvm(["vgs", ...JSON_BYTES, "-o", "vg_name"], devs)), []);
    agree(devs, []);
  });
});

// ---------------------------------------------------------------------------
// A full metadata area.

/**
 * Create LVs with dvm until it refuses: it must refuse with exit 6 because
 * the metadata no longer fits, leave the devices untouched, and LVM2 must
 * still read the VG at the last seqno dvm wrote. Returns the LVs created.
 */
function fillUp(vg: string, devs: string[], size: string, max: number): number {
  const s0 = seqno(vg, devs);
  let made = 0;
  for (;;) {
    assert.ok(made < max, `dvm still creating LVs after ${max}`);
    // Labels and metadata areas lie in the first MiB: dvm writes nowhere else.
    const before = digest(devs, 1 << 20);
    const r = dvmOn(devs, ["lv", "create", `${vg}/fill${made}`, "--size", size]);
    if (r.status === 0) {
      made++;
      continue;
    }
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, /^dvm: error: metadata of \d+ bytes exceeds the \d+-byte limit/m);
    assert.equal(digest(devs, 1 << 20), before, "a refused write changes no byte");
    assert.equal(seqno(vg, devs), s0 + made, "LVM2 reads the last seqno dvm wrote");
    const ck = lab.lvmRaw(["vgck", vg], devs);
    assert.equal(ck.status, 0, ck.stderr);
    assert.equal(complaints(ck.stderr), "");
    // LVM2 cannot add the LV either (its text is a little longer: the description names --devices).
    const l = lab.lvmRaw(["lvcreate", "-an", "-Zn", "-n", `fill${made}`, "-l", "1", vg], devs);
    assert.notEqual(l.status, 0, "LVM2 refuses the same LV");
    assert.match(l.stderr, /exceeds maximum metadata size/);
    assert.equal(seqno(vg, devs), s0 + made);
    return made;
  }
}

describe("a full metadata area: dvm refuses with exit 6 and LVM2 still reads the VG", () => {
  test("dvm pv create --metadata-size: the 32 KiB minimum is accepted (the area still ends at 1 MiB, as LVM2's)", () => {
    const d = lab.attach("md-min", 16);
    const l = lab.attach("md-min-lvm", 16);
    dvmFails([d], ["pv", "create", d, "--metadata-size", "31k"], 2, /minimum/);
    dvmOk([d], ["pv", "create", d, "--metadata-size", "32k"]);
    lab.lvm(["pvcreate", "-q", "--metadatasize", "32k", l], [l]);
    const f = "pe_start,pv_mda_size,pv_mda_free,pv_mda_count";
    const mine = rows(lab.lvm(["pvs", ...JSON_BYTES, "-o", f, d], [d]));
    assert.deepEqual(mine, rows(lab.lvm(["pvs", ...JSON_BYTES, "-o", f, l], [l])));
    assert.equal(mine[0]!.pv_mda_size, "1044480");
    lab.detach(d);
    lab.detach(l);
  });

  test("a 60 KiB metadata area (pvcreate --metadatasize 32k --dataalignment 64k): dvm creates LVs until it is full", () => {
    const d = lab.attach("md-small", 256);
    const vg = lab.vg("mdsmall");
    lab.lvm(["pvcreate", "-q", "--metadatasize", "32k", "--dataalignment", "64k", d], [d]);
    assert.equal(rows(lab.lvm(["pvs", ...JSON_BYTES, "-o", "pv_mda_size", d], [d]))[0]!.pv_mda_size, "61440");
    dvmOk([d], ["vg", "create", vg, d, "--extent-size", "1m"]);
    const made = fillUp(vg, [d], "1m", 400);
    assert.ok(made > 50, `only ${made} LVs fit`);
    assert.equal(lab.lvm(["vgs", "--noheadings", "-o", "lv_count", vg], [d]).trim(), String(made));
    agree([d], [vg]);
    // Removing one makes room again (the ring wraps).
    dvmOk([d], ["lv", "remove", `${vg}/fill0`]);
    dvmOk([d], ["lv", "create", `${vg}/last`, "--size", "1m"]);
    agree([d], [vg]);
    lab.lvmRaw(["vgremove", "-ff", vg], [d]);
    lab.detach(d);
  });

  test("dvm pv create --metadata-size 32k (a 1020 KiB area), filled near the top by vgcfgrestore, then by dvm", () => {
    const devs = [lab.attach("md-big-a", 256), lab.attach("md-big-b", 256)];
    const vg = lab.vg("mdbig");
    dvmOk(devs, ["pv", "create", ...devs, "--metadata-size", "32k"]);
    dvmOk(devs, ["vg", "create", vg, ...devs, "--extent-size", "64k"]);
    // Put N LVs on disk with vgcfgrestore of a generated backup file.
    const tmpl = join(lab.dir, "mdbig.vg");
    lab.lvm(["vgcfgbackup", "-q", "-f", tmpl, vg], devs);
    const text = readFileSync(tmpl, "utf8");
    const end = text.lastIndexOf("\n}");
    const restore = (n: number) => {
      let lvs = "";
      for (let i = 0; i < n; i++) lvs += linearLvBackupText(`pre${i}`, `pv${i % 2}`, Math.floor(i / 2));
      const file = join(lab.dir, "mdbig-full.vg");
      writeFileSync(file, `${text.slice(0, end)}\n\tlogical_volumes {\n${lvs}\t}\n${text.slice(end)}`);
      lab.lvm(["vgcfgrestore", "-q", "-f", file, vg], devs);
      const r = rows(lab.lvm(["vgs", ...JSON_BYTES, "-o", "lv_count,vg_mda_free", vg], devs))[0]!;
      assert.equal(r.lv_count, String(n));
      return Number(r.vg_mda_free);
    };
    // The text on disk has no indentation or comments: measure an LV's share there,
    // then fill the area to about 8 KiB below LVM2's limit (521472 bytes of text).
    const n1 = 1000;
    const free1 = restore(n1);
    const perLv = (521472 - free1) / n1;
    const n = n1 + Math.floor((free1 - 8192) / perLv);
    const free = restore(n);
    assert.ok(free > 4096 && free < 12288, `${free} bytes of metadata area left`);
    const made = fillUp(vg, devs, "64k", 200);
    assert.ok(made > 5, `only ${made} LVs fit`);
    assert.equal(lab.lvm(["vgs", "--noheadings", "-o", "lv_count", vg], devs).trim(), String(n + made));
    const v = run("dvm-tm", ["verify", vg, "--devices", devs.join(",")]);
    assert.equal(v.status, 0, v.stderr);
    dvmOk(devs, ["lv", "remove", `${vg}/pre0`]);
    const ck = lab.lvmRaw(["vgck", vg], devs);
    assert.equal(ck.status, 0, ck.stderr);
    lab.lvmRaw(["vgremove", "-ff", vg], devs);
    for (const d of devs) lab.detach(d);
  });
});
