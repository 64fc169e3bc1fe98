import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { checkDoc } from "../../src/lib/schema.js";
import { vgProblems } from "../../src/lvm2/validate.js";
import { printVgText } from "../../src/lvm2/vg.js";
import { lvCreate, parseNewPv, vgCreate, vgExtend, vgReduce, vgRename } from "../../src/manip/index.js";
import { expectFail, expectOk, idGen, makeVg, segs } from "./helpers.ts";

const UUID = (n: number) => idGen(`U${n}`)();

describe("vg-create", () => {
  test("a new VG: seqno 1, LVM2's keys in LVM2's order, pe_count from the device size", () => {
    const r = vgCreate({
      name: "vg0",
      pvs: [
        { path: "/dev/sdb", uuid: UUID(1), peStart: 2048, devSize: 131072 },
        { path: "/dev/sdc", uuid: UUID(2), peStart: 2048, devSize: 200000 },
      ],
      newId: () => "abcdef-0123-4567-89ab-cdef-0123-456789",
      time: 1700000000,
      host: "h",
    });
    const vg = r.doc.vg;
    checkDoc("vg", r.doc, "test");
    assert.deepEqual(vgProblems(vg), []);
    assert.deepEqual(Object.keys(vg), [
      "name",
      "id",
      "seqno",
      "format",
      "status",
      "flags",
      "extent_size",
      "max_lv",
      "max_pv",
      "metadata_copies",
      "physical_volumes",
    ]);
    assert.equal(vg.seqno, 1);
    assert.equal(vg.extent_size, 8192);
    assert.deepEqual(vg.status, ["RESIZEABLE", "READ", "WRITE"]);
    assert.deepEqual(
      vg.physical_volumes.map((p) => Object.keys(p)),
      [0, 1].map(() => ["name", "id", "device", "status", "flags", "dev_size", "pe_start", "pe_count"]),
    );
    assert.deepEqual(
      vg.physical_volumes.map((p) => [p.name, p.device, p.pe_count]),
      [
        ["pv0", "/dev/sdb", 15],
        ["pv1", "/dev/sdc", 24],
      ],
    );
    assert.equal(vg.logical_volumes, undefined, "no logical_volumes section, as LVM2 writes it");
    const text = printVgText(r.doc);
    assert.match(
      text,
      /^vg0 \{\nid = "abcdef-0123-4567-89ab-cdef-0123-456789"\nseqno = 1\nformat = "lvm2"\nstatus = \["RESIZEABLE", "READ", "WRITE"\]\nflags = \[\]\nextent_size = 8192\nmax_lv = 0\nmax_pv = 0\nmetadata_copies = 0\n\nphysical_volumes \{\n\npv0 \{\nid = "/,
    );
  });

  test("extent sizes: powers of 2 from 1 KiB, or multiples of 128 KiB", () => {
    const mk = (extentSize: number) => () =>
      vgCreate({
        name: "vg0",
        extentSize,
        pvs: [{ path: "/dev/a", uuid: UUID(1), peStart: 2048, devSize: 1 << 22 }],
        newId: idGen(),
        time: 0,
        host: "h",
      });
    for (const ok of [2, 4, 2048, 8192, 768, 256 * 3, 1 << 25]) assert.equal(mk(ok)().doc.vg.extent_size, ok);
    for (const bad of [1, 0, 6, 200, 2000, 8192 + 2])
      assert.throws(mk(bad), (e: { exitCode: number }) => e.exitCode === 2, `extent size ${bad}`);
  });

  test("invalid VG names and PV arguments: exit 2", () => {
    const base = {
      pvs: [{ path: "/dev/a", uuid: UUID(1), peStart: 2048, devSize: 1 << 20 }],
      newId: idGen(),
      time: 0,
      host: "h",
    };
    for (const name of ["", "-vg", "a b", "..", "x".repeat(128), "vg/0"])
      assert.throws(
        () => vgCreate({ ...base, name }),
        (e: { exitCode: number }) => e.exitCode === 2,
      );
    assert.throws(
      () => vgCreate({ ...base, name: "vg", pvs: [] }),
      (e: { exitCode: number }) => e.exitCode === 2,
    );
    assert.throws(
      () => vgCreate({ ...base, name: "vg", pvs: [{ ...base.pvs[0]!, uuid: "nope" }] }),
      (e: { exitCode: number }) => e.exitCode === 2,
    );
    assert.throws(
      () => vgCreate({ ...base, name: "vg", pvs: [base.pvs[0]!, base.pvs[0]!] }),
      (e: { exitCode: number }) => e.exitCode === 2,
    );
  });

  test("parseNewPv: PATH:UUID:PE_START:DEV_SIZE, paths may hold colons", () => {
    assert.deepEqual(parseNewPv("/dev/sdb:abc:2048:131072"), {
      path: "/dev/sdb",
      uuid: "abc",
      peStart: 2048,
      devSize: 131072,
    });
    assert.equal(
      parseNewPv("/dev/disk/by-path/pci-0000:00:1f.2-ata-1:u:1:2").path,
      "/dev/disk/by-path/pci-0000:00:1f.2-ata-1",
    );
    for (const bad of ["/dev/sdb", "/dev/sdb:u:x:1", ":u:1:2", "/dev/a:u:1:-2"])
      assert.throws(
        () => parseNewPv(bad),
        (e: { exitCode: number }) => e.exitCode === 2,
      );
  });
});

describe("vg-extend, vg-reduce, vg-rename", () => {
  test("vg-extend appends PVs named by position; a PV already in the VG is a conflict (5)", () => {
    const doc = makeVg([10]);
    const r = expectOk(doc, (d) =>
      vgExtend(d, { pvs: [{ path: "/dev/new", uuid: UUID(9), peStart: 2048, devSize: 2048 + 5 * 8192 }] }),
    );
    assert.deepEqual(
      r.doc.vg.physical_volumes.map((p) => [p.name, p.device, p.pe_count]),
      [
        ["pv0", "/dev/fake0", 10],
        ["pv1", "/dev/new", 5],
      ],
    );
    const same = doc.vg.physical_volumes[0]!;
    expectFail(doc, 5, (d) =>
      vgExtend(d, { pvs: [{ path: "/dev/other", uuid: String(same.id), peStart: 2048, devSize: 1 << 20 }] }),
    );
    expectFail(doc, 5, (d) =>
      vgExtend(d, { pvs: [{ path: "/dev/fake0", uuid: UUID(8), peStart: 2048, devSize: 1 << 20 }] }),
    );
  });

  test("vg-reduce removes empty PVs (by path, pvN or UUID) and renumbers the rest in the LVs' areas", () => {
    let doc = makeVg([10, 10, 10]);
    doc = lvCreate(doc, {
      name: "lv",
      size: 8192 * 3,
      on: ["/dev/fake2"],
      time: 1,
      host: "h",
      newId: idGen(),
    }).doc;
    assert.deepEqual(segs(doc, "lv"), [[0, 3, 1, "pv2", 0]]);
    for (const spec of ["/dev/fake0", "pv0", String(doc.vg.physical_volumes[0]!.id)]) {
      const r = expectOk(doc, (d) => vgReduce(d, { pvs: [spec] }));
      assert.deepEqual(
        r.doc.vg.physical_volumes.map((p) => [p.name, p.device]),
        [
          ["pv0", "/dev/fake1"],
          ["pv1", "/dev/fake2"],
        ],
      );
      assert.deepEqual(segs(r.doc, "lv"), [[0, 3, 1, "pv1", 0]]);
    }
    expectFail(doc, 5, (d) => vgReduce(d, { pvs: ["/dev/fake2"] }), /in use/);
    expectFail(doc, 3, (d) => vgReduce(d, { pvs: ["/dev/nope"] }));
    expectFail(doc, 5, (d) => vgReduce(d, { pvs: ["pv0", "pv1", "pv2"] }));
  });

  test("vg-rename checks the name", () => {
    const doc = makeVg([4]);
    assert.equal(expectOk(doc, (d) => vgRename(d, { name: "other" })).doc.vg.name, "other");
    expectFail(doc, 2, (d) => vgRename(d, { name: "bad name" }));
    expectFail(doc, 2, (d) => vgRename(d, { name: "vg0" }));
  });

  test("property: vg-extend then vg-reduce of the new PVs gives the VG back (but the seqno)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 4 }),
        (have, add) => {
          const doc = makeVg(have);
          const ext = expectOk(doc, (d) =>
            vgExtend(d, {
              pvs: add.map((n, i) => ({
                path: `/dev/add${i}`,
                uuid: UUID(100 + i),
                peStart: 2048,
                devSize: 2048 + n * 8192 + 17,
              })),
            }),
          );
          assert.deepEqual(
            ext.doc.vg.physical_volumes.map((p) => p.pe_count),
            [...have, ...add],
          );
          const red = expectOk(ext.doc, (d) => vgReduce(d, { pvs: add.map((_, i) => `/dev/add${i}`) }));
          assert.deepEqual({ ...red.doc.vg, seqno: 0 }, { ...doc.vg, seqno: 0 });
        },
      ),
    );
  });
});
