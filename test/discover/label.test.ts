import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { labelDevices, pvLayout, wipeLabels, writeLabel } from "../../src/discover/label.ts";
import { memoryDevice } from "../../src/lib/blockdev.ts";
import { compileFilter } from "../../src/lib/config.ts";
import type { DvmError } from "../../src/lib/errors.ts";
import { bytes } from "../../src/lib/units.ts";
import { readPv, TextCache } from "../../src/lvm2/disk.ts";

const MiB = 1024 * 1024;

describe("pvLayout (LVM2's pvcreate defaults)", () => {
  test("default: metadata area 4096..1 MiB, pe_start 2048 sectors", () => {
    assert.deepEqual(pvLayout(bytes(64 * MiB)), { mdaStart: 4096, mdaSize: 1044480, peStart: 2048 });
  });
  test("--metadata-size is a minimum, grown to the 1 MiB alignment", () => {
    assert.equal(pvLayout(bytes(64 * MiB), bytes(64 * 1024)).mdaSize, 1044480);
    assert.equal(pvLayout(bytes(64 * MiB), bytes(2 * MiB)).peStart, 3 * 2048);
  });
  test("property: the data area starts aligned right after the metadata area", () => {
    fc.assert(
      fc.property(fc.integer({ min: 32 * 1024, max: 512 * MiB }), (req) => {
        const l = pvLayout(bytes(8192 * MiB), bytes(req));
        assert.equal((l.mdaStart + l.mdaSize) % MiB, 0);
        assert.ok(l.mdaSize >= req);
        assert.ok(l.mdaSize - req < MiB + 512);
        assert.equal(l.peStart * 512, l.mdaStart + l.mdaSize);
      }),
    );
  });
  test("refusals", () => {
    assert.throws(
      () => pvLayout(bytes(MiB)),
      (e: DvmError) => e.exitCode === 2,
    );
    assert.throws(
      () => pvLayout(bytes(64 * MiB), bytes(4096)),
      (e: DvmError) => e.exitCode === 2,
    );
    assert.throws(() => pvLayout(bytes(2 * MiB), bytes(2 * MiB)), /leaves no room/);
  });
});

describe("writeLabel / wipeLabels on a memory device", () => {
  test("label reads back as an orphan PV with an empty metadata area", () => {
    const dev = memoryDevice("mem", new Uint8Array(4 * MiB).fill(0xaa));
    const out = writeLabel(dev, pvLayout(dev.size));
    const r = readPv(dev, new TextCache());
    assert.equal(r.label?.pvUuid, out.pv_uuid);
    assert.equal(r.label?.deviceSize, 4 * MiB);
    assert.equal(r.mdas[0]?.state, "empty");
    // pvcreate zeroes sectors 0-3 and the first 4 KiB of the area, nothing more.
    const head = dev.read(bytes(0), 8192);
    assert.ok(head.subarray(0, 512).every((x) => x === 0));
    assert.ok(head.subarray(1024, 2048).every((x) => x === 0));
    assert.ok(head.subarray(2048, 4096).every((x) => x === 0xaa));
    assert.equal(wipeLabels(dev), 1);
    assert.equal(readPv(dev, new TextCache()).label, null);
  });
  test("labelDevices on a missing path is exit 3", () => {
    assert.throws(
      () => labelDevices(["/nonexistent/dvm-x"], {}),
      (e: DvmError) => e.exitCode === 3,
    );
  });
});

describe("device filters", () => {
  test("first match decides, unmatched accepted", () => {
    const f = compileFilter(["a|^/dev/loop1$|", "r|^/dev/loop|"]);
    assert.equal(f("/dev/loop1"), true);
    assert.equal(f("/dev/loop2"), false);
    assert.equal(f("/dev/sda"), true);
  });
  test("malformed patterns are exit 2", () => {
    for (const p of ["x|a|", "a|", "a|(|", "a"])
      assert.throws(
        () => compileFilter([p]),
        (e: DvmError) => e.exitCode === 2,
        p,
      );
  });
});
