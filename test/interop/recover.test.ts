import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { run } from "../helpers.ts";
import { Lab, rows } from "./lvm.ts";

/**
 * Recovering a VG with a PV missing, done by dvm, read by LVM2: the MISSING
 * flag as LVM2 writes it, and --remove-missing as vgreduce --removemissing.
 */

const lab = new Lab();
after(() => lab.cleanup());

describe("recover with a PV missing, checked by LVM2", () => {
  let vg: string;
  let a: string;
  let b: string;
  before(() => {
    vg = lab.vg("rec");
    a = lab.attach("rec-a", 32);
    b = lab.attach("rec-b", 32);
    lab.lvm(["pvcreate", "-q", a, b], [a, b]);
    lab.lvm(["vgcreate", "-q", vg, a, b], [a, b]);
    lab.lvcreate(["-n", "keep", "-L", "8m", vg, a], [a, b]);
    lab.lvcreate(["-n", "lost", "-L", "8m", vg, b], [a, b]);
  });

  test("dvm-tm recover writes MISSING as LVM2 does; LVM2 reads the partial VG alike", () => {
    const r = run("dvm-tm", ["recover", vg, "--devices", a]);
    assert.equal(r.status, 0, r.stderr);
    // LVM2, shown only the present PV, agrees on the seqno and sees the missing PV.
    const pvs = rows(
      lab.lvm(["pvs", "--reportformat", "json", "-o", "pv_name,pv_attr,vg_name", "--all"], [a]),
    );
    const unknown = pvs.find((p) => p.pv_name === "[unknown]");
    assert.ok(unknown, JSON.stringify(pvs));
    assert.equal(unknown.pv_attr, "a-m");
    const seq = rows(lab.lvm(["vgs", "--reportformat", "json", "-o", "vg_seqno,vg_attr", vg], [a]))[0]!;
    assert.equal(Number(seq.vg_seqno), JSON.parse(r.stdout).vg.seqno);
    assert.equal(seq.vg_attr, "wz-pn-");
  });

  test("dvm vg reduce --missing drops the PV and its LV; LVM2's vgck passes on the result", () => {
    const r = run("dvm", ["vg", "reduce", vg, "--missing", "--devices", a]);
    assert.equal(r.status, 0, r.stderr);
    lab.lvm(["vgck", vg], [a]);
    const lvs = rows(lab.lvm(["lvs", "--reportformat", "json", "-o", "lv_name", vg], [a]));
    assert.deepEqual(
      lvs.map((l) => l.lv_name),
      ["keep"],
    );
    const vgs = rows(lab.lvm(["vgs", "--reportformat", "json", "-o", "pv_count,vg_attr", vg], [a]))[0]!;
    assert.deepEqual(vgs, { pv_count: "1", vg_attr: "wz--n-" });
  });
});
