import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { image, run, scratch } from "../helpers.ts";

describe("dvm-discover on image files", () => {
  let s: ReturnType<typeof scratch>;
  let a: string;
  let b: string;
  before(() => {
    s = scratch();
    a = image(s.dir, "a.img", 64);
    b = image(s.dir, "b.img", 16);
  });
  after(() => s.cleanup());

  test("scan of unlabelled images finds no PV", () => {
    const r = run("dvm-discover", ["scan", "--devices", `${a},${b}`]);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.kind, "devices");
    assert.equal(doc.devices.length, 2);
    assert.equal(doc.devices[0].pv, undefined);
    assert.equal(doc.devices[0].size_bytes, 64 << 20);
  });

  test("label writes LVM2's default layout, scan reads it back", () => {
    const r = run("dvm-discover", ["label", a]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout).labelled[0];
    assert.equal(out.pe_start_sectors, 2048);
    assert.equal(out.mda_start_bytes, 4096);
    assert.equal(out.mda_size_bytes, 1044480);
    const bytes = readFileSync(a);
    assert.equal(bytes.toString("latin1", 512, 520), "LABELONE");
    assert.equal(bytes.toString("latin1", 4100, 4116), " LVM2 x[5A%r0N*>");
    const doc = JSON.parse(run("dvm-discover", ["scan", "--devices", a]).stdout);
    const pv = doc.devices[0].pv;
    assert.equal(pv.uuid, out.pv_uuid);
    assert.equal(pv.label_sector, 1);
    assert.deepEqual(pv.data_areas, [{ offset_bytes: 1 << 20, size_bytes: 0 }]);
    assert.deepEqual(pv.metadata_areas, [{ offset_bytes: 4096, size_bytes: 1044480 }]);
    assert.equal(pv.ext_version, 2);
    assert.equal(pv.ext_flags, 0);
    assert.equal(pv.mdas[0].state, "empty");
    assert.deepEqual(doc.vgs, []);
  });

  test("--metadata-size grows the area to the 1 MiB data alignment", () => {
    const r = run("dvm-discover", ["label", b, "--metadata-size", "2m"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout).labelled[0];
    assert.equal(out.mda_size_bytes, 3 * 1024 * 1024 - 4096);
    assert.equal(out.pe_start_sectors, 3 * 2048);
  });

  test("a too small metadata size and a device too small are refused, nothing written", () => {
    const c = image(s.dir, "c.img", 1);
    const r = run("dvm-discover", ["label", c]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /smaller than the 2 MiB minimum/);
    assert.ok(readFileSync(c).every((x) => x === 0));
    const r2 = run("dvm-discover", ["label", a, "--metadata-size", "8k"]);
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /below the 32768-byte minimum/);
  });

  test("--dry-run plans but writes nothing", () => {
    const d = image(s.dir, "d.img", 8);
    const r = run("dvm-discover", ["label", d, "--dry-run"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).dry_run, true);
    assert.ok(readFileSync(d).every((x) => x === 0));
  });

  test("unlabel wipes the label and keeps the metadata area", () => {
    const d = image(s.dir, "e.img", 8);
    assert.equal(run("dvm-discover", ["label", d]).status, 0);
    const r = run("dvm-discover", ["unlabel", d]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).unlabelled[0].wiped, 1);
    const bytes = readFileSync(d);
    assert.ok(bytes.subarray(0, 2048).every((x) => x === 0));
    assert.equal(bytes.toString("latin1", 4100, 4116), " LVM2 x[5A%r0N*>");
    const again = run("dvm-discover", ["unlabel", d]);
    assert.equal(again.status, 3);
    assert.match(again.stderr, /not a PV/);
  });

  test("a missing device is exit 3", () => {
    const r = run("dvm-discover", ["scan", "--devices", `${s.dir}/nope.img`]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /^dvm-discover: error: .*nope\.img: no such device/);
  });

  test("config filters reject devices", () => {
    const cfg = `${s.dir}/cfg.json`;
    writeFileSync(cfg, JSON.stringify({ devices: { filter: ["r|b\\.img$|"] } }));
    const r = run("dvm-discover", ["scan", "--devices", `${a},${b}`, "-c", cfg]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).devices.map((d: { path: string }) => d.path),
      [a],
    );
    writeFileSync(cfg, JSON.stringify({ devices: { filter: ["x|oops"] } }));
    const bad = run("dvm-discover", ["scan", "--devices", a, "-c", cfg]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /filter "x\|oops"/);
  });
});
