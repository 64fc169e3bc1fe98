import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type DevArea,
  type MirrorLog,
  MODELLED_TYPES,
  parseTable,
  parseTarget,
  printTable,
  printTarget,
  type TargetLine,
} from "../../src/dm/target.js";
import { DvmError } from "../../src/lib/errors.js";

/** Typed target lines: parse(print(x)) = x for every target type, and malformed lines are refused (exit 2). */

const sectors = fc.nat({ max: Number.MAX_SAFE_INTEGER });
/** Device arguments as the kernel echoes them (maj:min) or as tables name them (paths, no spaces). */
const device = fc.oneof(
  fc.tuple(fc.nat({ max: 4095 }), fc.nat({ max: 1048575 })).map(([a, b]) => `${a}:${b}`),
  fc.stringMatching(/^\/dev\/[a-z0-9_.+-]{1,20}(\/[A-Za-z0-9_.+:-]{1,20})?$/),
  fc.stringMatching(/^\/[a-z]{1,8}\/[A-Za-z0-9_.:-]{1,30}\.img$/),
);
const area: fc.Arbitrary<DevArea> = fc.record({ device, offset_sectors: sectors });
const base = { start_sectors: sectors, length_sectors: sectors };

const linear = fc.record({ ...base, type: fc.constant("linear" as const), device, offset_sectors: sectors });
const striped = fc.record({
  ...base,
  type: fc.constant("striped" as const),
  chunk_sectors: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  stripes: fc.array(area, { minLength: 1, maxLength: 8 }),
});
const errorOrZero = fc.record({
  ...base,
  type: fc.constantFrom("error" as const, "zero" as const),
}) as fc.Arbitrary<TargetLine>;
const sync = fc.option(fc.constantFrom("sync" as const, "nosync" as const), { nil: undefined });
const withSync = <T extends object>(log: T, s: "sync" | "nosync" | undefined) =>
  s ? { ...log, sync: s } : log;
const mirrorLog: fc.Arbitrary<MirrorLog> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 1, max: 1 << 30 }), sync)
    .map(([region_sectors, s]) => withSync({ type: "core" as const, region_sectors }, s)),
  fc
    .tuple(device, fc.integer({ min: 1, max: 1 << 30 }), sync)
    .map(([d, region_sectors, s]) => withSync({ type: "disk" as const, device: d, region_sectors }, s)),
);
const mirror = fc.record({
  ...base,
  type: fc.constant("mirror" as const),
  log: mirrorLog,
  legs: fc.array(area, { minLength: 1, maxLength: 4 }),
  features: fc.constantFrom<string[]>([], ["handle_errors"], ["keep_log"], ["handle_errors", "keep_log"]),
});
const modelled = new Set<string>(MODELLED_TYPES);
/** Types dvm does not model keep their parameters as trimmed text. */
const opaque = fc.record({
  ...base,
  type: fc.stringMatching(/^[a-z][a-z0-9_-]{0,15}$/).filter((t) => !modelled.has(t)),
  params: fc.stringMatching(/^[A-Za-z0-9:/_.=, -]{0,60}$/).map((s) => s.trim().replace(/\s+/g, " ")),
});
const target: fc.Arbitrary<TargetLine> = fc.oneof(linear, striped, errorOrZero, mirror, opaque);

/** fc.record builds null-prototype objects; the parser returns plain ones. */
const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x));

function refused(line: string, re?: RegExp) {
  assert.throws(
    () => parseTarget(line),
    (e: unknown) => {
      assert.ok(e instanceof DvmError, `a DvmError for ${JSON.stringify(line)}, got ${String(e)}`);
      assert.equal(e.exitCode, 2);
      if (re) assert.match(e.message, re);
      return true;
    },
  );
}

