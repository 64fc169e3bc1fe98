import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { DmProgramDoc, DmStateDoc, DmStep } from "../../src/dm/docs.ts";
import { runProgram } from "../../src/dm/exec.ts";
import { KernelBackend } from "../../src/dm/kernel.ts";
import { SimBackend } from "../../src/dm/sim/index.ts";
import { printTarget, type TargetLine } from "../../src/dm/target.ts";
import { image, scratch } from "../helpers.ts";
import { Vm } from "./vm.ts";

/**
 * Differential test: the same dm programs on the kernel's device-mapper (in a
 * qemu VM, disks = /dev/vdX) and on a fresh sim whose disks are the very same
 * image files on the host. Per step the outcome and errno must agree, and so
 * must the final states once device numbers are mapped to identities (a
 * disk's host image path, a dm device's name). The sim claims to be a
 * faithful device-mapper: every disagreement is a sim bug, or is listed in
 * KNOWN_DIFFERENCES with the reason.
 */

const MIB = 1024 * 1024;
const DISK_SECTORS = (16 * MIB) / 512;

const tmp = scratch("dvm-diff-");
const imgA = image(tmp.dir, "a.img", 16);
const imgB = image(tmp.dir, "b.img", 16);
/** A disk that is attached nowhere: the sim's counterpart of a missing /dev/vdX. */
const missingImg = join(tmp.dir, "missing.img");
const vm = new Vm({ disks: [imgA, imgB] });
const k = new KernelBackend({ runner: vm.runner, devDir: "/dev" });

/** Where a program's disks are: the guest's /dev/vdX or the host's image files. */
interface Disks {
  a: string;
  b: string;
  missing: string;
}

const lin = (start: number, length: number, device: string, offset: number): TargetLine => ({
  start_sectors: start,
  length_sectors: length,
  type: "linear",
  device,
  offset_sectors: offset,
});
const zero = (start: number, length: number): TargetLine => ({
  start_sectors: start,
  length_sectors: length,
  type: "zero",
});
const striped = (length: number, chunk: number, devs: string[]): TargetLine => ({
  start_sectors: 0,
  length_sectors: length,
  type: "striped",
  chunk_sectors: chunk,
  stripes: devs.map((device) => ({ device, offset_sectors: 2048 })),
});

/** Steps end with end/ok; a failing step continues so that every step is compared. */
const prog = (steps: Omit<DmStep, "id">[]): DmProgramDoc => ({
  kind: "dm-program",
  version: 1,
  steps: [
    ...steps.map((s, i) => ({ on_error: "continue" as const, ...s, id: i + 1 })),
    { id: 999, op: "end", result: "ok" },
  ],
});

interface Case {
  name: string;
  /** Whether every step must succeed (a valid program) or some step must fail. */
  valid: boolean;
  program: (d: Disks) => DmProgramDoc;
}

const U = "DVMDIFF-";

