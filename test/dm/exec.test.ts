import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DmBackend, DmFailure, type ErrnoName } from "../../src/dm/backend.js";
import type { DmProgramDoc, DmStateDoc, DmStep } from "../../src/dm/docs.js";
import { checkProgram, runProgram } from "../../src/dm/exec.js";
import type { TargetLine } from "../../src/dm/target.js";
import { DvmError } from "../../src/lib/errors.js";

/** A backend that records calls and fails the ones a test names. */
class Recorder implements DmBackend {
  readonly name = "recorder";
  calls: string[] = [];
  fail = new Map<string, ErrnoName>();
  suspended = new Set<string>();
  private call(what: string) {
    this.calls.push(what);
    const e = this.fail.get(what);
    if (e) throw new DmFailure(e, `${what}: injected`);
  }
  create(name: string) {
    this.call(`create ${name}`);
  }
  load(name: string, _t: TargetLine[], ro: boolean) {
    this.call(`load ${name}${ro ? " ro" : ""}`);
  }
  suspend(name: string) {
    this.call(`suspend ${name}`);
    this.suspended.add(name);
  }
  resume(name: string) {
    this.call(`resume ${name}`);
    this.suspended.delete(name);
  }
  clear(name: string) {
    this.call(`clear ${name}`);
  }
  remove(name: string) {
    this.call(`remove ${name}`);
  }
  rename(name: string, n: string) {
    this.call(`rename ${name} ${n}`);
  }
  setUuid(name: string, u: string) {
    this.call(`setuuid ${name} ${u}`);
  }
  message(name: string, sector: number, text: string) {
    this.call(`message ${name} ${sector} ${text}`);
    return "reply";
  }
  query(kind: string, name: string) {
    this.call(`${kind} ${name}`);
    return `${kind} of ${name}\n`;
  }
  state(): DmStateDoc {
    return {
      kind: "dm-state",
      version: 1,
      source: "recorder",
      devices: [...this.suspended].map((n) => ({
        name: n,
        read_only: false,
        table: [],
        depends_on: [],
        suspended: true,
      })),
    };
  }
}

const lin: TargetLine = {
  start_sectors: 0,
  length_sectors: 8,
  type: "linear",
  device: "7:0",
  offset_sectors: 0,
};
const prog = (steps: DmStep[]): DmProgramDoc => ({ kind: "dm-program", version: 1, steps });

/** Extend an active LV, two-phase: load, suspend, commit, resume; recovery clears and resumes. */
const extend = (): DmProgramDoc =>
  prog([
    { id: 1, op: "load", name: "vg-lv", table: [lin], on_error: 7 },
    { id: 2, op: "suspend", name: "vg-lv", on_error: 6 },
    { id: 3, op: "commit", on_error: 5 },
    { id: 4, op: "resume", name: "vg-lv", on_error: "continue" },
    { id: 10, op: "end", result: "ok" },
    { id: 5, op: "clear", name: "vg-lv", on_error: "continue" },
    { id: 6, op: "resume", name: "vg-lv", on_error: "continue" },
    { id: 7, op: "end", result: "rolled_back" },
  ]);

