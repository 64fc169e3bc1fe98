import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { DvmError } from "../../src/lib/errors.js";
import { lvmCrc } from "../../src/lvm2/crc.js";
import { formatId } from "../../src/lvm2/uuid.js";
import { LV_STATUS, VG_STATUS, vgProblems } from "../../src/lvm2/validate.js";
import {
  type LvMeta,
  leadingVgName,
  type PvMeta,
  parseVgText,
  printVgText,
  type SegmentMeta,
  type VgText,
} from "../../src/lvm2/vg.js";
import { lvmFixtures, SPEC_17_2_TEXT, SPEC_17_2_TEXT_CRC } from "./spec-vectors.js";

const isCorrupt = (re?: RegExp) => (e: unknown) =>
  e instanceof DvmError && e.exitCode === 7 && (re === undefined || re.test(e.message));
const SPEC = SPEC_17_2_TEXT;
const specDoc = () => parseVgText(SPEC);

/** Replace exactly one occurrence (fails loudly when the text drifts). */
function edit(text: string, from: string, to: string): string {
  const i = text.indexOf(from);
  assert.ok(i >= 0 && text.indexOf(from, i + 1) < 0, `"${from}" occurs once`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}

describe("§17.2 text vector", () => {
  test("983 bytes, two TABs, trailing NUL, CRC 0x04865DDA", () => {
    assert.equal(SPEC.length, 983);
    assert.equal(SPEC.split("\t").length - 1, 2);
    assert.ok(SPEC.endsWith("2023\n\n\0"));
    assert.equal(lvmCrc(Buffer.from(SPEC, "latin1")), SPEC_17_2_TEXT_CRC);
    assert.equal(leadingVgName(SPEC), "vgdemo");
  });

  test("parses to the expected document", () => {
    const d = specDoc();
    assert.equal(d.vg.name, "vgdemo");
    assert.equal(d.vg.seqno, 2);
    assert.deepEqual(d.vg.status, ["RESIZEABLE", "READ", "WRITE"]);
    assert.deepEqual(d.vg.physical_volumes, [
      {
        name: "pv0",
        id: "Zt6pQ1-aB9c-DeFg-HiJk-LmNo-PqRs-TuVwXy",
        device: "/dev/sdb",
        status: ["ALLOCATABLE"],
        flags: [],
        dev_size: 131072,
        pe_start: 2048,
        pe_count: 15,
      },
    ]);
    const lv = d.vg.logical_volumes![0]!;
    assert.equal(lv.name, "lv0");
    assert.equal(lv.creation_time, 1700000000);
    assert.deepEqual(lv.segments, [
      { start_extent: 0, extent_count: 2, type: "striped", stripe_count: 1, stripes: ["pv0", 0] },
    ]);
    assert.deepEqual(d.top, {
      contents: "Text Format Volume Group",
      version: 1,
      description: "Write from lvcreate -n lv0 -L 8M vgdemo.",
      creation_host: "host1",
      creation_time: 1700000000,
    });
    assert.deepEqual(d.comments, {
      generated: "LVM2 version 2.03.16(2) (2022-05-18): Tue Nov 14 22:13:20 2023",
      values: {
        creation_host: "Linux host1 5.14.0 #1 SMP x86_64",
        creation_time: "Tue Nov 14 22:13:20 2023",
      },
    });
    assert.deepEqual(vgProblems(d.vg), []);
  });

  test("printVgText(parseVgText(x)) is byte-identical", () => {
    assert.equal(printVgText(specDoc()), SPEC);
  });

  test("the document survives JSON (the `vg` document is JSON)", () => {
    const d = specDoc();
    assert.equal(printVgText(JSON.parse(JSON.stringify(d)) as VgText), SPEC);
  });
});

describe("LVM2-written fixtures (test/fixtures/lvm2)", () => {
  const fixtures = lvmFixtures();
  test("there are fixtures", () => assert.ok(fixtures.length >= 5));
  for (const f of fixtures) {
    test(`${f.name}: round trip byte-identical, no problems`, () => {
      assert.ok(f.text.endsWith("\n\n\0"), "text ends with the NUL LVM writes");
      const d = parseVgText(f.text);
      assert.equal(printVgText(d), f.text);
      assert.deepEqual(vgProblems(d.vg), []);
      assert.equal(leadingVgName(f.text), d.vg.name);
    });
  }

  const byName = (n: string) => parseVgText(fixtures.find((f) => f.name === n)!.text);

  test("empty-1m-extents: 1 MiB extents, no logical_volumes section", () => {
    const d = byName("empty-1m-extents.txt");
    assert.equal(d.vg.extent_size, 2048);
    assert.equal(d.vg.physical_volumes[0]!.pe_count, 63);
    assert.equal(d.vg.logical_volumes, undefined);
  });

  test("striped: two stripes of 64 KiB", () => {
    const seg = byName("striped.txt").vg.logical_volumes![0]!.segments[0]!;
    assert.equal(seg.stripe_count, 2);
    assert.equal(seg.stripe_size, 128);
    assert.deepEqual(seg.stripes, ["pv0", 0, "pv1", 0]);
  });

  test("multi-segment: three segments tiling the LV", () => {
    const lv = byName("multi-segment.txt").vg.logical_volumes!.find((l) => l.name === "first")!;
    assert.equal(lv.segment_count, 3);
    assert.deepEqual(
      lv.segments.map((s) => [s.start_extent, s.extent_count, ...(s.stripes ?? [])]),
      [
        [0, 2, "pv0", 0],
        [2, 2, "pv0", 3],
        [4, 2, "pv1", 0],
      ],
    );
  });

  test("tags, allocation policy, read-ahead, fixed minor and an LV named 1 (order kept)", () => {
    const d = byName("tags-alloc-readahead.txt");
    assert.deepEqual(d.vg.tags, ["vgtag1", "vg.tag-2"]);
    assert.equal(d.vg.allocation_policy, "cling");
    assert.deepEqual(d.vg.physical_volumes[0]!.tags, ["pvtag"]);
    assert.deepEqual(
      d.vg.logical_volumes!.map((l) => l.name),
      ["tagged", "1"],
    );
    const [tagged, one] = d.vg.logical_volumes!;
    assert.deepEqual(tagged!.tags, ["lvtag1"]);
    assert.equal(tagged!.allocation_policy, "anywhere");
    assert.equal(tagged!.read_ahead, 256);
    assert.equal(tagged!.minor, 77);
    assert.ok(tagged!.status.includes("FIXED_MINOR"));
    assert.equal(one!.read_ahead, -1);
  });
});

/** §17.2's text with TAB indentation by nesting depth (backup-file style). */
function tabIndented(t: string): string {
  let depth = 0;
  return t
    .split("\n")
    .map((line) => {
      if (line.startsWith("}")) depth--;
      const out = line === "" ? line : "\t".repeat(Math.max(0, depth)) + line;
      if (line.endsWith("{")) depth++;
      return out;
    })
    .join("\n");
}

describe("reader tolerances (§10, §17.2)", () => {
  const variants: [string, string][] = [
    ["no trailing NUL", SPEC.slice(0, -1)],
    ["TAB indentation", tabIndented(SPEC)],
    ["CRLF line ends", SPEC.replaceAll("\n", "\r\n")],
    [
      "arrays without commas, trailing comma",
      edit(
        edit(SPEC, 'status = ["RESIZEABLE", "READ", "WRITE"]', 'status = ["RESIZEABLE" "READ"\n"WRITE",]'),
        '"pv0", 0',
        '"pv0" 0',
      ),
    ],
    ["single-quoted type", edit(SPEC, 'type = "striped"', "type = 'striped'")],
    ["bare type", edit(SPEC, 'type = "striped"', "type = striped")],
    [
      "octal numbers",
      edit(edit(SPEC, "pe_count = 15", "pe_count = 017"), "extent_size = 8192", "extent_size = 020000"),
    ],
    [
      "comments inside the VG section",
      edit(
        edit(SPEC, "seqno = 2\n", "seqno = 2 # the second commit\n# a whole-line comment\n"),
        "pv0 {\n",
        "pv0 { # the only PV\n",
      ),
    ],
    ["reordered keys", edit(edit(SPEC, "seqno = 2\n", ""), "max_pv = 0\n", "max_pv = 0\nseqno = 2\n")],
    ["everything on one line, no comments", SPEC.replace(/#[^\n]*/g, "").replaceAll("\n", " ")],
  ];
  for (const [what, text] of variants) {
    test(`${what}: same document`, () => {
      const a = specDoc();
      const b = parseVgText(text);
      assert.deepEqual(b.vg, a.vg);
      assert.deepEqual(b.top, a.top);
      if (!what.includes("no comments")) assert.deepEqual(b.comments, a.comments);
    });
  }

  test("backup-file form (trailer first, header comment) parses to the same VG", () => {
    const i = SPEC.indexOf("# Generated");
    const backup = `${SPEC.slice(i, -1)}\n${tabIndented(SPEC.slice(0, i))}`;
    const b = parseVgText(backup);
    assert.deepEqual(b.vg, specDoc().vg);
    assert.deepEqual(b.top, specDoc().top);
  });
});

describe("rejections (exit code 7)", () => {
  const rejected: [string, string, RegExp?][] = [
    ["octal 08", edit(SPEC, "pe_count = 15", "pe_count = 08"), /octal/],
    ["hex 0x10", edit(SPEC, "pe_count = 15", "pe_count = 0x10"), /malformed number/],
    ["number 2^53", edit(SPEC, "pe_count = 15", "pe_count = 9007199254740992"), /too large/],
    ["number 2^64", edit(SPEC, "seqno = 2", "seqno = 18446744073709551616"), /too large/],
    ["missing contents", edit(SPEC, 'contents = "Text Format Volume Group"\n', ""), /contents/],
    ["wrong contents", edit(SPEC, '"Text Format Volume Group"', '"Text Format"'), /contents/],
    ["missing version", edit(SPEC, "version = 1\n", ""), /version/],
    ["version 2", edit(SPEC, "version = 1\n", "version = 2\n"), /version/],
    ["version as a string", edit(SPEC, "version = 1\n", 'version = "1"\n'), /version/],
    [
      "two top-level sections",
      edit(SPEC, "# Generated", "other {\n}\n# Generated"),
      /second top-level section/,
    ],
    ["no VG section", SPEC.slice(SPEC.indexOf("# Generated")), /no VG section/],
    ["unterminated string", edit(SPEC, 'host1"\t#', "host1\t#"), /unterminated string/],
    [
      "deep nesting",
      edit(SPEC, "metadata_copies = 0\n", `metadata_copies = 0\n${"x {\n".repeat(40)}${"}\n".repeat(40)}`),
      /nested deeper/,
    ],
    ["duplicate VG key", edit(SPEC, "seqno = 2\n", "seqno = 2\nseqno = 3\n"), /duplicate key "seqno"/],
    [
      "duplicate top-level key",
      edit(SPEC, "version = 1\n", "version = 1\nversion = 1\n"),
      /duplicate top-level/,
    ],
    ["duplicate PV key", edit(SPEC, "pe_count = 15\n", "pe_count = 15\npe_count = 16\n"), /duplicate key/],
    [
      "duplicate segment key",
      edit(SPEC, "stripe_count = 1\n", "stripe_count = 1\nstripe_count = 1\n"),
      /duplicate/,
    ],
    [
      "duplicate PV section",
      edit(SPEC, "}\n}\n\nlogical_volumes", '}\npv0 {\nid = "x"\n}\n}\n\nlogical_volumes'),
      /duplicate entry "pv0"/,
    ],
    [
      "physical_volumes not a section",
      edit(SPEC, "physical_volumes {\n", "physical_volumes = 1\nx {\n"),
      /section/,
    ],
    [
      "PV entry not a section",
      edit(SPEC, "physical_volumes {\n", "physical_volumes {\npvx = 1\n"),
      /section/,
    ],
    ["numeric key", edit(SPEC, "max_lv = 0\n", "max_lv = 0\n7 = 1\n"), /numeric key/],
    ["synthetic key name", edit(SPEC, "max_lv = 0\n", 'max_lv = 0\nname = "x"\n'), /not allowed/],
    [
      "synthetic key segments in an LV",
      edit(SPEC, "segment_count = 1\n", "segment_count = 1\nsegments = 1\n"),
      /not allowed/,
    ],
    ["missing closing brace", SPEC.slice(0, SPEC.indexOf("# Generated") - 2), /missing "}"/],
    ["stray closing brace", edit(SPEC, "version = 1\n", "version = 1\n}\n"), /unexpected "}"/],
    ["float", edit(SPEC, "pe_count = 15", "pe_count = 15.0"), /floating/],
  ];
  for (const [what, text, re] of rejected)
    test(what, () => {
      assert.throws(() => parseVgText(text), isCorrupt(re));
    });
});

describe("vgProblems (§11-§15)", () => {
  test("segment_count mismatch", () => {
    const d = parseVgText(edit(SPEC, "segment_count = 1", "segment_count = 2"));
    assert.deepEqual(vgProblems(d.vg), ["LV lv0: segment_count 2 but 1 segments"]);
  });

  test("unknown word in a status list is a problem", () => {
    const d = parseVgText(
      edit(SPEC, 'status = ["READ", "WRITE", "VISIBLE"]', 'status = ["READ", "WRITE", "BOGUS"]'),
    );
    assert.deepEqual(vgProblems(d.vg), ['LV lv0 status: unknown word "BOGUS"']);
    const v = parseVgText(edit(SPEC, '"RESIZEABLE", "READ"', '"RESIZEABLE", "SHINY", "READ"'));
    assert.match(vgProblems(v.vg).join(), /VG status: unknown word "SHINY"/);
  });

  test("unknown word in a flags list is accepted", () => {
    const d = parseVgText(
      edit(SPEC, "flags = []\ncreation_time", 'flags = ["NEW_FANCY_FLAG"]\ncreation_time'),
    );
    assert.deepEqual(d.vg.logical_volumes![0]!.flags, ["NEW_FANCY_FLAG"]);
    assert.deepEqual(vgProblems(d.vg), []);
  });

  test("each broken invariant is reported", () => {
    const cases: [string, string, RegExp][] = [
      ['id = "Ab12Cd', 'id = "Ab12C_', /VG vgdemo id/],
      ["seqno = 2", "seqno = 4294967296", /seqno/],
      ["extent_size = 8192", "extent_size = 3000", /extent_size/],
      ["extent_size = 8192", "extent_size = 0", /extent_size/],
      ["max_lv = 0", "max_lv = -1", /max_lv/],
      ['id = "Zt6pQ1', 'id = "Zt6pQ_', /PV pv0 id/],
      ['status = ["ALLOCATABLE"]', 'status = ["ALLOCATABLE", "WEIRD"]', /unknown word "WEIRD"/],
      ["pe_count = 15", "pe_count = 1", /beyond pv0's 1 extents/],
      ["pe_start = 2048", "pe_start = -1", /pe_start/],
      ['creation_host = "host1"\nsegment_count', "segment_count", /creation_time and creation_host/],
      ["extent_count = 2", "extent_count = 0", /start_extent\/extent_count \(0\/0\) is invalid/],
      ["start_extent = 0", "start_extent = 1", /gap or overlap/],
      ["stripe_count = 1", "stripe_count = 2", /stripe_count 2 but 1 stripes/],
      ['"pv0", 0\n]', '"pv9", 0\n]', /neither a PV nor an LV/],
      ['"pv0", 0\n]', '"pv0"\n]', /pairs/],
      ['type = "striped"', 'type = "striped"\ntags = ["bad tag"]', /tag "bad tag"/],
      ["pe_count = 15\n", "pe_count = 15\nba_start = 1\n", /ba_start and ba_size/],
      ["lv0 {", "pv0 {", /clashes with a PV/],
      ["lv0 {", "-lv0 {", /may not start/],
    ];
    for (const [from, to, re] of cases) {
      const d = parseVgText(edit(SPEC, from, to));
      assert.match(vgProblems(d.vg).join("\n"), re, `${from} → ${to}`);
    }
  });

  test("PV extents used twice", () => {
    const lv1 = SPEC.slice(SPEC.indexOf("lv0 {"), SPEC.indexOf("}\n}\n}\n\n}") + 4).replace("lv0 {", "lv1 {");
    const d = parseVgText(edit(SPEC, "}\n}\n}\n\n}", `}\n}\n\n${lv1}}\n\n}`));
    assert.equal(d.vg.logical_volumes!.length, 2);
    assert.match(vgProblems(d.vg).join(), /extent 0 of pv0 is used by both LV lv0 and LV lv1/);
  });

  test("metadata without physical_volumes is a problem, not a crash", () => {
    const d = parseVgText(SPEC.replace(/physical_volumes \{[\s\S]*?\n\}\n\}\n/, ""));
    assert.deepEqual(vgProblems(d.vg), ["VG has no physical_volumes"]);
  });
});

describe("hostile keys and values (found by fuzzing)", () => {
  test("vgProblems reports, not throws, when a scalar field is a section with a toString key", () => {
    for (const [from, to] of [
      ["pe_start = 2048", "pe_start {\ntoString = 1\n}"],
      ["seqno = 2", "seqno {\nvalueOf = 1\ntoString = 2\n}"],
      ["start_extent = 0", "start_extent {\ntoString = 0\n}"],
    ] as const) {
      const d = parseVgText(edit(SPEC, from, to));
      assert.ok(vgProblems(d.vg).length > 0, to);
    }
  });

  test("a __proto__ key is rejected", () => {
    assert.throws(
      () => parseVgText(edit(SPEC, "pe_count = 15\n", "__proto__ {\npe_count = 15\n}\n")),
      isCorrupt(),
    );
    assert.throws(() => parseVgText(edit(SPEC, "pe_count = 15\n", "__proto__ = 5\n")), isCorrupt());
  });

  test("quoted keys that are not bare words are rejected (they could not be printed back)", () => {
    const text = edit(edit(SPEC, "pv0 {", '"p v0" {'), '"pv0", 0', '"p v0", 0');
    assert.throws(() => parseVgText(text), isCorrupt());
    assert.throws(() => parseVgText(edit(SPEC, "max_lv = 0", '"#" = 0')), isCorrupt());
  });

  test("a top-level key named like an Object.prototype member gets no bogus comment", () => {
    const d = parseVgText(edit(SPEC, "version = 1\n", "version = 1\nconstructor = 5\n"));
    const out = printVgText(d);
    assert.ok(
      out.includes("constructor = 5\n"),
      JSON.stringify(out.slice(out.indexOf("constructor"), out.indexOf("constructor") + 60)),
    );
    assert.deepEqual(parseVgText(out), d);
  });

  test("an empty logical_volumes section reads as no LVs, as LVM2 writes it", () => {
    const text = SPEC.replace(/logical_volumes \{[\s\S]*\n\}\n\}\n\n\}/, "logical_volumes {\n}\n\n}");
    const d = parseVgText(text);
    assert.equal(d.vg.logical_volumes, undefined);
    assert.deepEqual(parseVgText(printVgText(d)), d);
  });
});

// ----------------------------------------------------------------- property

const ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const idArb = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 32, maxLength: 32 }).map(formatId);
const NAME_FIRST = "abcxyzABCXYZ0189+_.";
const nameArb = fc
  .tuple(
    fc.constantFrom(...NAME_FIRST),
    fc.string({ unit: fc.constantFrom(...`${NAME_FIRST}-`), maxLength: 12 }),
    fc.nat({ max: 20 }),
  )
  .map(([a, b, long]) => (long === 0 ? (a + b).padEnd(127, "q") : a + b))
  .filter((n) => n !== "." && n !== "..");
