import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DvmError, Exit } from "../../src/lib/errors.js";
import { checkUnits, formatSize, printfFixed } from "../../src/report/units.js";

// Values checked against LVM2 2.03.16 (lvs --units ... on LVs of these sizes).
test("human units pick the largest unit and mark rounding up with <", () => {
  const k = 2; // sectors per KiB
  assert.equal(formatSize(1 * k), "1.00k");
  assert.equal(formatSize(1023 * k), "1023.00k");
  assert.equal(formatSize(1025 * k), "1.00m");
  assert.equal(formatSize(10235 * k), "<10.00m");
  assert.equal(formatSize(10235 * k, "h"), "10.00m");
  assert.equal(formatSize(1153 * k), "<1.13m");
  assert.equal(formatSize(1153 * k, "h"), "1.13m");
  assert.equal(formatSize(1151 * k), "1.12m");
});

test("ties round to even, as C's printf does, and only odd ties get <", () => {
  assert.equal(formatSize(1152 * 2), "1.12m"); // 1.125 MiB
  assert.equal(formatSize(1408 * 2), "<1.38m"); // 1.375 MiB
  assert.equal(formatSize(1664 * 2), "1.62m"); // 1.625 MiB
  assert.equal(printfFixed(0.125, 2), "0.12");
  assert.equal(printfFixed(0.375, 2), "0.38");
  assert.equal(printfFixed(2.5, 0), "2");
  // The double nearest 1.015 lies below it: printf shows 1.01, not 1.02.
  assert.equal(printfFixed(1.015, 2), "1.01");
});

test("fixed units, SI units, bytes and sectors", () => {
  const s = 8192; // 4 MiB
  assert.equal(formatSize(s, "b"), "4194304B");
  assert.equal(formatSize(s, "B"), "4194304B");
  assert.equal(formatSize(s, "s"), "8192S");
  assert.equal(formatSize(s, "k"), "4096.00k");
  assert.equal(formatSize(s, "K"), "4194.30K");
  assert.equal(formatSize(s, "M"), "4.19M");
  assert.equal(formatSize(s, "H"), "4.19M");
  assert.equal(formatSize(s, "g"), "0.00g");
  assert.equal(formatSize(s, "m", false), "4.00");
  assert.equal(formatSize(s, "b", false), "4194304");
  // Human units keep their letter even with --nosuffix.
  assert.equal(formatSize(s, "r", false), "4.00m");
});

test("zero: the unit letter, a space for human units, nothing with --nosuffix", () => {
  assert.equal(formatSize(0), "0 ");
  assert.equal(formatSize(0, "h"), "0 ");
  assert.equal(formatSize(0, "m"), "0m");
  assert.equal(formatSize(0, "K"), "0K");
  assert.equal(formatSize(0, "b"), "0B");
  assert.equal(formatSize(0, "s"), "0S");
  assert.equal(formatSize(0, "r", false), "0");
  assert.equal(formatSize(0, "k", false), "0");
});

test("unknown units are rejected", () => {
  assert.throws(
    () => checkUnits("x"),
    (e: unknown) => e instanceof DvmError && e.exitCode === Exit.invalid,
  );
  assert.equal(checkUnits("R"), "R");
});

const UNITS = ["k", "m", "g", "t"] as const;

test("a fixed unit shows the size to the nearest hundredth", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.constantFrom(...UNITS), (sectors, u) => {
      const unit = 1024 ** (UNITS.indexOf(u) + 1);
      const exact = (sectors * 512) / unit;
      const shown = Number(formatSize(sectors, u, false));
      assert.ok(Math.abs(shown - exact) <= 0.005 + 1e-9, `${sectors} ${u}: ${shown} vs ${exact}`);
    }),
  );
});

test("r is h plus '<' exactly when h shows more than the size", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 44 }), (sectors) => {
      const h = formatSize(sectors, "h");
      const r = formatSize(sectors, "r");
      const letter = h.slice(-1);
      const unit = 1024 ** ("kmgtpe".indexOf(letter) + 1);
      const up = Number(h.slice(0, -1)) * unit > sectors * 512;
      assert.equal(r, up ? `<${h}` : h);
    }),
  );
});
