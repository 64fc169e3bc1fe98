import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { simulateProgram } from "../../src/activate/simulate.js";
import type { DmProgramDoc, DmStep } from "../../src/dm/docs.js";
import type { TargetLine } from "../../src/dm/target.js";
import { emptyState } from "./helpers.ts";

/** The model executor on its own: the kernel rules plans rely on, and dvm-dmexec's control flow. */

const prog = (steps: DmStep[]): DmProgramDoc => ({ kind: "dm-program", version: 1, steps });
const on = (device: string, length = 8): TargetLine[] => [
  { start_sectors: 0, length_sectors: length, type: "linear", device, offset_sectors: 0 },
];
const outcomes = (r: ReturnType<typeof simulateProgram>) => r.trace.map((t) => `${t.id}:${t.outcome}`);

describe("model executor", () => {
  it("create, load, resume: the table goes live with device arguments as maj:min", () => {
    const r = simulateProgram(
      emptyState(),
      prog([
        { id: 1, op: "create", name: "a", uuid: "U-a" },
        { id: 2, op: "load", name: "a", table: on("/dev/sdb"), read_only: true },
        { id: 3, op: "create", name: "b" },
        { id: 4, op: "load", name: "b", table: on("/dev/mapper/a") },
        { id: 5, op: "resume", name: "a" },
        { id: 6, op: "resume", name: "b" },
        { id: 7, op: "end", result: "ok" },
      ]),
    );
    assert.equal(r.result, "ok");
    assert.deepEqual(
      r.state.devices.map((d) => [d.name, d.uuid, d.minor, d.read_only, d.table, d.depends_on]),
      [
        ["a", "U-a", 0, true, on("8:16"), []],
        ["b", undefined, 1, false, on("253:0"), ["a"]],
      ],
    );
  });

  it("refuses what the kernel refuses", () => {
    const base: DmStep[] = [
      { id: 1, op: "create", name: "a", uuid: "U" },
      { id: 2, op: "load", name: "a", table: on("/dev/sdb") },
      { id: 3, op: "resume", name: "a" },
      { id: 4, op: "create", name: "b" },
      { id: 5, op: "load", name: "b", table: on("/dev/mapper/a") },
    ];
    const tryStep = (step: Omit<DmStep, "id">) => {
      const r = simulateProgram(
        emptyState(),
        prog([...base, { id: 6, ...step }, { id: 7, op: "end", result: "ok" }]),
      );
      return r.trace.find((t) => t.id === 6)!;
    };
    assert.match(tryStep({ op: "create", name: "a" }).why!, /EBUSY/);
    assert.match(tryStep({ op: "create", name: "c", uuid: "U" }).why!, /EBUSY/);
    assert.match(tryStep({ op: "remove", name: "a" }).why!, /EBUSY: a is used by b/);
    assert.match(tryStep({ op: "load", name: "b", table: on("/dev/mapper/nope") }).why!, /ENOENT/);
    assert.match(tryStep({ op: "load", name: "b", table: on("/dev/nope") }).why!, /ENOENT/);
    assert.match(tryStep({ op: "load", name: "b", table: on("9:9") }).why!, /ENXIO/);
    assert.match(tryStep({ op: "load", name: "b", table: on("/dev/mapper/b") }).why!, /EINVAL/);
    assert.match(tryStep({ op: "rename", name: "b", new_name: "a" }).why!, /EBUSY/);
    assert.match(tryStep({ op: "rename", name: "a", uuid: "V" }).why!, /EINVAL/);
    assert.match(tryStep({ op: "resume", name: "nope" }).why!, /ENXIO/);
    assert.equal(tryStep({ op: "clear", name: "b" }).outcome, "ok");
    assert.equal(tryStep({ op: "remove", name: "b" }).outcome, "ok");
  });

  it("resume follows the kernel: swap a staged table; a suspended device without any table stays suspended", () => {
    const r = simulateProgram(
      emptyState(),
      prog([
        { id: 1, op: "create", name: "a" },
        { id: 2, op: "resume", name: "a" },
        { id: 3, op: "suspend", name: "a" },
        { id: 4, op: "resume", name: "a", on_error: "continue" },
        { id: 5, op: "end", result: "ok" },
      ]),
    );
    assert.deepEqual(outcomes(r), ["1:ok", "2:ok", "3:ok", "4:failed", "5:ok"]);
    assert.equal(r.result, "stuck");
    assert.equal(r.state.devices[0]!.suspended, true);
  });

  it("control flow: on_error jumps once into recovery; continue records; a failure in recovery is stuck", () => {
    const p = prog([
      { id: 1, op: "create", name: "a", on_error: 5 },
      { id: 2, op: "create", name: "b", on_error: 4 },
      { id: 3, op: "end", result: "ok" },
      { id: 4, op: "remove", name: "a", on_error: "continue" },
      { id: 5, op: "end", result: "rolled_back" },
    ]);
    assert.equal(simulateProgram(emptyState(), p).result, "ok");
    const rb = simulateProgram(emptyState(), p, new Set([2]));
    assert.deepEqual(outcomes(rb), ["1:ok", "2:failed", "4:ok", "5:ok"]);
    assert.equal(rb.result, "rolled_back");
    assert.deepEqual(rb.state.devices, []);
    const stuck = simulateProgram(emptyState(), p, new Set([2, 4]));
    assert.equal(stuck.result, "stuck");
    const noBranch = simulateProgram(
      emptyState(),
      prog([
        { id: 1, op: "remove", name: "x" },
        { id: 2, op: "end", result: "ok" },
      ]),
    );
    assert.deepEqual(outcomes(noBranch), ["1:failed"]);
    assert.equal(noBranch.result, "stuck");
  });

  it("an outside opener (open_count beyond dm users) keeps a device from removal", () => {
    const state = emptyState();
    state.devices.push({
      name: "m",
      read_only: false,
      table: on("8:16"),
      depends_on: [],
      major: 253,
      minor: 0,
      open_count: 1,
    });
    const r = simulateProgram(
      state,
      prog([
        { id: 1, op: "remove", name: "m", on_error: "continue" },
        { id: 2, op: "end", result: "ok" },
      ]),
    );
    assert.match(r.trace[0]!.why!, /EBUSY: m is open/);
    assert.equal(r.state.devices[0]!.open_count, 1);
  });
});
