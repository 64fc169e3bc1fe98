import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { DvmError } from "../../src/lib/errors.js";
import { type Bytes, bytes } from "../../src/lib/units.js";
import { lvmCrc } from "../../src/lvm2/crc.js";
import {
  checkText,
  decodeMdaHeader,
  EMPTY_LOCN,
  emptyMdaHeader,
  encodeMdaHeader,
  MDA_MAGIC,
  type MdaHeader,
  maxTextSize,
  nextCopyOffset,
  RAW_LOCN_IGNORED,
  type RawLocn,
  ringPieces,
} from "../../src/lvm2/mda.js";
import { SPEC_17_2_TEXT, SPEC_17_2_TEXT_CRC, spec171MdaHeader, spec172MdaHeader } from "./spec-vectors.js";

const u32 = (b: Uint8Array, at = 0) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);
const isCorrupt = (re?: RegExp) => (e: unknown) =>
  e instanceof DvmError && e.exitCode === 7 && (re === undefined || re.test(e.message));
const locn = (offset: number, size: number, checksum = 0, flags = 0): RawLocn => ({
  offset: bytes(offset),
  size: bytes(size),
  checksum,
  flags,
});
const header = (
  start: number,
  size: number,
  committed = EMPTY_LOCN,
  precommitted = EMPTY_LOCN,
): MdaHeader => ({
  start: bytes(start),
  size: bytes(size),
  committed,
  precommitted,
});
const fixCrc = (sec: Uint8Array) =>
  new DataView(sec.buffer, sec.byteOffset).setUint32(0, lvmCrc(sec.subarray(4, 512)), true);

