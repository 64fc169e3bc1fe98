import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DvmError } from "../../src/lib/errors.js";
import {
  formatInlineArray,
  formatScalar,
  type Item,
  isSection,
  MAX_DEPTH,
  parseConfig,
  quote,
  type Section,
  type Value,
} from "../../src/lvm2/config.js";

const isCorrupt = (re?: RegExp) => (e: unknown) =>
  e instanceof DvmError && e.exitCode === 7 && (re === undefined || re.test(e.message));

/** The value of the single top-level item of `text`. */
function value(text: string): Value | Section {
  const { root } = parseConfig(text);
  assert.equal(root.items.length, 1);
  return root.items[0]!.value;
}
const item = (text: string): Item => parseConfig(text).root.items[0]!;

describe("config language: lexical rules (§10.1)", () => {
  test("integers: decimal, signs, leading 0 = octal", () => {
    assert.equal(value("a = 0"), 0);
    assert.equal(value("a = 42"), 42);
    assert.equal(value("a = -1"), -1);
    assert.equal(value("a = +7"), 7);
    assert.equal(value("a = 010"), 8);
    assert.equal(value("a = 0777"), 511);
    assert.equal(value("a = -010"), -8);
    assert.equal(value("a = 9007199254740991"), Number.MAX_SAFE_INTEGER);
    assert.equal(value("a = -9007199254740991"), -Number.MAX_SAFE_INTEGER);
  });

  test("malformed and out-of-range numbers are rejected (exit 7)", () => {
    for (const v of [
      "08",
      "09",
      "0x10",
      "0X10",
      "1e5",
      "12abc",
      "1.5",
      "1.",
      "9007199254740992",
      "18446744073709551616",
      "99999999999999999999999999",
      "0777777777777777777777",
      "-9007199254740992",
    ])
      assert.throws(() => parseConfig(`a = ${v}`), isCorrupt(), v);
  });

  test('double-quoted strings: only \\" and \\\\ are unescaped, other pairs stay', () => {
    assert.equal(value('a = "x\\"y"'), 'x"y');
    assert.equal(value('a = "x\\\\y"'), "x\\y");
    assert.equal(value('a = "x\\ny"'), "x\\ny");
    assert.equal(value('a = "\\\\\\""'), '\\"');
    assert.equal(value('a = "# not a comment"'), "# not a comment");
    assert.equal(value('a = "multi\nline"'), "multi\nline");
    assert.equal(value('a = ""'), "");
  });

  test("single-quoted strings have no escapes", () => {
    assert.equal(value("a = 'x\\y'"), "x\\y");
    assert.equal(value("a = 'say \"hi\"'"), 'say "hi"');
  });

  test("bare strings in value position", () => {
    assert.equal(value("type = striped"), "striped");
    assert.equal(value("a = -"), "-");
    assert.equal(value("a = /dev/sdb"), "/dev/sdb");
  });

  test("unterminated strings are rejected", () => {
    for (const t of ['a = "abc', "a = 'abc", 'a = "abc\\"', 'a = "abc\\', 'a = "abc\0"', "a = 'x\0'"])
      assert.throws(() => parseConfig(t), isCorrupt(/unterminated string/), JSON.stringify(t));
  });

  test("a NUL byte ends the input", () => {
    assert.deepEqual(parseConfig("a = 1\0 garbage { ["), parseConfig("a = 1"));
    assert.deepEqual(parseConfig("\0").root.items, []);
  });

  test("whitespace: SP TAB LF CR VT FF all separate tokens", () => {
    assert.deepEqual(parseConfig("a\t=\v1\f\r\nb=2").root.items, [
      { key: "a", value: 1 },
      { key: "b", value: 2 },
    ]);
  });

  test("comments: whole-line comments lead the next item, same-line comments trail", () => {
    const { root, trailing } = parseConfig("# one\n#two\na = 1 # after a\nb = [1] #x\n# end\n");
    assert.deepEqual(root.items[0], { key: "a", value: 1, comment: "after a", leading: ["one", "two"] });
    assert.deepEqual(root.items[1], { key: "b", value: [1], comment: "x" });
    assert.deepEqual(trailing, ["end"]);
  });

  test("comments are allowed between tokens", () => {
    assert.deepEqual(value("a # c\n = # c\n [ # c\n 1, # c\n 2 # c\n ]"), [1, 2]);
    const s = value("s # c\n { # c\n x = 1 # c\n }");
    assert.ok(isSection(s));
    assert.deepEqual([s.items[0]!.key, s.items[0]!.value, s.items[0]!.comment], ["x", 1, "c"]);
  });
});

