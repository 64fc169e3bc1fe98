import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { run } from "../helpers.ts";
import {
  compareReport,
  FIELDS,
  JSON_BYTES,
  KINDS,
  Lab,
  lvmReportCommand,
  pipeline,
  REPORT_VARIANTS,
  rows,
} from "./lvm.ts";

/**
 * A 2-PV VG made by LVM2, reported with one of its PVs absent from --devices
 * (LVM2 then shows "[unknown]" PVs, the partial VG attribute and partial LVs),
 * next to a complete VG. Then the same VG with the second loop really detached.
 */

const lab = new Lab();
after(() => lab.cleanup());

let vg: string;
let other: string;
let a: string;
let b: string;
let c: string;

before(() => {
  vg = lab.vg("mis");
  other = lab.vg("whole");
  a = lab.attach("mis-a", 64);
  b = lab.attach("mis-b", 64);
  c = lab.attach("whole-c", 32);
  const d = [a, b, c];
  lab.lvm(["pvcreate", "-q", ...d], d);
  lab.lvm(["vgcreate", "-q", vg, a, b], d);
  lab.lvm(["vgcreate", "-q", "--addtag", "ok", other, c], d);
  lab.lvcreate(["-n", "on_a", "-L", "8m", vg, a], d);
  lab.lvcreate(["-n", "on_b", "-L", "12m", vg, b], d);
  lab.lvcreate(["-n", "striped", "-i", "2", "-I", "64k", "-L", "16m", vg], d);
  lab.lvcreate(["-n", "span", "-l", "14", vg, a, b], d); // the rest of a, then b
  lab.lvcreate(["-n", "w", "-L", "8m", other], d);
});

/** LVM2 rows with the fields, with b missing / with a missing. */
const ROWS = {
  pvs: 3, // a or b, "[unknown]", c
  vgs: 2,
  lvs: 6, // on_a, on_b, striped, span (2 segments), w
  segs: 6,
};

for (const [name, present] of [
  ["second PV missing", () => [a, c]],
  ["first PV missing", () => [b, c]],
] as const)
  describe(`fixture partial VG, ${name} (not in --devices), beside a complete VG`, () => {
    for (const v of REPORT_VARIANTS)
      for (const kind of KINDS)
        test(`dvm report ${kind} (${v.name}) = LVM2`, () => {
          compareReport(lab, kind, present(), v.args(kind), [], (out) => {
            if (v.name === "json -o fields")
              assert.equal(rows(out).length, ROWS[kind], `LVM2's ${kind} rows`);
          });
        });

    test("dvm-tm read and verify exit 4; --partial reads it and dvm-report matches LVM2", () => {
      const devs = present().join(",");
      const find = run("dvm-discover", ["find", vg, "--devices", devs]);
      assert.equal(find.status, 0, find.stderr);
      assert.equal(JSON.parse(find.stdout).vgs[0].missing_pv_uuids.length, 1);
      const read = run("dvm-tm", ["read", vg], find.stdout);
      assert.equal(read.status, 4, `dvm-tm read: ${read.stderr}`);
      assert.equal(read.stdout, "");
      assert.match(read.stderr, /^dvm-tm: error: /m);
      const verify = run("dvm-tm", ["verify", vg, "--devices", devs]);
      assert.equal(verify.status, 4, `dvm-tm verify: ${verify.stderr}`);
      for (const kind of KINDS) {
        const select = kind === "pvs" ? ["-S", `vg_name=${vg}`] : [vg];
        const args = [...JSON_BYTES, "-o", FIELDS[kind]];
        const expected = lab.lvm([...lvmReportCommand(kind), ...args, ...select], present());
        const got = pipeline(vg, present(), [kind, ...args], ["--partial"]);
        assert.equal(got.status, 0, got.stderr);
        assert.deepEqual(JSON.parse(got.stdout), JSON.parse(expected), kind);
        assert.equal(got.stdout, expected, `${kind} (raw text)`);
      }
    });

    test("the complete VG beside it still reads", () => {
      const r = pipeline(other, present(), ["vgs", ...JSON_BYTES, "-o", FIELDS.vgs]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, lab.lvm(["vgs", ...JSON_BYTES, "-o", FIELDS.vgs, other], present()));
    });
  });

describe("fixture partial VG, second loop detached", () => {
  test("dvm report = LVM2 for every kind (json -o fields and default text)", () => {
    // The same VG as above: now b's loop is really gone; LVM2 and dvm are given only a and c.
    lab.detach(b);
    for (const v of REPORT_VARIANTS.slice(0, 2))
      for (const kind of KINDS) compareReport(lab, kind, [a, c], v.args(kind));
    const r = pipeline(vg, [a, c], ["lvs"]);
    assert.equal(r.status, 4, r.stderr);
  });
});
