import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { LVM_CRC_SEED, lvmCrc } from "../../src/lvm2/crc.js";

/** The spec's table algorithm (§5), written out independently of the zlib shortcut in crc.ts. */
const TABLE = Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function referenceCrc(data: Uint8Array, crc = 0xf597a6cf): number {
  for (const b of data) crc = (TABLE[(crc ^ b) & 0xff]! ^ (crc >>> 8)) >>> 0;
  return crc >>> 0;
}

describe("lvmCrc (§5)", () => {
  test("seed is 0xF597A6CF", () => assert.equal(LVM_CRC_SEED, 0xf597a6cf));

  test("spec vectors: empty input and 123456789", () => {
    assert.equal(lvmCrc(new Uint8Array(0)), 0xf597a6cf);
    assert.equal(lvmCrc(Buffer.from("123456789", "latin1")), 0x4991cf02);
  });

  test("matches the table algorithm of the spec", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (data) => {
        assert.equal(lvmCrc(data), referenceCrc(data));
      }),
      { numRuns: 300 },
    );
  });

  test("result is an unsigned 32-bit integer", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        const c = lvmCrc(data);
        assert.ok(Number.isInteger(c) && c >= 0 && c <= 0xffffffff);
      }),
    );
  });

  test("incremental equals whole (wrapped text copies are checksummed piece by piece)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.nat(), (data, at) => {
        const cut = data.length === 0 ? 0 : at % (data.length + 1);
        const first = lvmCrc(data.subarray(0, cut));
        assert.equal(lvmCrc(data.subarray(cut), first), lvmCrc(data));
      }),
      { numRuns: 300 },
    );
    const text = Buffer.from("123456789", "latin1");
    assert.equal(lvmCrc(text.subarray(4), lvmCrc(text.subarray(0, 4))), 0x4991cf02);
  });

  test("works on subarrays at any byte offset", () => {
    const buf = Buffer.from("xx123456789yy", "latin1");
    assert.equal(lvmCrc(buf.subarray(2, 11)), 0x4991cf02);
  });
});
