import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { openDevice } from "../../src/lib/blockdev.ts";
import { commit } from "../../src/lvm2/commit.ts";
import { readPv, TextCache } from "../../src/lvm2/disk.ts";
import { printVgText } from "../../src/lvm2/vg.ts";
import { ROOT, run, scratch } from "../helpers.ts";
import { makeVg } from "./images.ts";

/** Commit a newer seqno of the VG to one image only, leaving the others stale. */
function commitNewerTo(path: string) {
  const io = openDevice(path, { write: true });
  try {
    const r = readPv(io, new TextCache());
    const m = r.mdas[0]!;
    const vg = { ...m.vg!, vg: { ...m.vg!.vg, seqno: m.vg!.vg.seqno + 1, tags: ["newer"] } };
    commit([{ io, header: m.header! }], printVgText(vg));
  } finally {
    io.close();
  }
}

/** Flip a byte of the committed text of the first metadata area. */
function corruptText(path: string) {
  const io = openDevice(path);
  const m = readPv(io, new TextCache()).mdas[0]!;
  io.close();
  const fd = openSync(path, "r+");
  const at = m.start + m.header!.committed.offset + 10;
  const b = readFileSync(path).subarray(at, at + 1);
  writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, at);
  closeSync(fd);
}

describe("dvm-tm read and verify on image files", () => {
  let s: ReturnType<typeof scratch>;
  before(() => {
    s = scratch();
  });
  after(() => s.cleanup());

  test("the seed's pipeline: find | read gives the VG", () => {
    const { paths, vg } = makeVg(s.dir, "tm1", [32, 32], [{ name: "lv0", extents: [[0, 0, 2]] }]);
    const find = run("dvm-discover", ["find", "tm1", "--devices", paths.join(",")]);
    assert.equal(find.status, 0, find.stderr);
    const devices = JSON.parse(find.stdout);
    assert.equal(devices.vgs[0].name, "tm1");
    assert.deepEqual(devices.vgs[0].missing_pv_uuids, []);
    const read = run("dvm-tm", ["read", "tm1"], find.stdout);
    assert.equal(read.status, 0, read.stderr);
    const doc = JSON.parse(read.stdout);
    assert.equal(doc.kind, "vg");
    assert.equal(doc.vg.id, vg.id);
    assert.equal(doc.vg.seqno, 1);
    assert.equal(doc.vg.logical_volumes[0].name, "lv0");
    assert.deepEqual(
      doc.pv_devices.map((d: { path: string }) => d.path),
      paths,
    );
    assert.equal(read.stderr, "");
  });

  test("stale copies are named and the newest wins", () => {
    const { paths } = makeVg(s.dir, "tm2", [32, 32, 32], []);
    commitNewerTo(paths[1]!);
    const r = run("dvm-tm", ["verify", "tm2", "--devices", paths.join(",")]);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.vg.seqno, 2);
    assert.deepEqual(doc.vg.tags, ["newer"]);
    assert.match(
      r.stderr,
      new RegExp(`${paths[0]}: metadata area at 4096 holds stale seqno 1 \\(current 2\\)`),
    );
    assert.match(r.stderr, new RegExp(`${paths[2]}: metadata area at 4096 holds stale seqno 1`));
    assert.match(r.stderr, /1 current, 2 stale, 0 bad/);
  });

  test("the next update repairs stale copies", () => {
    const { paths } = makeVg(s.dir, "tm8", [32, 32], []);
    commitNewerTo(paths[0]!);
    const devs = paths.join(",");
    const edit = join(ROOT, "test/tm/mutators/edit.mjs");
    const up = run("dvm-tm", [
      "update",
      "tm8",
      "--devices",
      devs,
      "--lock-dir",
      `${s.dir}/lock`,
      "--",
      "node",
      edit,
      "tag",
      "fixed",
    ]);
    assert.equal(up.status, 0, up.stderr);
    const v = run("dvm-tm", ["verify", "tm8", "--devices", devs]);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(JSON.parse(v.stdout).vg.seqno, 3);
    assert.match(v.stderr, /2 current, 0 stale, 0 bad/);
  });

  test("a corrupt copy is reported and skipped; none valid is exit 7", () => {
    const { paths } = makeVg(s.dir, "tm3", [32, 32], []);
    corruptText(paths[0]!);
    const r = run("dvm-tm", ["read", "tm3", "--devices", paths.join(",")]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /is bad: metadata text checksum mismatch/);
    corruptText(paths[1]!);
    // With every copy bad, discovery no longer knows the VG at all.
    const gone = run("dvm-discover", ["find", "tm3", "--devices", paths.join(",")]);
    assert.equal(gone.status, 3);
  });

  test("no valid copy among the devices a document names is exit 7", () => {
    const { paths } = makeVg(s.dir, "tm4", [32], []);
    const find = run("dvm-discover", ["find", "tm4", "--devices", paths[0]!]);
    assert.equal(find.status, 0);
    corruptText(paths[0]!);
    const r = run("dvm-tm", ["read", "tm4"], find.stdout);
    assert.equal(r.status, 7);
    assert.match(r.stderr, /^dvm-tm: error: volume group "tm4": no valid metadata copy/m);
  });

  test("missing PVs: exit 4, or the partial VG with --partial", () => {
    const { paths, uuids } = makeVg(s.dir, "tm5", [32, 32], [{ name: "lv0", extents: [[1, 0, 1]] }]);
    const r = run("dvm-tm", ["read", "tm5", "--devices", paths[0]!]);
    assert.equal(r.status, 4);
    assert.match(r.stderr, new RegExp(`missing 1 PV\\(s\\): ${uuids[1]}`));
    assert.equal(r.stdout, "");
    const p = run("dvm-tm", ["read", "tm5", "--partial", "--devices", paths[0]!]);
    assert.equal(p.status, 0, p.stderr);
    assert.equal(JSON.parse(p.stdout).pv_devices.length, 1);
    const find = run("dvm-discover", ["find", "tm5", "--devices", paths[0]!]);
    assert.deepEqual(JSON.parse(find.stdout).vgs[0].missing_pv_uuids, [uuids[1]]);
    assert.match(find.stderr, /not found/);
  });

  test("unknown VG is exit 3; malformed stdin is exit 2 naming the field", () => {
    const { paths } = makeVg(s.dir, "tm6", [32], []);
    assert.equal(run("dvm-tm", ["read", "nosuchvg", "--devices", paths[0]!]).status, 3);
    const bad = run(
      "dvm-tm",
      ["read", "tm6"],
      '{"kind":"devices","version":1,"devices":[{"path":"/x","size_bytes":"big"}],"vgs":[]}',
    );
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /field \/devices\/0\/size_bytes: .*"big"/);
    const notJson = run("dvm-tm", ["read", "tm6"], "{nope");
    assert.equal(notJson.status, 2);
    const wrongKind = run("dvm-tm", ["read", "tm6"], '{"kind":"vg"}');
    assert.equal(wrongKind.status, 2);
  });

  test("restore refuses invalid metadata and changes nothing", () => {
    const { paths } = makeVg(s.dir, "tm7", [32], []);
    const before = readFileSync(paths[0]!);
    const doc = JSON.parse(run("dvm-tm", ["read", "tm7", "--devices", paths[0]!]).stdout);
    doc.vg.logical_volumes = [
      {
        name: "bad name!",
        id: doc.vg.id,
        status: ["READ"],
        segment_count: 1,
        segments: [
          { start_extent: 0, extent_count: 1, type: "striped", stripe_count: 1, stripes: ["pv0", 0] },
        ],
      },
    ];
    const r = run("dvm-tm", ["restore", "tm7", "--devices", paths[0]!], JSON.stringify(doc));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /LV bad name!: name may contain only/);
    assert.deepEqual(readFileSync(paths[0]!), before);
  });
});
