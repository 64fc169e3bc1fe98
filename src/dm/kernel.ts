import { childProcess } from "../lib/lazy.js";
import { userLvNameProblem } from "../lvm2/names.js";
import { type DmBackend, DmFailure, ERRNO, type ErrnoName, type SuspendFlags } from "./backend.js";
import type { DmDevice, DmDisk, DmStateDoc } from "./docs.js";
import { splitDmName } from "./names.js";
import { parseTarget, printTable, type TargetLine, targetDevices } from "./target.js";

/**
 * The kernel backend: the real device-mapper through dmsetup (device-mapper.md
 * §3). Never waits on udev (--noudevsync, DM_DISABLE_UDEV=1), so it cannot
 * hang where udev is absent or stuck; it makes the /dev/mapper nodes and the
 * /dev/VG/LV links itself. Every command goes through a runner, so tests can
 * run it inside a VM (kernel-vm.md) or against recorded output.
 */

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (argv: string[], input?: string) => CommandResult;

/** Run commands here, or through a prefix command (e.g. a VM agent client) that takes the argv after it. */
export function localRunner(prefix: string[] = []): CommandRunner {
  const env: NodeJS.ProcessEnv = { ...process.env, DM_DISABLE_UDEV: "1" };
  delete env.NODE_EXTRA_CA_CERTS;
  return (argv, input) => {
    const full = [...prefix, ...argv];
    const r = childProcess().spawnSync(full[0]!, full.slice(1), {
      input: input ?? "",
      env,
      maxBuffer: 1 << 28,
    });
    if (r.error) return { status: 127, stdout: "", stderr: `${full[0]}: ${r.error.message}\n` };
    return { status: r.status ?? 128, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
}

/** strerror texts as glibc prints them, to classify dmsetup's failures. */
const STRERROR: [string, ErrnoName][] = [
  ["Operation not permitted", "EPERM"],
  ["No such file or directory", "ENOENT"],
  ["Interrupted system call", "EINTR"],
  ["Input/output error", "EIO"],
  ["No such device or address", "ENXIO"],
  ["Cannot allocate memory", "ENOMEM"],
  ["Permission denied", "EACCES"],
  ["Block device required", "ENOTBLK"],
  ["Device or resource busy", "EBUSY"],
  ["File exists", "EEXIST"],
  ["No such device", "ENODEV"],
  ["Invalid argument", "EINVAL"],
  ["No space left on device", "ENOSPC"],
  ["No data available", "ENODATA"],
  ["Value too large for defined data type", "EOVERFLOW"],
  ["Operation not supported", "EOPNOTSUPP"],
];

/** The errno a failed dmsetup run stands for, from its messages. */
export function classifyDmsetupError(stderr: string): ErrnoName {
  const m = /ioctl on .* failed: (.+)$/m.exec(stderr);
  if (m) {
    const text = m[1]!.trim();
    // "No such device" is a prefix of "No such device or address": match whole texts.
    const hit = STRERROR.find(([s]) => s === text);
    if (hit) return hit[1];
  }
  if (/Device does not exist/.test(stderr)) return "ENXIO";
  if (/Invalid format|Invalid argument|invalid/i.test(stderr)) return "EINVAL";
  if (/not found|No such file/i.test(stderr)) return "ENOENT";
  if (/open failed|communicate with kernel/i.test(stderr)) return "ENODEV";
  return "EIO";
}

export interface KernelOptions {
  runner?: CommandRunner;
  /** Where /dev/mapper and the VG directories live (in the runner's world). */
  devDir?: string;
}

interface InfoRow {
  name: string;
  uuid: string;
  major: number;
  minor: number;
  attr: string;
  open: number;
  segments: number;
  events: number;
}

const INFO_FIELDS = "name,uuid,major,minor,attr,open,segments,events";
/** The info step's one line (the sim prints the same columns). */
const INFO_QUERY_FIELDS = "name,uuid,major,minor,open,segments,events,attr";

export class KernelBackend implements DmBackend {
  readonly name = "kernel";
  private readonly run: CommandRunner;
  private readonly devDir: string;

  constructor(opts: KernelOptions = {}) {
    this.run = opts.runner ?? localRunner();
    this.devDir = opts.devDir ?? "/dev";
  }

  private dmsetup(args: string[], input?: string): string {
    const r = this.run(["dmsetup", ...args], input);
    if (r.status !== 0) {
      const msg = r.stderr
        .trim()
        .split("\n")
        .filter((l) => l && l !== "Command failed.")
        .join("; ");
      throw new DmFailure(
        classifyDmsetupError(r.stderr),
        `dmsetup ${args.join(" ")}: ${msg || `exit ${r.status}`}`,
      );
    }
    return r.stdout;
  }

  create(name: string, uuid?: string): void {
    this.dmsetup(["create", "--noudevsync", "--notable", ...(uuid ? ["-u", uuid] : []), name]);
    // Tables loaded before this device is resumed may name it by its /dev/mapper path.
    this.dmsetup(["mknodes", name]);
  }

  load(name: string, table: TargetLine[], readOnly: boolean): void {
    this.dmsetup(["load", ...(readOnly ? ["--readonly"] : []), name], printTable(table));
  }

  suspend(name: string, flags: SuspendFlags = {}): void {
    this.dmsetup(["suspend", ...flagArgs(flags), name]);
  }

  resume(name: string, flags: SuspendFlags = {}): void {
    this.dmsetup(["resume", "--noudevsync", ...flagArgs(flags), name]);
    this.makeNodes(name);
  }

  clear(name: string): void {
    this.dmsetup(["clear", name]);
  }

  remove(name: string, opts: { deferred?: boolean } = {}): void {
    this.dmsetup(["remove", "--noudevsync", ...(opts.deferred ? ["--deferred"] : []), name]);
    this.removeLinks(name);
  }

  rename(name: string, newName: string): void {
    this.dmsetup(["rename", "--noudevsync", name, newName]);
    this.removeLinks(name);
    this.makeNodes(newName);
  }

  setUuid(name: string, uuid: string): void {
    this.dmsetup(["rename", "--noudevsync", name, "--setuuid", uuid]);
  }

  message(name: string, sector: number, text: string): string {
    return this.dmsetup(["message", name, String(sector), text]).replace(/\n$/, "");
  }

  query(kind: "table" | "status" | "deps" | "info", name: string, inactive = false): string {
    const inact = inactive ? ["--inactive"] : [];
    if (kind === "info")
      return this.dmsetup([
        "info",
        "-c",
        "--noheadings",
        "--separator",
        "|",
        "-o",
        INFO_QUERY_FIELDS,
        ...inact,
        name,
      ]);
    return this.dmsetup([kind, ...inact, name]);
  }

  /** The /dev/mapper node (libdm makes it when udev is disabled; mknodes also repairs it) and the VG/LV link. */
  private makeNodes(name: string): void {
    this.dmsetup(["mknodes", name]);
    const link = this.lvLink(name);
    if (link)
      this.sh(`mkdir -p '${link.dir}' && ln -sfn '../mapper/${name}' '${link.dir}/${link.lv}'`, "make link");
  }

  private removeLinks(name: string): void {
    const link = this.lvLink(name);
    if (link)
      this.sh(
        `if [ "$(readlink '${link.dir}/${link.lv}')" = '../mapper/${name}' ]; then rm -f '${link.dir}/${link.lv}'; fi; rmdir '${link.dir}' 2>/dev/null; true`,
        "remove link",
      );
  }

  /** /dev/VG/LV for a visible LV's top device; none for layers and hidden LVs (LVM2 makes none either). */
  private lvLink(name: string): { dir: string; lv: string } | undefined {
    const parts = splitDmName(name);
    if (!parts || parts.layer || !parts.lv || !isVisibleLvName(parts.lv)) return undefined;
    if (/['\n]/.test(name)) return undefined;
    return { dir: `${this.devDir}/${parts.vg}`, lv: parts.lv };
  }

  private sh(script: string, what: string): void {
    const r = this.run(["sh", "-c", script]);
    if (r.status !== 0) throw new DmFailure("EIO", `${what}: ${r.stderr.trim() || `exit ${r.status}`}`);
  }

  state(uuidPrefix?: string): DmStateDoc {
    const rows = parseInfoRows(
      this.dmsetup(["info", "-c", "--noheadings", "--separator", "|", "-o", INFO_FIELDS]),
    );
    const live = rows.some((r) => r.attr[0] === "L")
      ? parsePrefixedTables(this.dmsetup(["table"]))
      : new Map();
    const staged = rows.some((r) => r.attr[1] === "I")
      ? parsePrefixedTables(this.dmsetup(["table", "--inactive"]))
      : new Map();
    const byDevno = new Map(rows.map((r) => [`${r.major}:${r.minor}`, r.name]));
    const inScope = (r: InfoRow) => !uuidPrefix || r.uuid.startsWith(uuidPrefix);
    const devices: DmDevice[] = rows.filter(inScope).map((r) => {
      const table = r.attr[0] === "L" ? (live.get(r.name) ?? []) : null;
      const inactive = r.attr[1] === "I" ? (staged.get(r.name) ?? []) : null;
      const deps = new Set<string>();
      for (const t of [...(table ?? []), ...(inactive ?? [])])
        for (const d of targetDevices(t)) {
          const n = byDevno.get(d);
          if (n) deps.add(n);
        }
      const d: DmDevice = {
        name: r.name,
        read_only: r.attr[3] === "r",
        table,
        depends_on: [...deps],
        major: r.major,
        minor: r.minor,
        suspended: r.attr[2] === "s",
        open_count: r.open,
        event_nr: r.events,
        inactive_table: inactive,
      };
      if (r.uuid) d.uuid = r.uuid;
      return d;
    });
    const disks = this.disks(devices, byDevno);
    const doc: DmStateDoc = { kind: "dm-state", version: 1, source: "kernel", devices, disks };
    if (uuidPrefix) doc.uuid_prefix = uuidPrefix;
    return doc;
  }

  /** Non-dm devices the tables reference: path and size from sysfs, in one shell run. */
  private disks(devices: DmDevice[], dm: Map<string, string>): DmDisk[] {
    const nums = new Set<string>();
    for (const d of devices)
      for (const t of [...(d.table ?? []), ...(d.inactive_table ?? [])])
        for (const dev of targetDevices(t)) if (/^\d+:\d+$/.test(dev) && !dm.has(dev)) nums.add(dev);
    if (nums.size === 0) return [];
    const list = [...nums];
    const script = list
      .map(
        (n) =>
          `echo "${n} $(grep ^DEVNAME= /sys/dev/block/${n}/uevent | cut -d= -f2) $(cat /sys/dev/block/${n}/size)"`,
      )
      .join("; ");
    const r = this.run(["sh", "-c", script]);
    const out: DmDisk[] = [];
    for (const line of r.stdout.split("\n")) {
      const [num, devname, size] = line.trim().split(/\s+/);
      if (!num || !devname || !size) continue;
      const [major, minor] = num.split(":").map(Number);
      out.push({
        path: `${this.devDir}/${devname}`,
        major: major!,
        minor: minor!,
        size_sectors: Number(size),
      });
    }
    return out;
  }
}

const flagArgs = (f: SuspendFlags) => [
  ...(f.noflush ? ["--noflush"] : []),
  ...(f.nolockfs ? ["--nolockfs"] : []),
];

/** LVM2 makes /dev/VG/LV links only for LVs users see, not for its internal sub-LVs (reserved names). */
const isVisibleLvName = (lv: string) => userLvNameProblem(lv) === null;

/** `dmsetup info -c --noheadings --separator '|'` rows ("No devices found" is no rows). */
export function parseInfoRows(text: string): InfoRow[] {
  const rows: InfoRow[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("No devices found")) continue;
    const f = line.split("|");
    if (f.length < 8) throw new DmFailure("EIO", `dmsetup info: unexpected line "${line}"`);
    rows.push({
      name: f[0]!,
      uuid: f[1]!,
      major: Number(f[2]),
      minor: Number(f[3]),
      attr: f[4]!,
      open: Number(f[5]),
      segments: Number(f[6]),
      events: Number(f[7]),
    });
  }
  return rows;
}

/** `dmsetup table` for all devices: lines prefixed "NAME: ", a table-less device as "NAME: " alone. */
export function parsePrefixedTables(text: string): Map<string, TargetLine[]> {
  const out = new Map<string, TargetLine[]>();
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("No devices found")) continue;
    const m = /^(.*?): ?(.*)$/.exec(line);
    if (!m) continue;
    const list = out.get(m[1]!) ?? [];
    if (m[2]!.trim()) list.push(parseTarget(m[2]!));
    out.set(m[1]!, list);
  }
  return out;
}

export { ERRNO };
