import assert from "node:assert/strict";
import type { VgDoc } from "../../src/lib/docs.js";
import { DvmError } from "../../src/lib/errors.js";
import { formatId } from "../../src/lvm2/uuid.js";
import { vgProblems } from "../../src/lvm2/validate.js";
import type { LvMeta } from "../../src/lvm2/vg.js";
import { type ManipResult, vgCreate } from "../../src/manip/index.js";

/** Shared fixtures for the dvm-manip tests: VGs built with the mutators themselves. */

/** Deterministic IDs: id(0), id(1), ... */
export function idGen(prefix = "T") {
  let n = 0;
  return () => formatId(`${prefix}${String(n++).padStart(31, "0")}`.slice(0, 32));
}

/** A VG whose PVs hold `peCounts` extents of `extentSize` sectors (pe_start 2048). */
export function makeVg(peCounts: number[], extentSize = 8192, name = "vg0"): VgDoc {
  const ids = idGen("P");
  return vgCreate({
    name,
    extentSize,
    pvs: peCounts.map((n, i) => ({
      path: `/dev/fake${i}`,
      uuid: ids(),
      peStart: 2048,
      devSize: 2048 + n * extentSize + 1,
    })),
    newId: idGen("V"),
    time: 1700000000,
    host: "test",
  }).doc;
}

/** An LV's segments as [start, count, stripes, pv, pe, pv, pe...] lists. */
export function segs(doc: VgDoc, lv: string): (string | number)[][] {
  const l = doc.vg.logical_volumes?.find((x) => x.name === lv);
  assert.ok(l, `LV ${lv} exists`);
  return l.segments.map((s) => [
    s.start_extent,
    s.extent_count,
    s.stripe_count ?? 0,
    ...((s.stripes ?? []) as (string | number)[]),
  ]);
}

export const lvSize = (lv: LvMeta) => lv.segments.reduce((n, s) => n + s.extent_count, 0);

/** Free extents of the VG (PV extents no LV area covers). */
export function freeCount(doc: VgDoc): number {
  const total = doc.vg.physical_volumes.reduce((n, p) => n + p.pe_count, 0);
  let used = 0;
  for (const lv of doc.vg.logical_volumes ?? [])
    for (const s of lv.segments)
      if (s.type === "striped")
        used += Math.floor(s.extent_count / (s.stripe_count ?? 1)) * (s.stripe_count ?? 1);
  return total - used;
}

/** Run a mutation expected to fail with `code`; the input must come out unchanged. */
export function expectFail(doc: VgDoc, code: number, fn: (d: VgDoc) => unknown, re?: RegExp) {
  const snapshot = structuredClone(doc);
  assert.throws(
    () => fn(doc),
    (e: unknown) => {
      assert.ok(e instanceof DvmError, `a DvmError, got ${String(e)}`);
      assert.equal(e.exitCode, code, e.message);
      if (re) assert.match(e.message, re);
      return true;
    },
  );
  assert.deepEqual(doc, snapshot, "the input document is unchanged");
}

/** A successful mutation: seqno + 1, sound metadata, input untouched. */
export function expectOk(doc: VgDoc, fn: (d: VgDoc) => ManipResult): ManipResult {
  const snapshot = structuredClone(doc);
  const r = fn(doc);
  assert.deepEqual(doc, snapshot, "the input document is unchanged");
  assert.equal(r.doc.vg.seqno, doc.vg.seqno + 1);
  assert.deepEqual(vgProblems(r.doc.vg), []);
  return r;
}
