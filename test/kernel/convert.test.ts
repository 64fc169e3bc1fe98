import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { desiredState } from "../../src/activate/vol.js";
import { devicesDoc, scan } from "../../src/discover/scan.js";
import { printTarget } from "../../src/dm/target.js";
import type { VgDoc } from "../../src/lib/docs.js";
import { isConvertingLv } from "../../src/lvm2/mirror.js";
import { mirrorConvertFinish } from "../../src/manip/mirror.js";
import { pollConvert } from "../../src/poll/convert.js";
import { activateVg } from "../../src/tm/activate.js";
import { readVg } from "../../src/tm/read.js";
import { image, scratch } from "../helpers.ts";
import { GuestDisks, guestLvm } from "./guest.ts";
import { Vm } from "./vm.ts";

/**
 * LVM2 2.03.16's mirror LVs on a real device-mapper, and dvm-poll finishing
 * LVM2's conversions. LVM2 runs in the guest (no lvmpolld); dvm runs on the
 * host and drives the guest's device-mapper through the kernel backend.
 *
 * 1. Activation: LVM2 activates its mirror LVs (disk log, core log, 2 and 3
 *    legs), the tables and names/uuids are recorded, LVM2 deactivates; dvm
 *    activates the same metadata: the same devices, the same tables.
 * 2. `lvconvert --type mirror -m1 -b -i +600` of a linear LV: LVM2's own
 *    poller (forked) waits 600 s before its first look and is killed; dvm-poll
 *    follows the sync to the end. Nothing to write (LVM2's lvpoll writes
 *    nothing either); the data is on both legs.
 * 3. `lvconvert -m+1 -b -i +600` of two disk-log mirrors: both sit over a
 *    `_mimagetmp_` layer (dvm's tables for that are LVM2's); LVM2's lvpoll
 *    finishes one, dvm-poll the other. Each wrote what mirror-convert-finish
 *    computes from the metadata it started from; LVM2 accepts dvm's; the
 *    tables dvm loaded are the ones LVM2 loads for the collapsed mirror; the
 *    data is on all three legs.
 */

const VG = "kv";
const tmp = scratch("dvm-kconv-");
const images = ["a", "b", "c", "d"].map((n) => image(tmp.dir, `${n}.img`, 64));
const vm = new Vm({ disks: images, commandTimeoutS: 300 });
const guest = new GuestDisks(vm);
const tx = { lockDir: join(tmp.dir, "lock"), scan: () => scan({ devices: images }) };
const lvm = guestLvm(vm);

const read = (): VgDoc => readVg(devicesDoc(tx.scan()), VG).doc;
const lvOf = (doc: VgDoc, name: string) => doc.vg.logical_volumes?.find((l) => l.name === name);

/** The guest's dm devices by maj:min (and the disks by their numbers), to print tables by name. */
function numbers(): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of vm.sh("dmsetup info -c --noheadings -o name,major,minor --separator ' '").split("\n")) {
    const [name, major, minor] = l.trim().split(" ");
    if (name) m.set(`${major}:${minor}`, name);
  }
  images.forEach((_, i) => {
    m.set(`254:${16 * i}`, `vd${"abcd"[i]}`);
  });
  return m;
}

/** `dmsetup table` of the VG's devices (those whose name starts with `prefix`), devices by name. */
function liveTables(prefix = `${VG}-`): string[] {
  const num = numbers();
  return vm
    .sh("dmsetup table")
    .split("\n")
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.replace(/\b\d+:\d+\b/g, (d) => num.get(d) ?? d))
    .sort();
}

/** `name:uuid` of the VG's devices. */
const liveInfo = () =>
  vm
    .sh("dmsetup info -c --noheadings -o name,uuid --separator :")
    .split("\n")
    .filter((l) => l.startsWith(`${VG}-`))
    .sort();

/** dvm's desired tables for `doc`, printed as `liveTables` prints the kernel's. */
function desiredTables(doc: VgDoc): string[] {
  const disk = new Map(images.map((p, i) => [p, `vd${"abcd"[i]}`]));
  return desiredState(doc, "all")
    .devices.flatMap((d) =>
      d.table!.map(
        (t) =>
          `${d.name}: ${printTarget(t).replace(/\/\S+/g, (p) => disk.get(p) ?? p.replace("/dev/mapper/", ""))}`,
      ),
    )
    .sort();
}

/** Kill the pollers `lvconvert -b` forked in the guest (they sleep their first interval). */
function killGuestPollers(): void {
  vm.sh(
    `for p in /proc/[0-9]*; do case "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" in "lvm lvconvert "*) kill \${p#/proc/};; esac; done; true`,
  );
}

