import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dmName, dmUuid, vgUuidPrefix } from "../../src/activate/names.js";
import { desiredState } from "../../src/activate/vol.js";
import type { DmStateDoc } from "../../src/dm/docs.js";
import { printTable } from "../../src/dm/target.js";
import { DvmError } from "../../src/lib/errors.js";
import { checkDoc } from "../../src/lib/schema.js";
import { rawId } from "../../src/lvm2/uuid.js";
import { lvCreate, lvExtend } from "../../src/manip/index.js";
import { idGen } from "../manip/helpers.ts";
import { addLv, exampleVg, seg, vgOn } from "./helpers.ts";

/** dvm-vol-activate: LVM2's names, uuids and tables for the LVs of a VG. */

const tables = (s: DmStateDoc) => Object.fromEntries(s.devices.map((d) => [d.name, printTable(d.table!)]));

function fails(code: number, fn: () => unknown, re?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DvmError, `a DvmError, got ${String(e)}`);
    assert.equal(e.exitCode, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe("names and uuids", () => {
  it("doubles every - inside VG and LV names; layers are appended with a single -", () => {
    assert.equal(dmName("vg", "lv"), "vg-lv");
    assert.equal(dmName("my-vg", "data-1"), "my--vg-data--1");
    assert.equal(dmName("a--b", "-x-", "real"), "a----b---x---real");
    assert.equal(dmName("vg", "lv", "missing_0_1"), "vg-lv-missing_0_1");
  });

  it("uuid: LVM- + VG id + LV id without dashes, layer suffix after a -", () => {
    const vg = "hsNEIz-PEMM-syF6-OfBI-paCz-QWuc-QxbvtL";
    const lv = "Voz8Zq-lzi4-yjTz-p06q-osLN-KLLv-HQWP8T";
    assert.equal(vgUuidPrefix(vg), "LVM-hsNEIzPEMMsyF6OfBIpaCzQWucQxbvtL");
    assert.equal(dmUuid(vg, lv), "LVM-hsNEIzPEMMsyF6OfBIpaCzQWucQxbvtLVoz8Zqlzi4yjTzp06qosLNKLLvHQWP8T");
    assert.equal(dmUuid(vg, lv).length, 68);
    assert.equal(dmUuid(vg, lv, "real"), `${dmUuid(vg, lv)}-real`);
  });

  it("refuses names libdm would refuse (128 bytes or more) and malformed ids", () => {
    fails(2, () => dmName("v".repeat(64), "l".repeat(63)), /longer than 127/);
    assert.equal(dmName("v".repeat(63), "l".repeat(63)).length, 127);
    fails(2, () => dmUuid("short", "Voz8Zq-lzi4-yjTz-p06q-osLN-KLLv-HQWP8T"), /VG id/);
  });

  it("desired devices carry the VG's escaped names and uuids", () => {
    const doc = vgOn([10], "my-vg");
    const lv = addLv(doc, "data-1", [seg(0, 2, ["pv0", 0])]);
    const s = desiredState(doc, ["data-1"]);
    checkDoc("dm-state", s, "test");
    assert.equal(s.source, "desired");
    assert.equal(s.uuid_prefix, `LVM-${rawId(doc.vg.id)}`);
    assert.deepEqual(s.devices, [
      {
        name: "my--vg-data--1",
        uuid: `LVM-${rawId(doc.vg.id)}${rawId(lv.id)}`,
        read_only: false,
        table: [
          {
            start_sectors: 0,
            length_sectors: 16384,
            type: "linear",
            device: "/dev/sdb",
            offset_sectors: 2048,
          },
        ],
        depends_on: [],
        lv: "my-vg/data-1",
      },
    ]);
  });
});

describe("segments to targets", () => {
  it("reproduces device-mapper.md §5.3's example (paths instead of 8:16 / 8:32)", () => {
    assert.deepEqual(tables(desiredState(exampleVg(), "all")), {
      "vg-lin": "0 819200 linear /dev/sdb 2048\n819200 81920 linear /dev/sdc 83968\n",
      "vg-str": "0 163840 striped 2 128 /dev/sdb 821248 /dev/sdc 2048\n",
    });
  });

  it("multi-segment LVs made by the mutators: one target per segment at pe_start + pe·extent_size", () => {
    const newId = idGen("N");
    let doc = vgOn([4, 10]);
    const base = { time: 1, host: "h", newId };
    doc = lvCreate(doc, { ...base, name: "a", size: 2 * 8192 }).doc; // pv0 0-1
    doc = lvCreate(doc, { ...base, name: "b", size: 8192 }).doc; // pv0 2
    doc = lvExtend(doc, { name: "a", size: { sectors: 3 * 8192, relative: true } }).doc; // pv0 3, pv1 0-1
    doc.pv_devices = vgOn([4, 10]).pv_devices.map((d, i) => ({
      ...d,
      pv_uuid: doc.vg.physical_volumes[i]!.id,
    }));
    assert.deepEqual(tables(desiredState(doc, ["a"])), {
      "vg-a": [
        "0 16384 linear /dev/sdb 2048", // le 0-1 at pe 0-1
        "16384 8192 linear /dev/sdb 26624", // le 2 at pe 3: 2048 + 3·8192
        "24576 16384 linear /dev/sdc 2048\n", // le 3-4 at pe 0-1 of pv1
      ].join("\n"),
    });
  });

  it("a 4-stripe segment: length = area_len · stripes · extent_size, stripe size from the metadata", () => {
    const doc = vgOn([50, 50, 50], "vg", 2048);
    addLv(doc, "s", [seg(0, 12, ["pv0", 5, "pv1", 0, "pv2", 7], { stripe_size: 64 })]);
    assert.deepEqual(tables(desiredState(doc, ["s"])), {
      "vg-s": "0 24576 striped 3 64 /dev/sdb 12288 /dev/sdc 2048 /dev/sdd 16384\n",
    });
  });

  it("error and zero segment types map to their targets", () => {
    const doc = vgOn([10]);
    addLv(doc, "e", [{ start_extent: 0, extent_count: 3, type: "error" }]);
    addLv(doc, "z", [seg(0, 1, ["pv0", 0]), { start_extent: 1, extent_count: 2, type: "zero" }]);
    assert.deepEqual(tables(desiredState(doc, "all")), {
      "vg-e": "0 24576 error \n",
      "vg-z": "0 8192 linear /dev/sdb 2048\n8192 16384 zero \n",
    });
  });

  it("refuses segments that are not contiguous, malformed areas and extents beyond a PV", () => {
    const mk = (segments: Parameters<typeof addLv>[2]) => {
      const doc = vgOn([10]);
      addLv(doc, "x", segments);
      return () => desiredState(doc, ["x"]);
    };
    fails(2, mk([seg(0, 1, ["pv0", 0]), seg(2, 1, ["pv0", 1])]), /contiguous/);
    fails(2, mk([seg(0, 1, ["pv0"])]), /pairs/);
    fails(2, mk([seg(0, 2, ["pv0", 9])]), /beyond the end of pv0/);
    fails(2, mk([seg(0, 1, ["nosuch", 0])]), /no PV or LV/);
    fails(2, mk([seg(0, 3, ["pv0", 0, "pv0", 5])]), /multiple of the 2 stripes/);
    fails(2, mk([{ ...seg(0, 2, ["pv0", 0, "pv0", 5]), stripe_size: 0 }]), /stripe_size/);
    fails(2, mk([{ ...seg(0, 1, ["pv0", 0]), stripe_count: 2 }]), /stripe_count 2 but 1/);
  });
});

describe("LV selection, read-only, dependencies", () => {
  it('"all" is every visible LV; named LVs only those; an unknown LV is exit 3', () => {
    const doc = exampleVg();
    addLv(doc, "hidden", [seg(0, 1, ["pv1", 50])], ["READ", "WRITE"]);
    assert.deepEqual(
      desiredState(doc, "all").devices.map((d) => d.name),
      ["vg-lin", "vg-str"],
    );
    assert.deepEqual(
      desiredState(doc, ["str"]).devices.map((d) => d.name),
      ["vg-str"],
    );
    fails(3, () => desiredState(doc, ["nope"]), /vg\/nope/);
  });

  it("an LV without WRITE is read-only", () => {
    const doc = vgOn([10]);
    addLv(doc, "ro", [seg(0, 1, ["pv0", 0])], ["READ", "VISIBLE"]);
    addLv(doc, "rw", [seg(0, 1, ["pv0", 1])]);
    assert.deepEqual(
      desiredState(doc, "all").devices.map((d) => [d.name, d.read_only]),
      [
        ["vg-ro", true],
        ["vg-rw", false],
      ],
    );
  });

  it("an area on a hidden LV activates that LV first and references /dev/mapper at le·extent_size", () => {
    const doc = vgOn([20]);
    addLv(doc, "top", [seg(0, 2, ["inner", 3])]);
    const inner = addLv(doc, "inner", [seg(0, 6, ["pv0", 4])], ["READ", "WRITE"]);
    const s = desiredState(doc, "all");
    assert.deepEqual(
      s.devices.map((d) => [d.name, d.depends_on]),
      [
        ["vg-inner", []],
        ["vg-top", ["vg-inner"]],
      ],
    );
    assert.equal(s.devices[0]!.uuid, dmUuid(doc.vg.id, inner.id));
    assert.deepEqual(tables(s), {
      "vg-inner": "0 49152 linear /dev/sdb 34816\n",
      "vg-top": "0 16384 linear /dev/mapper/vg-inner 24576\n",
    });
    // A shared dependency appears once.
    addLv(doc, "top2", [seg(0, 1, ["inner", 0])]);
    assert.deepEqual(
      desiredState(doc, "all").devices.map((d) => d.name),
      ["vg-inner", "vg-top", "vg-top2"],
    );
  });

  it("refuses LVs stacked on themselves and areas beyond the end of an LV", () => {
    const doc = vgOn([20]);
    addLv(doc, "a", [seg(0, 1, ["b", 0])]);
    addLv(doc, "b", [seg(0, 1, ["a", 0])]);
    fails(2, () => desiredState(doc, ["a"]), /stacked on itself/);
    const doc2 = vgOn([20]);
    addLv(doc2, "a", [seg(0, 3, ["b", 0])]);
    addLv(doc2, "b", [seg(0, 2, ["pv0", 0])], ["READ", "WRITE"]);
    fails(2, () => desiredState(doc2, ["a"]), /beyond the end of LV b/);
  });
});

describe("missing PVs", () => {
  const withoutSdc = () => {
    const doc = exampleVg();
    doc.pv_devices = doc.pv_devices.filter((d) => d.path !== "/dev/sdc");
    return doc;
  };

  it("a needed PV that was not found is exit 4; LVs not on it still activate", () => {
    fails(4, () => desiredState(withoutSdc(), ["lin"]), /pv1 .* is missing/);
    fails(4, () => desiredState(withoutSdc(), "all"));
    const doc = withoutSdc();
    addLv(doc, "only0", [seg(0, 1, ["pv0", 150])]);
    assert.deepEqual(Object.keys(tables(desiredState(doc, ["only0"]))), ["vg-only0"]);
  });

  it("a PV flagged MISSING is missing even when a device is listed", () => {
    const doc = exampleVg();
    doc.vg.physical_volumes[1]!.flags = ["MISSING"];
    fails(4, () => desiredState(doc, ["str"]), /missing/);
  });

  it("partial: each missing area maps to an error device vg-lv-missing_<seg>_<area>", () => {
    const doc = withoutSdc();
    const s = desiredState(doc, "all", { partial: true });
    const lin = doc.vg.logical_volumes![0]!;
    assert.deepEqual(
      s.devices.map((d) => [d.name, d.depends_on]),
      [
        ["vg-lin-missing_1_0", []],
        ["vg-lin", ["vg-lin-missing_1_0"]],
        ["vg-str-missing_0_1", []],
        ["vg-str", ["vg-str-missing_0_1"]],
      ],
    );
    assert.equal(s.devices[0]!.uuid, `${dmUuid(doc.vg.id, lin.id)}-missing_1_0`);
    assert.deepEqual(tables(s), {
      "vg-lin-missing_1_0": "0 81920 error \n",
      "vg-lin": "0 819200 linear /dev/sdb 2048\n819200 81920 linear /dev/mapper/vg-lin-missing_1_0 0\n",
      "vg-str-missing_0_1": "0 81920 error \n",
      "vg-str": "0 163840 striped 2 128 /dev/sdb 821248 /dev/mapper/vg-str-missing_0_1 0\n",
    });
  });
});

describe("segment types without a module", () => {
  it("an LV of an unknown type is refused by name, exit 2", () => {
    const doc = exampleVg();
    addLv(doc, "pool", [{ start_extent: 0, extent_count: 1, type: "thin-pool", metadata: "m", pool: "d" }]);
    fails(2, () => desiredState(doc, ["pool"]), /vg\/pool \(segment type thin-pool\).*no activation module/);
    fails(2, () => desiredState(doc, "all"), /vg\/pool/);
    // Other LVs are not affected when named.
    assert.equal(desiredState(doc, ["lin"]).devices.length, 1);
  });

  it("an LV used by an LV of an unknown type (a snapshot's origin) is refused too", () => {
    const doc = exampleVg();
    addLv(
      doc,
      "snapshot0",
      [{ start_extent: 0, extent_count: 1, type: "snapshot", origin: "lin", cow_store: "str" }],
      ["READ", "WRITE"],
    );
    fails(2, () => desiredState(doc, ["lin"]), /vg\/lin \(used by snapshot0, segment type snapshot\)/);
    fails(2, () => desiredState(doc, "all"), /vg\/lin .*vg\/str/);
  });

  it("a hidden dependency of an unknown type is refused under the needed LV's stack", () => {
    const doc = vgOn([20]);
    addLv(doc, "top", [seg(0, 1, ["m", 0])]);
    addLv(
      doc,
      "m",
      [{ start_extent: 0, extent_count: 1, type: "raid1", device_count: 2, raids: ["x", "y"] }],
      ["READ", "WRITE"],
    );
    fails(2, () => desiredState(doc, ["top"]), /vg\/m \(segment type raid1\)/);
  });
});
