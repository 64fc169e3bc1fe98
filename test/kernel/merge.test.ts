import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { scan } from "../../src/discover/scan.ts";
import type { VgDoc } from "../../src/lib/docs.ts";
import { pollMerge } from "../../src/poll/merge.ts";
import { ensureBuilt, image, run, scratch } from "../helpers.ts";
import { GuestDisks, guestLvm, shareDvm } from "./guest.ts";
import { Vm } from "./vm.ts";

/**
 * dvm-poll's snapshot merge on a real device-mapper, LVM2 2.03.16 as the
 * reference. In the guest LVM2 makes an origin with data and a thick
 * snapshot with other data in part of it, asks for the merge while the
 * origin is inactive (deferred) and activates the origin without polling:
 * the kernel merges under a snapshot-merge table and nobody finishes.
 *
 * - dvm finishes one such VG (dvm-poll's loop on the host, the guest's
 *   device-mapper through the kernel backend); LVM2's own lvpoll finishes
 *   the same scenario in a second VG. The origin then reads back the
 *   snapshot's data, only the plain origin device is left, and the metadata
 *   and `lvs -a` are LVM2's.
 * - LVM2's `lvconvert --merge` with use_lvmpolld = 1 and dvm-polld (default
 *   poller: dvm-poll, in the guest) as its lvmpolld completes the same way.
 */

const tmp = scratch("dvm-kmerge-");
const images = ["a", "b", "c"].map((n) => image(tmp.dir, `${n}.img`, 64));
const [imgA, imgB, imgC] = images as [string, string, string];
const vm = new Vm({ disks: images, commandTimeoutS: 300 });
const guest = new GuestDisks(vm);
const SOCK = "/tmp/dvm-polld.sock";
const LOG = "/tmp/dvm-polld.log";
const lvm = guestLvm(vm);
const polledLvm = guestLvm(vm, { polldSocket: SOCK });
const MiB = 1 << 20;