const tagArb = fc.string({ unit: fc.constantFrom(..."abcXYZ019._-+/=!:&#"), minLength: 1, maxLength: 12 });
/** Any byte but NUL, so quoting and escaping get exercised. */
const textArb = fc.string({
  unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)),
  maxLength: 30,
});
/** Comment text: one line, no CR, not empty. */
const commentArb = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 40,
});
const wordsIn = (all: readonly string[]) => fc.subarray([...all]);
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

interface SegSpec {
  stripes: number;
  perArea: number;
  picks: number[];
  tags?: string[];
}
const segSpecArb: fc.Arbitrary<SegSpec> = fc.record(
  {
    stripes: fc.integer({ min: 1, max: 3 }),
    perArea: fc.integer({ min: 1, max: 5 }),
    picks: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
    tags: fc.uniqueArray(tagArb, { minLength: 1, maxLength: 2 }),
  },
  { requiredKeys: ["stripes", "perArea", "picks"] },
);
const lvSpecArb = fc.record({
  name: nameArb,
  id: idArb,
  status: wordsIn(LV_STATUS.filter((w) => w !== "FIXED_MINOR")),
  flags: wordsIn(["WRITE_LOCKED", "ACTIVATION_SKIP", "NOAUTOACTIVATE", "SOME_FUTURE_FLAG"]),
  tags: optional(fc.uniqueArray(tagArb, { minLength: 1, maxLength: 3 })),
  creation: optional(fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), textArb)),
  allocation_policy: optional(fc.constantFrom("contiguous", "cling", "cling_by_tags", "normal", "anywhere")),
  read_ahead: optional(fc.constantFrom(-1, 0, 256, 8192)),
  segs: fc.array(segSpecArb, { minLength: 1, maxLength: 3 }),
});
const pvSpecArb = fc.record({
  id: idArb,
  device: optional(textArb),
  status: wordsIn(["ALLOCATABLE", "EXPORTED"]),
  flags: wordsIn(["MISSING"]),
  tags: optional(fc.uniqueArray(tagArb, { minLength: 1, maxLength: 3 })),
  dev_size: optional(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  pe_start: fc.integer({ min: 0, max: 2 ** 40 }),
  spare: fc.integer({ min: 0, max: 100 }),
});
const docSpecArb = fc.record({
  name: nameArb,
  id: idArb,
  seqno: fc.integer({ min: 0, max: 0xffffffff }),
  status: wordsIn(VG_STATUS),
  flags: wordsIn(["WRITE_LOCKED", "NOAUTOACTIVATE"]),
  tags: optional(fc.uniqueArray(tagArb, { minLength: 1, maxLength: 3 })),
  extentShift: fc.integer({ min: 0, max: 24 }),
  max_lv: fc.nat({ max: 1000 }),
  max_pv: fc.nat({ max: 1000 }),
  allocation_policy: optional(fc.constantFrom("contiguous", "cling", "anywhere")),
  metadata_copies: optional(fc.nat({ max: 3 })),
  pvs: fc.array(pvSpecArb, { minLength: 1, maxLength: 4 }),
  lvs: fc.uniqueArray(lvSpecArb, { selector: (l) => l.name, maxLength: 5 }),
  description: optional(textArb),
  host: optional(fc.tuple(textArb, optional(commentArb))),
  time: optional(fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), optional(commentArb))),
  generated: optional(commentArb),
});

