import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { accepts, checkFailure, SCHEMAS, schemaError } from "../../src/lib/schema.js";
import { lvCreate } from "../../src/manip/index.js";
import { idGen, makeVg } from "../manip/helpers.ts";

/** accepts() (made once per schema node, for speed) answers as check() (which says why) does. */

const vg = lvCreate(makeVg([40, 40]), {
  name: "lv0",
  size: 8 * 2048 * 3,
  stripes: 2,
  stripeSize: 128,
  time: 1,
  host: "h",
  newId: idGen("L"),
}).doc;
const program = {
  kind: "dm-program",
  version: 1,
  steps: [
    {
      id: 1,
      op: "create",
      name: "vg0-lv0",
      uuid: "LVM-x",
      table: [{ start_sectors: 0, length_sectors: 8, type: "linear", device: "/dev/a", offset_sectors: 0 }],
    },
    { id: 2, op: "resume", name: "vg0-lv0", on_error: "continue" },
    { id: 3, op: "message", name: "vg0-lv0", sector: 0, text: "x" },
  ],
};
const VALID: [string, unknown][] = [
  ["vg", vg],
  ["dm-program", program],
];

/** Every path to a value in `v`. */
function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v))
    v.forEach((x, i) => {
      out.push(...paths(x, [...at, i]));
    });
  else if (typeof v === "object" && v !== null)
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

function setAt(doc: unknown, path: (string | number)[], value: unknown, remove: boolean): unknown {
  const copy = structuredClone(doc);
  if (!path.length) return value;
  let o = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (remove) {
    if (Array.isArray(o)) o.splice(last as number, 1);
    else delete o[last];
  } else o[last] = value;
  return copy;
}

const odd = fc.oneof(
  fc.constantFrom(-1, 0, 1, 1.5, 2 ** 53, Number.NaN, "", "x", null, true, [], {}, [1, "a"], { a: 1 }),
  fc.jsonValue({ maxDepth: 2 }),
);

describe("schema", () => {
  test("the valid documents pass", () => {
    for (const [kind, doc] of VALID) {
      assert.equal(accepts(SCHEMAS[kind]!, doc), true, kind);
      assert.equal(schemaError(SCHEMAS[kind]!, doc), null, kind);
    }
  });

  test("a value changed, added or removed anywhere: accepts() and check() agree", () => {
    for (const [kind, doc] of VALID) {
      const all = paths(doc);
      fc.assert(
        fc.property(fc.nat(all.length - 1), odd, fc.boolean(), fc.boolean(), (i, value, remove, extraKey) => {
          const path = extraKey ? [...all[i]!, "zz_extra"] : all[i]!;
          let changed: unknown;
          try {
            changed = setAt(doc, path, value, remove && path.length > 0);
          } catch {
            return; // a key under a scalar
          }
          const s = SCHEMAS[kind]!;
          const failure = checkFailure(s, changed);
          assert.equal(accepts(s, changed), failure === null, `${kind} ${JSON.stringify(path)}: ${failure}`);
          assert.deepEqual(schemaError(s, changed), failure);
        }),
        { numRuns: 400 },
      );
    }
  });

  test("a wrong type deep in a VG is found, with its pointer", () => {
    const bad = setAt(vg, ["vg", "logical_volumes", 0, "segments", 0, "extent_count"], 0, false);
    assert.deepEqual(schemaError(SCHEMAS.vg!, bad), [
      "/vg/logical_volumes/0/segments/0/extent_count",
      "expected an integer >= 1",
    ]);
  });
});
