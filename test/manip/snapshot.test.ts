import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { VgDoc } from "../../src/lib/docs.js";
import { Exit } from "../../src/lib/errors.js";
import { parseVgText } from "../../src/lvm2/vg.js";
import { lvCreate } from "../../src/manip/index.js";
import { mergingSnapshot, snapshotMergeFinish, snapshotsOf } from "../../src/manip/snapshot.js";
import { ROOT } from "../helpers.ts";
import { expectFail, expectOk, idGen, makeVg } from "./helpers.ts";

/**
 * snapshot-merge-finish. The fixtures are LVM2 2.03.16's own metadata
 * (vgcfgbackup in a VM): a merge deferred by `lvconvert --merge` and started
 * by activation without polling, before and after `lvm lvpoll
 * --polloperation merge` finished it; once with a second snapshot of the
 * origin that stays.
 */

const FIX = join(ROOT, "test/fixtures/lvm2-snapshot-merge");
function fixture(name: string): VgDoc {
  const t = parseVgText(readFileSync(join(FIX, name), "utf8"));
  return { kind: "vg", version: 1, vg: t.vg, top: t.top, pv_devices: [] };
}

describe("snapshot-merge-finish writes what LVM2 2.03.16's lvpoll writes", () => {
  for (const [before, after] of [
    ["merging.vg", "merged.vg"],
    ["merging-two-snapshots.vg", "merged-two-snapshots.vg"],
  ] as const)
    test(`${before} -> ${after}`, () => {
      const messages: string[] = [];
      const r = expectOk(fixture(before), (d) => snapshotMergeFinish(d, { origin: "orig", messages }));
      const lvm = fixture(after);
      // LVM2 commits twice (snapshot detached, then its COW LV removed); dvm once.
      assert.equal(lvm.vg.seqno, fixture(before).vg.seqno + 2);
      assert.deepEqual({ ...r.doc.vg, seqno: 0 }, { ...lvm.vg, seqno: 0 });
      assert.deepEqual(messages, [
        `Logical volume "${before.startsWith("merging-two") ? "snap2" : "snap"}" successfully removed.`,
      ]);
    });

  test("the snapshots of an origin as the metadata has them; which one merges", () => {
    const vg = fixture("merging-two-snapshots.vg").vg;
    assert.deepEqual(
      snapshotsOf(vg, "orig").map((s) => [s.snapshot.name, s.cow, s.merging]),
      [
        ["snapshot0", "snap2", true],
        ["snapshot1", "snap3", false],
      ],
    );
    assert.equal(mergingSnapshot(vg, "orig")?.cow, "snap2");
    assert.equal(mergingSnapshot(fixture("merged.vg").vg, "orig"), undefined);
    assert.deepEqual(snapshotsOf(vg, "snap3"), []);
  });

  test("refusals: no such origin, nothing merging, a broken snapshot, a read-only VG", () => {
    expectFail(
      fixture("merging.vg"),
      Exit.notFound,
      (d) => snapshotMergeFinish(d, { origin: "nope" }),
      /nope/,
    );
    expectFail(
      fixture("merged.vg"),
      Exit.notFound,
      (d) => snapshotMergeFinish(d, { origin: "orig" }),
      /no merging snapshot/,
    );
    // Not merging (cow_store): nothing to finish either.
    const notMerging = fixture("merging-two-snapshots.vg");
    const s0 = notMerging.vg.logical_volumes!.find((l) => l.name === "snapshot0")!.segments[0]!;
    s0.cow_store = s0.merging_store;
    delete s0.merging_store;
    expectFail(
      notMerging,
      Exit.notFound,
      (d) => snapshotMergeFinish(d, { origin: "orig" }),
      /no merging snapshot/,
    );
    const noCow = fixture("merging.vg");
    noCow.vg.logical_volumes = noCow.vg.logical_volumes!.filter((l) => l.name !== "snap");
    expectFail(
      noCow,
      Exit.invalid,
      (d) => snapshotMergeFinish(d, { origin: "orig" }),
      /COW LV "snap" does not exist/,
    );
    const ro = fixture("merging.vg");
    ro.vg.status = ["RESIZEABLE", "READ"];
    expectFail(ro, Exit.conflict, (d) => snapshotMergeFinish(d, { origin: "orig" }), /read-only/);
  });
});