describe("config language: syntax (§10.2)", () => {
  test("arrays: commas optional, trailing comma allowed, [] distinct, mixed types", () => {
    assert.deepEqual(value("a = []"), []);
    assert.deepEqual(value('a = ["x", "y"]'), ["x", "y"]);
    assert.deepEqual(value('a = ["x" "y"]'), ["x", "y"]);
    assert.deepEqual(value('a = ["x", "y",]'), ["x", "y"]);
    assert.deepEqual(value('a = [\n"pv0", 0,\n"pv1", 2\n]'), ["pv0", 0, "pv1", 2]);
    assert.deepEqual(value("a = [a b 'c' 010]"), ["a", "b", "c", 8]);
  });

  test("array rejections", () => {
    for (const t of ["a = [", "a = [1, 2", "a = [[1]]", "a = [{}]", "a = [,]", "a = [1,,2]", "a = [=]"])
      assert.throws(() => parseConfig(t), isCorrupt(), t);
  });

  test("sections nest and keep item order", () => {
    const v = value("s {\nb = 1\na { c = 'x' }\n}");
    assert.ok(isSection(v));
    assert.deepEqual(
      v.items.map((i) => i.key),
      ["b", "a"],
    );
  });

  test("keys may be quoted", () => {
    assert.equal(item('"my key" = 1').key, "my key");
    assert.equal(item("'k' { }").key, "k");
  });

  test("duplicate keys are kept as separate items by the generic parser", () => {
    assert.deepEqual(
      parseConfig("a = 1\na = 2").root.items.map((i) => i.value),
      [1, 2],
    );
  });

  test("structural rejections", () => {
    for (const t of [
      "a",
      "a 1",
      "a =",
      "= 1",
      "}",
      "a { ",
      "a { b = 1",
      "a = }",
      "a = {}",
      "a = ,",
      "a/b = 1",
      "[ = 1",
      "a { } }",
      "a = 1.",
    ])
      assert.throws(() => parseConfig(t), isCorrupt(), JSON.stringify(t));
  });

  test("error messages carry the line number", () => {
    assert.throws(() => parseConfig("a = 1\nb = 2\nc = 0x3\n"), isCorrupt(/line 3/));
  });

  test(`nesting up to MAX_DEPTH (${MAX_DEPTH}) parses; deeper is rejected, even 100000 levels (no stack overflow)`, () => {
    const nest = (n: number) => `${"s {\n".repeat(n)}x = 1\n${"}\n".repeat(n)}`;
    assert.doesNotThrow(() => parseConfig(nest(MAX_DEPTH)));
    assert.throws(() => parseConfig(nest(MAX_DEPTH + 1)), isCorrupt(/nested deeper/));
    assert.throws(() => parseConfig("s {".repeat(100000)), isCorrupt(/nested deeper/));
    assert.throws(() => parseConfig(nest(100000)), isCorrupt(/nested deeper/));
  });

  test("long inputs parse in linear time", () => {
    const many = 'a = [ "x", 1 ]\n'.repeat(100000);
    const t0 = performance.now();
    assert.equal(parseConfig(many).root.items.length, 100000);
    const comments = "#".repeat(1_000_000);
    assert.deepEqual(parseConfig(comments).trailing.length, 1);
    const longString = `a = "${'x\\"'.repeat(500000)}"`;
    assert.equal((value(longString) as string).length, 1_000_000);
    assert.ok(performance.now() - t0 < 5000);
  });
});

describe("config language: output helpers", () => {
  test('quote escapes only " and \\', () => {
    assert.equal(quote('a"b\\c\nd'), '"a\\"b\\\\c\nd"');
    assert.equal(formatScalar(-1), "-1");
    assert.equal(formatScalar("x"), '"x"');
    assert.equal(formatInlineArray(["READ", "WRITE", "VISIBLE"]), '["READ", "WRITE", "VISIBLE"]');
    assert.equal(formatInlineArray([]), "[]");
  });

  test("quote round-trips through the parser", () => {
    for (const s of ["", "plain", 'q"uote', "back\\slash", '\\"', "tab\there", "x\\n", "#hash", "'single'"])
      assert.equal(value(`a = ${quote(s)}`), s);
  });
});
