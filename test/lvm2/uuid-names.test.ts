import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { DvmError } from "../../src/lib/errors.js";
import { NAME_MAX, nameProblem, tagProblem, userLvNameProblem } from "../../src/lvm2/names.js";
import { formatId, generateId, ID_LEN, normalizeId, rawId } from "../../src/lvm2/uuid.js";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#";
const idChar = fc.constantFrom(...ALPHABET);
const rawIdArb = fc.string({ unit: idChar, minLength: 32, maxLength: 32 });

describe("IDs (§12)", () => {
  test("formatId: 6-4-4-4-4-4-6 groups", () => {
    assert.equal(formatId("RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrFV"), "RhvgLG-Hmnn-LMvN-0xBd-1ujh-NeuT-jMSrFV");
    assert.equal(ID_LEN, 32);
  });

  test("rawId strips dashes anywhere and checks length and alphabet", () => {
    assert.equal(rawId("RhvgLG-Hmnn-LMvN-0xBd-1ujh-NeuT-jMSrFV"), "RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrFV");
    assert.equal(rawId("RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrFV"), "RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrFV");
    assert.equal(rawId("R-h-vgLGHmnnLMvN0xBd1ujhNeuTjMSrFV--"), "RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrFV");
    assert.equal(
      rawId("!#vgLGHmnnLMvN0xBd1ujhNeuTjMSrFV"),
      "!#vgLGHmnnLMvN0xBd1ujhNeuTjMSrFV",
      "! and # are valid on read",
    );
    assert.equal(rawId("RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrF"), null, "31 characters");
    assert.equal(rawId("RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrFVx"), null, "33 characters");
    assert.equal(rawId("RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrF_"), null, "_ is not in the alphabet");
    assert.equal(rawId("RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrF\u00e9"), null);
    assert.equal(rawId(""), null);
  });

  test("rawId(formatId(x)) === x for every valid raw ID", () => {
    fc.assert(
      fc.property(rawIdArb, (raw) => {
        const text = formatId(raw);
        assert.equal(text.length, 38);
        assert.equal(rawId(text), raw);
        assert.equal(normalizeId(raw, "x"), text);
      }),
    );
  });

  test("normalizeId rejects invalid IDs with exit code 7", () => {
    assert.throws(
      () => normalizeId("not-an-id", "PV id"),
      (e) => e instanceof DvmError && e.exitCode === 7 && /PV id/.test(e.message),
    );
  });

  test("generateId uses only the 62 alphanumerics, in dashed form", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = generateId();
      assert.match(id, /^[0-9A-Za-z]{6}(-[0-9A-Za-z]{4}){5}-[0-9A-Za-z]{6}$/);
      assert.notEqual(rawId(id), null);
      for (const c of rawId(id)!) seen.add(c);
    }
    assert.ok(!seen.has("!") && !seen.has("#"));
    assert.equal(seen.size, 62, "2000 IDs of 32 characters use every alphanumeric");
  });
});

describe("names and tags (§13)", () => {
  test("valid names", () => {
    for (const n of [
      "vg0",
      "1",
      "a+b",
      "a_b",
      "a.b",
      "a-b",
      "...",
      "_",
      "+",
      "x".repeat(NAME_MAX),
      "lvol0_pmspare",
    ])
      assert.equal(nameProblem(n), null, n);
    assert.equal(NAME_MAX, 127);
  });

  test("invalid names", () => {
    for (const n of [
      "",
      "x".repeat(128),
      "-a",
      ".",
      "..",
      "a b",
      "a/b",
      "a#b",
      "a{b",
      'a"b',
      "é",
      "a\nb",
      "a\0b",
    ])
      assert.notEqual(nameProblem(n), null, JSON.stringify(n));
  });

  test("names from the allowed alphabet pass unless they hit a rule", () => {
    const nameChar = fc.constantFrom(..."ABCXYZabcxyz0189+_.-");
    fc.assert(
      fc.property(fc.string({ unit: nameChar, minLength: 0, maxLength: 140 }), (n) => {
        const bad = n.length === 0 || n.length > 127 || n.startsWith("-") || n === "." || n === "..";
        assert.equal(nameProblem(n) !== null, bad, JSON.stringify(n));
      }),
    );
  });

  test("reserved prefixes and substrings for user-chosen LV names", () => {
    for (const n of [
      "snapshot",
      "snapshot0",
      "pvmove1",
      "a_cdata",
      "x_tmeta",
      "lvol0_pmspare",
      "a_rimage_0",
      "a_vorigin",
    ])
      assert.notEqual(userLvNameProblem(n), null, n);
    for (const n of ["lv0", "1", "mysnapshot", "a_c", "data_x"]) assert.equal(userLvNameProblem(n), null, n);
    // The general rules still apply.
    assert.notEqual(userLvNameProblem("-x"), null);
    // Readers accept LVM's own hidden names.
    assert.equal(nameProblem("lvol0_pmspare"), null);
    assert.equal(nameProblem("pvmove0"), null);
  });

  test("tags", () => {
    for (const t of ["t", "vg.tag-2", "a_b+c/d=e!f:g&h#i", "@x".slice(1)])
      assert.equal(tagProblem(t), null, t);
    for (const t of ["", "a b", "a@b", "a,b", 'a"b', "x".repeat(1025)])
      assert.notEqual(tagProblem(t), null, t);
  });
});
