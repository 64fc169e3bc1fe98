import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { DvmError } from "../../src/lib/errors.js";
import { bytes } from "../../src/lib/units.js";
import { lvmCrc } from "../../src/lvm2/crc.js";
import { encodeLabel, findLabel, type LabelResult, type PvLabel } from "../../src/lvm2/label.js";
import { formatId } from "../../src/lvm2/uuid.js";
import { spec171Label, spec172Label } from "./spec-vectors.js";

/** A 2048-byte device head with `sector` placed in label sector `s`. */
function head(sector: Uint8Array, s = 1): Uint8Array {
  const h = new Uint8Array(2048);
  h.set(sector, s * 512);
  return h;
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);
const fixCrc = (sec: Uint8Array) =>
  new DataView(sec.buffer, sec.byteOffset).setUint32(16, lvmCrc(sec.subarray(20, 512)), true);

function found(r: LabelResult): PvLabel {
  if (!r.label) assert.fail(`no label: ${r.problems.join("; ")}`);
  return r.label;
}
function problems(r: LabelResult): string[] {
  if (r.label) assert.fail("a label was accepted");
  return r.problems;
}

const SPEC_171: PvLabel = {
  sector: 1,
  pvUuid: "RhvgLG-Hmnn-LMvN-0xBd-1ujh-NeuT-jMSrFV",
  deviceSize: bytes(67108864),
  dataAreas: [{ offset: bytes(0x100000), size: bytes(0) }],
  metadataAreas: [{ offset: bytes(4096), size: bytes(1044480) }],
  bootloaderAreas: [],
  extVersion: 2,
  extFlags: 1,
};

