import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { run } from "../helpers.ts";
import {
  compareReport,
  FIELDS,
  JSON_BYTES,
  KINDS,
  type Kind,
  Lab,
  lvmReportCommand,
  pipeline,
  REPORT_VARIANTS,
  rows,
} from "./lvm.ts";

/**
 * Volume groups made by LVM2 2.03.16 on loop devices; dvm must report each of
 * them exactly as LVM2's pvs / vgs / lvs / lvs --segments do, through the
 * wrapper (`dvm report`) and through the seed's pipeline
 * (`dvm-discover find | dvm-tm read | dvm-report`).
 */

const lab = new Lab();
after(() => lab.cleanup());

interface Fixture {
  devices: string[];
  vgs: string[];
  /** Rows LVM2 must print with the field lists (so a comparison cannot pass on two empty reports). */
  rows: Record<Kind, number>;
}

/** Every comparison for one fixture: 4 kinds x 3 option sets through `dvm report`, then the pipeline per VG. */
function compareFixture(name: string, make: () => Fixture) {
  describe(`fixture ${name}`, () => {
    let fx: Fixture;
    before(() => {
      fx = make();
    });
    for (const v of REPORT_VARIANTS)
      for (const kind of KINDS)
        test(`dvm report ${kind} (${v.name}) = LVM2`, () => {
          compareReport(lab, kind, fx.devices, v.args(kind), [], (out) => {
            if (v.name === "json -o fields")
              assert.equal(rows(out).length, fx.rows[kind], `LVM2's ${kind} rows`);
          });
        });
    test("pipeline dvm-discover find | dvm-tm read | dvm-report = LVM2, per VG", () => {
      for (const vg of fx.vgs)
        for (const kind of KINDS) {
          // LVM2 reports one VG by name; pvs takes PV names, so select the VG's PVs instead.
          const select = kind === "pvs" ? ["-S", `vg_name=${vg}`] : [vg];
          const args = [...JSON_BYTES, "-o", FIELDS[kind]];
          const expected = lab.lvm([...lvmReportCommand(kind), ...args, ...select], fx.devices);
          if (kind === "pvs" || kind === "vgs")
            assert.ok(rows(expected).length > 0, `LVM2 reports ${kind} of ${vg}`);
          const got = pipeline(vg, fx.devices, [kind, ...args]);
          assert.equal(got.status, 0, got.stderr);
          assert.deepEqual(JSON.parse(got.stdout), JSON.parse(expected), `${kind} of ${vg}`);
          assert.equal(got.stdout, expected, `${kind} of ${vg} (raw text)`);
          if (kind !== "lvs") continue;
          // Default columns, text.
          const expText = lab.lvm([...lvmReportCommand(kind), ...select], fx.devices);
          const gotText = pipeline(vg, fx.devices, [kind]);
          assert.equal(gotText.status, 0, gotText.stderr);
          assert.equal(gotText.stdout, expText, `${kind} of ${vg}, default columns`);
        }
    });
    test("dvm report --pipeline (stages as processes) = LVM2", () => {
      for (const kind of KINDS) {
        const args = [...JSON_BYTES, "-o", FIELDS[kind]];
        const expected = lab.lvm([...lvmReportCommand(kind), ...args], fx.devices);
        const got = run("dvm", ["report", "--pipeline", kind, "--devices", fx.devices.join(","), ...args]);
        assert.equal(got.status, 0, got.stderr);
        assert.equal(got.stdout, expected, kind);
      }
    });
    test("dvm-tm verify exits 0 and counts every metadata copy current", () => {
      for (const vg of fx.vgs) {
        const mdas = Number(lab.lvm(["vgs", "--noheadings", "-o", "vg_mda_count", vg], fx.devices).trim());
        const r = run("dvm-tm", ["verify", vg, "--devices", fx.devices.join(",")]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(JSON.parse(r.stdout).vg.name, vg);
        assert.match(
          r.stderr,
          new RegExp(`: ${mdas} current, 0 stale, 0 bad metadata copies; 0 PVs missing`),
        );
      }
    });
  });
}

const all: string[] = [];
const allVgs: string[] = [];
let fixtures = 0;
const counted = (f: () => Fixture) => () => {
  const fx = f();
  all.push(...fx.devices);
  allVgs.push(...fx.vgs);
  fixtures++;
  return fx;
};

compareFixture(
  "linear (4 MiB extents, 2 PVs, an orphan PV, LV on a named PV, %FREE)",
  counted(() => {
    const vg = lab.vg("lin");
    const a = lab.attach("lin-a", 64);
    const b = lab.attach("lin-b", 96);
    const o = lab.attach("lin-orphan", 32);
    const d = [a, b, o];
    lab.lvm(["pvcreate", "-q", a, b, o], d);
    lab.lvm(["vgcreate", "-q", vg, a, b], d);
    lab.lvcreate(["-L", "8m", "-n", "root", vg], d);
    lab.lvcreate(["-l", "3", "-n", "home", vg], d);
    lab.lvcreate(["-L", "12m", "-n", "var", vg, b], d);
    lab.lvcreate(["-l", "50%FREE", "-n", "half", vg], d);
    lab.lvcreate(["-L", "5m", "-n", "Odd_name.x+y-z", vg], d); // rounded up to 2 extents
    return { devices: d, vgs: [vg], rows: { pvs: 3, vgs: 1, lvs: 5, segs: 5 } };
  }),
);

compareFixture(
  "striped (-i 2 -I 64k, -i 3, -i 3 -I 128k rounded up, -i 2 -I 4k)",
  counted(() => {
    const vg = lab.vg("str");
    const d = [lab.attach("str-a", 64), lab.attach("str-b", 64), lab.attach("str-c", 64)];
    lab.lvm(["pvcreate", "-q", ...d], d);
    lab.lvm(["vgcreate", "-q", vg, ...d], d);
    lab.lvcreate(["-n", "lin", "-L", "4m", vg], d);
    lab.lvcreate(["-n", "s2", "-i", "2", "-I", "64k", "-L", "16m", vg], d);
    lab.lvcreate(["-n", "s3", "-i", "3", "-L", "24m", vg], d);
    lab.lvcreate(["-n", "s3odd", "-i", "3", "-I", "128k", "-l", "5", vg], d);
    lab.lvcreate(["-n", "s2small", "-i", "2", "-I", "4k", "-L", "8m", vg], d);
    return { devices: d, vgs: [vg], rows: { pvs: 3, vgs: 1, lvs: 5, segs: 5 } };
  }),
);

compareFixture(
  "multi-segment (lvextend after other LVs, onto a named PV, gaps from lvremove, across PVs)",
  counted(() => {
    const vg = lab.vg("seg");
    const a = lab.attach("seg-a", 64);
    const b = lab.attach("seg-b", 64);
    const c = lab.attach("seg-c", 64);
    const d = [a, b, c];
    lab.lvm(["pvcreate", "-q", ...d], d);
    lab.lvm(["vgcreate", "-q", vg, ...d], d);
    lab.lvcreate(["-n", "a", "-L", "8m", vg, a], d);
    lab.lvcreate(["-n", "b", "-L", "8m", vg, a], d);
    lab.lvcreate(["-n", "c", "-L", "8m", vg, a], d);
    lab.lvm(["lvextend", "-q", "-L", "+8m", `${vg}/a`, a], d); // a's second segment, after c
    lab.lvm(["lvremove", "-q", "-y", `${vg}/b`], d); // a gap
    lab.lvm(["lvextend", "-q", "-L", "+12m", `${vg}/a`, c], d); // onto a named PV
    lab.lvcreate(["-n", "d", "-L", "4m", vg, a], d); // into the gap, partly
    lab.lvm(["lvextend", "-q", "-l", "+20", `${vg}/c`, b, c], d); // across two PVs
    lab.lvcreate(["-n", "e", "-l", "2", vg, a], d);
    lab.lvm(["lvremove", "-q", "-y", `${vg}/d`], d); // another gap
    lab.lvcreate(["-n", "big", "-l", "100%FREE", vg], d); // fills the gaps: several segments
    // With segment fields, LVM2's lvs prints one row per segment: a 3, big 3, c 3, e 1.
    return { devices: d, vgs: [vg], rows: { pvs: 3, vgs: 1, lvs: 10, segs: 10 } };
  }),
);

compareFixture(
  "gaps (free extents between and before LVs, a partly full VG)",
  counted(() => {
    const vg = lab.vg("gap");
    const d = [lab.attach("gap-a", 128)];
    lab.lvm(["pvcreate", "-q", ...d], d);
    lab.lvm(["vgcreate", "-q", vg, ...d], d);
    for (const n of ["g1", "g2", "g3", "g4", "g5", "g6"]) lab.lvcreate(["-n", n, "-l", "3", vg], d);
    for (const n of ["g1", "g3", "g4"]) lab.lvm(["lvremove", "-q", "-y", `${vg}/${n}`], d);
    return { devices: d, vgs: [vg], rows: { pvs: 1, vgs: 1, lvs: 3, segs: 3 } };
  }),
);

compareFixture(
  "tags (PV, VG and LV tags, several per object, added out of order)",
  counted(() => {
    const vg = lab.vg("tag");
    const a = lab.attach("tag-a", 32);
    const b = lab.attach("tag-b", 32);
    const d = [a, b];
    lab.lvm(["pvcreate", "-q", ...d], d);
    lab.lvm(["vgcreate", "-q", "--addtag", "zeta", "--addtag", "alpha_1", vg, ...d], d);
    lab.lvm(["vgchange", "-q", "--addtag", "mid.tag", vg], d);
    lab.lvm(["pvchange", "-q", "--addtag", "pv-one", "--addtag", "a+b", a], d);
    lab.lvcreate(["-n", "tagged", "-L", "4m", "--addtag", "tier=gold", "--addtag", "db/main", vg], d);
    lab.lvcreate(["-n", "plain", "-L", "4m", vg], d);
    lab.lvm(["lvchange", "-q", "--addtag", "Backup:nightly", "--addtag", "&x#", `${vg}/plain`], d);
    return { devices: d, vgs: [vg], rows: { pvs: 2, vgs: 1, lvs: 2, segs: 2 } };
  }),
);

compareFixture(
  "metadata areas (pvcreate --pvmetadatacopies 2 on two PVs, 0 on a third)",
  counted(() => {
    const vg = lab.vg("mda");
    const a = lab.attach("mda-a", 64);
    const b = lab.attach("mda-b", 48);
    const z = lab.attach("mda-z", 32);
    const d = [a, b, z];
    lab.lvm(["pvcreate", "-q", "--pvmetadatacopies", "2", a, b], d);
    lab.lvm(["pvcreate", "-q", "--pvmetadatacopies", "0", z], d);
    lab.lvm(["vgcreate", "-q", vg, ...d], d);
    lab.lvcreate(["-n", "one", "-L", "20m", vg], d);
    lab.lvcreate(["-n", "two", "-l", "100%FREE", vg], d);
    return { devices: d, vgs: [vg], rows: { pvs: 3, vgs: 1, lvs: 4, segs: 4 } };
  }),
);

compareFixture(
  "extent sizes (-s 1m, -s 128k, and an 8 MiB-extent VG without LVs)",
  counted(() => {
    const v1 = lab.vg("ext1m");
    const v2 = lab.vg("ext128k");
    const v3 = lab.vg("empty");
    const a = lab.attach("ext-a", 64);
    const a2 = lab.attach("ext-a2", 24);
    const b = lab.attach("ext-b", 16);
    const c = lab.attach("ext-c", 16);
    const e = lab.attach("ext-e", 40);
    const d = [a, a2, b, c, e];
    lab.lvm(["pvcreate", "-q", ...d], d);
    lab.lvm(["vgcreate", "-q", "-s", "1m", v1, a, a2], d);
    lab.lvm(["vgcreate", "-q", "-s", "128k", v2, b, c], d);
    lab.lvm(["vgcreate", "-q", "-s", "8m", v3, e], d);
    lab.lvcreate(["-n", "k1000", "-L", "1000k", v1], d); // rounded up to 1 MiB
    lab.lvcreate(["-n", "m3", "-L", "3m", v1], d);
    lab.lvcreate(["-n", "st", "-i", "2", "-I", "16k", "-L", "7m", v1], d);
    lab.lvcreate(["-n", "k100", "-L", "100k", v2], d); // rounded up to 128 KiB
    lab.lvcreate(["-n", "m5", "-L", "5m", v2, b], d);
    lab.lvcreate(["-n", "st", "-i", "2", "-I", "64k", "-L", "3m", v2], d);
    lab.lvcreate(["-n", "rest", "-l", "100%FREE", v2], d);
    return { devices: d, vgs: [v1, v2, v3], rows: { pvs: 5, vgs: 3, lvs: 8, segs: 8 } };
  }),
);

describe("all of this file's fixtures in one report (several VGs, orphans, sorting across VGs)", () => {
  test("every option set, every kind", () => {
    assert.ok(fixtures >= 7, `fixtures set up: ${fixtures}`);
    for (const v of REPORT_VARIANTS) for (const kind of KINDS) compareReport(lab, kind, all, v.args(kind));
    // Selecting VGs by name, in an order that is not the sorted one.
    const pick = [allVgs[3]!, allVgs[0]!];
    for (const kind of ["vgs", "lvs", "segs"] as Kind[])
      compareReport(lab, kind, all, [...JSON_BYTES, "-o", FIELDS[kind]], pick);
  });
});