/** A well-formed VG document from a spec: PV names pv0..pvN, extents allocated without overlap. */
type DocSpec = typeof docSpecArb extends fc.Arbitrary<infer T> ? T : never;

function buildDoc(s: DocSpec): VgText {
  const next = s.pvs.map(() => 0);
  const lvs: LvMeta[] = [];
  for (const l of s.lvs.filter((l) => !/^pv\d+$/.test(l.name))) {
    const segments: SegmentMeta[] = [];
    let le = 0;
    for (const g of l.segs) {
      const k = Math.min(g.stripes, s.pvs.length);
      const pvIdx = [...new Set(g.picks.map((p) => p % s.pvs.length))].slice(0, k);
      const stripes: (string | number)[] = [];
      for (const i of pvIdx) {
        stripes.push(`pv${i}`, next[i]!);
        next[i]! += g.perArea;
      }
      const seg: SegmentMeta = {
        start_extent: le,
        extent_count: g.perArea * pvIdx.length,
        type: "striped",
        stripe_count: pvIdx.length,
      };
      if (pvIdx.length > 1) seg.stripe_size = 128;
      if (g.tags) seg.tags = g.tags;
      seg.stripes = stripes;
      le += seg.extent_count;
      segments.push(seg);
    }
    const lv: LvMeta = {
      name: l.name,
      id: l.id,
      status: l.status,
      flags: l.flags,
      segment_count: 0,
      segments: [],
    };
    if (l.tags) lv.tags = l.tags;
    if (l.creation) {
      lv.creation_time = l.creation[0];
      lv.creation_host = l.creation[1];
    }
    if (l.allocation_policy) lv.allocation_policy = l.allocation_policy;
    if (l.read_ahead !== undefined) lv.read_ahead = l.read_ahead;
    lv.segment_count = segments.length;
    lv.segments = segments;
    lvs.push(lv);
  }
  const pvs: PvMeta[] = s.pvs.map((p, i) => {
    const pv: PvMeta = {
      name: `pv${i}`,
      id: p.id,
      status: p.status,
      flags: p.flags,
      pe_start: 0,
      pe_count: 0,
    };
    if (p.device !== undefined) pv.device = p.device;
    if (p.tags) pv.tags = p.tags;
    if (p.dev_size !== undefined) pv.dev_size = p.dev_size;
    pv.pe_start = p.pe_start;
    pv.pe_count = next[i]! + p.spare;
    return pv;
  });
  const vg: VgText["vg"] = {
    name: s.name,
    id: s.id,
    seqno: s.seqno,
    format: "lvm2",
    status: s.status,
    flags: s.flags,
    extent_size: 2 ** s.extentShift,
    max_lv: s.max_lv,
    max_pv: s.max_pv,
    physical_volumes: pvs,
  };
  if (s.tags) vg.tags = s.tags;
  if (s.allocation_policy) vg.allocation_policy = s.allocation_policy;
  if (s.metadata_copies !== undefined) vg.metadata_copies = s.metadata_copies;
  if (lvs.length) vg.logical_volumes = lvs;
  const top: VgText["top"] = { contents: "Text Format Volume Group", version: 1 };
  const values: Record<string, string> = {};
  if (s.description !== undefined) top.description = s.description;
  if (s.host) {
    top.creation_host = s.host[0];
    if (s.host[1] !== undefined) values.creation_host = s.host[1];
  }
  if (s.time) {
    top.creation_time = s.time[0];
    if (s.time[1] !== undefined) values.creation_time = s.time[1];
  }
  const doc: VgText = { vg, top };
  if (s.generated !== undefined || Object.keys(values).length) {
    doc.comments = {};
    if (s.generated !== undefined) doc.comments.generated = s.generated;
    if (Object.keys(values).length) doc.comments.values = values;
  }
  return doc;
}

describe("property: random well-formed VG documents", () => {
  test("the generator makes documents vgProblems accepts", () => {
    fc.assert(
      fc.property(docSpecArb, (s) => {
        assert.deepEqual(vgProblems(buildDoc(s).vg), []);
      }),
      { numRuns: 300 },
    );
  });

  test("parseVgText(printVgText(doc)) deep-equals doc, and printing is stable", () => {
    fc.assert(
      fc.property(docSpecArb, (s) => {
        const doc = buildDoc(s);
        const text = printVgText(doc);
        assert.equal(leadingVgName(text), doc.vg.name, "on-disk text starts with the VG name");
        assert.ok(text.endsWith("\0"));
        const back = parseVgText(text);
        assert.deepEqual(back, doc);
        assert.equal(printVgText(back), text);
      }),
      { numRuns: 500 },
    );
  });
});