describe("target lines: print and parse", () => {
  it("parse(print(x)) = x for every target type", () => {
    fc.assert(
      fc.property(target, (t) => {
        assert.deepEqual(parseTarget(printTarget(t)), plain(t));
      }),
      { numRuns: 2000 },
    );
  });

  for (const [name, arb] of [
    ["linear", linear],
    ["striped", striped],
    ["error/zero", errorOrZero],
    ["mirror", mirror],
    ["opaque", opaque],
  ] as const)
    it(`round-trips ${name} targets`, () => {
      fc.assert(
        fc.property(arb as fc.Arbitrary<TargetLine>, (t) => {
          assert.deepEqual(parseTarget(printTarget(t)), plain(t));
        }),
        { numRuns: 300 },
      );
    });

  it("whole tables round-trip through printTable / parseTable", () => {
    fc.assert(
      fc.property(fc.array(target, { maxLength: 6 }), (table) => {
        assert.deepEqual(parseTable(printTable(table)), plain(table));
      }),
      { numRuns: 500 },
    );
  });

  it("prints the kernel's canonical text", () => {
    assert.equal(
      printTarget({
        start_sectors: 0,
        length_sectors: 8,
        type: "linear",
        device: "8:16",
        offset_sectors: 2048,
      }),
      "0 8 linear 8:16 2048",
    );
    assert.equal(printTarget({ start_sectors: 0, length_sectors: 8, type: "error" }), "0 8 error ");
    assert.equal(
      printTarget({
        start_sectors: 0,
        length_sectors: 1024,
        type: "mirror",
        log: { type: "disk", device: "253:1", region_sectors: 1024, sync: "nosync" },
        legs: [
          { device: "253:2", offset_sectors: 0 },
          { device: "253:3", offset_sectors: 0 },
        ],
        features: ["handle_errors"],
      }),
      "0 1024 mirror disk 3 253:1 1024 nosync 2 253:2 0 253:3 0 1 handle_errors",
    );
  });

  it("parses what dmsetup table prints, comments and blank lines ignored", () => {
    assert.deepEqual(parseTable("# vg-lv\n0 8 linear 8:16 2048\n\n8 8 zero \n"), [
      { start_sectors: 0, length_sectors: 8, type: "linear", device: "8:16", offset_sectors: 2048 },
      { start_sectors: 8, length_sectors: 8, type: "zero" },
    ]);
    assert.deepEqual(parseTarget("0   16  striped 2 8 a 0   b 4"), {
      start_sectors: 0,
      length_sectors: 16,
      type: "striped",
      chunk_sectors: 8,
      stripes: [
        { device: "a", offset_sectors: 0 },
        { device: "b", offset_sectors: 4 },
      ],
    });
  });
});

describe("target lines: malformed lines are invalid input (exit 2)", () => {
  it("refuses lines without start, length and type", () => {
    refused("", /expected "start length type/);
    refused("0 8", /expected "start length type/);
  });

  it("refuses start and length that are not numbers or too large", () => {
    refused("x 8 linear /dev/a 0", /start "x" is not a number/);
    refused("0 -8 linear /dev/a 0", /length/);
    refused("0 99999999999999999999 linear /dev/a 0", /too large/);
  });

  it("refuses linear lines with the wrong arguments", () => {
    refused("0 8 linear /dev/a", /expected 2 arguments/);
    refused("0 8 linear /dev/a 0 1", /expected 2 arguments/);
    refused("0 8 linear /dev/a x", /offset "x"/);
  });

  it("refuses striped lines with the wrong counts", () => {
    refused("0 8 striped 0 128", /at least 1/);
    refused("0 8 striped 2 128 /dev/a 0", /expected 6 arguments for 2 stripes/);
    refused("0 8 striped 1 0 /dev/a 0", /chunk size must be at least 1/);
    refused("0 8 striped x 128 /dev/a 0", /stripe count/);
  });

  it("refuses arguments to error and zero", () => {
    refused("0 8 error x", /takes no arguments/);
    refused("0 8 zero 1 2", /takes no arguments/);
  });

  it("refuses malformed mirror lines", () => {
    refused("0 8 mirror", /log argument count/);
    refused("0 8 mirror weird 1 1024 1 /dev/a 0", /unknown log type/);
    refused("0 8 mirror core 3 1024 sync x 1 /dev/a 0", /core log takes 1 or 2/);
    refused("0 8 mirror disk 1 /dev/l 1 /dev/a 0", /disk log takes 2 or 3/);
    refused("0 8 mirror core 2 1024 maybe 1 /dev/a 0", /unknown log option/);
    refused("0 8 mirror core 4 1024", /log arguments truncated/);
    refused("0 8 mirror core 1 1024 2 /dev/a 0", /device 6 missing/);
    refused("0 8 mirror core 1 1024 1 /dev/a 0 2 handle_errors", /features truncated/);
    refused("0 8 mirror core 1 1024 1 /dev/a 0 1 handle_errors extra", /unexpected trailing/);
  });

  it("a bad line anywhere in a table fails the whole table", () => {
    assert.throws(() => parseTable("0 8 linear 8:16 0\n8 8 linear 8:16\n"), DvmError);
  });
});