const CORPUS: Case[] = [
  {
    name: "linear: create with a table, query it",
    valid: true,
    program: (d) =>
      prog([
        { op: "create", name: "df-lin", uuid: `${U}lin`, table: [lin(0, 2048, d.a, 4096)] },
        { op: "table", name: "df-lin" },
        { op: "info", name: "df-lin" },
      ]),
  },
  {
    name: "striped over both disks",
    valid: true,
    program: (d) =>
      prog([{ op: "create", name: "df-str", uuid: `${U}str`, table: [striped(4096, 128, [d.a, d.b])] }]),
  },
  {
    name: "multi-segment: linear, linear, zero",
    valid: true,
    program: (d) =>
      prog([
        {
          op: "create",
          name: "df-multi",
          uuid: `${U}multi`,
          table: [lin(0, 1024, d.a, 0), lin(1024, 512, d.b, 8192), zero(1536, 64)],
        },
      ]),
  },
  {
    name: "stack: a device on a dm device (open count, deps)",
    valid: true,
    program: (d) =>
      prog([
        { op: "create", name: "df-low", uuid: `${U}low`, table: [lin(0, 2048, d.a, 0)] },
        { op: "create", name: "df-top", uuid: `${U}top`, table: [lin(0, 1024, "/dev/mapper/df-low", 512)] },
        { op: "deps", name: "df-top" },
      ]),
  },
  {
    name: "suspend, load a larger table, resume",
    valid: true,
    program: (d) =>
      prog([
        { op: "create", name: "df-grow", uuid: `${U}grow`, table: [lin(0, 1024, d.a, 0)] },
        { op: "suspend", name: "df-grow" },
        { op: "load", name: "df-grow", table: [lin(0, 1024, d.a, 0), lin(1024, 1024, d.b, 0)] },
        { op: "resume", name: "df-grow" },
      ]),
  },
  {
    name: "read-only device; staged table left inactive; suspended at the end",
    valid: true,
    program: (d) =>
      prog([
        { op: "create", name: "df-ro", uuid: `${U}ro`, table: [lin(0, 256, d.a, 0)], read_only: true },
        { op: "load", name: "df-ro", table: [lin(0, 512, d.b, 0)] },
        { op: "create", name: "df-susp", uuid: `${U}susp`, table: [zero(0, 100)] },
        { op: "suspend", name: "df-susp" },
      ]),
  },
  // Two cases, not one: on Linux 6.1 a rename after a clear makes dm-ima free the
  // device's data twice at removal, which corrupts the guest kernel (vm.ts, kernelBugs).
  {
    name: "staged table cleared",
    valid: true,
    program: (d) =>
      prog([
        { op: "create", name: "df-a", table: [lin(0, 128, d.a, 0)] },
        { op: "load", name: "df-a", table: [zero(0, 64)] },
        { op: "clear", name: "df-a" },
      ]),
  },
  {
    name: "rename; uuid set on a device without one",
    valid: true,
    program: (d) =>
      prog([
        { op: "create", name: "df-a", table: [lin(0, 128, d.a, 0)] },
        { op: "rename", name: "df-a", new_name: "df-b" },
        { op: "rename", name: "df-b", uuid: `${U}b` },
      ]),
  },
  {
    name: "gap between targets",
    valid: false,
    program: (d) =>
      prog([
        { op: "create", name: "df-gap", uuid: `${U}gap` },
        { op: "load", name: "df-gap", table: [lin(0, 100, d.a, 0), lin(200, 100, d.a, 100)] },
      ]),
  },
  {
    name: "overlapping targets",
    valid: false,
    program: (d) =>
      prog([
        { op: "create", name: "df-ovl", uuid: `${U}ovl` },
        { op: "load", name: "df-ovl", table: [lin(0, 100, d.a, 0), lin(50, 100, d.a, 100)] },
      ]),
  },
  {
    name: "unknown target type",
    valid: false,
    program: () =>
      prog([
        {
          op: "create",
          name: "df-unk",
          uuid: `${U}unk`,
          table: [{ start_sectors: 0, length_sectors: 8, type: "nosuchtarget", params: "" }],
        },
      ]),
  },
  {
    name: "missing disk; missing dm device",
    valid: false,
    program: (d) =>
      prog([
        { op: "create", name: "df-miss", uuid: `${U}miss` },
        { op: "load", name: "df-miss", table: [lin(0, 8, d.missing, 0)] },
        { op: "remove", name: "df-nosuch" },
        { op: "suspend", name: "df-nosuch" },
        { op: "table", name: "df-nosuch" },
      ]),
  },
  {
    name: "remove while in use",
    valid: false,
    program: (d) =>
      prog([
        { op: "create", name: "df-low", uuid: `${U}low`, table: [lin(0, 2048, d.a, 0)] },
        { op: "create", name: "df-top", uuid: `${U}top`, table: [lin(0, 1024, "/dev/mapper/df-low", 0)] },
        { op: "remove", name: "df-low" },
        { op: "remove", name: "df-top" },
        { op: "remove", name: "df-low" },
      ]),
  },
  {
    name: "resume without a table after suspend",
    valid: false,
    program: () =>
      prog([
        { op: "create", name: "df-empty", uuid: `${U}empty` },
        { op: "suspend", name: "df-empty" },
        { op: "resume", name: "df-empty" },
      ]),
  },
  {
    name: "striped misalignment: length vs stripes, length vs chunk",
    valid: false,
    program: (d) =>
      prog([
        { op: "create", name: "df-mis", uuid: `${U}mis` },
        { op: "load", name: "df-mis", table: [striped(4097, 128, [d.a, d.b])] },
        { op: "load", name: "df-mis", table: [striped(200, 128, [d.a, d.b])] },
        { op: "load", name: "df-mis", table: [striped(384, 96, [d.a, d.b])] },
      ]),
  },
  {
    name: "a device that depends on a removed one",
    valid: false,
    program: (d) =>
      prog([
        { op: "create", name: "df-gone", uuid: `${U}gone`, table: [lin(0, 2048, d.a, 0)] },
        { op: "remove", name: "df-gone" },
        { op: "create", name: "df-orphan", uuid: `${U}orphan` },
        { op: "load", name: "df-orphan", table: [lin(0, 1024, "/dev/mapper/df-gone", 0)] },
      ]),
  },
  {
    name: "create with an existing name; an existing uuid",
    valid: false,
    program: (d) =>
      prog([
        { op: "create", name: "df-dup", uuid: `${U}dup`, table: [lin(0, 64, d.a, 0)] },
        { op: "create", name: "df-dup", uuid: `${U}dup2` },
        { op: "create", name: "df-dup2", uuid: `${U}dup` },
      ]),
  },
  {
    name: "set uuid twice",
    valid: false,
    program: () =>
      prog([
        { op: "create", name: "df-uu", table: [zero(0, 64)] },
        { op: "rename", name: "df-uu", uuid: `${U}uu1` },
        { op: "rename", name: "df-uu", uuid: `${U}uu2` },
      ]),
  },
  {
    name: "oversized first table; oversized second table, then resume",
    valid: false,
    program: (d) =>
      prog([
        { op: "create", name: "df-big1", uuid: `${U}big1` },
        { op: "load", name: "df-big1", table: [lin(0, 2048, d.a, DISK_SECTORS - 1024)] },
        { op: "create", name: "df-big2", uuid: `${U}big2`, table: [lin(0, 1024, d.a, 0)] },
        { op: "load", name: "df-big2", table: [lin(0, 2048, d.a, DISK_SECTORS - 1024)] },
        { op: "resume", name: "df-big2" },
        { op: "info", name: "df-big2" },
      ]),
  },
];