describe("mda header (§6.1, §17)", () => {
  test("the captured §17.1 header decodes field by field", () => {
    const sec = spec171MdaHeader();
    assert.equal(u32(sec), 0xe404ea9d);
    assert.equal(lvmCrc(sec.subarray(4, 512)), 0xe404ea9d, "CRC of bytes 4-511");
    assert.deepEqual(Buffer.from(sec.subarray(4, 20)), MDA_MAGIC);
    assert.equal(MDA_MAGIC.toString("latin1"), " LVM2 x[5A%r0N*>");
    assert.deepEqual(decodeMdaHeader(sec, bytes(4096)), header(4096, 1044480, locn(1536, 1178, 0x329702c4)));
  });

  test("encodeMdaHeader reproduces §17.1 and §17.2 byte for byte", () => {
    for (const sec of [spec171MdaHeader(), spec172MdaHeader()])
      assert.deepEqual(encodeMdaHeader(decodeMdaHeader(sec, bytes(4096))), sec);
    const h172 = header(4096, 1044480, locn(512, 983, SPEC_17_2_TEXT_CRC));
    assert.equal(u32(encodeMdaHeader(h172)), 0x0c88433e);
    assert.equal(lvmCrc(Buffer.from(SPEC_17_2_TEXT, "latin1")), SPEC_17_2_TEXT_CRC);
  });

  test("empty orphan header (size 1044480 at 4096) has checksum 0xDB8ED616", () => {
    const sec = encodeMdaHeader(emptyMdaHeader(bytes(4096), bytes(1044480)));
    assert.equal(u32(sec), 0xdb8ed616);
    assert.equal(sec.length, 512);
    assert.ok(sec.subarray(40).every((b) => b === 0));
    const ignored = decodeMdaHeader(
      encodeMdaHeader(emptyMdaHeader(bytes(4096), bytes(1044480), true)),
      bytes(4096),
    );
    assert.equal(ignored.committed.flags, RAW_LOCN_IGNORED);
    assert.equal(ignored.committed.offset, 0);
  });

  test("property: decode(encode(h)) == h", () => {
    const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    const u32arb = fc.integer({ min: 0, max: 0xffffffff });
    const locnArb = fc.tuple(safe, safe, u32arb, u32arb).map(([o, s, c, f]) => locn(o, s, c, f));
    fc.assert(
      fc.property(
        safe,
        fc.integer({ min: 1024, max: Number.MAX_SAFE_INTEGER }),
        locnArb,
        locnArb,
        (st, sz, a, b) => {
          const h = header(st, sz, a, b);
          const sec = encodeMdaHeader(h);
          assert.deepEqual(decodeMdaHeader(sec, bytes(st)), h);
          assert.ok(
            sec.subarray(88).every((x) => x === 0),
            "slot 2 and the rest stay zero",
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  test("a longer buffer is fine: only the first 512 bytes count", () => {
    const buf = new Uint8Array(4096);
    buf.set(spec171MdaHeader());
    buf.fill(0xff, 512);
    assert.equal(decodeMdaHeader(buf, bytes(4096)).committed.size, 1178);
  });

  test("rejections (§6.2), each a DvmError with exit code 7", () => {
    const good = spec171MdaHeader();
    const at = bytes(4096);
    assert.throws(() => decodeMdaHeader(good.subarray(0, 511), at), isCorrupt(/truncated/));
    const badCrc = spec171MdaHeader();
    badCrc[0x30]! ^= 1;
    assert.throws(() => decodeMdaHeader(badCrc, at), isCorrupt(/checksum mismatch \(stored 0xe404ea9d/));
    const badMagic = spec171MdaHeader();
    badMagic[5] = 0x6c;
    fixCrc(badMagic);
    assert.throws(() => decodeMdaHeader(badMagic, at), isCorrupt(/magic/));
    const v2 = spec171MdaHeader();
    v2[20] = 2;
    fixCrc(v2);
    assert.throws(() => decodeMdaHeader(v2, at), isCorrupt(/version 2/));
    assert.throws(() => decodeMdaHeader(good, bytes(8192)), isCorrupt(/starts at 4096.*8192/));
    for (const size of [0, 511, 512, 1023]) {
      const small = encodeMdaHeader(header(4096, size));
      assert.throws(() => decodeMdaHeader(small, at), isCorrupt(/too small/), String(size));
    }
    const huge = spec171MdaHeader();
    new DataView(huge.buffer).setBigUint64(0x28, 1n << 60n, true); // slot 0 offset
    fixCrc(huge);
    assert.throws(() => decodeMdaHeader(huge, at), isCorrupt(/too large/));
  });
});

describe("ring geometry (§7)", () => {
  test("§7.2 wrap example: area 32768, copy at 29184 of 5815 bytes → 3584 + 2231", () => {
    const A = 4096;
    const pieces = ringPieces(header(A, 32768), locn(29184, 5815));
    assert.deepEqual(pieces, [
      { offset: A + 29184, length: 3584 },
      { offset: A + 512, length: 2231 },
    ]);
  });

  test("a copy that ends exactly at the area end does not wrap", () => {
    assert.deepEqual(ringPieces(header(0, 32768), locn(32768 - 1000, 1000)), [
      { offset: 31768, length: 1000 },
    ]);
    assert.deepEqual(ringPieces(header(4096, 1044480), locn(512, 983)), [{ offset: 4608, length: 983 }]);
  });

  test("property: pieces stay inside the ring and cover exactly size bytes without overlapping", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1024, max: 1 << 24 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 1 << 30 }),
        (S, o, s, A) => {
          const off = 512 + (o % (S - 512));
          const size = 1 + (s % (S - 512));
          const p = ringPieces(header(A, S), locn(off, size));
          assert.equal(
            p.reduce((n, x) => n + x.length, 0),
            size,
          );
          assert.equal(p[0]!.offset, A + off);
          assert.ok(p[0]!.offset + p[0]!.length <= A + S);
          if (p.length === 2) {
            assert.equal(p[1]!.offset, A + 512);
            assert.ok(
              p[1]!.offset + p[1]!.length <= p[0]!.offset,
              "wrapped part stops before the first part",
            );
          }
        },
      ),
    );
  });

  test("ringPieces rejects locations outside the ring", () => {
    const h = header(4096, 32768);
    for (const [o, s] of [
      [0, 100],
      [511, 100],
      [32768, 100],
      [40000, 1],
      [512, 0],
      [512, 32768 - 511],
      [512, 2 ** 52],
    ] as const)
      assert.throws(() => ringPieces(h, locn(o, s)), isCorrupt(), `${o}/${s}`);
    assert.doesNotThrow(() => ringPieces(h, locn(512, 32768 - 512)));
  });

  test("checkText compares the text CRC", () => {
    const t = Buffer.from(SPEC_17_2_TEXT, "latin1");
    checkText(t, locn(512, t.length, SPEC_17_2_TEXT_CRC));
    assert.throws(
      () => checkText(t, locn(512, t.length, SPEC_17_2_TEXT_CRC ^ 1)),
      isCorrupt(/checksum mismatch/),
    );
  });

  test("maxTextSize: 32 KiB → 15616, 1044480 → 521472", () => {
    assert.equal(maxTextSize(bytes(32768)), 15616);
    assert.equal(maxTextSize(bytes(1044480)), 521472);
  });
});

describe("nextCopyOffset (§7.3)", () => {
  const S32 = header(4096, 32768);
  const next = (h: MdaHeader, off: number, size: number, flags = 0): Bytes =>
    nextCopyOffset(h, locn(off, size, 0, flags));

  test("no previous copy (0/0) or an IGNORED slot 0 → 512", () => {
    assert.equal(nextCopyOffset(S32, EMPTY_LOCN), 512);
    assert.equal(next(S32, 1536, 1019, RAW_LOCN_IGNORED), 512);
  });

  test("the first copy of a new VG at 512 (shorter than 1024 bytes) is followed by 1536", () => {
    assert.equal(next(S32, 512, 983), 1536);
    assert.equal(next(header(4096, 1044480), 512, 983), 1536, "§17.2: LVM's lvcreate wrote seqno 3 at 1536");
  });

  test("observed placement sequence (32 KiB area): each next offset from the previous offset/size", () => {
    const observed: [number, number][] = [
      [1536, 1019],
      [2560, 1300],
      [4096, 1581],
      [6144, 1862],
    ];
    for (let i = 0; i + 1 < observed.length; i++) {
      const [o, s] = observed[i]!;
      assert.equal(next(S32, o, s), observed[i + 1]![0], `after ${o}/${s}`);
    }
    // … 30720/4117 (wraps) → 3072/4400 → 7680/4683
    assert.equal(next(S32, 30720, 4117), 3072);
    assert.equal(next(S32, 3072, 4400), 7680);
  });

  test("fewer than 512 bytes left after the old copy → back to 512", () => {
    assert.equal(next(S32, 32768 - 1000, 1000), 512, "ends at the last byte");
    assert.equal(next(S32, 32768 - 1000, 600), 512, "ends 400 bytes before the end");
    // Exactly 512 left: the next start would be S - 512, which is still allowed.
    assert.equal(next(S32, 32768 - 1536, 1024), 32768 - 512);
  });

  test("property: the result is 512-aligned and inside [512, S-512], and never overlaps the old copy", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4096 }), fc.nat(), fc.nat(), (sectors, o, s) => {
        const S = sectors * 512;
        const h = header(0, S);
        const off = 512 + (o % (S - 512));
        const size = 1 + (s % Math.max(1, maxTextSize(bytes(S)) || 1));
        const n = next(h, off, size);
        assert.equal(n % 512, 0);
        assert.ok(n >= 512 && n <= Math.max(512, S - 512), `${n} for S=${S}`);
        if (size <= maxTextSize(bytes(S)) && off % 512 === 0) {
          // The new copy's first byte is not inside the old copy.
          const old = ringPieces(h, locn(off, size));
          for (const piece of old) assert.ok(!(n >= piece.offset && n < piece.offset + piece.length));
        }
      }),
      { numRuns: 500 },
    );
  });
});
