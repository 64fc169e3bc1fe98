import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { labelDevices } from "../../src/discover/label.js";
import { devicesDoc, scan } from "../../src/discover/scan.js";
import { type DmBackend, DmFailure } from "../../src/dm/backend.js";
import type { DmDevice, DmStateDoc } from "../../src/dm/docs.js";
import { parseTarget, printTarget, type TargetLine, targetDevices } from "../../src/dm/target.js";
import { DvmError, Exit } from "../../src/lib/errors.js";
import { parseVgText } from "../../src/lvm2/vg.js";
import { mergedLine, mergeLeft, mergeProgress, pollMerge } from "../../src/poll/merge.js";
import { readVg } from "../../src/tm/read.js";
import { restoreVg } from "../../src/tm/restore.js";
import { image, ROOT, scratch } from "../helpers.ts";

/**
 * dvm-poll's merge loop against a fake device-mapper holding what LVM2
 * 2.03.16 left live for a merge started without a poller (recorded in a VM:
 * the origin on snapshot-merge over -real and the COW, the snapshot's own
 * device on error), on image files carrying LVM2's metadata of that moment.
 */

const usage = (allocated: number) => ({
  state: "usage" as const,
  allocated_sectors: allocated,
  total_sectors: 8192,
  metadata_sectors: 16,
});

describe("merge progress, as LVM2 prints it", () => {
  test("100 − what is left; done exactly when only the metadata is allocated", () => {
    assert.equal(mergeLeft(usage(16)), 0);
    assert.equal(mergedLine("vg/lv", mergeLeft(usage(16))), "  vg/lv: Merged: 100.00%");
    // 4128/8192 = 50.390625% left: dm_percent 50390625, a float of 50.390624 -> 49.61.
    assert.equal(mergeLeft(usage(4128)), 50390625);
    assert.equal(mergedLine("vg/lv", mergeLeft(usage(4128))), "  vg/lv: Merged: 49.61%");
    // Full COW: 100% left. Just above the metadata: never rounded to done.
    assert.equal(mergeLeft(usage(8192)), 100_000_000);
    assert.equal(mergedLine("vg/lv", mergeLeft(usage(8192))), "  vg/lv: Merged: 0.00%");
    assert.ok(mergeLeft({ ...usage(17), total_sectors: 1 << 40 }) > 0);
    // No metadata count (old kernels): never "done" by that rule.
    assert.equal(mergeLeft({ ...usage(16), metadata_sectors: null }), 195312);
    // printf's ties go to even: 0.375% left is 99.625 -> "99.62" (toFixed would say 99.63).
    assert.equal(mergedLine("v/l", 375000), "  v/l: Merged: 99.62%");
    assert.equal(mergedLine("v/l", 125000), "  v/l: Merged: 99.88%");
  });

  test("from the origin's status line; LVM2's reasons to give up are exit 5", () => {
    assert.equal(mergeProgress("v/l", "0 16384 snapshot-merge 16/8192 16\n"), 0);
    const fails = (text: string, re: RegExp) =>
      assert.throws(
        () => mergeProgress("v/l", text),
        (e: unknown) => e instanceof DvmError && e.exitCode === Exit.conflict && re.test(e.message),
      );
    fails("0 16384 snapshot-merge Merge failed\n", /v\/l: Merge failed\. Retry merge or inspect manually\./);
    fails("0 16384 snapshot-merge Invalid\n", /v\/l: Merging snapshot invalidated\. Aborting merge\./);
    fails("0 16384 snapshot-merge Overflow\n", /invalidated/);
    fails("0 16384 snapshot-merge Unknown\n", /Failed query for merging percentage/);
    // Not (or no longer) a snapshot-merge table: the merge was deferred, nothing to follow.
    fails("0 16384 snapshot-origin \n", /Failed query for merging percentage/);
    fails("0 16384 linear \n", /Failed query/);
  });
});

