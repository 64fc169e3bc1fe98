import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { desiredState } from "../../src/activate/vol.ts";
import { printTarget } from "../../src/dm/target.ts";
import type { VgDoc } from "../../src/lib/docs.ts";
import { type PvmoveStartOptions, pvmoveAbort, pvmoveFinish, pvmoveStart } from "../../src/manip/pvmove.ts";
import { ensureBuilt, image, run, scratch } from "../helpers.ts";
import { guestLvm } from "./guest.ts";
import { Vm } from "./vm.ts";

/**
 * LVM2 2.03.16's own pvmove, with a real device-mapper in a qemu VM, as the
 * reference for dvm's pvmove mutators and activation. For each scenario LVM2
 * builds a VG on the guest's disks; dvm reads it from the host's image files
 * and computes pvmove-start; LVM2 runs `pvmove -b` (its poller records the
 * first segment as copied and then sleeps); then
 *
 * - the metadata LVM2 wrote must be dvm's pvmove-start (extents_moved aside,
 *   and pvmove0's id and creation time);
 * - the tables LVM2 loaded for pvmove0 and the LVs on it must be the ones
 *   dvm-vol-activate computes from that metadata;
 * - LVM2's finish (`pvmove` polling to the end) must write dvm's pvmove-finish,
 *   or LVM2's `pvmove --abort` dvm's pvmove-abort of the same metadata.
 */

const tmp = scratch("dvm-pvmove-");
const images = ["a", "b", "c", "d"].map((n) => image(tmp.dir, `${n}.img`, 32));
const vm = new Vm({ disks: images, commandTimeoutS: 180 });

/** LVM2 in the guest, on the guest's disks only, without udev, lvmpolld or backups. */
const lvm = guestLvm(vm);