describe("label sector (§3, §4, §17.1)", () => {
  test("the captured §17.1 label decodes field by field", () => {
    const sec = spec171Label();
    assert.equal(Buffer.from(sec.subarray(0, 8)).toString("latin1"), "LABELONE");
    assert.equal(u32(sec, 16), 0x3a71b267, "stored CRC");
    assert.equal(lvmCrc(sec.subarray(20)), 0x3a71b267, "CRC of bytes 20-511");
    assert.equal(u32(sec, 20), 32);
    assert.ok(
      sec.subarray(0xa0).every((b) => b === 0),
      "rest of the sector is zero",
    );
    assert.deepEqual(found(findLabel(head(sec))), SPEC_171);
  });

  test("encodeLabel(decode(§17.1)) reproduces the sector byte for byte", () => {
    const sec = spec171Label();
    assert.deepEqual(encodeLabel(found(findLabel(head(sec)))), sec);
    assert.deepEqual(encodeLabel(SPEC_171), sec);
  });

  test("§17.2's label (other PV UUID) has CRC 0xE1D7C0BD", () => {
    const l = { ...SPEC_171, pvUuid: formatId("Zt6pQ1aB9cDeFgHiJkLmNoPqRsTuVwXy") };
    const sec = encodeLabel(l);
    assert.equal(u32(sec, 16), 0xe1d7c0bd);
    assert.deepEqual(sec, spec172Label());
    assert.deepEqual(found(findLabel(head(sec))), l);
  });

  test("the same PV as an orphan (ext flags 0) has CRC 0x3B384789", () => {
    assert.equal(u32(encodeLabel({ ...SPEC_171, extFlags: 0 }), 16), 0x3b384789);
  });

  test("the PV UUID may be given with or without dashes", () => {
    const sec = encodeLabel({ ...SPEC_171, pvUuid: "RhvgLGHmnnLMvN0xBd1ujhNeuTjMSrFV" });
    assert.deepEqual(sec, spec171Label());
  });

  for (const s of [0, 2, 3]) {
    test(`label in sector ${s}`, () => {
      const l = { ...SPEC_171, sector: s };
      const sec = encodeLabel(l);
      assert.equal(sec[8], s);
      assert.deepEqual(found(findLabel(head(sec, s))), l);
    });
  }

  test("a head shorter than 4 sectors is scanned as far as it goes", () => {
    assert.deepEqual(found(findLabel(head(spec171Label()).subarray(0, 1024))), SPEC_171);
    assert.deepEqual(findLabel(head(spec171Label()).subarray(0, 1000)), { label: null, problems: [] });
    assert.deepEqual(findLabel(new Uint8Array(0)), { label: null, problems: [] });
  });

  test("no LABELONE anywhere: not a PV, and no problems", () => {
    assert.deepEqual(findLabel(new Uint8Array(2048)), { label: null, problems: [] });
    const sec = spec171Label();
    sec.set(Buffer.from("LABELTWO", "latin1"), 0);
    assert.deepEqual(findLabel(head(sec)), { label: null, problems: [] });
  });

  test("sector field different from the label's position → rejected", () => {
    const p = problems(findLabel(head(spec171Label(), 2)));
    assert.equal(p.length, 1);
    assert.match(p[0]!, /sector 2.*sector field says 1/);
  });

  test("bad CRC → rejected", () => {
    const sec = spec171Label();
    sec[0x40]! ^= 1; // a device-size byte, covered by the CRC
    const p = problems(findLabel(head(sec)));
    assert.match(p[0]!, /checksum mismatch \(stored 0x3a71b267/);
    // Trailing bytes of the sector are covered too.
    const sec2 = spec171Label();
    sec2[511] = 1;
    assert.match(problems(findLabel(head(sec2)))[0]!, /checksum/);
  });

  test("unknown label type → rejected", () => {
    const sec = spec171Label();
    sec.set(Buffer.from("LVM1 001", "latin1"), 24);
    fixCrc(sec);
    assert.match(problems(findLabel(head(sec)))[0]!, /unknown label type "LVM1 001"/);
  });

  test("several damaged labels: every problem is listed", () => {
    const h = new Uint8Array(2048);
    const bad = spec171Label();
    bad[0x40]! ^= 1;
    h.set(bad, 512);
    h.set(encodeLabel({ ...SPEC_171, sector: 2 }), 0); // sector 0 claims to be sector 2
    const p = problems(findLabel(h));
    assert.equal(p.length, 2);
    assert.match(p[0]!, /sector 0/);
    assert.match(p[1]!, /sector 1/);
  });

  test("the first valid label wins; damaged earlier ones are skipped", () => {
    const h = new Uint8Array(2048);
    h.set(encodeLabel({ ...SPEC_171, sector: 1 }), 512);
    h.set(encodeLabel({ ...SPEC_171, sector: 2, pvUuid: formatId("a".repeat(32)) }), 1024);
    assert.equal(found(findLabel(h)).sector, 1);
    h[0x240]! ^= 1; // damage sector 1
    const l = found(findLabel(h));
    assert.equal(l.sector, 2);
    assert.equal(l.pvUuid, formatId("a".repeat(32)));
  });

  test("pv_header at offset 40 is honoured (§3.2 rule 4)", () => {
    const orig = spec171Label();
    const sec = new Uint8Array(512);
    sec.set(orig.subarray(0, 32));
    sec.set(orig.subarray(32, 504), 40);
    new DataView(sec.buffer).setUint32(20, 40, true);
    fixCrc(sec);
    assert.deepEqual(found(findLabel(head(sec))), SPEC_171);
  });

  test("pv_header offset out of range → rejected", () => {
    for (const off of [0, 16, 31, 473, 512, 0xffffffff]) {
      const sec = spec171Label();
      new DataView(sec.buffer).setUint32(20, off, true);
      fixCrc(sec);
      assert.match(problems(findLabel(head(sec)))[0]!, /offset/, String(off));
    }
  });

  test("extension version 0 (pre-2.02.99 PV): no bootloader list", () => {
    const sec = spec171Label();
    sec.fill(0, 0x88, 0x90);
    fixCrc(sec);
    const l = found(findLabel(head(sec)));
    assert.equal(l.extVersion, 0);
    assert.equal(l.extFlags, 0);
    assert.deepEqual(l.bootloaderAreas, []);
  });

  test("two metadata areas and a bootloader area", () => {
    const l: PvLabel = {
      ...SPEC_171,
      metadataAreas: [
        { offset: bytes(4096), size: bytes(1044480) },
        { offset: bytes(66060288), size: bytes(1048576) },
      ],
      bootloaderAreas: [{ offset: bytes(1048576), size: bytes(1048576) }],
      dataAreas: [{ offset: bytes(2097152), size: bytes(0) }],
    };
    const sec = encodeLabel(l);
    // With two mdas everything after 0x278 (0x78 in the sector) moves by 16 bytes.
    assert.equal(u32(sec, 0x78), 66060288);
    assert.equal(u32(sec, 0x98), 2, "ext version");
    assert.deepEqual(found(findLabel(head(sec))), l);
  });

  test("a list entry with offset 0 terminates the list, whatever its size", () => {
    const sec = spec171Label();
    new DataView(sec.buffer).setUint32(0x80, 12345, true); // the mda terminator's size field
    fixCrc(sec);
    assert.deepEqual(found(findLabel(head(sec))).metadataAreas, SPEC_171.metadataAreas);
  });

  test("more than two metadata areas → rejected", () => {
    const sec = encodeLabel({
      ...SPEC_171,
      metadataAreas: [1, 2, 3].map((i) => ({ offset: bytes(i * 4096), size: bytes(4096) })),
    });
    assert.match(problems(findLabel(head(sec)))[0]!, /3 metadata areas/);
  });

  test("lists running past byte 511 → rejected, not a crash", () => {
    // Fill everything after the device size with non-zero offsets: no terminator fits.
    const sec = spec171Label();
    const dv = new DataView(sec.buffer);
    for (let p = 0x48; p + 8 <= 512; p += 8) dv.setBigUint64(p, 4096n, true);
    fixCrc(sec);
    assert.match(problems(findLabel(head(sec)))[0]!, /runs past the end of the label sector/);
  });

  test("invalid PV UUID characters → rejected", () => {
    const sec = spec171Label();
    sec[0x20 + 5] = 0x5f; // "_"
    fixCrc(sec);
    assert.match(problems(findLabel(head(sec)))[0]!, /invalid PV UUID/);
  });

  test("u64 fields beyond 2^53-1 → rejected", () => {
    const sec = spec171Label();
    new DataView(sec.buffer).setBigUint64(0x40, 1n << 60n, true);
    fixCrc(sec);
    assert.match(problems(findLabel(head(sec)))[0]!, /device size .* too large/);
  });

  test("LVM's lenient quirk (§3.2 rule 3) is not followed: no LABELONE, no label", () => {
    const sec = spec171Label();
    sec.fill(0, 0, 8);
    assert.deepEqual(findLabel(head(sec)), { label: null, problems: [] });
  });

  test("encodeLabel zero-fills and rejects an invalid PV UUID", () => {
    const sec = encodeLabel(SPEC_171);
    assert.equal(sec.length, 512);
    assert.throws(
      () => encodeLabel({ ...SPEC_171, pvUuid: "short" }),
      (e) => e instanceof DvmError && e.exitCode === 7,
    );
  });

  test("encodeLabel of a header that does not fit the sector throws a DvmError", () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ offset: bytes(4096 * (i + 1)), size: bytes(0) }));
    assert.throws(
      () => encodeLabel({ ...SPEC_171, dataAreas: many }),
      (e) => e instanceof DvmError,
    );
  });

  test("property: decode(encode(label)) == label for random labels", () => {
    const idChar = fc.constantFrom(..."0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#");
    const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    // fc.record builds null-prototype objects; the decoder returns plain ones.
    const area = fc
      .tuple(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), safe)
      .map(([offset, size]) => ({ offset: bytes(offset), size: bytes(size) }));
    const labelArb = fc
      .record({
        sector: fc.integer({ min: 0, max: 3 }),
        raw: fc.string({ unit: idChar, minLength: 32, maxLength: 32 }),
        deviceSize: safe.map(bytes),
        dataAreas: fc.array(area, { maxLength: 4 }),
        metadataAreas: fc.array(area, { maxLength: 2 }),
        bootloaderAreas: fc.array(area, { maxLength: 1 }),
        extVersion: fc.integer({ min: 1, max: 0xffffffff }),
        extFlags: fc.integer({ min: 0, max: 0xffffffff }),
      })
      .map(({ raw, ...rest }): PvLabel => ({ ...rest, pvUuid: formatId(raw) }));
    fc.assert(
      fc.property(labelArb, (l) => {
        const sec = encodeLabel(l);
        assert.equal(sec.length, 512);
        assert.deepEqual(found(findLabel(head(sec, l.sector))), l);
        assert.deepEqual(encodeLabel(found(findLabel(head(sec, l.sector)))), sec);
      }),
      { numRuns: 500 },
    );
  });

  test("property: version-0 labels (no bootloader list) round-trip too", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 3 }),
        (flags, sector) => {
          const l: PvLabel = { ...SPEC_171, sector, extVersion: 0, extFlags: flags };
          assert.deepEqual(found(findLabel(head(encodeLabel(l), sector))), l);
        },
      ),
    );
  });
});
