import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DmFailure, type ErrnoName } from "../../src/dm/backend.ts";
import type { DmProgramDoc } from "../../src/dm/docs.ts";
import { runProgram } from "../../src/dm/exec.ts";
import { KernelBackend } from "../../src/dm/kernel.ts";
import type { LinearTarget, StripedTarget, TargetLine } from "../../src/dm/target.ts";
import { fileBytes, image, scratch } from "../helpers.ts";
import { Vm } from "./vm.ts";

/**
 * The kernel backend against a real kernel's device-mapper, in a qemu VM
 * (vm.ts): every dm-program step type, the dm-state it reads back, the
 * failures the kernel gives and how dvm classifies them, and data written
 * through the devices landing where the tables say on the image files.
 */

const MIB = 1024 * 1024;
const DISK_SECTORS = (16 * MIB) / 512;
const UUID_PREFIX = "DVMTEST-";

const tmp = scratch("dvm-kernel-");
const imgA = image(tmp.dir, "a.img", 16);
const imgB = image(tmp.dir, "b.img", 16);
const vm = new Vm({ disks: [imgA, imgB] });
const k = new KernelBackend({ runner: vm.runner, devDir: "/dev" });
let vda = "";
let vdb = "";

const linear = (start: number, length: number, device: string, offset: number): LinearTarget => ({
  start_sectors: start,
  length_sectors: length,
  type: "linear",
  device,
  offset_sectors: offset,
});

/** The errno a backend call fails with (and that it fails at all). */
function failsWith(errno: ErrnoName, f: () => unknown): DmFailure {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof DmFailure, `not a DmFailure: ${e}`);
    assert.equal(e.errno, errno, e.message);
    return e;
  }
  assert.fail(`expected ${errno}, but it succeeded`);
}

/** Put a file in the share; returns its path in the guest. */
function share(name: string, data: Buffer): string {
  writeFileSync(join(vm.dir, "share", name), data);
  return `/tmp/share/${name}`;
}

const devno = (path: string) => {
  const [maj, min] = vm.sh(`stat -L -c '%t %T' ${path}`).trim().split(" ");
  return `${Number.parseInt(maj!, 16)}:${Number.parseInt(min!, 16)}`;
};