function read(vg: string): VgDoc {
  const r = run("dvm-tm", ["read", vg, "--devices", images.join(",")]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as VgDoc;
}

/** The LVs as compared: identities and creation stamps aside (each VG made its own). */
function comparable(doc: VgDoc) {
  return (doc.vg.logical_volumes ?? []).map((lv) => {
    const { id: _id, creation_time: _t, creation_host: _h, ...rest } = lv;
    return rest;
  });
}

/** `lvs -a` as JSON, the VG's name and its disk taken out. */
function lvsOf(vg: string, disk: string): unknown {
  const out = lvm(
    `lvs -a --reportformat json -o lv_name,lv_attr,lv_size,origin,segtype,devices,snap_percent ${vg}`,
  );
  return JSON.parse(out.replaceAll(vg, "VG").replaceAll(vm.device(disk), "DISK"));
}

/** 8 MiB of origin data, then 2 MiB written through the snapshot at 1 MiB: what the origin holds after the merge. */
function makeMergingOrigin(vg: string, disk: string, share: string): Buffer {
  lvm(`vgcreate -y -s 1m ${vg} ${disk}`);
  lvm(`lvcreate -y -L 8m -n orig ${vg}`);
  const data = randomBytes(8 * MiB);
  const snapData = randomBytes(2 * MiB);
  writeFileSync(join(vm.dir, "share", `${share}.o`), data);
  writeFileSync(join(vm.dir, "share", `${share}.s`), snapData);
  vm.sh(`dd if=/tmp/share/${share}.o of=/dev/mapper/${vg}-orig bs=1M oflag=direct conv=fsync 2>/dev/null`);
  lvm(`lvcreate -y -s -L 4m -n snap ${vg}/orig`);
  vm.sh(
    `dd if=/tmp/share/${share}.s of=/dev/mapper/${vg}-snap bs=1M seek=1 oflag=direct conv=fsync,notrunc 2>/dev/null`,
  );
  rmSync(join(vm.dir, "share", `${share}.o`));
  rmSync(join(vm.dir, "share", `${share}.s`));
  const expected = Buffer.from(data);
  snapData.copy(expected, MiB);
  return expected;
}

/** Deferred merge, then the origin activated without a poller: the kernel merges, nobody finishes. */
function startUnpolledMerge(vg: string) {
  lvm(`vgchange -an ${vg}`);
  assert.match(lvm(`lvconvert --merge ${vg}/snap`), /will occur on next activation/);
  lvm(`lvchange -ay --poll n ${vg}/orig`);
  assert.match(vm.sh(`dmsetup table ${vg}-orig`), /snapshot-merge/);
  const merging = read(vg).vg.logical_volumes!.find((l) => l.name === "snapshot0")!;
  assert.equal(merging.segments[0]!.merging_store, "snap");
}

function readOrigin(vg: string): Buffer {
  vm.sh(`dd if=/dev/mapper/${vg}-orig of=/tmp/share/${vg}.out bs=1M iflag=direct 2>/dev/null`);
  const b = readFileSync(join(vm.dir, "share", `${vg}.out`));
  rmSync(join(vm.dir, "share", `${vg}.out`));
  return b;
}

/** Only the plain origin is left, as a linear table on the VG's disk. */
function assertOnlyPlainOrigin(vg: string, disk: string) {
  const devices = vm
    .sh("dmsetup info -c --noheadings -o name")
    .split("\n")
    .map((l) => l.trim())
    .filter((n) => n.startsWith(`${vg}-`));
  assert.deepEqual(devices, [`${vg}-orig`]);
  const [maj, min] = vm
    .sh(`stat -c '%t:%T' ${vm.device(disk)}`)
    .trim()
    .split(":")
    .map((h) => Number.parseInt(h, 16));
  assert.equal(vm.sh(`dmsetup table ${vg}-orig`), `0 16384 linear ${maj}:${min} 2048\n`);
}

describe("snapshot merge finished by dvm-poll on a real device-mapper, LVM2 as the reference", {
  timeout: 900_000,
}, () => {
  before(() => {
    ensureBuilt("dvm-tm");
    ensureBuilt("dvm-poll");
    ensureBuilt("dvm-polld");
    vm.start();
    lvm(`pvcreate -y ${images.map((i) => vm.device(i)).join(" ")}`);
  });
  after(() =>
    vm.end(tmp.cleanup, () =>
      vm.exec(["sh", "-c", "kill $(cat /tmp/dvm-polld.pid) 2>/dev/null; dmsetup remove_all"]),
    ),
  );

  it("dvm-poll finishes a merge LVM2 started: data, devices and metadata as LVM2's own poller leaves them", () => {
    // The same scenario twice: finished by dvm (mgd on disk A) and by LVM2 (mgl on disk B).
    const expectD = makeMergingOrigin("mgd", vm.device(imgA), "d");
    const expectL = makeMergingOrigin("mgl", vm.device(imgB), "l");
    startUnpolledMerge("mgd");
    startUnpolledMerge("mgl");
    const merging = read("mgd");

    const tx = { lockDir: join(tmp.dir, "lock"), scan: () => scan({ devices: images }) };
    const said: string[] = [];
    const code = pollMerge({
      vg: "mgd",
      lv: "orig",
      backend: guest,
      tx,
      intervalS: 0.5,
      say: (l) => said.push(l),
    });
    assert.equal(code, 0, said.join("\n"));
    const lvmSaid = lvm("lvpoll --polloperation merge -i 1 mgl/orig -An")
      .split("\n")
      .filter((l) => l && !/WARNING: This metadata update is NOT backed up/.test(l));
    // The same closing lines (LVM2's progress may have had more looks).
    assert.deepEqual(
      said.slice(-3),
      lvmSaid.slice(-3).map((l) => l.replaceAll("mgl", "mgd")),
    );
    assert.deepEqual(said.slice(-3), [
      "  mgd/orig: Merged: 100.00%",
      "  Merge of snapshot into logical volume mgd/orig has finished.",
      '  Logical volume "snap" successfully removed.',
    ]);

    assert.ok(readOrigin("mgd").equals(expectD), "dvm: the origin holds the snapshot's data");
    assert.ok(readOrigin("mgl").equals(expectL), "LVM2: the origin holds the snapshot's data");
    assertOnlyPlainOrigin("mgd", imgA);
    assertOnlyPlainOrigin("mgl", imgB);

    const byDvm = read("mgd");
    const byLvm = read("mgl");
    assert.deepEqual(comparable(byDvm), comparable(byLvm));
    assert.deepEqual(
      comparable(byDvm),
      comparable(merging).filter((l) => l.name === "orig"),
    );
    assert.equal(byDvm.vg.seqno, merging.vg.seqno + 1, "one commit (LVM2 makes two)");
    assert.deepEqual(lvsOf("mgd", imgA), lvsOf("mgl", imgB));

    // Polled again: nothing left to do, LVM2's words and exit code.
    const again: string[] = [];
    assert.equal(
      pollMerge({ vg: "mgd", lv: "orig", backend: guest, tx, intervalS: 0, say: (l) => again.push(l) }),
      0,
    );
    assert.deepEqual(again, [
      lvm("lvpoll --polloperation merge -i 1 mgl/orig -An").trimEnd().replaceAll("mgl", "mgd"),
    ]);
    lvm("vgchange -an mgd mgl");
  });

  it("LVM2's lvconvert --merge with dvm-polld (default poller dvm-poll, in the guest) as its lvmpolld", () => {
    // dvm-polld and dvm-poll run in the guest (they must reach its device-mapper and socket);
    // their bundles and koffi (the pidfile lock, the VG lock) go through the share.
    shareDvm(vm, ["dvm-polld", "dvm-poll"]);
    const disk = vm.device(imgC);
    vm.sh(
      `(LVM_SUPPRESS_FD_WARNINGS=1 ${process.execPath} /tmp/share/dvm/dist/dvm-polld.cjs -f -s ${SOCK} -p /tmp/dvm-polld.pid -t 0 -l all ` +
        `-- --dm-backend kernel --devices ${disk} >${LOG} 2>&1 &); ` +
        `i=0; while [ ! -S ${SOCK} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; test -S ${SOCK}`,
    );
    const expected = makeMergingOrigin("mgp", disk, "p");
    // The origin is active and not open: the merge starts at once and LVM2 asks the daemon to poll it.
    polledLvm("version");
    const r = vm.exec([
      "sh",
      "-c",
      `LVM_SYSTEM_DIR=/tmp/lvmconf LVM_SUPPRESS_FD_WARNINGS=1 LVM_LVMPOLLD_SOCKET=${SOCK} lvm lvconvert --merge -i 1 mgp/snap 2>&1`,
    ]);
    const out = r.stdout;
    assert.equal(r.status, 0, `${out}\n--- dvm-polld's log:\n${vm.sh(`cat ${LOG}`)}`);
    assert.doesNotMatch(
      out,
      /Failed to connect to lvmpolld|without using lvmpolld|lvmpolld (failed|responded)/,
      out,
    );
    assert.match(out, /Merging of volume mgp\/snap started/, out);

    assert.ok(readOrigin("mgp").equals(expected), "the origin holds the snapshot's data");
    assertOnlyPlainOrigin("mgp", imgC);
    assert.deepEqual(
      read("mgp").vg.logical_volumes!.map((l) => l.name),
      ["orig"],
    );
    const log = vm.sh(`cat ${LOG}`);
    // dvm-polld ran dvm-poll for the origin, which finished the merge.
    assert.match(log, /dvm-poll\.cjs\n.*--type\n.*merge\n/, log);
    assert.match(log, /STDOUT: ' {2}Merge of snapshot into logical volume mgp\/orig has finished\.'/, log);
    lvm("vgchange -an mgp");
  });
});
