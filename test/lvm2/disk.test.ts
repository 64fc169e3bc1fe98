import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { memoryDevice } from "../../src/lib/blockdev.js";
import { bytes } from "../../src/lib/units.js";
import { lvmCrc } from "../../src/lvm2/crc.js";
import { type PvRead, readPv, TextCache } from "../../src/lvm2/disk.js";
import { decodeMdaHeader, encodeMdaHeader, RAW_LOCN_IGNORED, ringPieces } from "../../src/lvm2/mda.js";
import { parseVgText } from "../../src/lvm2/vg.js";
import {
  buildImage,
  fixtureBytes,
  latin1,
  lvmFixtures,
  MDA1_SIZE,
  MDA1_START,
  SPEC_17_2_TEXT,
  spec172Image,
} from "./spec-vectors.js";

const SPEC_NO_NUL = SPEC_17_2_TEXT.slice(0, -1);
const read = (img: Uint8Array) => readPv(memoryDevice("img", img), new TextCache());

/** Rewrite the mda header at MDA1_START after `change` (CRC recomputed). */
function patchHeader(img: Uint8Array, change: (h: ReturnType<typeof decodeMdaHeader>) => void) {
  const h = decodeMdaHeader(img.subarray(MDA1_START, MDA1_START + 512), bytes(MDA1_START));
  change(h);
  img.set(encodeMdaHeader(h), MDA1_START);
}

function onlyMda(r: PvRead) {
  assert.ok(r.label, `label: ${r.labelProblems.join("; ")}`);
  assert.equal(r.mdas.length, 1);
  return r.mdas[0]!;
}

