import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseMirrorStatus, parseSnapshotStatus, parseStatusLines } from "../../src/dm/status.js";
import { DvmError } from "../../src/lib/errors.js";

describe("status lines", () => {
  test("one line per target; 'No devices found' and blanks are no lines", () => {
    const text = "0 8192 linear \n8192 4096 mirror 2 7:0 7:1 3/4 1 AA 1 core\n";
    assert.deepEqual(parseStatusLines(text), [
      { start_sectors: 0, length_sectors: 8192, type: "linear", params: "" },
      { start_sectors: 8192, length_sectors: 4096, type: "mirror", params: "2 7:0 7:1 3/4 1 AA 1 core" },
    ]);
    assert.deepEqual(parseStatusLines("\n"), []);
  });

  test("a line that is not START LENGTH TYPE is refused, naming it", () => {
    assert.throws(
      () => parseStatusLines("garbage here"),
      (e: unknown) => e instanceof DvmError && /garbage/.test(e.message),
    );
  });

  test("mirror: legs, regions in sync of all, health", () => {
    assert.deepEqual(parseMirrorStatus("2 254:16 254:32 3/4 1 AA 1 core"), {
      legs: ["254:16", "254:32"],
      in_sync_regions: 3,
      total_regions: 4,
      health: "AA",
    });
    assert.deepEqual(parseMirrorStatus("3 8:0 8:16 8:32 10/10 1 AAD 3 disk 8:48 A").health, "AAD");
  });

  test("mirror: malformed statuses are refused", () => {
    for (const bad of ["", "x", "2 8:0 8:16", "2 8:0 8:16 5 1 AA", "2 8:0 8:16 5/4 1 AA 1 core", "0 1/1 1 A"])
      assert.throws(() => parseMirrorStatus(bad), DvmError, bad);
  });

  test("mirror: what the sim and kernel print parses back to the same numbers", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), fc.nat(1000), fc.nat(1000), (n, a, b) => {
        const [inSync, total] = [Math.min(a, b), Math.max(a, b)];
        const legs = Array.from({ length: n }, (_, i) => `7:${i}`);
        const m = parseMirrorStatus(`${n} ${legs.join(" ")} ${inSync}/${total} 1 ${"A".repeat(n)} 1 core`);
        assert.deepEqual([m.legs, m.in_sync_regions, m.total_regions], [legs, inSync, total]);
      }),
    );
  });

  test("snapshot(-merge): allocated/total and metadata, as the 6.1 kernel printed them mid-merge", () => {
    const [line] = parseStatusLines("0 16384 snapshot-merge 16/8192 16\n");
    assert.equal(line!.type, "snapshot-merge");
    assert.deepEqual(parseSnapshotStatus(line!.params), {
      state: "usage",
      allocated_sectors: 16,
      total_sectors: 8192,
      metadata_sectors: 16,
    });
    // Kernels before target 1.8 print no metadata count.
    assert.deepEqual(parseSnapshotStatus("4128/8192"), {
      state: "usage",
      allocated_sectors: 4128,
      total_sectors: 8192,
      metadata_sectors: null,
    });
  });

  test("snapshot(-merge): the words the kernel prints instead of numbers", () => {
    assert.deepEqual(parseSnapshotStatus("Invalid"), { state: "invalid" });
    assert.deepEqual(parseSnapshotStatus("Merge failed"), { state: "merge_failed" });
    assert.deepEqual(parseSnapshotStatus("Overflow"), { state: "overflow" });
    assert.deepEqual(parseSnapshotStatus("Unknown"), { state: "unknown" });
    // "Merge failed" survives the status line split (a space inside the params).
    assert.deepEqual(parseSnapshotStatus(parseStatusLines("0 8 snapshot-merge Merge failed")[0]!.params), {
      state: "merge_failed",
    });
  });

  test("snapshot(-merge): malformed statuses are refused", () => {
    for (const bad of ["", "x", "16/", "/16", "16 8192", "9/8 1", "1/2 3 4", "invalid", "toString"])
      assert.throws(() => parseSnapshotStatus(bad), DvmError, bad);
  });

  test("snapshot(-merge): any printed usage parses back to its numbers", () => {
    fc.assert(
      fc.property(fc.nat(1 << 30), fc.nat(1 << 30), fc.option(fc.nat(1 << 20)), (a, b, meta) => {
        const [used, total] = [Math.min(a, b), Math.max(a, b)];
        const text = `${used}/${total}${meta === null ? "" : ` ${meta}`}`;
        assert.deepEqual(parseSnapshotStatus(text), {
          state: "usage",
          allocated_sectors: used,
          total_sectors: total,
          metadata_sectors: meta,
        });
      }),
    );
  });
});
