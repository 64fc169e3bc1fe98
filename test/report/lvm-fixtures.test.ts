import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DvmError, Exit } from "../../src/lib/errors.js";
import { renderReport } from "../../src/report/index.js";
import { fixtureNames, loadFixture, parseArgs } from "./fixtures.js";

// renderReport must print what LVM2 2.03.16 printed for the same devices and options.
for (const name of fixtureNames()) {
  const fx = loadFixture(name);
  describe(`LVM2 fixture ${name}`, () => {
    test("has cases", () => assert.ok(fx.cases.length > 100));
    for (const c of fx.cases) {
      const { kind, opts } = parseArgs(c.args);
      test(c.args.join(" "), () => {
        if (c.status === 0) {
          assert.equal(renderReport(kind, fx.input, opts), c.stdout);
          return;
        }
        const expected = c.error?.startsWith("Unrecognised field") ? Exit.invalid : Exit.notFound;
        assert.throws(
          () => renderReport(kind, fx.input, opts),
          (e: unknown) => e instanceof DvmError && e.exitCode === expected && e.message === c.error,
        );
      });
    }
  });
}
