import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { VgDoc } from "../../src/lib/docs.js";
import { checkDoc } from "../../src/lib/schema.js";
import { vgProblems } from "../../src/lvm2/validate.js";
import { run } from "../helpers.ts";
import { idGen, makeVg, segs } from "./helpers.ts";

/** dvm-manip as a process (dist/dvm-manip.cjs): arguments, stdin/stdout, messages, exit codes. */

const manip = (args: string[], doc?: VgDoc | string) =>
  run("dvm-manip", args, doc === undefined ? "" : typeof doc === "string" ? doc : JSON.stringify(doc));

function ok(args: string[], doc?: VgDoc) {
  const r = manip(args, doc);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as VgDoc;
  checkDoc("vg", out, "dvm-manip output");
  assert.deepEqual(vgProblems(out.vg), []);
  if (doc) assert.equal(out.vg.seqno, doc.vg.seqno + 1);
  return { doc: out, stderr: r.stderr };
}

function fails(args: string[], doc: VgDoc | string | undefined, code: number, re?: RegExp) {
  const r = manip(args, doc);
  assert.equal(r.status, code, `${args.join(" ")}: ${r.stderr}`);
  assert.equal(r.stdout, "", "nothing on stdout");
  assert.match(r.stderr, /^dvm-manip: error: /m);
  if (re) assert.match(r.stderr, re);
}

describe("dvm-manip command line", () => {
  test("--help, no arguments, unknown operation or option", () => {
    const h = manip(["--help"]);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /^Usage: dvm-manip OP/);
    for (const op of [
      "vg-create",
      "vg-extend",
      "vg-reduce",
      "vg-rename",
      "lv-create",
      "lv-extend",
      "lv-reduce",
    ])
      assert.match(h.stdout, new RegExp(`\\b${op}\\b`));
    assert.equal(manip([]).status, 1);
    fails(["frobnicate"], makeVg([4]), 1);
    fails(["lv-create", "x", "--size", "4m", "--bogus"], makeVg([4]), 1);
    fails(["lv-create", "x", "--size", "4m"], undefined, 1, /stdin/);
    fails(["lv-create", "x"], makeVg([4]), 1, /--size/);
  });

  test("vg-create: no stdin, a new VG with seqno 1", () => {
    const uuid = idGen("C")();
    const { doc } = ok([
      "vg-create",
      "vgnew",
      "--extent-size",
      "1m",
      "--pv",
      `/dev/sdx:${uuid}:2048:204800`,
      "--time",
      "1700000000",
      "--host",
      "box",
    ]);
    assert.equal(doc.vg.seqno, 1);
    assert.equal(doc.vg.extent_size, 2048);
    assert.deepEqual(
      doc.vg.physical_volumes.map((p) => [p.name, p.device, p.pe_count]),
      [["pv0", "/dev/sdx", 99]],
    );
    fails(
      ["vg-create", "vgnew", "--extent-size", "3k", "--pv", `/dev/sdx:${uuid}:2048:204800`],
      undefined,
      2,
    );
    fails(["vg-create", "bad/name", "--pv", `/dev/sdx:${uuid}:2048:204800`], undefined, 2);
    fails(["vg-create", "vgnew", "--pv", "/dev/sdx"], undefined, 2);
  });

  test("lv-create, lv-extend, lv-reduce: messages on stderr, the document on stdout", () => {
    const doc = makeVg([15, 23, 31]);
    const c = ok(
      ["lv-create", "vg0/st", "--size", "10m", "--stripes", "2", "--time", "5", "--host", "h"],
      doc,
    );
    assert.equal(
      c.stderr,
      "  Using default stripesize 64.00 KiB.\n  Rounding up size to full physical extent 12.00 MiB\n" +
        "  Rounding size 12.00 MiB (3 extents) up to stripe boundary size 16.00 MiB (4 extents).\n",
    );
    assert.deepEqual(segs(c.doc, "st"), [[0, 4, 2, "pv0", 0, "pv1", 0]]);
    const lv = c.doc.vg.logical_volumes![0]!;
    assert.deepEqual([lv.creation_time, lv.creation_host], [5, "h"]);
    const e = ok(["lv-extend", "st", "--size", "+8m", "--on", "/dev/fake2", "--on", "/dev/fake1:10-"], c.doc);
    assert.deepEqual(segs(e.doc, "st"), [
      [0, 4, 2, "pv0", 0, "pv1", 0],
      [4, 2, 2, "pv2", 0, "pv1", 10],
    ]);
    const r = ok(["lv-reduce", "st", "--size", "-8m"], e.doc);
    assert.deepEqual(segs(r.doc, "st"), [[0, 4, 2, "pv0", 0, "pv1", 0]]);
    const r2 = ok(["lv-reduce", "st", "--size=-8m"], e.doc);
    assert.deepEqual(r2.doc, r.doc);
    fails(["lv-extend", "st", "--size", "-8m"], e.doc, 2);
    fails(["lv-reduce", "st", "--size", "+8m"], e.doc, 2);
    fails(["lv-extend", "st", "--size", "+1t"], e.doc, 6);
    fails(["lv-create", "x", "--size", "1t"], e.doc, 6, /insufficient free space/);
    fails(["lv-create", "st", "--size", "1m"], e.doc, 5, /already exists/);
    fails(["lv-create", "x", "--size", "1q"], e.doc, 2);
    fails(["lv-create", "x", "--size", "4m", "--stripes", "two"], e.doc, 2);
    fails(["lv-extend", "nope", "--size", "+4m"], e.doc, 3);
    fails(["lv-create", "other/x", "--size", "4m"], e.doc, 3);
    fails(["lv-create", "x", "--size", "4m", "--on", "/dev/none"], e.doc, 3);
  });

  test("lv-remove, lv-rename, vg-rename, vg-extend, vg-reduce", () => {
    let doc = makeVg([10, 10]);
    doc = ok(["lv-create", "a", "--size", "8m"], doc).doc;
    const rn = ok(["lv-rename", "a", "b"], doc).doc;
    assert.deepEqual(
      rn.vg.logical_volumes!.map((l) => l.name),
      ["b"],
    );
    fails(["lv-rename", "a"], doc, 1);
    const rm = ok(["lv-remove", "vg0/a"], doc).doc;
    assert.equal(rm.vg.logical_volumes, undefined);
    assert.equal(ok(["vg-rename", "vg9"], doc).doc.vg.name, "vg9");
    const ext = ok(["vg-extend", "--pv", `/dev/new:${idGen("N")()}:2048:100000`], doc).doc;
    assert.equal(ext.vg.physical_volumes.length, 3);
    const red = ok(["vg-reduce", "/dev/new"], ext).doc;
    assert.equal(red.vg.physical_volumes.length, 2);
    fails(["vg-reduce", "/dev/fake0"], doc, 5, /in use/);
    fails(["vg-reduce", "/dev/none"], doc, 3);
  });

  test("bad input documents: exit 2", () => {
    fails(["lv-remove", "a"], "{", 2);
    fails(["lv-remove", "a"], '{"kind":"vg","version":1}', 2);
    fails(["lv-remove", "a"], '{"kind":"devices","version":1,"devices":[],"vgs":[]}', 2);
  });
});
