import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { scan } from "../../src/discover/scan.ts";
import type { VgDoc } from "../../src/lib/docs.ts";
import { generateId } from "../../src/lvm2/uuid.ts";
import { pvmoveStart } from "../../src/manip/pvmove.ts";
import { pollPvmove } from "../../src/poll/pvmove.ts";
import { activateVg } from "../../src/tm/activate.ts";
import { updateVg } from "../../src/tm/update.ts";
import { ensureBuilt, fileBytes, image, run, scratch } from "../helpers.ts";
import { GuestDisks } from "./guest.ts";
import { Vm } from "./vm.ts";

/**
 * dvm's pvmove on a real device-mapper: the move starts in a dvm-tm
 * transaction (the layer loaded as a real dm-mirror under the active LV, in
 * a two-phase commit), then dvm-poll's loop follows the kernel's mirror
 * status, checkpoints each layer segment and finishes. dvm runs on the host,
 * dmsetup in the VM. Afterwards the data written through /dev/mapper before
 * the move reads back through it, and sits on the destination PV where the
 * new metadata says; no layer device is left.
 */

const VG = "dvmmv";
const tmp = scratch("dvm-kmove-");
const [imgA, imgB] = ["a", "b"].map((n) => image(tmp.dir, `${n}.img`, 64)) as [string, string];
const vm = new Vm({ disks: [imgA, imgB] });
const guest = new GuestDisks(vm);
const tx = { lockDir: join(tmp.dir, "lock"), scan: () => scan({ devices: [imgA, imgB] }) };

function dvm(args: string[]): string {
  const r = run("dvm", [...args, "--devices", `${imgA},${imgB}`, "--lock-dir", tx.lockDir]);
  assert.equal(r.status, 0, `dvm ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
const read = (): VgDoc => JSON.parse(run("dvm-tm", ["read", VG, "--devices", `${imgA},${imgB}`]).stdout);
const lvOf = (doc: VgDoc, name: string) => doc.vg.logical_volumes?.find((l) => l.name === name);

describe("dvm pvmove on a real device-mapper (dm-mirror)", { timeout: 600_000 }, () => {
  before(() => {
    ensureBuilt("dvm");
    dvm(["vg", "create", VG, imgA, imgB]);
    // Two segments on A (another LV between them), so the layer has two segments to copy in turn.
    dvm(["lv", "create", `${VG}/mv`, "--size", "8m", "--on", imgA]);
    dvm(["lv", "create", `${VG}/gap`, "--size", "4m", "--on", imgA]);
    dvm(["lv", "extend", `${VG}/mv`, "--size", "+8m", "--on", imgA]);
    vm.start();
  });
  after(() => vm.end(tmp.cleanup, () => vm.exec(["dmsetup", "remove_all"])));

  it("moves an active two-segment LV from A to B: checkpoints, finish, data intact and in place", () => {
    const on = activateVg(VG, { backend: guest, activate: ["mv"] }, tx);
    assert.equal(on.report?.result, "ok");
    const data = randomBytes(16 << 20);
    writeFileSync(join(vm.dir, "share", "mv.bin"), data);
    vm.sh(
      `dd if=/tmp/share/mv.bin of=/dev/mapper/${VG}-mv bs=1M oflag=direct conv=fsync,notrunc 2>/dev/null`,
    );
    rmSync(join(vm.dir, "share", "mv.bin"));

    // Start: the layer goes live as a dm-mirror under the active LV in one two-phase commit.
    const start = updateVg(
      VG,
      (doc) =>
        pvmoveStart(doc, { source: imgA, dest: [imgB], lv: "mv", time: 1, host: "h", newId: generateId }).doc,
      { ...tx, activation: { backend: guest, activate: ["pvmove0"] } },
    );
    assert.equal(start.dm?.report?.result, "ok", JSON.stringify(start.dm?.report));
    const layer = lvOf(start.after, "pvmove0")!;
    assert.equal(layer.segments.length, 2);
    const table = vm.sh(`dmsetup table ${VG}-pvmove0`);
    assert.match(table, /^0 \d+ mirror core 1 \d+ 2 /m, table);

    // dvm-poll's loop, against the kernel's own mirror status.
    const said: string[] = [];
    const code = pollPvmove({
      vg: VG,
      lv: "pvmove0",
      backend: guest,
      tx,
      intervalS: 0.5,
      say: (l) => said.push(l),
    });
    assert.equal(code, 0, said.join("\n"));
    assert.ok(
      said.some((l) => /Moved: \d+\.\d\d%/.test(l)),
      said.join("\n"),
    );

    const doc = read();
    assert.equal(lvOf(doc, "pvmove0"), undefined);
    const mv = lvOf(doc, "mv")!;
    assert.ok(!mv.status.includes("LOCKED"));
    const pvB = doc.vg.physical_volumes.find(
      (p) => p.device === imgB || doc.pv_devices.find((d) => d.pv_uuid === String(p.id))?.path === imgB,
    )!;
    assert.ok(
      mv.segments.every((s) => s.stripes![0] === pvB.name),
      JSON.stringify(mv.segments),
    );
    assert.equal(vm.exec(["dmsetup", "info", `${VG}-pvmove0`]).status, 1, "no layer device left");
    assert.match(
      vm.sh(`dmsetup table ${VG}-mv`),
      new RegExp(
        `linear ${vm
          .sh(`stat -c '%t:%T' ${vm.device(imgB)}`)
          .trim()
          .split(":")
          .map((h) => Number.parseInt(h, 16))
          .join(":")} `,
      ),
    );

    // Through the device: the same bytes. On image B: where the new metadata puts each segment.
    vm.sh(`dd if=/dev/mapper/${VG}-mv of=/tmp/share/out.bin bs=1M iflag=direct 2>/dev/null`);
    assert.ok(readFileSync(join(vm.dir, "share", "out.bin")).equals(data), "data changed by the move");
    const es = doc.vg.extent_size;
    for (const s of mv.segments) {
      const at = (pvB.pe_start + (s.stripes![1] as number) * es) * 512;
      const from = s.start_extent * es * 512;
      const len = s.extent_count * es * 512;
      assert.ok(
        fileBytes(imgB, at, len).equals(data.subarray(from, from + len)),
        `segment at LE ${s.start_extent}`,
      );
    }
    const off = activateVg(VG, { backend: guest, deactivate: "all" }, tx);
    assert.equal(off.report?.result, "ok");
    assert.equal(vm.sh("dmsetup table"), "No devices found\n");
  });
});
