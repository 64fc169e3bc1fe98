import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  ConfigParseError,
  findInt,
  findString,
  parseConfig,
  strtoll,
  tryParseConfig,
  writeConfig,
} from "../../src/polld/config.ts";
import { formatRequest, simpleReply } from "../../src/polld/protocol.ts";

/** The libdm config text of request bodies (lvmpolld.md §2.2), quirks as LVM2 2.03.16 has them. */

const str = (text: string, key: string) => findString(tryParseConfig(text), key);
const int = (text: string, key: string) => findInt(tryParseConfig(text), key, -7n);

describe("values", () => {
  test("quoted, spaced, bare and single-quoted strings", () => {
    assert.equal(str('request = "hello"\n', "request"), "hello");
    assert.equal(str('request="hello"', "request"), "hello");
    assert.equal(str("request=hello", "request"), "hello");
    assert.equal(str("request='he\\llo'", "request"), "he\\llo");
  });
  test("pairs need no newline between them; comments run to the end of the line", () => {
    const t = '# a comment\nrequest="progress_info" lvid="abc" # lvid="no"\nsysdir=/x#y';
    assert.equal(str(t, "request"), "progress_info");
    assert.equal(str(t, "lvid"), "abc");
    assert.equal(str(t, "sysdir"), "/x");
  });
  test('escapes: \\" and \\\\ only; other backslashes stay; raw newlines allowed', () => {
    assert.equal(str('a="v\\"g"', "a"), 'v"g');
    assert.equal(str('a="a\\\\b"', "a"), "a\\b");
    assert.equal(str('a="a\\nb"', "a"), "a\\nb");
    assert.equal(str('a="x\ny"', "a"), "x\ny");
  });
  test("integers: strtoll base 0 from the token start (octal, hex read past the token), signs", () => {
    assert.equal(int("abort=1", "abort"), 1n);
    assert.equal(int("abort=010", "abort"), 8n);
    assert.equal(int("abort=-5", "abort"), -5n);
    assert.equal(int("abort=+5", "abort"), 5n);
    assert.equal(int("abort=09", "abort"), 0n);
    assert.equal(int("abort=9223372036854775807", "abort"), (1n << 63n) - 1n);
    assert.equal(int("abort=-9223372036854775808", "abort"), -(1n << 63n));
    // "0x10" is the token "0" (value 16, strtoll reads on) then an identifier "x10" that needs "=".
    assert.equal(tryParseConfig("abort=0x10"), undefined);
    assert.equal(int("abort=0x10=1", "abort"), 16n); // ... and "x10=1" is a node of its own
  });
  test("integer overflow is a parse error (an lvid starting with digits overflows)", () => {
    assert.equal(tryParseConfig("abort=9223372036854775808"), undefined);
    assert.equal(tryParseConfig(`request="pvmove" lvid=8888${"8".repeat(40)}JJJ`), undefined);
    assert.equal(strtoll("99999999999999999999", 0), "range");
  });
  test("floats; overflow of strtod is a parse error", () => {
    assert.deepEqual(parseConfig("a=1.5")[0]!.values, [{ type: "float", value: 1.5 }]);
    assert.deepEqual(parseConfig("a=.5")[0]!.values, [{ type: "float", value: 0.5 }]);
    assert.equal(tryParseConfig(`a=1${"0".repeat(400)}.0`), undefined);
  });
  test("arrays: a lookup sees the first element", () => {
    assert.equal(str('a=["x", 1]', "a"), "x");
    assert.deepEqual(parseConfig("a=[]")[0]!.values, [{ type: "empty_array" }]);
    assert.equal(tryParseConfig("a=[1 2]"), undefined); // no comma: the 2 is an identifier
  });
  test("an unterminated string loses its last character (libdm strips two quotes blindly)", () => {
    assert.equal(str('request="dump', "request"), "dum");
    assert.equal(tryParseConfig('request="'), undefined);
  });
  test("a NUL byte ends the text", () => {
    assert.equal(findString(tryParseConfig(Buffer.from('request="hello"\0garbage {{{')), "request"), "hello");
  });
});

describe("typed lookups", () => {
  test("duplicates: the first occurrence wins, even a section", () => {
    assert.equal(str('request="foo"\nrequest="hello"', "request"), "foo");
    assert.equal(str('request="hello"\nrequest{}', "request"), "hello");
    assert.equal(str('request{}\nrequest="hello"', "request"), undefined);
  });
  test("a string parameter must be a non-empty string", () => {
    assert.equal(str("interval=15", "interval"), undefined);
    assert.equal(str('sysdir=""', "sysdir"), undefined);
    assert.equal(str("x=1", "missing"), undefined);
  });
  test("an int parameter must be an integer", () => {
    assert.equal(int('abort="1"', "abort"), -7n);
    assert.equal(int("abort=1.0", "abort"), -7n);
  });
  test("sections parse and are skipped by lookups", () => {
    assert.equal(str('x { y = 1 z { } } request="dump"', "request"), "dump");
  });
});

describe("what does not parse", () => {
  for (const t of ["", "\n", "# only a comment", "garbage {{{\n", "a", "a=", "=1", '""=1', "a{", "}"])
    test(JSON.stringify(t), () => {
      assert.throws(() => parseConfig(t), ConfigParseError);
      assert.equal(tryParseConfig(t), undefined);
    });
});

test("writeConfig: libdm's canonical form (the wire log), which parses back to the same tree", () => {
  const tree = parseConfig('request = "he\\"llo"\nn=-3 f=1.5 a=[1,\'x\'] e=[] s { t = 2 }');
  const lines = writeConfig(tree);
  assert.deepEqual(lines, [
    'request="he\\"llo"',
    "n=-3",
    "f=1.500000",
    'a=[1, "x"]',
    "e=[]",
    "s {",
    "\tt=2",
    "}",
  ]);
  assert.deepEqual(parseConfig(lines.join("\n")), tree);
});

describe("properties", () => {
  const key = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);
  const value = fc.oneof(
    fc.string({ unit: "grapheme" }).filter((s) => !s.includes("\0")),
    fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  );
  test("a request as lvm writes it parses back; lookups return the first occurrence", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 8 }), (pairs) => {
        const tree = parseConfig(formatRequest(pairs));
        const keys = new Set(pairs.map(([k]) => k));
        for (const k of keys) {
          const first = pairs.find(([kk]) => kk === k)![1];
          if (typeof first === "string") {
            assert.equal(findString(tree, k), first === "" ? undefined : first);
            assert.equal(findInt(tree, k, 42n), 42n);
          } else {
            assert.equal(findInt(tree, k, 42n), first);
            assert.equal(findString(tree, k), undefined);
          }
        }
      }),
    );
  });
  test("a simple reply parses as config text with its fields", () => {
    const text = fc.string().filter((s) => !/["\\\0]/.test(s));
    fc.assert(
      fc.property(
        text.filter((s) => s !== ""),
        text.filter((s) => s !== ""),
        fc.integer(),
        (st, reason, v) => {
          const tree = parseConfig(simpleReply(st, ["reason", reason], ["value", v]));
          assert.equal(findString(tree, "response"), st);
          assert.equal(findString(tree, "reason"), reason);
          assert.equal(findInt(tree, "value", 0n), BigInt(v));
        },
      ),
    );
  });
  test("any text either parses or fails with ConfigParseError (never hangs, never crashes)", () => {
    const unit = fc.constantFrom(..."ab=\"'{}[],#\\ \n.-+09x\0".split(""));
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40 }), (t) => {
        try {
          parseConfig(t);
        } catch (e) {
          assert.ok(e instanceof ConfigParseError, String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