/** A device-mapper in memory: enough of the kernel's rules to catch a wrong order. */
class FakeDm implements DmBackend {
  readonly name = "fake";
  readonly log: string[] = [];
  devices = new Map<
    string,
    {
      uuid?: string;
      minor: number;
      live: TargetLine[] | null;
      inactive: TargetLine[] | null;
      suspended: boolean;
    }
  >();
  private nextMinor = 0;
  /** Status params of the origin's snapshot-merge, one per look (the last repeats). */
  mergeStatus: string[] = [];

  add(name: string, uuid: string, table: string[]) {
    this.devices.set(name, {
      uuid,
      minor: this.nextMinor++,
      live: table.map((l) => parseTarget(l)),
      inactive: null,
      suspended: false,
    });
  }
  private dev(name: string) {
    const d = this.devices.get(name);
    if (!d) throw new DmFailure("ENXIO", `${name}: no such device`);
    return d;
  }
  /** Devices (by name) a table uses: 253:N or /dev/mapper/NAME. */
  private uses(t: TargetLine[] | null): string[] {
    const out: string[] = [];
    for (const line of t ?? [])
      for (const ref of targetDevices(line)) {
        const m = /^253:(\d+)$/.exec(ref);
        const byNum = m && [...this.devices].find(([, d]) => d.minor === Number(m[1]));
        if (byNum) out.push(byNum[0]);
        else if (ref.startsWith("/dev/mapper/")) out.push(ref.slice(12));
      }
    return out;
  }
  private users(name: string) {
    return [...this.devices].filter(([, d]) =>
      [...this.uses(d.live), ...this.uses(d.inactive)].includes(name),
    );
  }
  create(name: string, uuid?: string) {
    this.log.push(`create ${name}`);
    this.devices.set(name, { uuid, minor: this.nextMinor++, live: null, inactive: null, suspended: false });
  }
  load(name: string, table: TargetLine[]) {
    this.log.push(`load ${name} ${table.map(printTarget).join("; ")}`);
    for (const n of this.uses(table)) this.dev(n);
    this.dev(name).inactive = table;
  }
  suspend(name: string) {
    this.log.push(`suspend ${name}`);
    this.dev(name).suspended = true;
  }
  resume(name: string) {
    this.log.push(`resume ${name}`);
    const d = this.dev(name);
    if (d.inactive) [d.live, d.inactive] = [d.inactive, null];
    d.suspended = false;
  }
  clear(name: string) {
    this.log.push(`clear ${name}`);
    this.dev(name).inactive = null;
  }
  remove(name: string) {
    this.log.push(`remove ${name}`);
    this.dev(name);
    const users = this.users(name);
    if (users.length)
      throw new DmFailure("EBUSY", `${name} is in use by ${users.map(([n]) => n).join(", ")}`);
    this.devices.delete(name);
  }
  rename(): void {
    throw new Error("no rename expected");
  }
  setUuid(): void {
    throw new Error("no uuid change expected");
  }
  message(): string {
    throw new Error("no message expected");
  }
  query(kind: "table" | "status" | "deps" | "info", name: string): string {
    const d = this.dev(name);
    if (kind !== "status") throw new Error(`no ${kind} query expected`);
    return (d.live ?? [])
      .map((t) => {
        if (t.type !== "snapshot-merge") return `${t.start_sectors} ${t.length_sectors} ${t.type} \n`;
        const s = this.mergeStatus.length > 1 ? this.mergeStatus.shift()! : this.mergeStatus[0]!;
        return `${t.start_sectors} ${t.length_sectors} ${t.type} ${s}\n`;
      })
      .join("");
  }
  state(prefix?: string): DmStateDoc {
    const devices: DmDevice[] = [...this.devices]
      .filter(([, d]) => !prefix || d.uuid?.startsWith(prefix))
      .map(([name, d]) => ({
        name,
        ...(d.uuid ? { uuid: d.uuid } : {}),
        read_only: false,
        table: d.live,
        inactive_table: d.inactive,
        depends_on: [...new Set([...this.uses(d.live), ...this.uses(d.inactive)])],
        major: 253,
        minor: d.minor,
        suspended: d.suspended,
        open_count: this.users(name).length,
      }));
    return {
      kind: "dm-state",
      version: 1,
      source: "kernel",
      devices,
      ...(prefix ? { uuid_prefix: prefix } : {}),
    };
  }
}