/** Wait until LVM2 reports the mirror in sync. */
function waitInSync(lv: string): void {
  for (let i = 0; i < 600; i++) {
    if (lvm(`lvs --noheadings -o copy_percent ${VG}/${lv}`).trim() === "100.00") return;
    vm.sh("sleep 0.5");
  }
  throw new Error(`${VG}/${lv} never got in sync`);
}

/** Write `bytes` of random data through the LV's device; returns them. */
function fill(lv: string, bytes: number): Buffer {
  const data = randomBytes(bytes);
  writeFileSync(join(vm.dir, "share", "in.bin"), data);
  vm.sh(
    `dd if=/tmp/share/in.bin of=/dev/mapper/${VG}-${lv} bs=1M oflag=direct conv=fsync,notrunc 2>/dev/null`,
  );
  rmSync(join(vm.dir, "share", "in.bin"));
  return data;
}

/** The first `bytes` of a dm device, read in the guest. */
function deviceBytes(name: string, bytes: number): Buffer {
  vm.sh(
    `dd if=/dev/mapper/${name} of=/tmp/share/out.bin bs=1M count=${bytes >> 20} iflag=direct 2>/dev/null`,
  );
  const b = readFileSync(join(vm.dir, "share", "out.bin"));
  rmSync(join(vm.dir, "share", "out.bin"));
  return b;
}

const poll = (lv: string) => {
  const said: string[] = [];
  const code = pollConvert({ vg: VG, lv, backend: guest, tx, intervalS: 0.5, say: (l) => said.push(l) });
  return { code, said };
};

