import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { desiredState, planActivation } from "../../src/activate/index.ts";
import { scan } from "../../src/discover/scan.ts";
import type { DmStateDoc } from "../../src/dm/docs.ts";
import { runProgram } from "../../src/dm/exec.ts";
import { lvExtend } from "../../src/manip/lv.ts";
import { activateVg } from "../../src/tm/activate.ts";
import { updateVg } from "../../src/tm/update.ts";
import { ensureBuilt, fileBytes, image, run, scratch } from "../helpers.ts";
import { GuestDisks, guestLvm } from "./guest.ts";
import { Vm } from "./vm.ts";

/**
 * Activation end to end on a real device-mapper: a VG made by dvm on image
 * files on the host (linear, striped and multi-segment LVs) is activated in a
 * qemu VM by desiredState + planActivation + runProgram on the kernel
 * backend; data written through /dev/mapper/VG-LV in the guest must land
 * where the metadata says on the image files; an active LV is extended through
 * dvm-tm's two-phase commit. Then LVM2 in the same VM is the reference: for
 * the VG dvm made and for one LVM2 made, its tables, names and uuids must
 * equal dvm's.
 */

const VG = "dvmact";
const tmp = scratch("dvm-act-");
const imgA = image(tmp.dir, "a.img", 32);
const imgB = image(tmp.dir, "b.img", 32);
/** The disks of the VG LVM2 makes in the guest. */
const imgC = image(tmp.dir, "c.img", 32);
const imgD = image(tmp.dir, "d.img", 32);
const devs = `${imgA},${imgB}`;
const vm = new Vm({ disks: [imgA, imgB, imgC, imgD] });
const lockDir = join(tmp.dir, "lock");

const guest = new GuestDisks(vm);
const k = guest.kernel;
const tx = (disks: string[]) => ({ lockDir, scan: () => scan({ devices: disks }) });

// biome-ignore lint/suspicious/noExplicitAny: the vg document is read as plain JSON here.
type Json = any;
/** The vg document as dvm-tm prints it (host paths), and the same rewritten for the guest. */
let hostDoc: Json;
let guestDoc: Json;
let prefix = "";