const FIX = join(ROOT, "test/fixtures/lvm2-snapshot-merge");

describe("the merge poll loop, on LVM2's metadata and devices", () => {
  let s: ReturnType<typeof scratch>;
  before(() => {
    s = scratch("dvm-pollmerge-");
  });
  after(() => s.cleanup());

  /** LVM2's VG (a fixture) on two fresh image files, and LVM2's live devices for it in a fake dm. */
  function setup(fixture: string, tag: string) {
    const paths = [image(s.dir, `${tag}0.img`, 64), image(s.dir, `${tag}1.img`, 64)];
    const labels = labelDevices(paths, {});
    const text = parseVgText(readFileSync(join(FIX, fixture), "utf8"));
    text.vg.physical_volumes.forEach((pv, i) => {
      pv.id = labels[i]!.pv_uuid;
      pv.device = paths[i]!;
    });
    restoreVg(text, scan({ devices: paths }));
    const tx = { lockDir: join(s.dir, "lock"), scan: () => scan({ devices: paths }) };
    const vgId = String(text.vg.id).replaceAll("-", "");
    const uuid = (lv: string, layer = "") => {
      const l = text.vg.logical_volumes!.find((x) => x.name === lv)!;
      return `LVM-${vgId}${String(l.id).replaceAll("-", "")}${layer && `-${layer}`}`;
    };
    return { paths, tx, uuid, vg: text.vg };
  }

  /** What LVM2 had live mid-merge (dmsetup table in the VM), on the fake's device numbers. */
  function lvm2Devices(
    dm: FakeDm,
    uuid: (lv: string, layer?: string) => string,
    img: string,
    cow: string,
    cowAt: number,
  ) {
    dm.add("mg-orig-real", uuid("orig", "real"), [`0 16384 linear ${img} 2048`]);
    dm.add(`mg-${cow}-cow`, uuid(cow, "cow"), [`0 8192 linear ${img} ${cowAt}`]);
    dm.add("mg-orig", uuid("orig"), ["0 16384 snapshot-merge 253:0 253:1 P 8"]);
    dm.add(`mg-${cow}`, uuid(cow), ["0 16384 error"]);
  }

  test("follows the status to the end, then one commit: metadata as LVM2's, only the plain origin left", () => {
    const { paths, tx, uuid } = setup("merging.vg", "a");
    const dm = new FakeDm();
    lvm2Devices(dm, uuid, paths[0]!, "snap", 18432);
    dm.mergeStatus = ["4128/8192 16", "2072/8192 16", "16/8192 16"];
    const said: string[] = [];
    const naps: number[] = [];
    const code = pollMerge({
      vg: "mg",
      lv: "orig",
      lvid: uuid("orig").slice(4),
      backend: dm,
      tx,
      intervalS: 2,
      say: (l) => said.push(l),
      sleep: (ms) => naps.push(ms),
    });
    assert.equal(code, 0);
    assert.deepEqual(said, [
      "  mg/orig: Merged: 49.61%",
      "  mg/orig: Merged: 74.71%",
      "  mg/orig: Merged: 100.00%",
      "  Merge of snapshot into logical volume mg/orig has finished.",
      '  Logical volume "snap" successfully removed.',
    ]);
    assert.deepEqual(naps, [2000, 2000]);
    // The origin's new table is loaded and swapped in before anything under it goes; users go first.
    assert.deepEqual(dm.log, [
      `load mg-orig 0 16384 linear ${paths[0]} 2048`,
      "suspend mg-orig",
      "resume mg-orig",
      "remove mg-snap",
      "remove mg-snap-cow",
      "remove mg-orig-real",
    ]);
    assert.deepEqual([...dm.devices.keys()], ["mg-orig"]);
    const after = readVg(devicesDoc(tx.scan()), "mg", {}).doc;
    const lvm = parseVgText(readFileSync(join(FIX, "merged.vg"), "utf8")).vg;
    assert.deepEqual(after.vg.logical_volumes, lvm.logical_volumes);

    // Polled again: LVM2's words for a finished merge, exit 0, nothing done.
    const again: string[] = [];
    const n = dm.log.length;
    assert.equal(
      pollMerge({ vg: "mg", lv: "orig", backend: dm, tx, intervalS: 0, say: (l) => again.push(l) }),
      0,
    );
    assert.deepEqual(again, ["  Logical volume mg/orig is no longer merging origin, polling has finished."]);
    assert.equal(dm.log.length, n);
  });

  test("nothing to poll: VG gone, LV gone or another one of that name, origin inactive; --abort refused", () => {
    const { paths, tx, uuid } = setup("merging.vg", "b");
    const dm = new FakeDm();
    const poll = (lv: string, more: Partial<Parameters<typeof pollMerge>[0]> = {}) => {
      const said: string[] = [];
      const code = pollMerge({
        vg: "mg",
        lv,
        backend: dm,
        tx,
        intervalS: 0,
        say: (l) => said.push(l),
        ...more,
      });
      return [code, ...said];
    };
    assert.deepEqual(poll("orig"), [0, "  mg/orig: Interrupted: No longer active."]);
    assert.deepEqual(poll("nope"), [0, "  Can't find LV in mg for mg/nope."]);
    assert.deepEqual(poll("orig", { lvid: "x".repeat(64) }), [0, "  Can't find LV in mg for mg/orig."]);
    assert.deepEqual(poll("orig", { vg: "gone" }), [0, "  Can't find VG gone/orig. No longer active."]);
    assert.throws(
      () => poll("orig", { abort: true }),
      (e: unknown) =>
        e instanceof DvmError && e.exitCode === Exit.usage && /cannot be aborted/.test(e.message),
    );
    // Active, but the kernel reports the merge failed: LVM2's message, exit 5, nothing changed.
    lvm2Devices(dm, uuid, paths[0]!, "snap", 18432);
    dm.mergeStatus = ["Merge failed"];
    assert.throws(
      () => poll("orig"),
      (e: unknown) => e instanceof DvmError && e.exitCode === Exit.conflict && /Merge failed/.test(e.message),
    );
    assert.equal(dm.log.length, 0);
  });

  test("another snapshot of the origin stays: exit 2 with a reason, nothing written, no device touched", () => {
    const { paths, tx, uuid, vg } = setup("merging-two-snapshots.vg", "c");
    const dm = new FakeDm();
    lvm2Devices(dm, uuid, paths[0]!, "snap2", 18432);
    dm.add("mg-snap3-cow", uuid("snap3", "cow"), [`0 8192 linear ${paths[0]} 26624`]);
    dm.add("mg-snap3", uuid("snap3"), ["0 16384 snapshot 253:0 253:4 P 8"]);
    dm.mergeStatus = ["16/8192 16"];
    const said: string[] = [];
    assert.throws(
      () => pollMerge({ vg: "mg", lv: "orig", backend: dm, tx, intervalS: 0, say: (l) => said.push(l) }),
      (e: unknown) =>
        e instanceof DvmError && e.exitCode === Exit.invalid && /other snapshots \(snap3\)/.test(e.message),
    );
    assert.deepEqual(dm.log, []);
    const now = readVg(devicesDoc(tx.scan()), "mg", {}).doc.vg;
    assert.equal(now.seqno, vg.seqno);
    assert.deepEqual(now.logical_volumes, vg.logical_volumes);
  });
});
