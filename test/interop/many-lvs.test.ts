import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { generateId } from "../../src/lvm2/uuid.ts";
import { run } from "../helpers.ts";
import { compareReport, FIELDS, JSON_BYTES, KINDS, Lab, pipeline, REPORT_VARIANTS, rows } from "./lvm.ts";

/**
 * A VG of 1,000 LVs made by LVM2: one lvcreate gives a template, the rest are
 * appended to its vgcfgbackup file and put on disk with vgcfgrestore (1,000
 * lvcreates would take over a minute). LV names lv1..lv1000 are not in sorted
 * order; every 10th LV has a second segment on the other PV, every 7th has tags.
 */

const N = 1000;
const lab = new Lab();
after(() => lab.cleanup());

function segment(i: number, start: number, pv: string, pe: number): string {
  return `
\t\t\tsegment${i} {
\t\t\t\tstart_extent = ${start}
\t\t\t\textent_count = 1

\t\t\t\ttype = "striped"
\t\t\t\tstripe_count = 1

\t\t\t\tstripes = [
\t\t\t\t\t"${pv}", ${pe}
\t\t\t\t]
\t\t\t}
`;
}

function lvText(i: number, creation: string): string {
  const two = i % 10 === 0;
  const tags = i % 7 === 0 ? `\t\t\ttags = ["t7", "group${i % 3}"]\n` : "";
  return `
\t\tlv${i} {
\t\t\tid = "${generateId()}"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
${tags}${creation}\t\t\tsegment_count = ${two ? 2 : 1}
${segment(1, 0, "pv0", i - 1)}${two ? segment(2, 1, "pv1", i / 10 - 1) : ""}\t\t}
`;
}

describe(`fixture ${N} LVs (vgcfgrestore of generated metadata)`, () => {
  let devices: string[];
  let vg: string;
  before(() => {
    vg = lab.vg("many");
    const a = lab.attach("many-a", 4 * N + 64);
    const b = lab.attach("many-b", 4 * (N / 10) + 64);
    devices = [a, b];
    lab.lvm(["pvcreate", "-q", "--metadatasize", "4m", a, b], devices);
    lab.lvm(["vgcreate", "-q", vg, a, b], devices);
    lab.lvcreate(["-n", "lv1", "-l", "1", vg, a], devices);
    const tmpl = join(lab.dir, "template.vg");
    lab.lvm(["vgcfgbackup", "-q", "-f", tmpl, vg], devices);
    const text = readFileSync(tmpl, "utf8");
    const lvAt = text.indexOf("\tlogical_volumes {");
    assert.ok(lvAt > 0, "template has logical_volumes");
    const creation = /\t\t\tcreation_time = .*\n\t\t\tcreation_host = .*\n/.exec(text)?.[0];
    assert.ok(creation, "template LV has creation_time and creation_host");
    let out = `${text.slice(0, lvAt)}\tlogical_volumes {\n`;
    for (let i = 1; i <= N; i++) out += lvText(i, creation);
    out += "\t}\n\n}\n";
    const file = join(lab.dir, "many.vg");
    writeFileSync(file, out);
    lab.lvm(["vgcfgrestore", "-q", "-f", file, vg], devices);
    const count = lab.lvm(["vgs", "--noheadings", "-o", "lv_count", vg], devices).trim();
    assert.equal(count, String(N));
  });

  for (const v of REPORT_VARIANTS)
    for (const kind of KINDS)
      test(`dvm report ${kind} (${v.name}) = LVM2`, () => {
        compareReport(lab, kind, devices, v.args(kind), [], (out) => {
          if (v.name === "json -o fields") {
            const want = { pvs: 2, vgs: 1, lvs: N + N / 10, segs: N + N / 10 }[kind];
            assert.equal(rows(out).length, want, `LVM2's ${kind} rows`);
          }
        });
      });

  test("pipeline dvm-discover find | dvm-tm read | dvm-report lvs and segs = LVM2", () => {
    for (const kind of ["lvs", "segs"] as const) {
      const args = [...JSON_BYTES, "-o", FIELDS[kind]];
      const expected = lab.lvm(
        [...(kind === "segs" ? ["lvs", "--segments"] : ["lvs"]), ...args, vg],
        devices,
      );
      const got = pipeline(vg, devices, [kind, ...args]);
      assert.equal(got.status, 0, got.stderr);
      assert.equal(got.stdout, expected);
    }
  });

  test("dvm-tm verify exits 0", () => {
    const r = run("dvm-tm", ["verify", vg, "--devices", devices.join(",")]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).vg.logical_volumes.length, N);
  });
});
