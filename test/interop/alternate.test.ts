import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { run } from "../helpers.ts";
import { compareReport, FIELDS, JSON_BYTES, Lab, rows } from "./lvm.ts";

/**
 * One VG, 100 updates that alternate between dvm and LVM2 2.03 (lv create,
 * extend, reduce, rename, remove; VG tags through LVM2): after each, both
 * read the same seqno, one more than before, and report the same contents.
 * The sequence is pseudo-random with a fixed seed, and kept feasible by
 * tracking the LVs and the VG's free extents.
 */

const STEPS = 100;
const lab = new Lab();
after(() => lab.cleanup());

interface Lv {
  extents: number;
  stripes: number;
}

/** One update as each tool spells it; `apply` records its effect on the model. */
interface Update {
  what: string;
  dvm?: string[];
  lvm?: string[];
  apply: () => void;
}

describe(`${STEPS} updates alternating between dvm and LVM2 on one VG`, () => {
  const vg = lab.vg("alt");
  let devs: string[];
  const lvs = new Map<string, Lv>();
  const tags = new Set<string>();
  let seed = 20250107;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  const pick = () => [...lvs.keys()][rnd(lvs.size)]!;
  const EXTENT_MIB = 4;

  before(() => {
    devs = [lab.attach("alt-a", 256), lab.attach("alt-b", 256), lab.attach("alt-c", 192)];
    const r = run("dvm", ["vg", "create", vg, ...devs, "--devices", devs.join(",")]);
    assert.equal(r.status, 0, r.stderr);
  });

  /** The next update for `who`, given the VG's free extents. */
  function next(i: number, who: "dvm" | "lvm", free: number): Update {
    const choices: string[] = [];
    if (lvs.size < 4 || (free > 40 && lvs.size < 12)) choices.push("create", "create");
    if (lvs.size > 0) {
      if (free > 30) choices.push("extend", "extend");
      choices.push("rename");
      if ([...lvs.values()].some((l) => l.extents > l.stripes)) choices.push("reduce");
      if (lvs.size > 3 || free < 30) choices.push("remove");
    }
    if (who === "lvm") choices.push("tag");
    const op = choices[rnd(choices.length)]!;
    switch (op) {
      case "create": {
        const name = `lv${i}`;
        const stripes = rnd(3) === 0 ? 2 : 1;
        const extents = stripes * (1 + rnd(4));
        const mib = `${extents * EXTENT_MIB}m`;
        const s = stripes > 1 ? ["--stripes", String(stripes)] : [];
        return {
          what: `create ${name} ${mib} x${stripes}`,
          dvm: ["lv", "create", `${vg}/${name}`, "--size", mib, ...s],
          lvm: [
            "lvcreate",
            "-q",
            "-an",
            "-Zn",
            "-n",
            name,
            "-L",
            mib,
            ...(stripes > 1 ? ["-i", "2"] : []),
            vg,
          ],
          apply: () => lvs.set(name, { extents, stripes }),
        };
      }
      case "extend": {
        const name = pick();
        const lv = lvs.get(name)!;
        const add = lv.stripes * (1 + rnd(3));
        return {
          what: `extend ${name} +${add}`,
          dvm: ["lv", "extend", `${vg}/${name}`, "--size", `+${add * EXTENT_MIB}m`],
          lvm: ["lvextend", "-q", "-L", `+${add * EXTENT_MIB}m`, `${vg}/${name}`],
          apply: () => {
            lv.extents += add;
          },
        };
      }
      case "reduce": {
        const candidates = [...lvs.entries()].filter(([, l]) => l.extents > l.stripes);
        const [name, lv] = candidates[rnd(candidates.length)]!;
        const sub = lv.stripes * (1 + rnd((lv.extents - lv.stripes) / lv.stripes));
        return {
          what: `reduce ${name} -${sub}`,
          dvm: ["lv", "reduce", `${vg}/${name}`, "--size", `-${sub * EXTENT_MIB}m`],
          lvm: ["lvreduce", "-q", "-f", "-L", `-${sub * EXTENT_MIB}m`, `${vg}/${name}`],
          apply: () => {
            lv.extents -= sub;
          },
        };
      }
      case "rename": {
        const name = pick();
        const to = `rn${i}`;
        return {
          what: `rename ${name} ${to}`,
          dvm: ["lv", "rename", `${vg}/${name}`, to],
          lvm: ["lvrename", "-q", vg, name, to],
          apply: () => {
            lvs.set(to, lvs.get(name)!);
            lvs.delete(name);
          },
        };
      }
      case "remove": {
        const name = pick();
        return {
          what: `remove ${name}`,
          dvm: ["lv", "remove", `${vg}/${name}`],
          lvm: ["lvremove", "-q", "-f", `${vg}/${name}`],
          apply: () => lvs.delete(name),
        };
      }
      default: {
        if (tags.size > 2 && rnd(2) === 0) {
          const t = [...tags][rnd(tags.size)]!;
          return {
            what: `deltag ${t}`,
            lvm: ["vgchange", "-q", "--deltag", t, vg],
            apply: () => tags.delete(t),
          };
        }
        const t = `tag${i}`;
        return { what: `addtag ${t}`, lvm: ["vgchange", "-q", "--addtag", t, vg], apply: () => tags.add(t) };
      }
    }
  }

  /** Both tools' vgs of the VG: the same JSON, hence the same seqno; returns [seqno, free extents]. */
  function vgState(): [number, number] {
    const args = [...JSON_BYTES, "-o", FIELDS.vgs];
    const theirs = lab.lvm(["vgs", ...args, vg], devs);
    const r = run("dvm", ["report", "vgs", vg, "--devices", devs.join(","), ...args]);
    assert.equal(r.status, 0, r.stderr);
    const l = rows(theirs)[0]!;
    const d = rows(r.stdout)[0]!;
    assert.equal(d.vg_seqno, l.vg_seqno, "dvm and LVM2 read the same seqno");
    assert.equal(r.stdout, theirs, "dvm report vgs = LVM2's vgs");
    return [Number(l.vg_seqno), Number(l.vg_free_count)];
  }

  test(`${STEPS} updates; after each: one seqno more for both, the same pvs, vgs, lvs --segments`, (t) => {
    let [seqno, free] = vgState();
    assert.equal(seqno, 1);
    const counts = { dvm: 0, lvm: 0 };
    const kinds = new Map<string, number>();
    for (let i = 0; i < STEPS; i++) {
      const who: "dvm" | "lvm" = i % 2 === 0 ? "dvm" : "lvm";
      let u = next(i, who, free);
      // A tag can only be set by LVM2: give dvm another update then.
      while (!u[who]) u = next(i, who, free);
      const what = `step ${i} (${who}): ${u.what}`;
      if (who === "dvm") {
        // Every fourth dvm update runs its stages as processes.
        const extra = counts.dvm % 4 === 3 ? ["--pipeline"] : [];
        const r = run("dvm", [...u.dvm!, ...extra, "--devices", devs.join(",")]);
        assert.equal(r.status, 0, `${what}: dvm ${u.dvm!.join(" ")} exited ${r.status}: ${r.stderr}`);
      } else {
        const r = lab.lvmRaw(u.lvm!, devs);
        assert.equal(r.status, 0, `${what}: lvm ${u.lvm!.join(" ")} exited ${r.status}: ${r.stderr}`);
      }
      counts[who]++;
      const kind = `${who} ${u.what.split(" ")[0]}`;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      u.apply();
      try {
        const [s, f] = vgState();
        assert.equal(s, seqno + 1, "the seqno rose by exactly 1");
        seqno = s;
        free = f;
        compareReport(lab, "segs", devs, [...JSON_BYTES, "-o", FIELDS.segs]);
        compareReport(lab, "pvs", devs, [...JSON_BYTES, "-o", FIELDS.pvs]);
        if (i % 10 === 9) {
          compareReport(lab, "lvs", devs, [...JSON_BYTES, "-o", FIELDS.lvs]);
          compareReport(lab, "lvs", devs, []);
          const ck = lab.lvmRaw(["vgck", vg], devs);
          assert.equal(ck.status, 0, ck.stderr);
          const v = run("dvm-tm", ["verify", vg, "--devices", devs.join(",")]);
          assert.equal(v.status, 0, v.stderr);
        }
      } catch (e) {
        if (e instanceof Error) e.message = `after ${what}: ${e.message}`;
        throw e;
      }
    }
    assert.equal(seqno, 1 + STEPS);
    assert.deepEqual(counts, { dvm: STEPS / 2, lvm: STEPS / 2 });
    // Each tool did each kind of update (the seed decides how often).
    const want = ["create", "extend", "reduce", "rename", "remove"].flatMap((k) => [`dvm ${k}`, `lvm ${k}`]);
    for (const k of [...want, "lvm addtag", "lvm deltag"])
      assert.ok((kinds.get(k) ?? 0) > 0, `no "${k}" among ${JSON.stringify([...kinds])}`);
    t.diagnostic(`updates: ${JSON.stringify(Object.fromEntries([...kinds].sort()))}`);
    // The model agrees with what both report.
    const names = rows(lab.lvm(["lvs", ...JSON_BYTES, "-o", "lv_name", vg], devs));
    assert.deepEqual(
      names.map((r) => r.lv_name).sort(),
      [...lvs.keys()].sort(),
      "the LVs are the ones the sequence left",
    );
  });
});