/**
 * Disagreements known and accepted: in a case, a step where the kernel gives
 * one errno and the sim another, with the reason. The rest of the case is
 * still compared.
 */
interface KnownDifference {
  case: string;
  step: number;
  kernel: string;
  sim: string;
  reason: string;
}
const KNOWN_DIFFERENCES: KnownDifference[] = [
  {
    case: "missing disk; missing dm device",
    step: 2,
    kernel: "ENODEV",
    sim: "ENOENT",
    reason:
      "a table naming a path that does not exist: Linux 6.1 (the VM's kernel) turns a failed path lookup " +
      "into ENODEV (dm_get_dev_t); later kernels pass lookup_bdev's ENOENT on, which device-mapper.md " +
      "and the sim follow",
  },
  {
    case: "a device that depends on a removed one",
    step: 4,
    kernel: "ENODEV",
    sim: "ENOENT",
    reason: "the removed device's /dev/mapper path no longer exists: the same path lookup as above",
  },
];

interface Norm {
  steps: string[];
  devices: unknown[];
}

/** A state with device numbers replaced by identities: disks by host image path, dm devices by name. */
function normalize(st: DmStateDoc, diskPath: (p: string) => string): unknown[] {
  const ident = new Map<string, string>();
  for (const d of st.disks ?? []) ident.set(`${d.major}:${d.minor}`, `disk:${diskPath(d.path)}`);
  for (const d of st.devices) ident.set(`${d.major}:${d.minor}`, `dm:${d.name}`);
  const table = (t: TargetLine[] | null | undefined) =>
    t ? t.map((x) => printTarget(x).replace(/\b\d+:\d+\b/g, (n) => ident.get(n) ?? `?${n}`)) : null;
  return st.devices
    .map((d) => ({
      name: d.name,
      uuid: d.uuid ?? "",
      read_only: d.read_only,
      suspended: d.suspended,
      open_count: d.open_count,
      table: table(d.table),
      inactive_table: table(d.inactive_table),
      depends_on: [...d.depends_on].sort(),
    }))
    .sort((x, y) => (x.name < y.name ? -1 : 1));
}

