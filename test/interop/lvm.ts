import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateId } from "../../src/lvm2/uuid.ts";
import { image, type RunResult, run, scratch } from "../helpers.ts";

/**
 * Real LVM2 (2.03.16) on loop devices, for the interop tier.
 *
 * Each test file makes one `Lab`: a scratch folder with a private
 * LVM_SYSTEM_DIR (activation off, no udev, no devices file, no backups), loop
 * devices over sparse image files in that folder, and a random VG name prefix.
 * LVM2 is always run with `--devices` naming only this lab's loops, so it never
 * looks at anything else on the machine; `lab.cleanup()` detaches exactly the
 * loops this lab attached (and only while they are still backed by its files).
 */

const LVM_CONF = `global { activation = 0 use_lvmpolld = 0 }
activation { udev_sync = 0 udev_rules = 0 }
devices { obtain_device_list_from_udev = 0 use_devicesfile = 0 }
backup { backup = 0 archive = 0 }
`;

export const PV_FIELDS =
  "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free,pv_uuid,pe_start,pv_pe_count,pv_pe_alloc_count,dev_size,pv_tags";
export const VG_FIELDS =
  "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free,vg_uuid,vg_extent_size,vg_extent_count,vg_free_count,vg_seqno,vg_tags";
export const LV_FIELDS =
  "lv_name,lv_attr,lv_size,lv_uuid,lv_tags,pool_lv,origin,segtype,stripes,stripe_size,seg_count,seg_start,seg_size,seg_pe_ranges,devices";

export type Kind = "pvs" | "vgs" | "lvs" | "segs";
export const KINDS: Kind[] = ["pvs", "vgs", "lvs", "segs"];
export const FIELDS: Record<Kind, string> = {
  pvs: PV_FIELDS,
  vgs: VG_FIELDS,
  lvs: LV_FIELDS,
  segs: LV_FIELDS,
};
export const JSON_BYTES = ["--reportformat", "json", "--units", "b", "--nosuffix"];

/** LVM2's command for a dvm report kind. */
export const lvmReportCommand = (kind: Kind): string[] => (kind === "segs" ? ["lvs", "--segments"] : [kind]);

/** The LVM2 option sets every fixture is reported with: the fields in JSON, and the default columns. */
export const REPORT_VARIANTS: { name: string; args: (k: Kind) => string[] }[] = [
  { name: "json -o fields", args: (k) => [...JSON_BYTES, "-o", FIELDS[k]] },
  { name: "default columns, text", args: () => [] },
  { name: "default columns, json bytes", args: () => JSON_BYTES },
];

