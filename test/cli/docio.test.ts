import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { documentLines, splitJsonStream } from "../../src/lib/docio.ts";
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

test("documentLines: where it reads a text, it reads the documents splitJsonStream does", () => {
  const value = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });
  const sep = fc.constantFrom("\n", "\r\n", "\n\n", " \n", "", " ", "\n\u00a0\n", "\t");
  const layout = fc.constantFrom(0, 2);
  fc.assert(
    fc.property(fc.array(fc.tuple(value, sep, layout), { maxLength: 4 }), fc.boolean(), (docs, junk) => {
      let text = docs.map(([v, s, indent]) => JSON.stringify(v, null, indent) + s).join("");
      if (junk) text += "x";
      let split: unknown[] | string;
      try {
        split = splitJsonStream(text).map((t) => JSON.parse(t));
      } catch (e) {
        split = (e as Error).message;
      }
      const lines = documentLines(text);
      if (lines !== null) assert.deepEqual(lines, split, JSON.stringify(text));
    }),
    { numRuns: 2000 },
  );
  // The tools' own output is always read a line at a time.
  assert.deepEqual(documentLines('{"kind":"vg"}\n{"kind":"dm-state"}\n'), [
    { kind: "vg" },
    { kind: "dm-state" },
  ]);
  assert.equal(documentLines('{\n"kind": "vg"\n}\n'), null);
});
