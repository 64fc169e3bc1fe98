import assert from "node:assert/strict";
import { test } from "node:test";
import { splitJsonStream } from "../../src/lib/docio.ts";
import type { DvmError } from "../../src/lib/errors.ts";

test("splitJsonStream splits concatenated documents, strings with braces included", () => {
  assert.deepEqual(splitJsonStream('{"a":"}{"}\n{"b":[1,{}]}  '), ['{"a":"}{"}', '{"b":[1,{}]}']);
  assert.deepEqual(splitJsonStream('{"a":"\\"}"}{}'), ['{"a":"\\"}"}', "{}"]);
  assert.deepEqual(splitJsonStream(" \n"), []);
});

test("splitJsonStream rejects truncation and garbage with exit 2", () => {
  for (const t of ['{"a":1', "x{}", "{}}", '{"a":"'])
    assert.throws(
      () => splitJsonStream(t),
      (e: DvmError) => e.exitCode === 2,
      t,
    );
});
