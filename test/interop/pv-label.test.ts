import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { run } from "../helpers.ts";
import {
  compareReport,
  dvm,
  FIELDS,
  JSON_BYTES,
  KINDS,
  Lab,
  pipeline,
  REPORT_VARIANTS,
  rows,
} from "./lvm.ts";

/**
 * PVs labelled by dvm (`dvm pv create`, `dvm pv create --metadata-size 2m`,
 * `dvm-discover label`) are accepted by LVM2 and laid out exactly as LVM2's
 * pvcreate lays out a device of the same size; a VG LVM2 makes on them is
 * reported by dvm as LVM2 reports it; `dvm pv remove` wipes orphans so LVM2
 * no longer sees a PV, and refuses PVs in a VG without changing a byte.
 */

const lab = new Lab();
after(() => lab.cleanup());

const SIZE_MIB = 64;

/** Every byte of a device, read through the device (not the image file), hashed. */
function deviceHash(dev: string): string {
  const h = createHash("sha256");
  const fd = openSync(dev, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

function readHead(dev: string, length: number): Buffer {
  const fd = openSync(dev, "r");
  try {
    const buf = Buffer.alloc(length);
    assert.equal(readSync(fd, buf, 0, length, 0), length);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** LVM2's stderr without the warning every command prints when activation is off. */
const lvmComplaints = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l.trim() !== "" && !/Activation disabled/.test(l))
    .join("\n");

/** `pvck --dump headers` without the lines that differ between two PVs by nature (uuid, label crc). */
const headers = (lab: Lab, dev: string) => {
  const r = lab.pvck(dev, ["--dump", "headers"]);
  assert.equal(r.status, 0, `pvck --dump headers ${dev}: ${r.stderr}`);
  const lines = r.stdout.split("\n").filter((l) => !/label_header\.crc|pv_header\.pv_uuid/.test(l));
  assert.ok(
    lines.some((l) => /mda_header_1\.size/.test(l)),
    `pvck dumped the mda header:\n${r.stdout}`,
  );
  return lines.join("\n");
};

const LAYOUT =
  "pe_start,pv_mda_size,pv_mda_count,pv_mda_free,pv_ba_start,pv_ba_size,dev_size,pv_size,pv_attr,vg_name";
function layout(lab: Lab, dev: string) {
  return rows(lab.lvm(["pvs", ...JSON_BYTES, "-o", LAYOUT, dev], [dev]));
}

describe("PVs labelled by dvm, next to PVs labelled by LVM2", () => {
  /** dvm-labelled loops and their LVM2-labelled twins. */
  let dvmDef: string;
  let dvm2m: string;
  let dvmDisc: string;
  let lvmDef: string;
  let lvm2m: string;
  const uuids = new Map<string, string>();

  before(() => {
    dvmDef = lab.attach("dvm-default", SIZE_MIB);
    dvm2m = lab.attach("dvm-2m", SIZE_MIB);
    dvmDisc = lab.attach("dvm-discover", SIZE_MIB);
    lvmDef = lab.attach("lvm-default", SIZE_MIB);
    lvm2m = lab.attach("lvm-2m", SIZE_MIB);
    const label = (args: string[], tool = "dvm") => {
      const r = run(tool, args);
      assert.equal(r.status, 0, `${tool} ${args.join(" ")}: ${r.stderr}`);
      for (const l of JSON.parse(r.stdout).labelled) uuids.set(l.path, l.pv_uuid);
    };
    label(["pv", "create", "--json", dvmDef]);
    label(["pv", "create", "--json", "--metadata-size", "2m", dvm2m]);
    label(["label", dvmDisc], "dvm-discover");
    lab.lvm(["pvcreate", "-q", lvmDef], [lvmDef]);
    lab.lvm(["pvcreate", "-q", "--metadatasize", "2m", lvm2m], [lvm2m]);
  });

  test("LVM2's pvs lists them as orphan lvm2 PVs with dvm's uuids, without complaints", () => {
    const devs = [dvmDef, dvm2m, dvmDisc];
    const r = lab.lvmRaw(
      ["pvs", ...JSON_BYTES, "-o", "pv_name,vg_name,pv_fmt,pv_attr,pv_uuid,dev_size"],
      devs,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lvmComplaints(r.stderr), "");
    const got = rows(r.stdout);
    assert.deepEqual(
      got.map((p) => [p.pv_name, p.vg_name, p.pv_fmt, p.pv_attr, p.pv_uuid, p.dev_size]),
      devs
        .map((d) => [d, "", "lvm2", "---", uuids.get(d), String(SIZE_MIB << 20)])
        .sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
    );
  });

  test("pvck passes on each", () => {
    for (const d of [dvmDef, dvm2m, dvmDisc]) {
      const r = lab.pvck(d);
      assert.equal(r.status, 0, `pvck ${d}: ${r.stderr}`);
      assert.equal(lvmComplaints(r.stderr), "", `pvck ${d}`);
    }
  });

  test("pe_start and metadata area equal LVM2's pvcreate (pvs fields, pvck --dump headers, first 8 KiB)", () => {
    for (const [mine, theirs] of [
      [dvmDef, lvmDef],
      [dvmDisc, lvmDef],
      [dvm2m, lvm2m],
    ] as const) {
      assert.deepEqual(layout(lab, mine), layout(lab, theirs), `pvs -o ${LAYOUT}: ${mine} vs ${theirs}`);
      assert.equal(headers(lab, mine), headers(lab, theirs), `pvck --dump headers: ${mine} vs ${theirs}`);
      // Byte for byte, apart from the PV uuid (label sector bytes 32-63) and the label crc (bytes 16-19).
      const [x, y] = [readHead(mine, 8192), readHead(theirs, 8192)];
      for (const b of [x, y]) {
        b.fill(0, 512 + 16, 512 + 20);
        b.fill(0, 512 + 32, 512 + 64);
      }
      assert.ok(x.equals(y), `first 8 KiB of ${mine} and ${theirs} differ`);
    }
    // The values themselves, so a change on both sides cannot pass unnoticed.
    assert.deepEqual(
      [layout(lab, dvmDef)[0]!.pe_start, layout(lab, dvmDef)[0]!.pv_mda_size],
      ["1048576", "1044480"],
    );
    assert.deepEqual(
      [layout(lab, dvm2m)[0]!.pe_start, layout(lab, dvm2m)[0]!.pv_mda_size],
      [String(3 << 20), String((3 << 20) - 4096)],
    );
  });

  describe("fixture VG made by LVM2 on dvm-labelled PVs", () => {
    let vg: string;
    let devs: string[];
    before(() => {
      vg = lab.vg("ondvm");
      devs = [dvmDef, dvm2m, dvmDisc];
      lab.lvm(["vgcreate", "-q", vg, ...devs], devs);
      lab.lvcreate(["-n", "lin", "-L", "20m", vg], devs);
      lab.lvcreate(["-n", "str", "-i", "3", "-I", "64k", "-L", "36m", vg], devs);
      lab.lvcreate(["-n", "rest", "-l", "100%FREE", vg], devs);
      const ck = lab.lvmRaw(["vgck", vg], devs);
      assert.equal(ck.status, 0, ck.stderr);
      assert.equal(lvmComplaints(ck.stderr), "");
    });

    for (const v of REPORT_VARIANTS)
      for (const kind of KINDS)
        test(`dvm report ${kind} (${v.name}) = LVM2`, () => {
          compareReport(lab, kind, devs, v.args(kind), [], (out) => {
            if (v.name === "json -o fields") assert.ok(rows(out).length >= (kind === "vgs" ? 1 : 3));
          });
        });

    test("pipeline lvs = LVM2 and dvm-tm verify exits 0", () => {
      const args = ["lvs", ...JSON_BYTES, "-o", FIELDS.lvs];
      const got = pipeline(vg, devs, args);
      assert.equal(got.status, 0, got.stderr);
      assert.equal(got.stdout, lab.lvm([...args, vg], devs));
      const v = run("dvm-tm", ["verify", vg, "--devices", devs.join(",")]);
      assert.equal(v.status, 0, v.stderr);
    });
  });

  describe("dvm pv remove", () => {
    test("of orphan PVs (one dvm-labelled, one LVM2-labelled): LVM2 no longer sees a PV", () => {
      const mine = lab.attach("rm-dvm", 16);
      const theirs = lab.attach("rm-lvm", 16);
      dvm(["pv", "create", mine]);
      lab.lvm(["pvcreate", "-q", theirs], [theirs]);
      assert.equal(rows(lab.lvm(["pvs", "--reportformat", "json"], [mine, theirs])).length, 2);
      const out = dvm(["pv", "remove", mine, theirs]);
      assert.match(out, /successfully wiped/);
      assert.deepEqual(rows(lab.lvm(["pvs", "--reportformat", "json"], [mine, theirs])), []);
      for (const d of [mine, theirs]) {
        const r = lab.lvmRaw(["pvs", d], [d]);
        assert.notEqual(r.status, 0, `lvm pvs ${d} should fail: ${r.stdout}`);
        assert.match(r.stderr, /Failed to find physical volume|No device found|not a PV|Cannot use/i);
        assert.ok(
          readHead(d, 2048).every((x) => x === 0),
          `${d}: sectors 0-3 wiped`,
        );
      }
      // LVM2 can label the device again.
      lab.lvm(["pvcreate", "-q", mine], [mine]);
    });

    test("of PVs in a VG is refused with exit 5, nothing changes, LVM2 still sees the VG", () => {
      const vg = lab.vg("inuse");
      const inVg = lab.attach("inuse-lvm", 16);
      const orphan = lab.attach("inuse-orphan", 16);
      lab.lvm(["pvcreate", "-q", inVg, orphan], [inVg, orphan]);
      lab.lvm(["vgcreate", "-q", vg, inVg], [inVg, orphan]);
      lab.lvcreate(["-n", "x", "-l", "1", vg], [inVg]);
      const vgOnDvm = lab.vg("ondvm");
      const targets = [inVg, dvmDef, orphan];
      const before = targets.map(deviceHash);
      for (const args of [[inVg], [dvmDef], [orphan, inVg]]) {
        const r = run("dvm", ["pv", "remove", ...args]);
        assert.equal(r.status, 5, `dvm pv remove ${args.join(" ")}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /^dvm: error: .*refusing/m);
        // Relabelling is refused the same way.
        const c = run("dvm", ["pv", "create", ...args]);
        assert.equal(c.status, 5, `dvm pv create ${args.join(" ")}: ${c.stdout}${c.stderr}`);
      }
      assert.deepEqual(targets.map(deviceHash), before, "devices unchanged");
      const r = lab.lvmRaw(
        ["vgs", "--noheadings", "-o", "vg_name", vg, vgOnDvm],
        [inVg, dvmDef, dvm2m, dvmDisc],
      );
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        r.stdout
          .split("\n")
          .map((s) => s.trim())
          .filter(Boolean),
        [vg, vgOnDvm].sort(),
      );
      assert.equal(rows(lab.lvm(["pvs", "--reportformat", "json"], [orphan])).length, 1);
    });
  });
});