describe("kernel backend on a real device-mapper (qemu)", { timeout: 600_000 }, () => {
  before(() => {
    vm.start();
    vda = vm.device(imgA);
    vdb = vm.device(imgB);
    console.log(`# VM up in ${vm.bootMs} ms wall (guest uptime ${vm.guestUptimeS} s)`);
  });
  after(() => vm.end(tmp.cleanup));

  it("sees the images as /dev/vda and /dev/vdb with device-mapper loaded", () => {
    assert.equal(vda, "/dev/vda");
    assert.equal(vdb, "/dev/vdb");
    assert.equal(vm.sh(`blockdev --getsz ${vda} ${vdb}`), `${DISK_SECTORS}\n${DISK_SECTORS}\n`);
    const targets = vm.sh("dmsetup targets");
    for (const t of ["linear", "striped", "mirror", "zero", "error"])
      assert.match(targets, new RegExp(`^${t} `, "m"));
  });

  it("creates with a uuid, loads a linear table, resumes, and data lands at the offset on the image", () => {
    k.create("dvmt-lin", `${UUID_PREFIX}lin`);
    k.load("dvmt-lin", [linear(0, 2048, vda, 4096)], false);
    k.resume("dvmt-lin");
    assert.equal(k.query("table", "dvmt-lin"), `0 2048 linear ${devno(vda)} 4096\n`);
    const info = k.query("info", "dvmt-lin").trim().split("|");
    assert.equal(info[0], "dvmt-lin");
    assert.equal(info[1], `${UUID_PREFIX}lin`);
    assert.equal(info[7], "L--w");

    const data = randomBytes(256 * 1024);
    const src = share("lin.bin", data);
    // Direct I/O and fsync so the writes reach the virtio disk (and the image file) now.
    vm.sh(`dd if=${src} of=/dev/mapper/dvmt-lin bs=64k seek=2 oflag=direct conv=fsync,notrunc 2>/dev/null`);
    assert.deepEqual(fileBytes(imgA, 4096 * 512 + 128 * 1024, data.length), data);
    vm.sh(`dd if=${vda} bs=512 skip=${4096 + 256} count=512 iflag=direct 2>/dev/null | cmp - ${src}`);
  });

  it("reports the state: typed tables, the disks mapped to /dev/vdX with their sizes", () => {
    const st = k.state(UUID_PREFIX);
    assert.equal(st.source, "kernel");
    assert.equal(st.uuid_prefix, UUID_PREFIX);
    assert.equal(st.devices.length, 1);
    const d = st.devices[0]!;
    assert.equal(d.name, "dvmt-lin");
    assert.equal(d.uuid, `${UUID_PREFIX}lin`);
    assert.deepEqual(d.table, [linear(0, 2048, devno(vda), 4096)]);
    assert.equal(d.inactive_table, null);
    assert.equal(d.suspended, false);
    assert.equal(d.read_only, false);
    assert.equal(d.open_count, 0);
    assert.deepEqual(d.depends_on, []);
    const [maj, min] = devno(vda).split(":").map(Number);
    assert.deepEqual(st.disks, [{ path: vda, major: maj, minor: min, size_sectors: DISK_SECTORS }]);
  });

  it("stripes across both disks: each chunk lands on its stripe", () => {
    const table: StripedTarget = {
      start_sectors: 0,
      length_sectors: 4096,
      type: "striped",
      chunk_sectors: 128,
      stripes: [
        { device: vda, offset_sectors: 8192 },
        { device: vdb, offset_sectors: 8192 },
      ],
    };
    k.create("dvmt-str", `${UUID_PREFIX}str`);
    k.load("dvmt-str", [table], false);
    k.resume("dvmt-str");
    const data = randomBytes(4 * 64 * 1024);
    const src = share("str.bin", data);
    vm.sh(`dd if=${src} of=/dev/mapper/dvmt-str bs=64k oflag=direct conv=fsync,notrunc 2>/dev/null`);
    const chunk = 64 * 1024;
    for (let i = 0; i < 4; i++) {
      const img = i % 2 === 0 ? imgA : imgB;
      const at = 8192 * 512 + Math.floor(i / 2) * chunk;
      assert.deepEqual(fileBytes(img, at, chunk), data.subarray(i * chunk, (i + 1) * chunk), `chunk ${i}`);
    }
    vm.sh(`dd if=/dev/mapper/dvmt-str bs=64k count=4 iflag=direct 2>/dev/null | cmp - ${src}`);
    const st = k.state(UUID_PREFIX);
    const d = st.devices.find((x) => x.name === "dvmt-str")!;
    assert.deepEqual(d.table, [
      { ...table, stripes: table.stripes.map((s) => ({ ...s, device: devno(s.device) })) },
    ]);
    // The kernel lists a table's devices newest first (the sim says so too).
    const fmt = (p: string) => `(${devno(p).replace(":", ", ")})`;
    assert.equal(k.query("deps", "dvmt-str"), `2 dependencies\t: ${fmt(vdb)} ${fmt(vda)}\n`);
    assert.equal(k.query("status", "dvmt-str"), `0 4096 striped 2 ${devno(vda)} ${devno(vdb)} 1 AA\n`);
    assert.deepEqual(st.disks?.map((x) => [x.path, x.size_sectors]).sort(), [
      [vda, DISK_SECTORS],
      [vdb, DISK_SECTORS],
    ]);
    k.remove("dvmt-str");
  });

  it("suspends and resumes, swapping in a staged table; clear drops a staged one", () => {
    k.suspend("dvmt-lin");
    let d = k.state(UUID_PREFIX).devices.find((x) => x.name === "dvmt-lin")!;
    assert.equal(d.suspended, true);
    assert.match(k.query("info", "dvmt-lin"), /\|L-sw\n$/);
    k.load("dvmt-lin", [linear(0, 4096, vda, 4096)], false);
    assert.equal(k.query("table", "dvmt-lin", true), `0 4096 linear ${devno(vda)} 4096\n`);
    k.resume("dvmt-lin");
    d = k.state(UUID_PREFIX).devices.find((x) => x.name === "dvmt-lin")!;
    assert.equal(d.suspended, false);
    assert.deepEqual(d.table, [linear(0, 4096, devno(vda), 4096)]);
    assert.equal(vm.sh("blockdev --getsz /dev/mapper/dvmt-lin"), "4096\n");

    k.load("dvmt-lin", [{ start_sectors: 0, length_sectors: 100, type: "zero" }], true);
    d = k.state(UUID_PREFIX).devices.find((x) => x.name === "dvmt-lin")!;
    assert.deepEqual(d.inactive_table, [{ start_sectors: 0, length_sectors: 100, type: "zero" }]);
    k.clear("dvmt-lin");
    d = k.state(UUID_PREFIX).devices.find((x) => x.name === "dvmt-lin")!;
    assert.equal(d.inactive_table, null);
    assert.deepEqual(d.table, [linear(0, 4096, devno(vda), 4096)]);
  });

  it("answers status, deps and info queries", () => {
    assert.equal(k.query("status", "dvmt-lin"), "0 4096 linear \n");
    const [maj, min] = devno(vda).split(":");
    assert.equal(k.query("deps", "dvmt-lin"), `1 dependencies\t: (${maj}, ${min})\n`);
    const f = k.query("info", "dvmt-lin").trim().split("|");
    assert.deepEqual([f[0], f[1], f[4], f[5], f[7]], ["dvmt-lin", `${UUID_PREFIX}lin`, "0", "1", "L--w"]);
  });

  it("refuses a message to a target without messages (EINVAL)", () => {
    const e = failsWith("EINVAL", () => k.message("dvmt-lin", 0, "hello"));
    assert.match(e.message, /message/);
  });

  it("renames, sets a uuid on a device without one, and makes the VG/LV link", () => {
    k.create("dvmt-nouuid");
    k.load("dvmt-nouuid", [{ start_sectors: 0, length_sectors: 64, type: "zero" }], true);
    k.resume("dvmt-nouuid");
    k.setUuid("dvmt-nouuid", `${UUID_PREFIX}later`);
    assert.equal(k.query("info", "dvmt-nouuid").split("|")[1], `${UUID_PREFIX}later`);
    k.rename("dvmt-nouuid", "dvmtvg-lv1");
    assert.equal(vm.sh("readlink /dev/dvmtvg/lv1"), "../mapper/dvmtvg-lv1\n");
    assert.equal(vm.sh("blockdev --getsz /dev/dvmtvg/lv1"), "64\n");
    assert.equal(vm.exec(["test", "-e", "/dev/mapper/dvmt-nouuid"]).status, 1);
    const d = k.state(UUID_PREFIX).devices.find((x) => x.uuid === `${UUID_PREFIX}later`)!;
    assert.equal(d.name, "dvmtvg-lv1");
    assert.equal(d.read_only, true);
    // A uuid, once set, cannot be changed.
    failsWith("EINVAL", () => k.setUuid("dvmtvg-lv1", `${UUID_PREFIX}again`));
    k.remove("dvmtvg-lv1");
    assert.equal(vm.exec(["test", "-e", "/dev/dvmtvg"]).status, 1);
  });

  it("classifies the kernel's failures: EBUSY, EINVAL, ENXIO", () => {
    // A device in use (another device's table holds it open).
    k.create("dvmt-top", `${UUID_PREFIX}top`);
    k.load("dvmt-top", [linear(0, 1024, "/dev/mapper/dvmt-lin", 0)], false);
    k.resume("dvmt-top");
    const top = k.state(UUID_PREFIX).devices.find((x) => x.name === "dvmt-top")!;
    assert.deepEqual(top.depends_on, ["dvmt-lin"]);
    assert.equal(k.state(UUID_PREFIX).devices.find((x) => x.name === "dvmt-lin")!.open_count, 1);
    failsWith("EBUSY", () => k.remove("dvmt-lin"));
    k.remove("dvmt-top");

    // A table with a gap between targets.
    failsWith("EINVAL", () =>
      k.load("dvmt-lin", [linear(0, 100, vda, 0), linear(200, 100, vda, 100)], false),
    );
    // A device that does not exist.
    failsWith("ENXIO", () => k.remove("dvmt-missing"));
    failsWith("ENXIO", () => k.suspend("dvmt-missing"));
    // A name already taken.
    failsWith("EBUSY", () => k.create("dvmt-lin"));
    // Resume after suspend of a device that never had a table.
    k.create("dvmt-empty");
    k.suspend("dvmt-empty");
    failsWith("EINVAL", () => k.resume("dvmt-empty"));
    k.remove("dvmt-empty");
  });

  it("runs a dm program whose failing step takes the recovery branch", () => {
    const t: TargetLine[] = [linear(0, 1024, vdb, 0)];
    const program: DmProgramDoc = {
      kind: "dm-program",
      version: 1,
      steps: [
        { id: 1, op: "create", name: "dvmt-prog", uuid: `${UUID_PREFIX}prog`, table: t },
        { id: 2, op: "table", name: "dvmt-prog" },
        {
          id: 3,
          op: "load",
          name: "dvmt-prog",
          table: [linear(0, 100, vdb, 0), linear(200, 8, vdb, 0)],
          on_error: 10,
        },
        { id: 4, op: "suspend", name: "dvmt-prog" },
        { id: 5, op: "resume", name: "dvmt-prog" },
        { id: 6, op: "end", result: "ok" },
        { id: 10, op: "remove", name: "dvmt-prog" },
        { id: 11, op: "end", result: "rolled_back" },
      ],
    };
    const report = runProgram(program, k);
    assert.equal(report.backend, "kernel");
    assert.equal(report.result, "rolled_back", JSON.stringify(report, null, 1));
    assert.equal(report.exit_code, 8);
    assert.deepEqual(
      report.steps.map((s) => [s.id, s.outcome, s.errno]),
      [
        [1, "ok", undefined],
        [2, "ok", undefined],
        [3, "failed", "EINVAL"],
        [10, "ok", undefined],
        [11, "ok", undefined],
      ],
    );
    assert.equal(report.steps[1]!.output, `0 1024 linear ${devno(vdb)} 0\n`);
    assert.equal(
      k.state(UUID_PREFIX).devices.find((x) => x.name === "dvmt-prog"),
      undefined,
    );
  });

  it("a program stuck after a failed recovery reports what is left", () => {
    const program: DmProgramDoc = {
      kind: "dm-program",
      version: 1,
      steps: [
        { id: 1, op: "suspend", name: "dvmt-lin" },
        { id: 2, op: "load", name: "dvmt-lin", table: [linear(0, 8, "/dev/vdz", 0)], on_error: 10 },
        { id: 3, op: "end", result: "ok" },
        { id: 10, op: "remove", name: "dvmt-missing" },
        { id: 11, op: "end", result: "rolled_back" },
      ],
    };
    const report = runProgram(program, k);
    assert.equal(report.result, "stuck");
    assert.equal(report.exit_code, 9);
    assert.equal(report.steps[1]!.outcome, "failed");
    assert.equal(report.steps[2]!.errno, "ENXIO");
    assert.ok(
      report.left?.some((l) => l.startsWith("dvmt-lin is suspended")),
      JSON.stringify(report.left),
    );
    k.resume("dvmt-lin");
    k.remove("dvmt-lin");
    assert.deepEqual(k.state(UUID_PREFIX).devices, []);
  });
});