/** A VG of linear LVs and snapshots of some, one of them merging, built from random choices. */
function snapshotVg(plan: { origins: number[]; merge: [number, number] }): {
  doc: VgDoc;
  origin: string;
  snapshot: string;
  cow: string;
} {
  let d = makeVg([64, 64], 2048, "vgs");
  const ids = idGen("L");
  const names: string[] = [];
  plan.origins.forEach((snaps, i) => {
    const origin = `lv${i}`;
    d = lvCreate(d, { name: origin, size: (i + 1) * 2048, time: 1, host: "h", newId: ids }).doc;
    for (let k = 0; k < snaps; k++) {
      const cow = `${origin}s${k}`;
      d = lvCreate(d, { name: cow, size: 2048, time: 2, host: "h", newId: ids }).doc;
      const lvs = d.vg.logical_volumes!;
      const cowLv = lvs.find((l) => l.name === cow)!;
      cowLv.status = ["READ", "WRITE"];
      const n = lvs.filter((l) => l.name.startsWith("snapshot")).length;
      lvs.push({
        name: `snapshot${n}`,
        id: ids(),
        status: ["READ", "WRITE", "VISIBLE"],
        flags: [],
        creation_time: 2,
        creation_host: "h",
        segment_count: 1,
        segments: [
          { start_extent: 0, extent_count: i + 1, type: "snapshot", chunk_size: 8, origin, cow_store: cow },
        ],
      });
      names.push(`${i}:${k}:snapshot${n}:${cow}`);
    }
  });
  const [oi, si] = plan.merge;
  const [, , snapshot, cow] = names.find((n) => n.startsWith(`${oi}:${si}:`))!.split(":") as [
    string,
    string,
    string,
    string,
  ];
  const seg = d.vg.logical_volumes!.find((l) => l.name === snapshot)!.segments[0]!;
  seg.merging_store = seg.cow_store;
  delete seg.cow_store;
  return { doc: d, origin: `lv${oi}`, snapshot, cow };
}

describe("snapshot-merge-finish, properties", () => {
  const plans = fc
    .array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 })
    .filter((o) => o.some((n) => n > 0))
    .chain((origins) => {
      const withSnaps = origins.flatMap((n, i) => (n > 0 ? [i] : []));
      return fc
        .constantFrom(...withSnaps)
        .chain((oi) =>
          fc
            .integer({ min: 0, max: origins[oi]! - 1 })
            .map((si) => ({ origins, merge: [oi, si] as [number, number] })),
        );
    });

  test("exactly the merging snapshot and its COW go; everything else is as it was; then nothing merges", () => {
    fc.assert(
      fc.property(plans, (plan) => {
        const { doc, origin, snapshot, cow } = snapshotVg(plan);
        const r = expectOk(doc, (d) => snapshotMergeFinish(d, { origin }));
        const gone = new Set([snapshot, cow]);
        assert.deepEqual(
          r.doc.vg.logical_volumes,
          doc.vg.logical_volumes!.filter((l) => !gone.has(l.name)),
        );
        assert.deepEqual(
          { ...r.doc.vg, seqno: 0, logical_volumes: [] },
          { ...doc.vg, seqno: 0, logical_volumes: [] },
        );
        // The other snapshots of the origin stay, none merging.
        assert.equal(snapshotsOf(r.doc.vg, origin).length, plan.origins[plan.merge[0]]! - 1);
        assert.equal(mergingSnapshot(r.doc.vg, origin), undefined);
        expectFail(r.doc, Exit.notFound, (d) => snapshotMergeFinish(d, { origin }));
      }),
      { numRuns: 60 },
    );
  });
});