describe("dmexec: running programs", () => {
  it("runs the forward path and reports every step", () => {
    const b = new Recorder();
    let committed = 0;
    const r = runProgram(extend(), b, { onCommit: () => committed++ });
    assert.equal(r.result, "ok");
    assert.equal(r.exit_code, 0);
    assert.deepEqual(b.calls, ["load vg-lv", "suspend vg-lv", "resume vg-lv"]);
    assert.equal(committed, 1);
    assert.deepEqual(
      r.steps.map((s) => [s.id, s.op, s.outcome]),
      [
        [1, "load", "ok"],
        [2, "suspend", "ok"],
        [3, "commit", "ok"],
        [4, "resume", "ok"],
        [10, "end", "ok"],
      ],
    );
  });

  it("a failing step takes its recovery branch and ends rolled back (exit 8)", () => {
    const b = new Recorder();
    b.fail.set("suspend vg-lv", "EBUSY");
    const r = runProgram(extend(), b);
    assert.equal(r.result, "rolled_back");
    assert.equal(r.exit_code, 8);
    assert.deepEqual(b.calls, ["load vg-lv", "suspend vg-lv", "resume vg-lv"]);
    const failed = r.steps.find((s) => s.outcome === "failed")!;
    assert.equal(failed.errno, "EBUSY");
    assert.equal(failed.code, 16);
  });

  it("a failing commit hook rolls the dm changes back", () => {
    const b = new Recorder();
    const r = runProgram(extend(), b, {
      onCommit: () => {
        throw new Error("disk full");
      },
    });
    assert.equal(r.exit_code, 8);
    assert.deepEqual(b.calls, ["load vg-lv", "suspend vg-lv", "clear vg-lv", "resume vg-lv"]);
    assert.match(r.steps.find((s) => s.op === "commit")!.message!, /disk full/);
  });

  it("a failure inside the recovery branch is stuck (exit 9) and says what is left", () => {
    const b = new Recorder();
    b.fail.set("suspend vg-lv", "EIO");
    b.suspended.add("vg-lv");
    b.fail.set("resume vg-lv", "EIO");
    const r = runProgram(extend(), b);
    assert.equal(r.result, "stuck");
    assert.equal(r.exit_code, 9);
    assert.ok(
      r.left?.some((l) => /vg-lv is suspended/.test(l)),
      JSON.stringify(r.left),
    );
  });

  it("a failure after the commit point keeps going and ends stuck", () => {
    const b = new Recorder();
    b.fail.set("resume vg-lv", "EINVAL");
    const r = runProgram(extend(), b);
    assert.equal(r.exit_code, 9);
    assert.deepEqual(b.calls, ["load vg-lv", "suspend vg-lv", "resume vg-lv"]);
  });

  it("a failing step without on_error stops the program as stuck", () => {
    const b = new Recorder();
    b.fail.set("remove a", "EBUSY");
    const r = runProgram(
      prog([
        { id: 1, op: "remove", name: "a" },
        { id: 2, op: "remove", name: "b" },
        { id: 3, op: "end", result: "ok" },
      ]),
      b,
    );
    assert.equal(r.exit_code, 9);
    assert.deepEqual(b.calls, ["remove a"]);
  });

  it("create with a table is create + load + resume, and removes the device if the load fails", () => {
    const b = new Recorder();
    b.fail.set("load x", "EINVAL");
    const r = runProgram(
      prog([
        { id: 1, op: "create", name: "x", uuid: "U", table: [lin], on_error: 2 },
        { id: 3, op: "end", result: "ok" },
        { id: 2, op: "end", result: "rolled_back" },
      ]),
      b,
    );
    assert.equal(r.exit_code, 8);
    assert.deepEqual(b.calls, ["create x", "load x", "remove x"]);
  });

  it("query and message steps carry their output", () => {
    const b = new Recorder();
    const r = runProgram(
      prog([
        { id: 1, op: "table", name: "x" },
        { id: 2, op: "message", name: "x", sector: 0, text: "hi" },
        { id: 3, op: "rename", name: "x", new_name: "y" },
        { id: 4, op: "rename", name: "y", uuid: "LVM-u" },
        { id: 5, op: "end", result: "ok" },
      ]),
      b,
    );
    assert.equal(r.exit_code, 0);
    assert.equal(r.steps[0]!.output, "table of x\n");
    assert.equal(r.steps[1]!.output, "reply");
    assert.deepEqual(b.calls.slice(2), ["rename x y", "setuuid y LVM-u"]);
  });
});

describe("dmexec: malformed programs change nothing", () => {
  const bad = (steps: DmStep[], re: RegExp) => {
    const b = new Recorder();
    assert.throws(
      () => runProgram(prog(steps), b),
      (e) => e instanceof DvmError && e.exitCode === 2 && re.test(e.message),
    );
    assert.deepEqual(b.calls, []);
  };
  it("rejects duplicate ids, dangling branches, missing fields, no end", () => {
    bad(
      [
        { id: 1, op: "clear", name: "a" },
        { id: 1, op: "end", result: "ok" },
      ],
      /used twice/,
    );
    bad(
      [
        { id: 1, op: "clear", name: "a", on_error: 9 },
        { id: 2, op: "end", result: "ok" },
      ],
      /on_error 9 names no step/,
    );
    bad(
      [
        { id: 1, op: "load", name: "a" },
        { id: 2, op: "end", result: "ok" },
      ],
      /table is required/,
    );
    bad([{ id: 1, op: "resume" } as DmStep, { id: 2, op: "end", result: "ok" }], /name is required/);
    bad([{ id: 1, op: "clear", name: "a" }], /no .*end/);
  });
  it("rejects target lines with wrongly typed fields", () => {
    const wrong = { ...lin, offset_sectors: "zero" } as unknown as TargetLine;
    bad(
      [
        { id: 1, op: "load", name: "a", table: [wrong] },
        { id: 2, op: "end", result: "ok" },
      ],
      /offset|wrong type|not a number/,
    );
    const noParams = { start_sectors: 0, length_sectors: 8, type: "thin" } as TargetLine;
    bad(
      [
        { id: 1, op: "load", name: "a", table: [noParams] },
        { id: 2, op: "end", result: "ok" },
      ],
      /params/,
    );
  });
  it("accepts a well-formed program", () => {
    checkProgram(extend());
  });
});