describe("LVM2's mirror LVs and conversions, activated and finished by dvm", { timeout: 1_200_000 }, () => {
  before(() => {
    vm.start();
    lvm("pvcreate -y -ff /dev/vda /dev/vdb /dev/vdc /dev/vdd");
    lvm(`vgcreate -y -s 1m ${VG} /dev/vda /dev/vdb /dev/vdc /dev/vdd`);
  });
  after(() =>
    vm.end(tmp.cleanup, () => {
      killGuestPollers();
      vm.exec(["dmsetup", "remove_all"]);
    }),
  );

  it("activates LVM2's mirrors (disk and core log, 2 and 3 legs) with LVM2's devices and tables", () => {
    lvm(`lvcreate -y --type mirror -m1 -l 8 -n md ${VG}`);
    lvm(`lvcreate -y --type mirror -m1 --mirrorlog core -l 6 -n mc ${VG}`);
    lvm(`lvcreate -y --type mirror -m2 -l 5 -n m3 ${VG}`);
    for (const lv of ["md", "mc", "m3"]) waitInSync(lv);
    lvm(`vgchange -an ${VG}`);
    lvm(`vgchange -ay ${VG}`);
    const tables = liveTables();
    const info = liveInfo();
    assert.equal(info.length, 3 + 3 + 2 + 4, info.join("\n"));
    assert.ok(
      tables.some((t) =>
        / mirror disk 2 kv-md_mlog 4096 2 kv-md_mimage_0 0 kv-md_mimage_1 0 1 handle_errors$/.test(t),
      ),
      tables.join("\n"),
    );
    lvm(`vgchange -an ${VG}`);
    assert.equal(liveInfo().length, 0);

    const on = activateVg(VG, { backend: guest, activate: "all" }, tx);
    assert.equal(on.report?.result, "ok", JSON.stringify(on.report));
    assert.deepEqual(liveTables(), tables);
    assert.deepEqual(liveInfo(), info);
    // LVM2 takes over what dvm activated: it deactivates and reactivates it as its own.
    lvm(`vgchange -an ${VG}`);
    assert.equal(liveInfo().length, 0);
    lvm(`vgchange -ay ${VG}`);
    assert.deepEqual(liveTables(), tables);
    lvm(`lvremove -y ${VG}/md ${VG}/mc ${VG}/m3`);
  });

  it("linear → mirror: dvm-poll follows the sync to its end; nothing to write, as LVM2's lvpoll", () => {
    lvm(`lvcreate -y -l 24 -n lin ${VG} /dev/vda`);
    const data = fill("lin", 24 << 20);
    const out = lvm(`lvconvert -y -b -i +600 --type mirror -m1 ${VG}/lin`);
    assert.match(out, /Logical volume kv\/lin converted\./);
    killGuestPollers();
    const mid = read();
    assert.ok(!isConvertingLv(lvOf(mid, "lin")!));

    const { code, said } = poll("lin");
    assert.equal(code, 0, said.join("\n"));
    assert.equal(said.at(-1), "  kv/lin: Converted: 100.00%", said.join("\n"));
    assert.ok(
      said.every((l) => /^ {2}kv\/lin: Converted: \d+\.\d\d%$/.test(l)),
      said.join("\n"),
    );
    assert.deepEqual(read().vg, mid.vg, "nothing written");
    // LVM2's own poller on the same state: the same line, nothing written either.
    assert.match(
      lvm(`lvpoll --polloperation convert -i 1 ${VG}/lin -An`),
      /^ {2}kv\/lin: Converted: 100\.00%$/m,
    );
    assert.equal(read().vg.seqno, mid.vg.seqno);
    for (const leg of ["lin", "lin_mimage_0", "lin_mimage_1"])
      assert.ok(deviceBytes(`${VG}-${leg}`, data.length).equals(data), leg);
    lvm(`lvremove -y ${VG}/lin`);
  });

  it("-m+1 over a _mimagetmp_ layer: LVM2's lvpoll and dvm-poll collapse it alike", () => {
    lvm(`lvcreate -y --type mirror -m1 -l 16 -n ma ${VG} /dev/vda /dev/vdb /dev/vdd`);
    lvm(`lvcreate -y --type mirror -m1 -l 16 -n mb ${VG} /dev/vda /dev/vdb /dev/vdd`);
    const dataA = fill("ma", 16 << 20);
    fill("mb", 16 << 20);
    waitInSync("ma");
    waitInSync("mb");
    for (const lv of ["ma", "mb"])
      assert.match(lvm(`lvconvert -y -b -i +600 -m+1 ${VG}/${lv} /dev/vdc`), /being converted/);
    killGuestPollers();
    const mid = read();
    assert.ok(isConvertingLv(lvOf(mid, "ma")!) && isConvertingLv(lvOf(mid, "mb")!));
    // What LVM2 loaded for the mirrors over their layers is what dvm computes from that metadata.
    assert.deepEqual(desiredTables(mid), liveTables());

    // LVM2's poller finishes mb.
    assert.match(
      lvm(`lvpoll --polloperation convert -i 1 ${VG}/mb -An`),
      /Logical volume kv\/mb converted\./,
    );
    const byLvm = read();
    assert.deepEqual(
      { ...byLvm.vg, seqno: 0 },
      { ...mirrorConvertFinish(mid, { target: "mb" }).doc.vg, seqno: 0 },
      "LVM2's collapse is mirror-convert-finish",
    );

    // dvm-poll finishes ma.
    const { code, said } = poll("ma");
    assert.equal(code, 0, said.join("\n"));
    assert.equal(said.at(-1), "  Logical volume kv/ma converted.", said.join("\n"));
    assert.equal(said.at(-2), "  kv/ma: Converted: 100.00%", said.join("\n"));
    const byDvm = read();
    assert.equal(byDvm.vg.seqno, byLvm.vg.seqno + 1);
    // (dvm-tm writes its own device hints for the PVs, the host's paths: the LVs are compared.)
    assert.deepEqual(
      byDvm.vg.logical_volumes,
      mirrorConvertFinish(byLvm, { target: "ma" }).doc.vg.logical_volumes,
    );
    assert.ok(!byDvm.vg.logical_volumes!.some((l) => l.name.includes("_mimagetmp_")));
    assert.match(lvm(`vgck ${VG}`), /^$/);
    const dvmTables = liveTables(`${VG}-ma`);
    assert.equal(dvmTables.length, 5, dvmTables.join("\n"));
    for (const leg of ["ma", "ma_mimage_0", "ma_mimage_1", "ma_mimage_2"])
      assert.ok(deviceBytes(`${VG}-${leg}`, dataA.length).equals(dataA), leg);

    // LVM2's own activation of the collapsed mirror loads what dvm loaded.
    lvm(`lvchange -an ${VG}/ma`);
    assert.deepEqual(liveTables(`${VG}-ma`), []);
    lvm(`lvchange -ay ${VG}/ma`);
    assert.deepEqual(liveTables(`${VG}-ma`), dvmTables);
    // And the two collapsed mirrors look alike (names and extents aside).
    const shape = (t: string[], lv: string) =>
      t.map((l) =>
        l
          .replaceAll(`${VG}-${lv}`, "X")
          .replace(/ vd. \d+$/, " PV")
          .replace(/ 16384 /, " N "),
      );
    assert.deepEqual(shape(liveTables(`${VG}-mb`), "mb"), shape(dvmTables, "ma"));
  });
});
