import { cpSync, existsSync } from "node:fs";
import { join } from "node:path";
import { mapTableDevices } from "../../src/activate/canon.ts";
import type { DmBackend, SuspendFlags } from "../../src/dm/backend.ts";
import type { DmStateDoc } from "../../src/dm/docs.ts";
import { KernelBackend } from "../../src/dm/kernel.ts";
import type { TargetLine } from "../../src/dm/target.ts";
import { copyTool, ROOT } from "../helpers.ts";
import type { Vm } from "./vm.ts";

/**
 * The kernel backend seen from the host: dvm-tm's documents name PVs by the
 * host's image paths, the guest knows the same files as /dev/vdX. Tables
 * going in and the disks coming back are translated; nothing else changes.
 */
export class GuestDisks implements DmBackend {
  readonly name = "kernel";
  readonly kernel: KernelBackend;
  constructor(private readonly vm: Vm) {
    this.kernel = new KernelBackend({ runner: vm.runner, devDir: "/dev" });
  }
  private toGuest = (p: string) => (this.vm.disks.includes(p) ? this.vm.device(p) : p);
  private toHost = (p: string) => this.vm.disks.find((h) => this.vm.device(h) === p) ?? p;
  create = (name: string, uuid?: string) => this.kernel.create(name, uuid);
  load = (name: string, table: TargetLine[], readOnly: boolean) =>
    this.kernel.load(name, mapTableDevices(table, this.toGuest)!, readOnly);
  suspend = (name: string, flags?: SuspendFlags) => this.kernel.suspend(name, flags);
  resume = (name: string, flags?: SuspendFlags) => this.kernel.resume(name, flags);
  clear = (name: string) => this.kernel.clear(name);
  remove = (name: string, opts?: { deferred?: boolean }) => this.kernel.remove(name, opts);
  rename = (name: string, newName: string) => this.kernel.rename(name, newName);
  setUuid = (name: string, uuid: string) => this.kernel.setUuid(name, uuid);
  message = (name: string, sector: number, text: string) => this.kernel.message(name, sector, text);
  query = (kind: "table" | "status" | "deps" | "info", name: string, inactive?: boolean) =>
    this.kernel.query(kind, name, inactive);
  state(uuidPrefix?: string): DmStateDoc {
    const st = this.kernel.state(uuidPrefix);
    return { ...st, disks: st.disks?.map((d) => ({ ...d, path: this.toHost(d.path) })) };
  }
}

/**
 * LVM2 in the guest, on the guest's disks only, without udev or backups;
 * lvmpolld off unless `polldSocket` names the daemon to use. Returns a
 * runner of `lvm ARGS` (stdout and stderr together); the config is written
 * on first use.
 */
export function guestLvm(vm: Vm, opts: { polldSocket?: string } = {}): (args: string) => string {
  let ready = false;
  const env = `LVM_SYSTEM_DIR=/tmp/lvmconf LVM_SUPPRESS_FD_WARNINGS=1${opts.polldSocket ? ` LVM_LVMPOLLD_SOCKET=${opts.polldSocket}` : ""}`;
  return (args) => {
    if (!ready) {
      const conf = [
        `activation { udev_sync = 0 udev_rules = 0${opts.polldSocket ? " polling_interval = 1" : ""} }`,
        'devices { obtain_device_list_from_udev = 0 use_devicesfile = 0 filter = [ "a|^/dev/vd|", "r|.*|" ] }',
        `global { use_lvmpolld = ${opts.polldSocket ? 1 : 0} }`,
        "backup { backup = 0 archive = 0 }",
      ].join("\n");
      vm.sh("mkdir -p /tmp/lvmconf && cat > /tmp/lvmconf/lvm.conf", `${conf}\n`);
      ready = true;
    }
    return vm.sh(`${env} lvm ${args} 2>&1`);
  };
}

/**
 * Put dvm's bundles (`dvm-polld`, `dvm-poll`, ...) on the VM's share as
 * /tmp/share/dvm/dist/NAME.cjs (and code/NAME.js with its code cache), with the koffi package and its native
 * build (the optional package @koromix/koffi-<platform>-<arch>), laid out as
 * in the checkout so a bundle's require finds them: the guest's /tmp is its
 * own, so a checkout under the host's /tmp is out of its sight. Returns the
 * guest path of the dist folder.
 */
export function shareDvm(vm: Vm, bundles: string[]): string {
  const shared = join(vm.dir, "share", "dvm");
  for (const b of bundles) copyTool(b, join(shared, "dist"));
  const native = join("@koromix", `koffi-${process.platform}-${process.arch}`);
  for (const pkg of ["koffi", native]) {
    const from = join(ROOT, "node_modules", pkg);
    if (!existsSync(from)) throw new Error(`${from} is missing: npm install`);
    cpSync(from, join(shared, "node_modules", pkg), { recursive: true });
  }
  return "/tmp/share/dvm/dist";
}
