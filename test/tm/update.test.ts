import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, run, scratch } from "../helpers.ts";
import { makeVg } from "./images.ts";

const EDIT = join(ROOT, "test/tm/mutators/edit.mjs");

describe("dvm-tm update / recover on image files", () => {
  let s: ReturnType<typeof scratch>;
  let lock: string[];
  before(() => {
    s = scratch();
    lock = ["--lock-dir", `${s.dir}/lock`];
  });
  after(() => s.cleanup());
  /** dvm-tm with --devices and --lock-dir placed before a mutator's "--". */
  const tm = (args: string[], devs: string[]) => {
    const opts = ["--devices", devs.join(","), ...lock];
    const dash = args.indexOf("--");
    return run(
      "dvm-tm",
      dash < 0 ? [...args, ...opts] : [...args.slice(0, dash), ...opts, ...args.slice(dash)],
    );
  };

  test("metadata larger than the metadata area can hold: exit 6, nothing changed", () => {
    const { paths } = makeVg(s.dir, "big", [16], []);
    const before = readFileSync(paths[0]!);
    // ~60,000 tags: more text than the 521,472 bytes a default 1020 KiB area allows.
    const r = tm(["update", "big", "--", "node", EDIT, "grow-text", "60000"], paths);
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, /exceeds the 521472-byte limit/);
    assert.ok(readFileSync(paths[0]!).equals(before));
  });

  test("an invalid document from the mutator (extent used twice) changes nothing", () => {
    const { paths } = makeVg(s.dir, "dup", [16], [{ name: "a", extents: [[0, 0, 2]] }]);
    const before = readFileSync(paths[0]!);
    const r = tm(["update", "dup", "--", "node", EDIT, "add-lv", "b", "pv0", "1", "2"], paths);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /extent 1 of pv0 is used by both LV a and LV b/);
    assert.ok(readFileSync(paths[0]!).equals(before));
  });

  test("recover marks missing PVs MISSING; --remove-missing drops them with the LVs wholly on them", () => {
    const { paths, uuids } = makeVg(
      s.dir,
      "rec",
      [16, 16, 16],
      [
        { name: "onA", extents: [[0, 0, 1]] },
        { name: "onC", extents: [[2, 0, 1]] },
        {
          name: "both",
          extents: [
            [0, 1, 1],
            [2, 1, 1],
          ],
        },
      ],
    );
    const present = [paths[0]!, paths[1]!];
    assert.equal(tm(["read", "rec"], present).status, 4);
    const r = tm(["recover", "rec"], present);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    const missing = doc.vg.physical_volumes.find((pv: { id: string }) => pv.id === uuids[2]);
    assert.deepEqual(missing.flags, ["MISSING"]);
    assert.equal(missing.device, "[unknown]");
    // The PV is still absent, so reads stay partial, but the present PVs agree on the new seqno.
    const partial = tm(["read", "rec", "--partial"], present);
    assert.equal(JSON.parse(partial.stdout).vg.seqno, doc.vg.seqno);
    // Nothing more to do a second time.
    const again = tm(["recover", "rec"], present);
    assert.equal(again.status, 0);
    assert.match(again.stderr, /no missing PVs to recover/);
    // "both" lies partly on the missing PV: refused without --force.
    const refuse = tm(["recover", "rec", "--remove-missing"], present);
    assert.equal(refuse.status, 5, refuse.stderr);
    assert.match(refuse.stderr, /both/);
    const forced = tm(["recover", "rec", "--remove-missing", "--force"], present);
    assert.equal(forced.status, 0, forced.stderr);
    const after = JSON.parse(forced.stdout).vg;
    assert.deepEqual(
      after.physical_volumes.map((pv: { id: string }) => pv.id),
      [uuids[0], uuids[1]],
    );
    assert.deepEqual(
      after.logical_volumes.map((lv: { name: string }) => lv.name),
      ["onA"],
    );
    // Complete again: an ordinary read works without --partial.
    assert.equal(tm(["verify", "rec"], present).status, 0);
  });

  test("recover --remove-missing keeps LVs off the missing PV without --force", () => {
    const { paths } = makeVg(
      s.dir,
      "rec2",
      [16, 16],
      [
        { name: "keep", extents: [[0, 0, 1]] },
        { name: "gone", extents: [[1, 0, 1]] },
      ],
    );
    const r = run("dvm", ["vg", "reduce", "rec2", "--missing", "--devices", paths[0]!, ...lock]);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(tm(["read", "rec2"], [paths[0]!]).stdout);
    assert.deepEqual(
      doc.vg.logical_volumes.map((lv: { name: string }) => lv.name),
      ["keep"],
    );
    assert.equal(doc.vg.physical_volumes.length, 1);
  });
});