/** Remove every device in the guest, uppers first; resume suspended ones so nothing blocks. */
function cleanKernel(): void {
  for (let round = 0; round < 10; round++) {
    const st = k.state();
    if (!st.devices.length) return;
    for (const d of st.devices)
      if (d.open_count === 0)
        try {
          k.remove(d.name);
        } catch {}
  }
  assert.deepEqual(k.state().devices, [], "kernel devices left after cleanup");
}

let simN = 0;
function runBoth(c: Case): { kernel: Norm; sim: Norm; kReport: string; sReport: string } {
  const kd: Disks = { a: vm.device(imgA), b: vm.device(imgB), missing: "/dev/vdz" };
  const sd: Disks = { a: imgA, b: imgB, missing: missingImg };
  const kr = runProgram(c.program(kd), k);
  const kst = k.state();
  cleanKernel();
  const sim = new SimBackend(join(tmp.dir, `sim-${simN++}`));
  const sr = runProgram(c.program(sd), sim);
  const sst = sim.state();
  const guestToHost = (p: string) => {
    const i = vm.disks.findIndex((h) => vm.device(h) === p);
    return i >= 0 ? vm.disks[i]! : p;
  };
  const steps = (r: typeof kr) =>
    r.steps.map((s) => `${s.id} ${s.op} ${s.outcome}${s.errno ? ` ${s.errno}` : ""}`);
  return {
    kernel: { steps: steps(kr), devices: normalize(kst, guestToHost) },
    sim: { steps: steps(sr), devices: normalize(sst, (p) => p) },
    kReport: JSON.stringify(kr.steps.map((s) => [s.id, s.outcome, s.errno, s.message])),
    sReport: JSON.stringify(sr.steps.map((s) => [s.id, s.outcome, s.errno, s.message])),
  };
}

describe("kernel vs sim: the same dm programs, the same outcomes", { timeout: 600_000 }, () => {
  before(() => {
    vm.start();
    console.log(`# VM up in ${vm.bootMs} ms wall`);
  });
  after(() => vm.end(tmp.cleanup, () => cleanKernel()));

  for (const c of CORPUS)
    it(c.name, () => {
      const r = runBoth(c);
      // A known difference is accepted only exactly as recorded: the kernel's errno stands in for the sim's.
      for (const kd of KNOWN_DIFFERENCES.filter((x) => x.case === c.name)) {
        const i = r.kernel.steps.findIndex((s) => s.startsWith(`${kd.step} `));
        assert.ok(
          i >= 0 && r.kernel.steps[i]!.endsWith(` ${kd.kernel}`),
          `known difference gone: ${kd.reason}`,
        );
        assert.ok(r.sim.steps[i]?.endsWith(` ${kd.sim}`), `known difference changed: ${r.sim.steps[i]}`);
        r.sim.steps[i] = r.kernel.steps[i]!;
        console.log(`# known difference, step ${kd.step}: kernel ${kd.kernel}, sim ${kd.sim}: ${kd.reason}`);
      }
      assert.deepEqual(r.sim.steps, r.kernel.steps, `steps differ\nkernel: ${r.kReport}\nsim: ${r.sReport}`);
      assert.deepEqual(r.sim.devices, r.kernel.devices, "final states differ");
      const failed = r.kernel.steps.some((s) => s.includes(" failed"));
      assert.equal(failed, !c.valid, `valid=${c.valid} but steps: ${r.kernel.steps.join(", ")}`);
    });
});