const allLabs = new Set<Lab>();
let exitHooked = false;
function hookExit() {
  if (exitHooked) return;
  exitHooked = true;
  // Belt and braces: after() hooks do not run when the process is interrupted.
  process.on("exit", () => {
    for (const lab of allLabs) lab.cleanup();
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.once(sig, () => {
      for (const lab of allLabs) lab.cleanup();
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
}

export interface Loop {
  dev: string;
  file: string;
}

export class Lab {
  readonly dir: string;
  readonly etc: string;
  /** VG names of this lab start with this ("it" + random hex). */
  readonly prefix: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly loops = new Map<string, Loop>();
  private readonly removeDir: () => void;
  private cleaned = false;

  constructor() {
    const s = scratch("dvm-interop-");
    this.dir = s.dir;
    this.removeDir = s.cleanup;
    this.etc = join(this.dir, "etc");
    spawnSync("mkdir", ["-p", this.etc]);
    writeFileSync(join(this.etc, "lvm.conf"), LVM_CONF);
    this.prefix = `it${randomBytes(3).toString("hex")}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LVM_SYSTEM_DIR: this.etc,
      LVM_SUPPRESS_FD_WARNINGS: "1",
    };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.LVM_VG_NAME;
    this.env = env;
    allLabs.add(this);
    hookExit();
  }

  /** A VG name unique to this lab. */
  vg(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** A new loop device over a new sparse image file of `mib` MiB in the scratch folder. */
  attach(name: string, mib: number): string {
    const file = image(this.dir, `${name}.img`, mib);
    let last = "";
    // losetup -f can race with other processes taking the same free loop: retry.
    for (let i = 0; i < 5; i++) {
      const r = spawnSync("losetup", ["-f", "--show", file], { encoding: "utf8" });
      const dev = r.stdout.trim();
      if (r.status === 0 && dev.startsWith("/dev/loop")) {
        this.loops.set(dev, { dev, file });
        return dev;
      }
      last = r.stderr;
    }
    throw new Error(`losetup -f --show ${file} failed: ${last}`);
  }

  /** The image file behind one of this lab's loops. */
  file(dev: string): string {
    const l = this.loops.get(dev);
    if (!l) throw new Error(`${dev} is not a loop of this lab`);
    return l.file;
  }

  /** Detach one of this lab's loops (only if it is still backed by this lab's file). */
  detach(dev: string): void {
    const l = this.loops.get(dev);
    if (!l) throw new Error(`refusing to detach ${dev}: not attached by this lab`);
    const back = spawnSync("losetup", ["-n", "-O", "BACK-FILE", dev], { encoding: "utf8" });
    if (back.status === 0 && back.stdout.trim() === l.file) {
      const r = spawnSync("losetup", ["-d", dev], { encoding: "utf8" });
      if (r.status !== 0) process.stderr.write(`interop: losetup -d ${dev} failed: ${r.stderr}`);
    }
    this.loops.delete(dev);
  }

  /** Detach every loop this lab attached and remove the scratch folder. Safe to call twice. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const dev of [...this.loops.keys()]) this.detach(dev);
    this.removeDir();
    allLabs.delete(this);
  }

  /** Run `lvm ARGS --devices DEVS` with this lab's LVM_SYSTEM_DIR. */
  lvmRaw(args: string[], devices: string[]): RunResult {
    this.checkDevices(devices);
    const r = spawnSync("lvm", [...args, "--devices", devices.join(",")], {
      env: this.env,
      input: "",
      maxBuffer: 1 << 28,
    });
    return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  /** Like lvmRaw, and fail the test unless LVM2 exits 0; returns stdout. */
  lvm(args: string[], devices: string[]): string {
    const r = this.lvmRaw(args, devices);
    assert.equal(
      r.status,
      0,
      `lvm ${args.join(" ")} --devices ${devices.join(",")} exited ${r.status}:\n${r.stderr}`,
    );
    return r.stdout;
  }

  /** `lvcreate -an -Zn ARGS` (no device-mapper on the host: never activate, never zero). */
  lvcreate(args: string[], devices: string[]): void {
    this.lvm(["lvcreate", "-q", "-an", "-Zn", ...args], devices);
  }

  /**
   * pvck, with a filter that accepts only this device: LVM 2.03.16's pvck
   * refuses `--devices` ("device is not in devices list"), and reads only the
   * named device anyway.
   */
  pvck(dev: string, args: string[] = []): RunResult {
    this.checkDevices([dev]);
    const re = dev.replace(/[^A-Za-z0-9/]/g, "\\$&");
    const filter = `devices { filter = [ "a|^${re}$|", "r|.*|" ] global_filter = [ "a|^${re}$|", "r|.*|" ] }`;
    const r = spawnSync("lvm", ["pvck", "--config", filter, ...args, dev], { env: this.env, input: "" });
    return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  private checkDevices(devices: string[]) {
    assert.ok(devices.length > 0, "LVM2 must be given at least one device");
    for (const d of devices) if (!this.loops.has(d)) throw new Error(`${d} is not a loop of this lab`);
  }
}

/** Run the dvm wrapper; fail unless it exits 0; returns stdout. */
export function dvm(args: string[]): string {
  const r = run("dvm", args);
  assert.equal(r.status, 0, `dvm ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** Rows of an LVM2 JSON report (the first report of the document). */
export function rows(json: string): Record<string, string>[] {
  const doc = JSON.parse(json) as { report: Record<string, Record<string, string>[]>[] };
  const first = doc.report[0]!;
  const key = Object.keys(first)[0]!;
  return first[key]!;
}

/**
 * Compare `dvm report KIND --devices DEVS ARGS` with LVM2's
 * `pvs|vgs|lvs|lvs --segments ARGS --devices DEVS`: parsed JSON deep-equal
 * (when JSON) and the raw text byte for byte. `checkLvm` vets LVM2's output
 * first (so a fixture that went wrong fails as such). Returns LVM2's stdout.
 */
export function compareReport(
  lab: Lab,
  kind: Kind,
  devices: string[],
  args: string[],
  select: string[] = [],
  checkLvm?: (lvmOut: string) => void,
): string {
  const expected = lab.lvm([...lvmReportCommand(kind), ...args, ...select], devices);
  checkLvm?.(expected);
  const actual = dvm(["report", kind, ...select, "--devices", devices.join(","), ...args]);
  const what = `dvm report ${kind} ${select.join(" ")} ${args.join(" ")} vs LVM2`;
  if (args.includes("json")) assert.deepEqual(JSON.parse(actual), JSON.parse(expected), what);
  assert.equal(actual, expected, `${what} (raw text)`);
  return expected;
}

/** The seed's pipeline: dvm-discover find VG | dvm-tm read VG | dvm-report ARGS. */
export function pipeline(
  vg: string,
  devices: string[],
  reportArgs: string[],
  tmArgs: string[] = [],
): RunResult {
  const find = run("dvm-discover", ["find", vg, "--devices", devices.join(",")]);
  if (find.status !== 0) return find;
  const read = run("dvm-tm", ["read", vg, ...tmArgs], find.stdout);
  if (read.status !== 0) return read;
  return run("dvm-report", reportArgs, read.stdout);
}

/** LVM2's backup-file text for a 1-extent linear LV on `pv` at `pe` (for vgcfgrestore). */
export const linearLvBackupText = (name: string, pv: string, pe: number, host = "interop") => `
\t\t${name} {
\t\t\tid = "${generateId()}"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
\t\t\tcreation_time = 1700000000
\t\t\tcreation_host = "${host}"
\t\t\tsegment_count = 1

\t\t\tsegment1 {
\t\t\t\tstart_extent = 0
\t\t\t\textent_count = 1

\t\t\t\ttype = "striped"
\t\t\t\tstripe_count = 1

\t\t\t\tstripes = [
\t\t\t\t\t"${pv}", ${pe}
\t\t\t\t]
\t\t\t}
\t\t}
`;