function dvm(tool: string, args: string[]): string {
  const r = run(tool, args);
  assert.equal(r.status, 0, `${tool} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Where each LV sector lives: [image path, byte offset] for a sector of the LV, from the metadata. */
function locate(lvName: string, sector: number): [string, number] {
  const vg = hostDoc.vg;
  const es: number = vg.extent_size;
  const lv = vg.logical_volumes.find((l: Json) => l.name === lvName);
  const seg = lv.segments.find(
    (s: Json) => sector >= s.start_extent * es && sector < (s.start_extent + s.extent_count) * es,
  );
  const off = sector - seg.start_extent * es;
  const n: number = seg.stripe_count;
  // One stripe is linear: the whole segment is one chunk.
  const chunk: number = n === 1 ? seg.extent_count * es : seg.stripe_size;
  const c = Math.floor(off / chunk);
  const stripe = c % n;
  const row = Math.floor(c / n);
  const pvName: string = seg.stripes[stripe * 2];
  const pe: number = seg.stripes[stripe * 2 + 1];
  const pv = vg.physical_volumes.find((p: Json) => p.name === pvName);
  const path = hostDoc.pv_devices.find((d: Json) => d.pv_uuid === pv.id).path;
  return [path, (pv.pe_start + pe * es + row * chunk + (off % chunk)) * 512];
}

const lvSectors = (lvName: string) => {
  const lv = hostDoc.vg.logical_volumes.find((l: Json) => l.name === lvName);
  return lv.segments.reduce((n: number, s: Json) => n + s.extent_count, 0) * hostDoc.vg.extent_size;
};

/** The VG as dvm-tm reads it from the host's image files. */
const readHostDoc = () => {
  hostDoc = JSON.parse(dvm("dvm-tm", ["read", VG, "--devices", devs]));
  guestDoc = structuredClone(hostDoc);
  for (const d of guestDoc.pv_devices) d.path = vm.device(d.path);
  for (const p of guestDoc.vg.physical_volumes) if (p.device) p.device = vm.device(p.device);
};

/** Activate (lvs) or deactivate ([]) with dvm's own planner on the kernel backend. */
function activate(lvs: string[] | "all"): void {
  const desired = desiredState(guestDoc, lvs);
  const current: DmStateDoc = k.state(desired.uuid_prefix);
  const report = runProgram(planActivation(current, desired), k);
  assert.equal(report.result, "ok", JSON.stringify(report, null, 1));
}

/** What LVM2 and dvm are compared on: every table and every name/uuid, sorted. */
const snapshot = () => ({
  tables: vm.sh("dmsetup table").split("\n").filter(Boolean).sort(),
  ids: vm.sh("dmsetup info -c --noheadings -o name,uuid").split("\n").filter(Boolean).sort(),
});

const lvm = guestLvm(vm);

describe("activation of a dvm VG on a real device-mapper, LVM2 as the reference", {
  timeout: 600_000,
}, () => {
  before(() => {
    // The kernel tier does not build: a fresh checkout has no dist yet.
    ensureBuilt("dvm");
    dvm("dvm", ["vg", "create", VG, imgA, imgB, "--devices", devs]);
    dvm("dvm", ["lv", "create", `${VG}/lin`, "--size", "8m", "--devices", devs]);
    dvm("dvm", [
      "lv",
      "create",
      `${VG}/str`,
      "--size",
      "8m",
      "--stripes",
      "2",
      "--stripe-size",
      "64k",
      "--devices",
      devs,
    ]);
    // lin: extended after str took the next extents: a second segment, elsewhere on the disk.
    dvm("dvm", ["lv", "extend", `${VG}/lin`, "--size", "+4m", "--devices", devs]);
    // More extents than either PV has free: a segment on each.
    dvm("dvm", ["lv", "create", `${VG}/big`, "--size", "28m", "--devices", devs]);
    vm.start();
    readHostDoc();
    console.log(`# VM up in ${vm.bootMs} ms wall`);
  });
  after(() => vm.end(tmp.cleanup, () => vm.exec(["dmsetup", "remove_all"])));

  it("has linear, striped and multi-segment LVs", () => {
    const lvs = hostDoc.vg.logical_volumes;
    const segs = (n: string) => lvs.find((l: Json) => l.name === n).segments;
    assert.equal(segs("lin").length, 2);
    assert.equal(segs("str")[0].stripe_count, 2);
    assert.ok(
      segs("big").some((s: Json) => s.stripes[0] === "pv0") &&
        segs("big").some((s: Json) => s.stripes[0] === "pv1"),
      "big spans both PVs",
    );
  });

  /** What each LV holds, as written through /dev/mapper. */
  const written = new Map<string, Buffer>();

  /** Every 64 KiB piece (the stripe size) of `data` must be at its own place on the images. */
  const checkPlacement = (lv: string, data: Buffer) => {
    for (let s = 0; s < data.length / 512; s += 128) {
      const [path, at] = locate(lv, s);
      assert.ok(
        fileBytes(path, at, 65536).equals(data.subarray(s * 512, s * 512 + 65536)),
        `${lv} sector ${s} not at ${path}@${at}`,
      );
    }
  };

  /** Write `data` through the guest's /dev/mapper device of `lv`, from byte `at`. */
  const writeLv = (lv: string, data: Buffer, at = 0) => {
    writeFileSync(join(vm.dir, "share", `${lv}.bin`), data);
    vm.sh(
      `dd if=/tmp/share/${lv}.bin of=/dev/mapper/${VG}-${lv} bs=64K seek=${at / 65536} oflag=direct conv=fsync,notrunc 2>/dev/null`,
    );
    rmSync(join(vm.dir, "share", `${lv}.bin`));
  };

  it("activates; data written through /dev/mapper lands where the metadata says", () => {
    activate("all");
    prefix = desiredState(guestDoc, "all").uuid_prefix!;
    const st = k.state(prefix);
    assert.deepEqual(st.devices.map((d) => d.name).sort(), [`${VG}-big`, `${VG}-lin`, `${VG}-str`]);
    for (const lv of ["lin", "str", "big"]) {
      const sectors = lvSectors(lv);
      assert.equal(vm.sh(`blockdev --getsz /dev/mapper/${VG}-${lv}`), `${sectors}\n`);
      const data = randomBytes(sectors * 512);
      writeLv(lv, data);
      checkPlacement(lv, data);
      written.set(lv, data);
    }
  });

  it("extends an active LV through the two-phase commit: new size live, old data intact, new space usable", () => {
    const before = lvSectors("lin");
    const r = updateVg(
      VG,
      (doc) => lvExtend(doc, { name: "lin", size: { sectors: 8192, relative: true } }).doc,
      {
        ...tx([imgA, imgB]),
        activation: { backend: guest },
      },
    );
    assert.equal(r.dm?.report?.result, "ok", JSON.stringify(r.dm?.report, null, 1));
    const ops = r.dm!.report!.steps.map((s) => `${s.op} ${"name" in s ? s.name : ""}`.trim());
    assert.ok(ops.includes(`suspend ${VG}-lin`) && ops.includes(`resume ${VG}-lin`), ops.join(", "));
    readHostDoc();
    assert.equal(lvSectors("lin"), before + 8192);
    // The kernel's live table is the new metadata's, and nothing is left staged or suspended.
    const lin = k.state(prefix).devices.find((d) => d.name === `${VG}-lin`)!;
    assert.equal(lin.suspended, false);
    assert.equal(lin.inactive_table ?? null, null);
    assert.equal(vm.sh(`blockdev --getsz /dev/mapper/${VG}-lin`), `${before + 8192}\n`);
    // What was written before reads back through the device, and is still where it was.
    const old = written.get("lin")!;
    vm.sh(
      `dd if=/dev/mapper/${VG}-lin of=/tmp/share/lin.out bs=64K count=${old.length / 65536} iflag=direct 2>/dev/null`,
    );
    assert.ok(readFileSync(join(vm.dir, "share", "lin.out")).equals(old), "old data changed");
    rmSync(join(vm.dir, "share", "lin.out"));
    checkPlacement("lin", old);
    // The new extents map where the new metadata says.
    const grown = Buffer.concat([old, randomBytes(8192 * 512)]);
    writeLv("lin", grown.subarray(old.length), old.length);
    checkPlacement("lin", grown);
  });

  it("deactivates: no devices left", () => {
    activate([]);
    assert.deepEqual(k.state(prefix).devices, []);
    assert.equal(vm.exec(["test", "-e", `/dev/${VG}`]).status, 1);
  });

  it("LVM2 activates the same VG with the same tables, names and uuids", () => {
    lvm(`vgchange -ay ${VG}`);
    const ref = snapshot();
    lvm(`vgchange -an ${VG}`);
    assert.deepEqual(k.state(prefix).devices, [], "LVM2 left devices behind");
    activate("all");
    const ours = snapshot();
    console.log(`# LVM2 tables:\n#   ${ref.tables.join("\n#   ")}`);
    assert.deepEqual(ours.tables, ref.tables);
    assert.deepEqual(ours.ids, ref.ids);
    activate([]);
    assert.deepEqual(k.state(prefix).devices, []);
  });

  it("dvm activates a VG LVM2 made with the same tables, names, uuids and attributes as LVM2", () => {
    const [c, d] = [vm.device(imgC), vm.device(imgD)];
    const ref = "lvmref";
    lvm(`pvcreate -y ${c} ${d}`);
    lvm(`vgcreate -y ${ref} ${c} ${d}`);
    lvm(`lvcreate -y -L 8m -n lin ${ref} ${c}`);
    lvm(`lvcreate -y -i 2 -I 64k -L 8m -n str ${ref}`);
    lvm(`lvextend -y -L +4m ${ref}/lin ${d}`);
    lvm(`lvcreate -y -Zn -pr -L 4m -n ro ${ref}`);
    lvm(`lvcreate -y -l 100%FREE -n rest ${ref}`);
    const info = () =>
      vm.sh("dmsetup info -c --noheadings -o name,uuid,attr").split("\n").filter(Boolean).sort();
    const theirs = { ...snapshot(), info: info() };
    assert.equal(theirs.tables.length >= 5, true, theirs.tables.join("\n"));
    lvm(`vgchange -an ${ref}`);
    assert.deepEqual(vm.sh("dmsetup table"), "No devices found\n", "LVM2 left devices behind");
    // dvm reads the VG from the host's image files and activates it the way dvm-tm activate does.
    const r = activateVg(ref, { backend: guest, activate: "all" }, tx([imgC, imgD]));
    assert.equal(r.report?.result, "ok", JSON.stringify(r.report, null, 1));
    const ours = { ...snapshot(), info: info() };
    console.log(`# LVM2's VG, LVM2 tables:\n#   ${theirs.tables.join("\n#   ")}`);
    assert.deepEqual(ours, theirs);
    const off = activateVg(ref, { backend: guest, deactivate: "all" }, tx([imgC, imgD]));
    assert.equal(off.report?.result, "ok");
    assert.equal(vm.sh("dmsetup table"), "No devices found\n");
  });
});
