import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { planActivation } from "../../src/activate/plan.js";
import { desiredState } from "../../src/activate/vol.js";
import type { DmStateDoc } from "../../src/dm/docs.js";
import { run, scratch } from "../helpers.ts";
import { emptyState, exampleVg } from "./helpers.ts";

/** dvm-vol-activate and dvm-dmactivate as processes (dist/ must be built). */

const json = (v: unknown) => JSON.stringify(v);

describe("dvm-vol-activate", () => {
  const doc = exampleVg();

  it("prints the desired dm state of every visible LV, or of the LVs named", () => {
    const all = run("dvm-vol-activate", ["vg"], json(doc));
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual(JSON.parse(all.stdout), desiredState(doc, "all"));
    const one = run("dvm-vol-activate", ["vg/str", "/dev/vg/str"], json(doc));
    assert.equal(one.status, 0, one.stderr);
    assert.deepEqual(JSON.parse(one.stdout), desiredState(doc, ["str"]));
  });

  it("missing PVs: exit 4, or error fillers with --partial", () => {
    const d = exampleVg();
    d.pv_devices.pop();
    const r = run("dvm-vol-activate", ["vg"], json(d));
    assert.equal(r.status, 4);
    assert.match(r.stderr, /^dvm-vol-activate: error: .*pv1 .*missing/);
    const p = run("dvm-vol-activate", ["vg", "--partial"], json(d));
    assert.equal(p.status, 0, p.stderr);
    assert.deepEqual(JSON.parse(p.stdout), desiredState(d, "all", { partial: true }));
  });

  it("not found: another VG or an unknown LV, exit 3", () => {
    assert.equal(run("dvm-vol-activate", ["other"], json(doc)).status, 3);
    const r = run("dvm-vol-activate", ["vg/nope"], json(doc));
    assert.equal(r.status, 3);
    assert.match(r.stderr, /vg\/nope/);
  });

  it("bad input: exit 2 naming the field; no input or bad arguments: exit 1", () => {
    const bad = run("dvm-vol-activate", ["vg"], json({ ...doc, version: 2 }));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /field \/version/);
    assert.equal(run("dvm-vol-activate", ["vg"], '{"kind": "vg", ').status, 2);
    const two = run("dvm-vol-activate", ["vg"], json(doc) + json(doc));
    assert.equal(two.status, 2);
    assert.match(two.stderr, /expected one vg document, got 2/);
    assert.equal(run("dvm-vol-activate", ["vg"], "").status, 1);
    assert.equal(run("dvm-vol-activate", ["vg/a/b"], json(doc)).status, 1);
    assert.equal(run("dvm-vol-activate", ["vg", "--bogus"], json(doc)).status, 1);
  });
});

describe("dvm-dmactivate", () => {
  const desired = desiredState(exampleVg(), "all");
  const current = emptyState();

  it("two dm-state documents on stdin (current, desired) -> the dm program", () => {
    const r = run("dvm-dmactivate", [], json(current) + json(desired));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), planActivation(current, desired));
    const c = run("dvm-dmactivate", ["--commit"], `${json(current)}\n${json(desired)}\n`);
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual(JSON.parse(c.stdout), planActivation(current, desired, { commit: true }));
  });

  it("reads --current and --desired files", () => {
    const { dir, cleanup } = scratch();
    try {
      writeFileSync(join(dir, "cur.json"), json(current));
      writeFileSync(join(dir, "des.json"), json(desired));
      const r = run("dvm-dmactivate", [
        "--current",
        join(dir, "cur.json"),
        "--desired",
        join(dir, "des.json"),
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), planActivation(current, desired));
      const gone = run("dvm-dmactivate", [
        "--current",
        join(dir, "nope.json"),
        "--desired",
        join(dir, "des.json"),
      ]);
      assert.equal(gone.status, 2);
      assert.match(gone.stderr, /nope\.json: cannot read it/);
      assert.equal(run("dvm-dmactivate", ["--current", join(dir, "cur.json")]).status, 1);
    } finally {
      cleanup();
    }
  });

  it("the tools pipe: vol-activate's output is dmactivate's desired state", () => {
    const v = run("dvm-vol-activate", ["vg"], json(exampleVg()));
    const r = run("dvm-dmactivate", [], json(current) + v.stdout);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).steps.length, 10);
  });

  it("bad input: one document, malformed JSON, a wrong field, a bad target: exit 2", () => {
    const one = run("dvm-dmactivate", [], json(current));
    assert.equal(one.status, 2);
    assert.match(one.stderr, /expected two dm-state documents \(current, then desired\), got 1/);
    assert.equal(run("dvm-dmactivate", [], '{"kind": "dm-state", ').status, 2);
    const noRo = structuredClone(desired) as DmStateDoc;
    delete (noRo.devices[0] as Partial<(typeof noRo.devices)[0]>).read_only;
    const field = run("dvm-dmactivate", [], json(current) + json(noRo));
    assert.equal(field.status, 2);
    assert.match(field.stderr, /document 2: dm-state document field \/devices\/0\/read_only/);
    const badTarget = structuredClone(desired);
    (badTarget.devices[1]!.table![0] as unknown as Record<string, unknown>).chunk_sectors = "x";
    const t = run("dvm-dmactivate", [], json(current) + json(badTarget));
    assert.equal(t.status, 2);
    assert.match(t.stderr, /desired: dm-state document field \/devices\/1\/table\/0/);
    const vg = run("dvm-dmactivate", [], json(current) + json(exampleVg()));
    assert.equal(vg.status, 2);
    assert.match(vg.stderr, /field \/kind: expected "dm-state"/);
  });

  it("conflicts are exit 5; usage errors exit 1; bare with nothing on stdin prints the usage", () => {
    const cur: DmStateDoc = {
      ...current,
      devices: [{ name: "vg-lin", read_only: false, table: null, depends_on: [], major: 253, minor: 0 }],
    };
    const r = run("dvm-dmactivate", [], json(cur) + json(desired));
    assert.equal(r.status, 5);
    assert.match(r.stderr, /cannot create vg-lin/);
    assert.equal(run("dvm-dmactivate", ["extra"], json(current) + json(desired)).status, 1);
    assert.equal(run("dvm-dmactivate", ["--commit"], "").status, 1);
    const bare = run("dvm-dmactivate", [], "");
    assert.equal(bare.status, 1);
    assert.match(bare.stdout, /^Usage: dvm-dmactivate/);
  });
});