/** The VG as dvm-tm reads it from the host's image files (LVM2's device hints are the guest's /dev/vdX). */
function read(vg: string): VgDoc {
  const r = run("dvm-tm", ["read", vg, "--devices", images.join(",")]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as VgDoc;
}

/** What LVM2 and dvm are compared on: the LVs, without the seqno, pvmove0's identity and copy progress. */
function comparable(doc: VgDoc) {
  const lvs = structuredClone(doc.vg.logical_volumes ?? []);
  for (const lv of lvs)
    if (lv.name.startsWith("pvmove")) {
      lv.id = "";
      delete lv.creation_time;
      delete lv.creation_host;
      for (const s of lv.segments) s.extents_moved = 0;
    }
  return { ...doc.vg, seqno: 0, logical_volumes: lvs };
}

/** LVM2's live tables of the VG's devices, as `dmsetup table` prints them. */
function lvmTables(vg: string): string[] {
  return vm
    .sh("dmsetup table")
    .split("\n")
    .filter((l) => l.startsWith(`${vg}-`))
    .sort();
}

/** dvm's tables for the same metadata, with the guest's device numbers for disks and dm devices. */
function dvmTables(doc: VgDoc): string[] {
  const num = new Map<string, string>();
  images.forEach((img, i) => {
    num.set(img, `254:${16 * i}`);
  });
  for (const l of vm.sh("dmsetup info -c --noheadings -o name,major,minor --separator ' '").split("\n")) {
    const [name, major, minor] = l.trim().split(" ");
    if (name) num.set(`/dev/mapper/${name}`, `${major}:${minor}`);
  }
  const s = desiredState(doc, "all");
  return s.devices
    .flatMap((d) =>
      d.table!.map((t) => `${d.name}: ${printTarget(t).replace(/\/\S+/g, (p) => num.get(p) ?? p)}`),
    )
    .sort();
}

interface Scenario {
  vg: string;
  /** lvm commands (after pvcreate) that make the VG; disks are /dev/vda.. */
  setup: string[];
  /** pvmove's arguments, in the guest's device names. */
  pvmove: string;
  /** The same for dvm's pvmove-start. */
  start: (imgs: string[]) => Omit<PvmoveStartOptions, "time" | "host" | "newId">;
  end: "finish" | "abort";
}

function runScenario(sc: Scenario) {
  lvm("pvcreate -y -ff /dev/vda /dev/vdb /dev/vdc /dev/vdd");
  try {
    oneScenario(sc);
  } finally {
    // Whatever happened, leave the disks free for the next scenario.
    const sh = (c: string) =>
      vm.exec(["sh", "-c", `LVM_SYSTEM_DIR=/tmp/lvmconf LVM_SUPPRESS_FD_WARNINGS=1 ${c}`]);
    if (sh(`lvm lvs ${sc.vg}/pvmove0`).status === 0) sh("lvm pvmove --abort");
    sh(`lvm vgchange -an ${sc.vg}`);
    sh(`lvm vgremove -y -f ${sc.vg}`);
  }
}

function oneScenario(sc: Scenario) {
  for (const c of sc.setup) lvm(c);
  lvm(`vgchange -ay ${sc.vg}`);
  const before = read(sc.vg);
  const ours = pvmoveStart(before, { ...sc.start(images), time: 0, host: "", newId: () => before.vg.id });

  lvm(`pvmove -b -i 600 ${sc.pvmove} </dev/null >/tmp/pvmove.log 2>&1`);
  vm.sh("sleep 2");
  const mid = read(sc.vg);
  assert.deepEqual(comparable(mid), comparable(ours.doc), `${sc.vg}: LVM2's pvmove start is dvm's`);
  assert.deepEqual(dvmTables(mid), lvmTables(sc.vg), `${sc.vg}: LVM2's tables mid-move are dvm's`);

  if (sc.end === "finish") {
    lvm(`pvmove -i 1 ${sc.pvmove.split(" ")[0]}`);
    assert.deepEqual(comparable(read(sc.vg)), comparable(pvmoveFinish(mid).doc), `${sc.vg}: finish`);
  } else {
    lvm("pvmove --abort");
    assert.deepEqual(comparable(read(sc.vg)), comparable(pvmoveAbort(mid).doc), `${sc.vg}: abort`);
  }
}

describe("LVM2's pvmove in a VM as the reference for dvm's", { timeout: 900_000 }, () => {
  before(() => {
    ensureBuilt("dvm-tm");
    vm.start();
  });
  after(() => vm.end(tmp.cleanup, () => vm.exec(["dmsetup", "remove_all"])));

  it("two-segment and striped LVs, every PV allowed: the stripe avoids its segment's other PV; finish", () => {
    runScenario({
      vg: "pmA",
      setup: [
        "vgcreate -y -s 1m pmA /dev/vda /dev/vdb /dev/vdc",
        "lvcreate -y -l2 -n lvA pmA /dev/vda:0-1",
        "lvcreate -y -l2 -n lvB pmA /dev/vda:2-3",
        "lvextend -y -l+2 pmA/lvA /dev/vda:6-7",
        "lvcreate -y -i2 -I64k -l4 -n lvC pmA /dev/vda:4-5 /dev/vdc:0-1",
        "lvcreate -y -l3 -n lvD pmA /dev/vdb:0-2",
        "lvcreate -y -l2 -n lvE pmA /dev/vdc:2-3",
      ],
      pvmove: "/dev/vda",
      start: (i) => ({ source: i[0]! }),
      end: "finish",
    });
  });

  it("a destination in pieces splits the layer and the LV above it; abort", () => {
    runScenario({
      vg: "pmB",
      setup: [
        "vgcreate -y -s 1m pmB /dev/vda /dev/vdb /dev/vdc /dev/vdd",
        "lvcreate -y -l27 -n fillB pmB /dev/vdb",
        "lvcreate -y -l28 -n fillC pmB /dev/vdc",
        "lvcreate -y -l31 -n fillD pmB /dev/vdd",
        "lvcreate -y -l5 -n lvS pmB /dev/vda:0-4",
        "lvcreate -y -l2 -n lvT pmB /dev/vda:5-6",
      ],
      pvmove: "/dev/vda",
      start: (i) => ({ source: i[0]! }),
      end: "abort",
    });
  });

  it("a PE range of the source, one LV, named destinations; finish", () => {
    runScenario({
      vg: "pmC",
      setup: [
        "vgcreate -y -s 1m pmC /dev/vda /dev/vdb /dev/vdc /dev/vdd",
        "lvcreate -y -l4 -n big pmC /dev/vda:0-3",
        "lvcreate -y -l2 -n other pmC /dev/vda:4-5",
        "lvextend -y -l+4 pmC/big /dev/vda:6-9",
        "lvcreate -y -l3 -n fill pmC /dev/vdd:0-2",
      ],
      // big's PE 3 and PE 6 move (other's 4-5 are in the range but not named): two 1-extent layer
      // segments, so LVM2's poller is still at the second one, whose table's region is cut to 2048.
      pvmove: "/dev/vda:3-6 /dev/vdd /dev/vdc -n big",
      start: (i) => ({ source: `${i[0]}:3-6`, dest: [i[3]!, i[2]!], lv: "big" }),
      end: "finish",
    });
  });
});
