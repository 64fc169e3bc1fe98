import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { foundRefMap, indexState, mapTableDevices, tableUses } from "../../src/activate/canon.js";
import { planActivation } from "../../src/activate/plan.js";
import { simulateProgram } from "../../src/activate/simulate.js";
import { desiredState } from "../../src/activate/vol.js";
import type { DmDevice, DmProgramDoc, DmStateDoc, DmStep } from "../../src/dm/docs.js";
import { checkProgram } from "../../src/dm/exec.js";
import { printTable, type TargetLine } from "../../src/dm/target.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { DvmError } from "../../src/lib/errors.js";
import { checkDoc } from "../../src/lib/schema.js";
import { lvExtend, lvRename } from "../../src/manip/index.js";
import { addLv, DISKS, emptyState, exampleVg, seg, vgOn } from "./helpers.ts";

/** dvm-dmactivate: concrete plans, and properties over random current/desired states run on the model. */

const shape = (p: DmProgramDoc) => p.steps.map((s) => [s.id, s.op, s.name ?? s.result, s.on_error]);

function fails(code: number, fn: () => unknown, re?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DvmError, `a DvmError, got ${String(e)}`);
    assert.equal(e.exitCode, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** Activate `doc`'s LVs on the model from nothing: the current state later plans start from. */
function activated(doc: VgDoc, extra: DmDevice[] = []): DmStateDoc {
  const start = { ...emptyState(), devices: extra };
  const r = simulateProgram(start, planActivation(start, desiredState(doc, "all")));
  assert.equal(r.result, "ok", JSON.stringify(r.trace));
  return r.state;
}

/** The state's devices in comparable form: canonical tables (paths), sorted by name. */
function canonical(state: DmStateDoc) {
  const ref = foundRefMap(indexState(state));
  const text = (t: TargetLine[] | null | undefined) => (t ? printTable(mapTableDevices(t, ref) ?? t) : null);
  return state.devices
    .map((d) => ({
      name: d.name,
      uuid: d.uuid ?? null,
      read_only: d.read_only,
      table: text(d.table),
      inactive: text(d.inactive_table),
      suspended: d.suspended ?? false,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Everything the kernel would report about a device, for "nothing changed" checks. */
function exact(state: DmStateDoc) {
  return state.devices
    .map((d) => ({
      name: d.name,
      uuid: d.uuid ?? null,
      read_only: d.read_only,
      table: d.table,
      inactive: d.inactive_table ?? null,
      suspended: d.suspended ?? false,
      dev: `${d.major}:${d.minor}`,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Does running `program` on `current` give `desired` (in its scope), touching nothing else? */
function assertReaches(current: DmStateDoc, desired: DmStateDoc, program: DmProgramDoc) {
  const r = simulateProgram(current, program);
  assert.equal(r.result, "ok", JSON.stringify(r.trace.filter((t) => t.outcome === "failed")));
  const prefix = desired.uuid_prefix;
  const inScope = (d: DmDevice) => prefix === undefined || (d.uuid?.startsWith(prefix) ?? false);
  const got = canonical({ ...r.state, devices: r.state.devices.filter(inScope) });
  const want = desired.devices
    .map((d) => ({
      name: d.name,
      uuid: d.uuid ?? null,
      read_only: d.read_only,
      table: d.table ? printTable(d.table) : null,
      inactive: null,
      suspended: false,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  assert.deepEqual(got, want);
  const outside = (s: DmStateDoc) => exact({ ...s, devices: s.devices.filter((d) => !inScope(d)) });
  assert.deepEqual(outside(r.state), outside(current));
  return r;
}

describe("concrete plans", () => {
  it("fresh activation of two LVs: create + load each, children first; then resume; recovery removes", () => {
    const desired = desiredState(exampleVg(), "all");
    const p = planActivation(emptyState(), desired);
    checkDoc("dm-program", p, "plan");
    checkProgram(p);
    assert.deepEqual(shape(p), [
      [1, "create", "vg-lin", 10],
      [2, "load", "vg-lin", 9],
      [3, "create", "vg-str", 9],
      [4, "load", "vg-str", 8],
      [5, "resume", "vg-lin", "continue"],
      [6, "resume", "vg-str", "continue"],
      [7, "end", "ok", undefined],
      [8, "remove", "vg-str", "continue"],
      [9, "remove", "vg-lin", "continue"],
      [10, "end", "rolled_back", undefined],
    ]);
    assert.equal(p.steps[0]!.uuid, desired.devices[0]!.uuid);
    assert.deepEqual(p.steps[1]!.table, desired.devices[0]!.table);
    assert.equal(p.steps[1]!.read_only, false);
    const r = assertReaches(emptyState(), desired, p);
    assert.deepEqual(
      r.state.devices.map((d) => [d.name, printTable(d.table!)]),
      [
        ["vg-lin", "0 819200 linear 8:16 2048\n819200 81920 linear 8:32 83968\n"],
        ["vg-str", "0 163840 striped 2 128 8:16 821248 8:32 2048\n"],
      ],
    );
  });

  it("extend an active LV, two-phase: load, suspend, commit, resume; recovery clears and resumes", () => {
    const doc = exampleVg();
    const current = activated(doc);
    const desired = desiredState(
      lvExtend(doc, { name: "lin", size: { sectors: 5 * 8192, relative: true } }).doc,
      "all",
    );
    const p = planActivation(current, desired, { commit: true });
    checkProgram(p);
    assert.deepEqual(shape(p), [
      [1, "load", "vg-lin", 9],
      [2, "suspend", "vg-lin", 8],
      [3, "commit", undefined, 6],
      [4, "resume", "vg-lin", "continue"],
      [5, "end", "ok", undefined],
      [6, "clear", "vg-lin", "continue"],
      [7, "resume", "vg-lin", "continue"],
      [8, "clear", "vg-lin", "continue"],
      [9, "end", "rolled_back", undefined],
    ]);
    assert.equal(p.steps[1]!.nolockfs, true);
    // The 5 new extents follow the second segment on pv1 (PE 20-24), so the mutator merged them into it.
    assert.equal(
      printTable(p.steps[0]!.table!),
      "0 819200 linear /dev/sdb 2048\n819200 122880 linear /dev/sdc 83968\n",
    );
    assertReaches(current, desired, p);
    for (const id of [1, 2, 3]) {
      const r = simulateProgram(current, p, new Set([id]));
      assert.equal(r.result, "rolled_back");
      assert.deepEqual(exact(r.state), exact(current));
    }
  });

  it("rename: only a rename step after the commit point", () => {
    const doc = exampleVg();
    const current = activated(doc);
    const desired = desiredState(lvRename(doc, { name: "str", newName: "stripes" }).doc, "all");
    const p = planActivation(current, desired, { commit: true });
    assert.deepEqual(shape(p), [
      [1, "commit", undefined, 4],
      [2, "rename", "vg-str", "continue"],
      [3, "end", "ok", undefined],
      [4, "end", "rolled_back", undefined],
    ]);
    assert.equal(p.steps[1]!.new_name, "vg-stripes");
    assertReaches(current, desired, p);
  });

  it("a changed user loads while the LV it uses is renamed: its table names that LV as it is called then", () => {
    const doc = vgOn([40]);
    addLv(doc, "top", [seg(0, 2, ["inner", 0])]);
    addLv(doc, "inner", [seg(0, 4, ["pv0", 0])], ["READ", "WRITE"]);
    const current = activated(doc);
    const next = structuredClone(doc);
    const [top, inner] = next.vg.logical_volumes!;
    inner!.name = "inner2";
    top!.segments = [seg(0, 3, ["inner2", 1])];
    const desired = desiredState(next, "all");
    const p = planActivation(current, desired, { commit: true });
    assert.deepEqual(
      p.steps
        .filter((s) => s.on_error !== "continue" || s.op !== "end")
        .map((s) => [s.op, s.name, s.new_name]),
      [
        ["load", "vg-top", undefined],
        ["suspend", "vg-top", undefined],
        ["commit", undefined, undefined],
        ["resume", "vg-top", undefined],
        ["rename", "vg-inner", "vg-inner2"],
        ["end", undefined, undefined],
        ["clear", "vg-top", undefined],
        ["resume", "vg-top", undefined],
        ["clear", "vg-top", undefined],
        ["end", undefined, undefined],
      ],
    );
    assert.equal(printTable(p.steps[0]!.table!), "0 24576 linear /dev/mapper/vg-inner 8192\n");
    assertReaches(current, desired, p);
  });

  it("deactivate: users removed before what they use; devices of other VGs untouched", () => {
    const doc = vgOn([40]);
    addLv(doc, "top", [seg(0, 2, ["inner", 0])]);
    addLv(doc, "inner", [seg(0, 4, ["pv0", 0])], ["READ", "WRITE"]);
    addLv(doc, "plain", [seg(0, 1, ["pv0", 10])]);
    const other: DmDevice = {
      name: "other-lv",
      uuid: "LVM-someothervg",
      read_only: false,
      table: [{ start_sectors: 0, length_sectors: 8, type: "linear", device: "/dev/sdc", offset_sectors: 0 }],
      depends_on: [],
    };
    const current = activated(doc, [other]);
    const desired: DmStateDoc = { ...desiredState(doc, []), devices: [] };
    const p = planActivation(current, desired, {});
    assert.deepEqual(shape(p), [
      [1, "remove", "vg-plain", "continue"],
      [2, "remove", "vg-top", "continue"],
      [3, "remove", "vg-inner", "continue"],
      [4, "end", "ok", undefined],
    ]);
    const r = assertReaches(current, desired, p);
    assert.deepEqual(
      r.state.devices.map((d) => d.name),
      ["other-lv"],
    );
  });

  it("unchanged: only end (with --commit: commit and its rollback end)", () => {
    const doc = exampleVg();
    const current = activated(doc);
    const desired = desiredState(doc, "all");
    assert.deepEqual(shape(planActivation(current, desired)), [[1, "end", "ok", undefined]]);
    assert.deepEqual(shape(planActivation(current, desired, { commit: true })), [
      [1, "commit", undefined, 3],
      [2, "end", "ok", undefined],
      [3, "end", "rolled_back", undefined],
    ]);
  });

  it("a read-only change reloads the same table read-only", () => {
    const doc = exampleVg();
    const current = activated(doc);
    const next = structuredClone(doc);
    next.vg.logical_volumes![1]!.status = ["READ", "VISIBLE"];
    const desired = desiredState(next, "all");
    const p = planActivation(current, desired);
    assert.deepEqual(
      p.steps.slice(0, 3).map((s) => [s.op, s.name, s.read_only]),
      [
        ["load", "vg-str", true],
        ["suspend", "vg-str", undefined],
        ["resume", "vg-str", undefined],
      ],
    );
    assertReaches(current, desired, p);
  });

  it("a device left suspended is resumed; a stale staged table is replaced", () => {
    const doc = exampleVg();
    const current = activated(doc);
    current.devices[0]!.suspended = true;
    current.devices[1]!.inactive_table = [{ start_sectors: 0, length_sectors: 8, type: "zero" }];
    const desired = desiredState(doc, "all");
    const p = planActivation(current, desired);
    assert.deepEqual(
      p.steps.map((s) => [s.op, s.name]),
      [
        ["load", "vg-str"],
        ["suspend", "vg-str"],
        ["resume", "vg-lin"],
        ["resume", "vg-str"],
        ["end", undefined],
        ["clear", "vg-str"],
        ["resume", "vg-str"],
        ["clear", "vg-str"],
        ["end", undefined],
      ],
    );
    assertReaches(current, desired, p);
  });

  it("renames run in an order that frees each new name first, or after the removal that frees it", () => {
    const doc = vgOn([40]);
    addLv(doc, "a", [seg(0, 1, ["pv0", 0])]);
    addLv(doc, "b", [seg(0, 1, ["pv0", 1])]);
    const current = activated(doc);
    const chain = structuredClone(doc);
    chain.vg.logical_volumes![0]!.name = "b";
    chain.vg.logical_volumes![1]!.name = "c";
    const d1 = desiredState(chain, "all");
    const p1 = planActivation(current, d1);
    assert.deepEqual(
      p1.steps.map((s) => [s.op, s.name, s.new_name]),
      [
        ["rename", "vg-b", "vg-c"],
        ["rename", "vg-a", "vg-b"],
        ["end", undefined, undefined],
      ],
    );
    assertReaches(current, d1, p1);
    const takeOver = structuredClone(doc);
    takeOver.vg.logical_volumes = [{ ...takeOver.vg.logical_volumes![0]!, name: "b" }];
    const d2 = desiredState(takeOver, "all");
    const p2 = planActivation(current, d2);
    assert.deepEqual(
      p2.steps.map((s) => [s.op, s.name, s.new_name]),
      [
        ["remove", "vg-b", undefined],
        ["rename", "vg-a", "vg-b"],
        ["end", undefined, undefined],
      ],
    );
    assertReaches(current, d2, p2);
  });

  it("without a uuid_prefix every device is in scope; a device found by name gets its uuid set", () => {
    const bare: DmDevice = {
      name: "x",
      read_only: false,
      table: [{ start_sectors: 0, length_sectors: 8, type: "linear", device: "8:16", offset_sectors: 0 }],
      depends_on: [],
      major: 253,
      minor: 0,
    };
    const current: DmStateDoc = { ...emptyState(), devices: [bare, { ...bare, name: "y", minor: 1 }] };
    const desired: DmStateDoc = {
      kind: "dm-state",
      version: 1,
      source: "desired",
      devices: [
        {
          ...bare,
          uuid: "U-x",
          table: [
            { start_sectors: 0, length_sectors: 8, type: "linear", device: "/dev/sdb", offset_sectors: 0 },
          ],
        },
      ],
    };
    const p = planActivation(current, desired);
    assert.deepEqual(
      p.steps.map((s) => [s.op, s.name, s.uuid]),
      [
        ["rename", "x", "U-x"],
        ["remove", "y", undefined],
        ["end", undefined, undefined],
      ],
    );
    assertReaches(current, desired, p);
  });
});

describe("refused plans", () => {
  const base = () => {
    const doc = exampleVg();
    return { doc, current: activated(doc) };
  };
  const none = (doc: VgDoc): DmStateDoc => ({ ...desiredState(doc, []), devices: [] });

  it("removing an open device is a conflict (exit 5)", () => {
    const { doc, current } = base();
    current.devices[0]!.open_count = 1;
    fails(5, () => planActivation(current, none(doc)), /cannot remove vg-lin: it is open/);
  });

  it("removing a device that a device out of scope uses is a conflict", () => {
    const { doc, current } = base();
    const lin = current.devices[0]!;
    current.devices.push({
      name: "crypt",
      uuid: "CRYPT-x",
      read_only: false,
      table: [
        {
          start_sectors: 0,
          length_sectors: 8,
          type: "linear",
          device: `${lin.major}:${lin.minor}`,
          offset_sectors: 0,
        },
      ],
      depends_on: ["vg-lin"],
      major: 253,
      minor: 9,
    });
    lin.open_count = 1;
    fails(5, () => planActivation(current, none(doc)), /crypt \(not managed here\) uses it/);
  });

  it("creating a device whose name is taken is a conflict", () => {
    const { doc } = base();
    const taken: DmStateDoc = {
      ...emptyState(),
      devices: [{ name: "vg-lin", read_only: false, table: null, depends_on: [], major: 253, minor: 0 }],
    };
    fails(5, () => planActivation(taken, desiredState(doc, "all")), /cannot create vg-lin/);
  });

  it("swapping two names is a conflict", () => {
    const { doc, current } = base();
    const next = structuredClone(doc);
    next.vg.logical_volumes![0]!.name = "str";
    next.vg.logical_volumes![1]!.name = "lin";
    fails(5, () => planActivation(current, desiredState(next, "all")), /cannot rename/);
  });

  it("inconsistent or malformed documents are invalid input (exit 2), naming the field", () => {
    const { doc, current } = base();
    const desired = desiredState(doc, "all");
    const dangling = structuredClone(desired);
    dangling.devices[0]!.depends_on = ["vg-nosuch"];
    fails(2, () => planActivation(current, dangling), /\/devices\/0\/depends_on: vg-nosuch is neither/);
    const outside = structuredClone(desired);
    outside.devices[1]!.uuid = "LVM-elsewhere";
    fails(2, () => planActivation(current, outside), /\/devices\/1\/uuid: .*uuid_prefix/);
    const bad = structuredClone(current);
    delete (bad.devices[0]!.table![0] as Partial<TargetLine & { offset_sectors: number }>).offset_sectors;
    fails(2, () => planActivation(bad, desired), /current: .*\/devices\/0\/table\/0/);
    const dup = structuredClone(desired);
    dup.devices[1]!.name = dup.devices[0]!.name;
    fails(2, () => planActivation(current, dup), /\/devices\/1\/name: .* appears twice/);
    const cyc = structuredClone(desired);
    cyc.devices[0]!.depends_on = ["vg-str"];
    cyc.devices[1]!.depends_on = ["vg-lin"];
    fails(2, () => planActivation(current, cyc), /cycle/);
    const stale = structuredClone(desired);
    stale.devices[0]!.depends_on = ["vg-str"];
    fails(
      2,
      () => planActivation(current, { ...stale, devices: [stale.devices[0]!] }),
      /vg-str is to be removed/,
    );
  });
});

// ---------------------------------------------------------------- properties

const VG = "V".repeat(32);
const PREFIX = `LVM-${VG}`;
const IDS = 6;
const uuidOf = (k: number) => `${PREFIX}${`L${k}`.padEnd(32, "0")}`;
const nameA = (k: number) => (k === 0 ? "my--vg-lv--0" : `vg-lv${k}`);
const nameB = (k: number, renamed: boolean) => (renamed ? `${nameA(k)}x` : nameA(k));

/** A target over abstract devices: disks by index, dm devices by identity. */
type Ref = { disk: number } | { dm: number };
interface AbsTarget {
  kind: "linear" | "striped" | "zero" | "error";
  length: number;
  refs: Ref[];
  offsets: number[];
}
interface TargetSpec {
  kind: number;
  units: number;
  picks: [number, number];
  offsets: [number, number];
}
const targetSpec: fc.Arbitrary<TargetSpec> = fc
  .tuple(
    fc.nat({ max: 4 }),
    fc.integer({ min: 1, max: 4 }),
    fc.tuple(fc.nat(), fc.nat()),
    fc.tuple(fc.nat({ max: 1000 }), fc.nat({ max: 1000 })),
  )
  .map(([kind, units, picks, offsets]) => ({ kind, units, picks, offsets }));

/** A table for identity k in a configuration where `present` identities exist (refs only to lower ones). */
function realise(k: number, present: number[], specs: TargetSpec[]): AbsTarget[] {
  const choices: Ref[] = [
    ...DISKS.map((_, i) => ({ disk: i })),
    ...present.filter((j) => j < k).map((j) => ({ dm: j })),
  ];
  return specs.map((s) => {
    const pick = (n: number) => choices[n % choices.length]!;
    if (s.kind === 0 || s.kind === 1)
      return {
        kind: "linear",
        length: 8 * s.units,
        refs: [pick(s.picks[0] + s.kind * 3)],
        offsets: [s.offsets[0]],
      };
    if (s.kind === 2)
      return {
        kind: "striped",
        length: 16 * s.units,
        refs: [pick(s.picks[0]), pick(s.picks[1])],
        offsets: s.offsets,
      };
    return { kind: s.kind === 3 ? "zero" : "error", length: 8 * s.units, refs: [], offsets: [] };
  });
}

function concrete(table: AbsTarget[], dev: (r: Ref) => string): TargetLine[] {
  let start = 0;
  return table.map((t): TargetLine => {
    const base = { start_sectors: start, length_sectors: t.length };
    start += t.length;
    if (t.kind === "linear")
      return { ...base, type: "linear", device: dev(t.refs[0]!), offset_sectors: t.offsets[0]! };
    if (t.kind === "striped")
      return {
        ...base,
        type: "striped",
        chunk_sectors: 8,
        stripes: t.refs.map((r, i) => ({ device: dev(r), offset_sectors: t.offsets[i]! })),
      };
    return { ...base, type: t.kind } as TargetLine;
  });
}

interface Scenario {
  current: DmStateDoc;
  desired: DmStateDoc;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    inA: fc.array(fc.boolean(), { minLength: IDS, maxLength: IDS }),
    inB: fc.array(fc.boolean(), { minLength: IDS, maxLength: IDS }),
    renamed: fc.array(fc.boolean(), { minLength: IDS, maxLength: IDS }),
    keepTable: fc.array(fc.boolean(), { minLength: IDS, maxLength: IDS }),
    roA: fc.array(fc.boolean(), { minLength: IDS, maxLength: IDS }),
    roB: fc.array(fc.boolean(), { minLength: IDS, maxLength: IDS }),
    specsA: fc.array(fc.array(targetSpec, { minLength: 1, maxLength: 3 }), {
      minLength: IDS,
      maxLength: IDS,
    }),
    specsB: fc.array(fc.array(targetSpec, { minLength: 1, maxLength: 3 }), {
      minLength: IDS,
      maxLength: IDS,
    }),
    outsiders: fc.array(fc.tuple(fc.boolean(), targetSpec), { maxLength: 2 }),
    minors: fc.shuffledSubarray([...Array(IDS + 4).keys()], { minLength: IDS + 4, maxLength: IDS + 4 }),
    orderA: fc.array(fc.nat(), { minLength: IDS + 2, maxLength: IDS + 2 }),
    orderB: fc.array(fc.nat(), { minLength: IDS, maxLength: IDS }),
  })
  .map((g) => {
    const A = [...Array(IDS).keys()].filter((k) => g.inA[k]);
    const B = [...Array(IDS).keys()].filter((k) => g.inB[k]);
    const tablesA = new Map(A.map((k) => [k, realise(k, A, g.specsA[k]!)]));
    const tablesB = new Map(
      B.map((k) => {
        const old = tablesA.get(k);
        const reusable =
          old && g.keepTable[k] && old.every((t) => t.refs.every((r) => "disk" in r || B.includes(r.dm)));
        return [k, reusable ? old : realise(k, B, g.specsB[k]!)];
      }),
    );
    const minorOf = (k: number) => g.minors[k]!;
    const curDev = (r: Ref) =>
      "disk" in r ? `${DISKS[r.disk]!.major}:${DISKS[r.disk]!.minor}` : `253:${minorOf(r.dm)}`;
    const wantDev = (r: Ref) =>
      "disk" in r ? DISKS[r.disk]!.path : `/dev/mapper/${nameB(r.dm, g.renamed[r.dm]!)}`;
    const deps = (t: AbsTarget[], name: (k: number) => string) => [
      ...new Set(t.flatMap((x) => x.refs.flatMap((r) => ("dm" in r ? [name(r.dm)] : [])))),
    ];
    const current: DmDevice[] = A.map((k) => ({
      name: nameA(k),
      uuid: uuidOf(k),
      read_only: g.roA[k]!,
      table: concrete(tablesA.get(k)!, curDev),
      depends_on: deps(tablesA.get(k)!, nameA),
      major: 253,
      minor: minorOf(k),
      suspended: false,
      inactive_table: null,
    }));
    g.outsiders.forEach(([withUuid, spec], i) => {
      const table = concrete(realise(0, [], [spec]), curDev);
      const d: DmDevice = {
        name: `other-${i}`,
        read_only: false,
        table,
        depends_on: [],
        major: 253,
        minor: minorOf(IDS + i),
      };
      if (withUuid) d.uuid = `LVM-${"W".repeat(32)}${i}`;
      current.push(d);
    });
    const desired: DmDevice[] = B.map((k) => ({
      name: nameB(k, g.renamed[k]!),
      uuid: uuidOf(k),
      read_only: g.roB[k]!,
      table: concrete(tablesB.get(k)!, wantDev),
      depends_on: deps(tablesB.get(k)!, (j) => nameB(j, g.renamed[j]!)),
    }));
    const shuffle = <T>(list: T[], keys: number[]) =>
      list
        .map((x, i) => [x, keys[i] ?? 0] as const)
        .sort((a, b) => a[1] - b[1])
        .map(([x]) => x);
    return {
      current: {
        kind: "dm-state",
        version: 1,
        source: "model",
        devices: shuffle(current, g.orderA),
        disks: DISKS,
      },
      desired: {
        kind: "dm-state",
        version: 1,
        source: "desired",
        devices: shuffle(desired, g.orderB),
        uuid_prefix: PREFIX,
      },
    } satisfies Scenario;
  });

const withCommit = fc.tuple(scenario, fc.boolean());
const RUNS = { numRuns: 300 };

describe("properties of plans (on the model executor)", () => {
  it("the program is well formed: ids 1..n, recovery branches before the commit point, continue after", () => {
    fc.assert(
      fc.property(withCommit, ([s, commit]) => {
        const p = planActivation(s.current, s.desired, { commit });
        checkDoc("dm-program", p, "plan");
        checkProgram(p);
        assert.deepEqual(
          p.steps.map((x) => x.id),
          p.steps.map((_, i) => i + 1),
        );
        const endOk = p.steps.findIndex((x) => x.op === "end" && x.result === "ok");
        const forward = p.steps.slice(0, endOk);
        const point = commit
          ? forward.findIndex((x) => x.op === "commit")
          : forward.findIndex((x) => x.op === "resume" || x.op === "rename" || x.op === "remove");
        const cut = point < 0 ? forward.length : commit ? point + 1 : point;
        for (const x of forward.slice(0, cut)) assert.equal(typeof x.on_error, "number", JSON.stringify(x));
        for (const x of forward.slice(cut)) assert.equal(x.on_error, "continue", JSON.stringify(x));
        for (const x of p.steps.slice(endOk + 1)) assert.ok(x.op === "end" || x.on_error === "continue");
        if (commit) assert.equal(forward.filter((x) => x.op === "commit").length, 1);
      }),
      RUNS,
    );
  });

  it("running the program reaches the desired state; devices out of scope are untouched", () => {
    fc.assert(
      fc.property(withCommit, ([s, commit]) => {
        const p = planActivation(s.current, s.desired, { commit });
        const outside = new Set(
          s.current.devices.filter((d) => !d.uuid?.startsWith(PREFIX)).map((d) => d.name),
        );
        for (const x of p.steps)
          if (x.name) assert.ok(!outside.has(x.name), `step ${x.id} touches ${x.name}`);
        assertReaches(s.current, s.desired, p);
      }),
      RUNS,
    );
  });

  it("failing any step before the commit point rolls back to exactly the current state", () => {
    fc.assert(
      fc.property(withCommit, ([s, commit]) => {
        const p = planActivation(s.current, s.desired, { commit });
        for (const step of p.steps) {
          if (typeof step.on_error !== "number") continue;
          const r = simulateProgram(s.current, p, new Set([step.id]));
          assert.equal(r.result, "rolled_back", `failing step ${step.id}: ${JSON.stringify(r.trace)}`);
          assert.deepEqual(exact(r.state), exact(s.current), `failing step ${step.id}`);
        }
      }),
      RUNS,
    );
  });

  it("failing a step after the commit point never ends ok", () => {
    fc.assert(
      fc.property(withCommit, ([s, commit]) => {
        const p = planActivation(s.current, s.desired, { commit });
        const endOk = p.steps.findIndex((x) => x.op === "end" && x.result === "ok");
        for (const step of p.steps.slice(0, endOk))
          if (step.on_error === "continue")
            assert.equal(simulateProgram(s.current, p, new Set([step.id])).result, "stuck");
      }),
      { numRuns: 100 },
    );
  });

  it("no device is suspended at any end; a user never resumes before the devices it uses", () => {
    fc.assert(
      fc.property(withCommit, fc.nat(), ([s, commit], pick) => {
        const p = planActivation(s.current, s.desired, { commit });
        const staged = p.steps.filter((x) => typeof x.on_error === "number");
        const failAt =
          staged.length && pick % 2 ? new Set([staged[pick % staged.length]!.id]) : new Set<number>();
        simulateProgram(s.current, p, failAt, {
          observe(step: DmStep, outcome, state) {
            if (step.op === "end")
              assert.deepEqual(
                state.devices.filter((d) => d.suspended).map((d) => d.name),
                [],
                `suspended at end ${step.result}`,
              );
            if (step.op === "resume" && outcome === "ok") {
              const ix = indexState(state);
              const self = ix.byName.get(step.name!)!;
              for (const child of tableUses(ix, self.table))
                assert.ok(
                  !child.suspended && child.table !== null,
                  `${step.name} resumed before ${child.name}, which it uses`,
                );
            }
          },
        });
      }),
      RUNS,
    );
  });

  it("removals are top-down: a device is removed only after every device that uses it", () => {
    fc.assert(
      fc.property(withCommit, ([s, commit]) => {
        const p = planActivation(s.current, s.desired, { commit });
        const ix = indexState(s.current);
        const at = new Map(p.steps.filter((x) => x.op === "remove").map((x) => [x.name!, x.id]));
        for (const user of s.current.devices)
          for (const used of tableUses(ix, user.table))
            if (at.has(user.name) && at.has(used.name))
              assert.ok(
                at.get(user.name)! < at.get(used.name)!,
                `${user.name} is removed after ${used.name}`,
              );
      }),
      RUNS,
    );
  });
});
