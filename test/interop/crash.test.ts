import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DIST, toolEnv } from "../helpers.ts";
import { Lab, rows } from "./lvm.ts";

/**
 * Crash safety as LVM2 sees it: a dvm update is killed after each of its
 * writes (or with that write torn) on loop devices; LVM2's vgck must pass
 * and LVM2 must read either the old or the new seqno and LVs.
 */

const lab = new Lab();
after(() => lab.cleanup());

function writeAll(dev: string, data: Buffer) {
  const fd = openSync(dev, "r+");
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

describe("crash points of dvm updates, checked by LVM2's vgck", () => {
  let vg: string;
  let devs: string[];
  let lockDir: string;
  before(() => {
    vg = lab.vg("crash");
    devs = [lab.attach("crash-a", 16), lab.attach("crash-b", 16)];
    lockDir = join(lab.dir, "lock");
    const g = ["--devices", devs.join(","), "--lock-dir", lockDir];
    for (const args of [
      ["vg", "create", vg, ...devs],
      ["lv", "create", `${vg}/base`, "--size", "8m"],
    ]) {
      const r = spawnSync(process.execPath, [join(DIST, "dvm.cjs"), ...args, ...g], { env: toolEnv() });
      assert.equal(r.status, 0, r.stderr.toString());
    }
  });

  const state = () => {
    const v = rows(lab.lvm(["vgs", "--reportformat", "json", "-o", "vg_seqno,lv_count", vg], devs))[0]!;
    const names = rows(lab.lvm(["lvs", "--reportformat", "json", "-o", "lv_name", vg], devs)).map(
      (r) => r.lv_name,
    );
    return JSON.stringify({ seqno: v.vg_seqno, lvs: names });
  };

  for (const [name, args] of [
    ["lv create (striped over both PVs)", ["lv", "create", "VG/new", "--size", "8m", "--stripes", "2"]],
    ["lv extend", ["lv", "extend", "VG/base", "--size", "+4m"]],
  ] as const)
    test(name, () => {
      const pristine = devs.map((d) => readFileSync(d));
      const restore = () => {
        for (const [i, d] of devs.entries()) writeAll(d, pristine[i]!);
      };
      const run = (fault?: string) => {
        const env = toolEnv();
        if (fault) env.DVM_FAULT = fault;
        const argv = args.map((a) => a.replace("VG", vg));
        return spawnSync(
          process.execPath,
          [join(DIST, "dvm.cjs"), ...argv, "--devices", devs.join(","), "--lock-dir", lockDir],
          { env },
        );
      };
      const old = state();
      assert.equal(run().status, 0);
      const fresh = state();
      assert.notEqual(old, fresh);
      let points = 0;
      for (const mode of ["crash", "torn"])
        for (let n = 1; ; n++) {
          restore();
          const r = run(`${mode}:${n}`);
          if (r.status === 0) break;
          assert.equal(r.signal, "SIGKILL", r.stderr.toString());
          points++;
          const ck = lab.lvmRaw(["vgck", vg], devs);
          assert.equal(ck.status, 0, `${mode}:${n}: vgck: ${ck.stderr}`);
          const now = state();
          assert.ok(
            now === old || now === fresh,
            `${mode}:${n}: LVM2 reads ${now}, neither ${old} nor ${fresh}`,
          );
        }
      restore();
      assert.ok(points >= 8, `only ${points} crash points`);
      console.log(`crash points checked by vgck (${name}): ${points}`);
    });
});