describe("readPv on the §17.2 image", () => {
  test("returns the label and the VG", () => {
    const r = read(spec172Image());
    assert.equal(r.label!.pvUuid, "Zt6pQ1-aB9c-DeFg-HiJk-LmNo-PqRs-TuVwXy");
    assert.deepEqual(r.labelProblems, []);
    const m = onlyMda(r);
    assert.equal(m.state, "ok", m.error);
    assert.equal(m.start, 4096);
    assert.equal(m.size, 1044480);
    assert.equal(m.text, SPEC_NO_NUL);
    assert.deepEqual(m.vg, parseVgText(SPEC_17_2_TEXT));
    assert.equal(m.vg!.vg.name, "vgdemo");
    assert.equal(m.vg!.vg.seqno, 2);
    assert.equal(m.vg!.vg.logical_volumes![0]!.name, "lv0");
  });

  test("a 64 MiB image (the size LVM saw) reads the same", () => {
    const r = read(spec172Image(64 * 1024 * 1024));
    assert.equal(onlyMda(r).state, "ok");
  });

  test("IGNORED flag in slot 0 → state ignored, no VG", () => {
    const img = spec172Image();
    patchHeader(img, (h) => {
      h.committed.flags |= RAW_LOCN_IGNORED;
    });
    const m = onlyMda(read(img));
    assert.equal(m.state, "ignored");
    assert.equal(m.vg, undefined);
    assert.equal(m.text, undefined);
  });

  test("slot 1 populated: slot 0 is still what is read", () => {
    const img = spec172Image();
    patchHeader(img, (h) => {
      h.precommitted = { offset: bytes(1536), size: bytes(2000), checksum: 0x12345678, flags: 0 };
    });
    img.fill(0x41, MDA1_START + 1536, MDA1_START + 1536 + 2000); // junk where slot 1 points
    const m = onlyMda(read(img));
    assert.equal(m.state, "ok", m.error);
    assert.equal(m.text, SPEC_NO_NUL);
    assert.equal(m.header!.precommitted.size, 2000);
  });

  test("empty slot 0 → state empty (orphan PV)", () => {
    const img = buildImage({ size: spec172Image().length, mdas: [{ start: MDA1_START, size: MDA1_SIZE }] });
    assert.equal(onlyMda(read(img)).state, "empty");
  });

  test("bad text CRC → bad, with the reason", () => {
    const img = spec172Image();
    img[MDA1_START + 512 + 10]! ^= 1;
    const m = onlyMda(read(img));
    assert.equal(m.state, "bad");
    assert.match(m.error!, /checksum mismatch/);
  });

  test("bad header CRC → bad", () => {
    const img = spec172Image();
    img[MDA1_START + 0x30]! ^= 1;
    const m = onlyMda(read(img));
    assert.equal(m.state, "bad");
    assert.match(m.error!, /header checksum/);
  });

  test("text not starting with the VG name (valid CRC) → bad (§10.4)", () => {
    for (const t of [`# comment\n${SPEC_17_2_TEXT}`, ` ${SPEC_17_2_TEXT}`, `{${SPEC_17_2_TEXT}`]) {
      const img = buildImage({
        size: spec172Image().length,
        mdas: [{ start: MDA1_START, size: MDA1_SIZE, text: latin1(t) }],
      });
      const m = onlyMda(read(img));
      assert.equal(m.state, "bad", JSON.stringify(t.slice(0, 12)));
      assert.match(m.error!, /begins with an invalid VG name/);
    }
  });

  test("the leading name must be the VG section's name", () => {
    const image = (t: string) =>
      buildImage({
        size: spec172Image().length,
        mdas: [{ start: MDA1_START, size: MDA1_SIZE, text: latin1(t) }],
      });
    const ok = onlyMda(read(image(SPEC_17_2_TEXT.replace("vgdemo {", "vgx\n{"))));
    assert.equal(ok.state, "ok", "a newline between the name and { is fine");
    assert.equal(ok.vg!.vg.name, "vgx");
    const other = onlyMda(read(image(`vgx\n= 1\n${SPEC_17_2_TEXT}`)));
    assert.equal(other.state, "bad");
    assert.match(other.error!, /begins with "vgx" but its VG section is "vgdemo"/);
    const glued = onlyMda(read(image(`vgx=1\n${SPEC_17_2_TEXT}`)));
    assert.match(glued.error!, /invalid VG name "vgx=1"/);
  });

  test("unparseable text (valid CRC) → bad with the parser's message", () => {
    const img = buildImage({
      size: spec172Image().length,
      mdas: [
        {
          start: MDA1_START,
          size: MDA1_SIZE,
          text: latin1(SPEC_17_2_TEXT.replace("version = 1", "version = 08")),
        },
      ],
    });
    const m = onlyMda(read(img));
    assert.equal(m.state, "bad");
    assert.match(m.error!, /octal/);
  });

  test("mda header size different from the PV header's → bad", () => {
    const img = spec172Image();
    patchHeader(img, (h) => {
      h.size = bytes(MDA1_SIZE - 512);
    });
    assert.match(onlyMda(read(img)).error!, /differs from the PV header/);
  });

  test("an area running past the device end → bad, nothing huge is read", () => {
    const img = spec172Image();
    const r = read(img.slice(0, 512 * 1024));
    assert.match(onlyMda(r).error!, /runs past the device end/);
    const r2 = read(img.slice(0, 4096 + 100));
    assert.match(onlyMda(r2).error!, /beyond the device end/);
  });

  test("not a PV / damaged label", () => {
    assert.deepEqual(read(new Uint8Array(1 << 20)), { label: null, labelProblems: [], mdas: [] });
    assert.deepEqual(read(new Uint8Array(0)), { label: null, labelProblems: [], mdas: [] });
    assert.deepEqual(read(new Uint8Array(700)), { label: null, labelProblems: [], mdas: [] });
    const img = spec172Image();
    img[0x240]! ^= 1;
    const r = read(img);
    assert.equal(r.label, null);
    assert.match(r.labelProblems[0]!, /checksum/);
  });
});

