import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { FrameReader, frame, MAX_MESSAGE_BYTES, MessageTooLarge } from "../../src/polld/framing.ts";

/** libdaemon framing (lvmpolld.md §2.1): body + "\n##\n", split at the first terminator. */

const bodies = (r: FrameReader, chunks: Buffer[]) =>
  chunks.flatMap((c) => r.push(c)).map((b) => b.toString());

test("one message in one chunk; the terminator is stripped", () => {
  assert.deepEqual(bodies(new FrameReader(), [Buffer.from('request="dump"\n##\n')]), ['request="dump"']);
});

test("frame() appends the terminator", () => {
  assert.equal(frame('response = "OK"\n').toString(), 'response = "OK"\n\n##\n');
});

test("a message sent one byte at a time", () => {
  const r = new FrameReader();
  const msg = Buffer.from('request = "hello"\n\n##\n');
  const got: string[] = [];
  for (const b of msg) got.push(...r.push(Buffer.from([b])).map(String));
  assert.deepEqual(got, ['request = "hello"\n']);
  assert.equal(r.pending, 0);
});

test("two requests in one write are two messages", () => {
  assert.deepEqual(bodies(new FrameReader(), [Buffer.from("a=1\n##\nb=2\n##\n")]), ["a=1", "b=2"]);
});

test("an empty body", () => {
  assert.deepEqual(bodies(new FrameReader(), [Buffer.from("\n##\n")]), [""]);
});

test("an unfinished message stays pending", () => {
  const r = new FrameReader();
  assert.deepEqual(r.push(Buffer.from("a=1\n##")), []);
  assert.equal(r.pending, 6);
  assert.deepEqual(bodies(r, [Buffer.from("\n")]), ["a=1"]);
});

test("a message over 16 MiB is refused, arriving whole or in pieces", () => {
  const big = Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x61);
  assert.throws(() => new FrameReader().push(Buffer.concat([big, Buffer.from("\n##\n")])), MessageTooLarge);
  const r = new FrameReader();
  assert.throws(() => {
    for (let off = 0; off < big.length + 8; off += 1 << 20) r.push(big.subarray(off, off + (1 << 20)));
    r.push(Buffer.alloc(16, 0x61));
  }, MessageTooLarge);
  // Exactly 16 MiB is still a message.
  const ok = Buffer.alloc(MAX_MESSAGE_BYTES, 0x61);
  assert.equal(
    new FrameReader().push(Buffer.concat([ok, Buffer.from("\n##\n")]))[0]!.length,
    MAX_MESSAGE_BYTES,
  );
});

test("property: any chunking of framed bodies gives back the bodies", () => {
  // Bodies whose first terminator is their own (a body ending "\n#" would end earlier).
  const body = fc
    .string({ unit: fc.constantFrom("a", "\n", "#", "=", '"', "x", "\\") })
    .filter((s) => `${s}\n##\n`.indexOf("\n##\n") === s.length);
  fc.assert(
    fc.property(fc.array(body, { maxLength: 6 }), fc.array(fc.nat(40), { maxLength: 12 }), (bs, cuts) => {
      const wire = Buffer.concat(bs.map((b) => frame(b)));
      const r = new FrameReader();
      const got: string[] = [];
      let at = 0;
      for (const c of cuts) {
        got.push(...r.push(wire.subarray(at, at + c)).map(String));
        at = Math.min(wire.length, at + c);
      }
      got.push(...r.push(wire.subarray(at)).map(String));
      assert.deepEqual(got, bs);
      assert.equal(r.pending, 0);
    }),
  );
});
