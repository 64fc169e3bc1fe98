import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { DmStateDoc, ExecReportDoc } from "../../src/dm/docs.js";
import { image, run, scratch } from "../helpers.js";

/** dvm-dmexec as a process on the sim: programs in, exec reports out, exit codes 0/8/9/2. */

const s = scratch("dvm-dmexec-");
const img = image(s.dir, "disk.img", 4);
const sim = ["--dm-backend", "sim", "--sim-dir", `${s.dir}/sim`];
const prog = (steps: object[]) => JSON.stringify({ kind: "dm-program", version: 1, steps });
const lin = (len: number) => [
  { start_sectors: 0, length_sectors: len, type: "linear", device: img, offset_sectors: 0 },
];

describe("dvm-dmexec", () => {
  after(() => s.cleanup());

  it("runs a program and prints the exec report; state shows the result", () => {
    const r = run(
      "dvm-dmexec",
      ["run", ...sim],
      prog([
        { id: 1, op: "create", name: "d1", uuid: "TEST-d1", table: lin(2048), on_error: 3 },
        { id: 2, op: "end", result: "ok" },
        { id: 3, op: "end", result: "rolled_back" },
      ]),
    );
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as ExecReportDoc;
    assert.equal(rep.kind, "exec-report");
    assert.equal(rep.backend, "sim");
    assert.deepEqual(
      rep.steps.map((x) => x.outcome),
      ["ok", "ok"],
    );
    const st = JSON.parse(run("dvm-dmexec", ["state", ...sim]).stdout) as DmStateDoc;
    assert.equal(st.devices[0]!.name, "d1");
    assert.equal(st.devices[0]!.table![0]!.type, "linear");
    const only = JSON.parse(
      run("dvm-dmexec", ["state", "--uuid-prefix", "LVM-", ...sim]).stdout,
    ) as DmStateDoc;
    assert.deepEqual(only.devices, []);
  });

  it("exits 8 after a rollback and 9 when it is stuck", () => {
    const rolled = run(
      "dvm-dmexec",
      ["run", ...sim],
      prog([
        { id: 1, op: "create", name: "d2", on_error: 4 },
        { id: 2, op: "load", name: "d2", table: lin(99999), on_error: 3 },
        { id: 5, op: "end", result: "ok" },
        { id: 3, op: "remove", name: "d2", on_error: "continue" },
        { id: 4, op: "end", result: "rolled_back" },
      ]),
    );
    assert.equal(rolled.status, 8, rolled.stderr);
    const rep = JSON.parse(rolled.stdout) as ExecReportDoc;
    assert.equal(rep.steps[1]!.errno, "EINVAL");
    const stuck = run(
      "dvm-dmexec",
      ["run", ...sim],
      prog([
        { id: 1, op: "resume", name: "nope" },
        { id: 2, op: "end", result: "ok" },
      ]),
    );
    assert.equal(stuck.status, 9);
    assert.equal((JSON.parse(stuck.stdout) as ExecReportDoc).steps[0]!.errno, "ENXIO");
  });

  it("--dry-run lists the steps and changes nothing", () => {
    const r = run(
      "dvm-dmexec",
      ["run", "--dry-run", ...sim],
      prog([
        { id: 1, op: "create", name: "dry", table: lin(8) },
        { id: 2, op: "end", result: "ok" },
      ]),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 {2}create dry/);
    assert.match(r.stdout, /0 8 linear /);
    const st = JSON.parse(run("dvm-dmexec", ["state", ...sim]).stdout) as DmStateDoc;
    assert.ok(!st.devices.some((d) => d.name === "dry"));
  });

  it("rejects bad input with exit 2 naming the field, and changes nothing", () => {
    const before = run("dvm-dmexec", ["state", ...sim]).stdout;
    const cases: [string, RegExp][] = [
      ['{"kind":"dm-program",', /truncated/],
      ['{"kind":"vg","version":1}', /field \/kind/],
      [prog([{ id: 1, op: "explode", name: "x" }]), /\/steps\/0\/op/],
      [prog([{ id: 0, op: "end", result: "ok" }]), /\/steps\/0\/id/],
      [
        prog([
          {
            id: 1,
            op: "create",
            name: "x2",
            table: [{ start_sectors: 0, length_sectors: "8", type: "zero" }],
          },
          { id: 2, op: "end", result: "ok" },
        ]),
        /length_sectors/,
      ],
      [`${prog([{ id: 1, op: "end", result: "ok" }])} junk`, /expected a JSON document/],
    ];
    for (const [input, re] of cases) {
      const r = run("dvm-dmexec", ["run", ...sim], input);
      assert.equal(r.status, 2, `${input}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    assert.equal(run("dvm-dmexec", ["state", ...sim]).stdout, before);
    assert.equal(run("dvm-dmexec", ["run", ...sim], "").status, 1);
    assert.equal(run("dvm-dmexec", ["state", "--dm-backend", "floppy"]).status, 1);
    assert.equal(run("dvm-dmexec", ["state", "--dm-backend", "sim"]).status, 1);
  });
});