describe("readPv: ring wrap and layouts", () => {
  test("wrapped copy in the default 1044480-byte area", () => {
    const off = MDA1_SIZE - 512; // 512 bytes at the end, 471 wrapped
    const img = buildImage({
      size: spec172Image().length,
      mdas: [{ start: MDA1_START, size: MDA1_SIZE, text: latin1(SPEC_17_2_TEXT), offset: off }],
    });
    const m = onlyMda(read(img));
    assert.equal(m.state, "ok", m.error);
    assert.equal(m.text, SPEC_NO_NUL);
    assert.deepEqual(
      ringPieces(m.header!, m.header!.committed).map((p) => p.length),
      [512, 471],
    );
    // Each piece really is where §7.2 says: the first at the end, the rest right after the header.
    assert.equal(Buffer.from(img.subarray(MDA1_START + off, MDA1_START + off + 6)).toString(), "vgdemo");
    assert.equal(img[MDA1_START + 512 + 471 - 1], 0, "the NUL is the last wrapped byte");
  });

  test("§7.2 geometry: area 32768, copy at 29184 of 5815 bytes (3584 + 2231)", () => {
    const pad = "x".repeat(5815 - SPEC_17_2_TEXT.length);
    const text = SPEC_17_2_TEXT.replace("vgdemo.", `vgdemo.${pad}`);
    assert.equal(text.length, 5815);
    const img = buildImage({
      size: 64 * 1024,
      peStart: 36864,
      mdas: [{ start: 4096, size: 32768, text: latin1(text), offset: 29184 }],
    });
    const m = onlyMda(read(img));
    assert.equal(m.state, "ok", m.error);
    assert.deepEqual(
      ringPieces(m.header!, m.header!.committed).map((p) => p.length),
      [3584, 2231],
    );
    assert.equal(m.vg!.top.description, `Write from lvcreate -n lv0 -L 8M vgdemo.${pad}`);
  });

  test("the CRC of a wrapped copy is over both pieces in logical order", () => {
    const t = latin1(SPEC_17_2_TEXT);
    const img = buildImage({
      size: 64 * 1024,
      mdas: [{ start: 4096, size: 32768, text: t, offset: 32768 - 100 }],
    });
    const h = decodeMdaHeader(img.subarray(4096, 4608), bytes(4096));
    const [a, b] = ringPieces(h, h.committed);
    const crc = lvmCrc(
      img.subarray(b!.offset, b!.offset + b!.length),
      lvmCrc(img.subarray(a!.offset, a!.offset + a!.length)),
    );
    assert.equal(crc, h.committed.checksum);
    assert.equal(onlyMda(read(img)).state, "ok");
  });

  test("label in sector 3 and two metadata areas (second at the device end)", () => {
    const size = 4 * 1024 * 1024;
    const t = latin1(SPEC_17_2_TEXT);
    const img = buildImage({
      size,
      sector: 3,
      mdas: [
        { start: 4096, size: MDA1_SIZE, text: t },
        { start: size - 1048576, size: 1048576, text: t, offset: 4096 },
      ],
    });
    const r = read(img);
    assert.equal(r.label!.sector, 3);
    assert.deepEqual(
      r.mdas.map((m) => [m.start, m.state]),
      [
        [4096, "ok"],
        [size - 1048576, "ok"],
      ],
    );
  });

  test("TextCache parses identical text once", () => {
    const cache = new TextCache();
    const io = memoryDevice("img", spec172Image());
    const a = readPv(io, cache).mdas[0]!.vg;
    const b = readPv(io, cache).mdas[0]!.vg;
    assert.ok(a && a === b);
  });

  test("first 8 KiB of an LVM-written PV (fixture): label, header and the vgcreate copy", () => {
    const head = fixtureBytes("pv-head-8k.bin");
    assert.equal(head.length, 8192);
    const img = new Uint8Array(1024 * 1024 + 4096);
    img.set(head);
    const r = read(img);
    assert.ok(r.label);
    assert.equal(r.label.extFlags, 1);
    assert.deepEqual(r.label.metadataAreas, [{ offset: 4096, size: 1044480 }]);
    const m = onlyMda(r);
    assert.equal(m.state, "ok", m.error);
    const txt = lvmFixtures().find((f) => f.name === "empty-1m-extents.txt")!.text;
    assert.equal(`${m.text}\0`, txt);
    assert.equal(m.vg!.vg.name, "fzempty");
    assert.equal(m.vg!.vg.physical_volumes[0]!.id, r.label.pvUuid);
  });
});
