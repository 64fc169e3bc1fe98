import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureBuilt, image, scratch } from "../helpers.ts";
import { guestLvm, shareDvm } from "./guest.ts";
import { Vm } from "./vm.ts";

/**
 * The drop-in test: LVM2's own pvmove, with use_lvmpolld = 1 and
 * LVM_LVMPOLLD_SOCKET pointing at dvm-polld, on a real device-mapper. The
 * daemon runs in the guest (one Node start, a few seconds under TCG: it must
 * share the guest's socket namespace and spawn `lvm lvpoll` where the
 * device-mapper is) with --poller lvm, so it runs LVM2's own lvpoll as
 * lvmpolld does. LVM2's client sees no difference: the moves complete, in
 * the foreground and in the background, and the data is intact.
 */

const tmp = scratch("dvm-dropin-");
const images = ["a", "b"].map((n) => image(tmp.dir, `${n}.img`, 64));
const vm = new Vm({ disks: images, commandTimeoutS: 300 });
const SOCK = "/tmp/dvm-polld.sock";
const LOG = "/tmp/dvm-polld.log";

/** LVM2 in the guest, on the guest's disks only, with dvm-polld as its lvmpolld. */
const lvm = guestLvm(vm, { polldSocket: SOCK });

describe("LVM2's pvmove with dvm-polld as its lvmpolld, on a real device-mapper", {
  timeout: 600_000,
}, () => {
  before(() => {
    ensureBuilt("dvm-polld");
    vm.start();
    // The daemon's bundle and koffi (the pidfile lock) go through the share.
    shareDvm(vm, ["dvm-polld"]);
    const lvmBin = vm.sh("command -v lvm").trim();
    // dvm-polld in the guest, foreground in the background, LVM2's poller; wait for its socket.
    vm.sh(
      `(LVM_SUPPRESS_FD_WARNINGS=1 ${process.execPath} /tmp/share/dvm/dist/dvm-polld.cjs -f -s ${SOCK} -p /tmp/dvm-polld.pid -t 0 --poller lvm -B ${lvmBin} -l all >${LOG} 2>&1 &); ` +
        `i=0; while [ ! -S ${SOCK} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; test -S ${SOCK}`,
    );
  });
  after(() =>
    vm.end(tmp.cleanup, () =>
      vm.exec(["sh", "-c", "kill $(cat /tmp/dvm-polld.pid) 2>/dev/null; dmsetup remove_all"]),
    ),
  );

  it("holds its pidfile lock in the guest: koffi loads there, and a second daemon exits 13", () => {
    const r = vm.exec([
      "sh",
      "-c",
      `${process.execPath} /tmp/share/dvm/dist/dvm-polld.cjs -f -s /tmp/second.sock -p /tmp/dvm-polld.pid -t 0 2>&1`,
    ]);
    assert.equal(r.status, 13, r.stdout);
  });

  it("pvmove in the foreground and with -b completes through dvm-polld; data intact", () => {
    const [a, b] = images.map((i) => vm.device(i)) as [string, string];
    lvm(`pvcreate -y ${a} ${b}`);
    lvm(`vgcreate -y dropin ${a} ${b}`);
    lvm(`lvcreate -y -L 16m -n lv1 dropin ${a}`);
    lvm(`lvcreate -y -L 8m -n lv2 dropin ${a}`);
    const data = randomBytes(16 << 20);
    writeFileSync(join(vm.dir, "share", "d.bin"), data);
    vm.sh("dd if=/tmp/share/d.bin of=/dev/mapper/dropin-lv1 bs=1M oflag=direct conv=fsync 2>/dev/null");
    rmSync(join(vm.dir, "share", "d.bin"));

    // Foreground: LVM2 asks dvm-polld, then polls progress_info until its lvpoll child is done.
    const out = lvm(`pvmove -i 1 ${a} ${b} -n lv1`);
    assert.doesNotMatch(
      out,
      /Failed to connect to lvmpolld|Proceeding with polling without using lvmpolld/,
      out,
    );
    assert.match(out, /Moved: 100\.00%/, out);
    assert.match(lvm("lvs --noheadings -o lv_name,devices dropin/lv1"), new RegExp(`lv1\\s+${b}\\(`));

    // Background: pvmove -b returns once dvm-polld has the job; the job ends with no pvmove LV left.
    lvm(`pvmove -b -i 1 ${a} ${b} -n lv2`);
    let left = "";
    for (let i = 0; i < 120; i++) {
      left = lvm("lvs -a --noheadings -o lv_name dropin");
      if (!/pvmove/.test(left)) break;
      vm.sh("sleep 1");
    }
    assert.doesNotMatch(left, /pvmove/, "the background move finished");
    assert.match(lvm("lvs --noheadings -o lv_name,devices dropin/lv2"), new RegExp(`lv2\\s+${b}\\(`));

    vm.sh("dd if=/dev/mapper/dropin-lv1 of=/tmp/share/o.bin bs=1M iflag=direct 2>/dev/null");
    assert.ok(readFileSync(join(vm.dir, "share", "o.bin")).equals(data), "data changed by the move");

    // The daemon spawned LVM2's lvpoll for both, once each, and logged their output.
    const log = vm.sh(`cat ${LOG}`);
    const spawned = log.split("\n").filter((l) => /LVM2 cmd ".*" \(PID: \d+\)/.test(l));
    assert.equal(spawned.length, 2, log);
    assert.match(
      log,
      /LVMPOLLD: lvpoll\n.*--interval\n.*1\n.*--polloperation\n.*pvmove\n.*dropin\/pvmove0\n.*-An\n/,
    );
    assert.match(log, /LVPOLL: PID \d+: STDOUT: '.*Moved/);
    lvm("vgchange -an dropin");
  });
});
