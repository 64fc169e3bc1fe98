import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { CommandResult, CommandRunner } from "../../src/dm/kernel.ts";

/**
 * A qemu VM with a real kernel's device-mapper (kernel-vm.md), for the kernel
 * test tier. One boot serves a whole test file:
 *
 * - the initramfs holds busybox, /init and the virtio/9p modules of the
 *   installed Debian kernel; /init mounts the host's root over 9p read-only,
 *   a writable 9p share (this VM's scratch folder) at /tmp/share inside it,
 *   and runs the agent (agent.sh) in a chroot of the host root, so the
 *   guest's dmsetup, dd, cmp... are the host's binaries;
 * - the agent loads the dm modules, writes `ready`, then runs commands the
 *   host drops into the share: request N is `q/N.cmd` (a /bin/sh script that
 *   execs the argv, every argument single-quoted), `q/N.in` (stdin) and
 *   `q/N.t` (timeout, seconds); it answers with `q/N.out`, `q/N.err` and
 *   last `q/N.rc` (exit status), made under a temporary name and renamed, so
 *   once it exists the other two are complete; the host made `q/N.cmd` the
 *   same way;
 * - the host waits synchronously (Atomics.wait between polls), so `runner`
 *   is a CommandRunner for the kernel backend.
 *
 * Node.js never runs in the guest (too slow under TCG): only small C tools do.
 */

export interface VmNeeds {
  kernel?: string;
  version?: string;
  missing: string[];
}

/** What booting needs here: qemu, busybox, a /boot/vmlinuz-* with its /lib/modules. */
export function vmNeeds(): VmNeeds {
  const missing: string[] = [];
  const onPath = (c: string) => (process.env.PATH ?? "").split(":").some((d) => d && existsSync(join(d, c)));
  if (!onPath("qemu-system-x86_64")) missing.push("qemu-system-x86_64 (apt-get install qemu-system-x86)");
  // The initramfs has no libraries: a dynamically linked busybox (package busybox) cannot run there.
  if (!existsSync("/bin/busybox") || hasInterpreter(readFileSync("/bin/busybox")))
    missing.push("a static /bin/busybox (apt-get install busybox-static)");
  // The guest runs the host's own tools through the 9p root.
  if (!onPath("dmsetup")) missing.push("dmsetup (apt-get install dmsetup)");
  const version = existsSync("/boot")
    ? readdirSync("/boot")
        .filter((f) => f.startsWith("vmlinuz-") && existsSync(`/lib/modules/${f.slice(8)}/kernel`))
        .map((f) => f.slice(8))
        .sort()
        .pop()
    : undefined;
  if (!version) missing.push("/boot/vmlinuz-* with /lib/modules (apt-get install linux-image-amd64)");
  return version ? { kernel: `/boot/vmlinuz-${version}`, version, missing } : { missing };
}

/** Whether a 64-bit ELF file names a program interpreter (is dynamically linked): a PT_INTERP header. */
export function hasInterpreter(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) return true;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) if (elf.readUInt32LE(phoff + i * size) === 3) return true;
  return false;
}

/** Loaded in this order at boot (dependencies first); the rest comes from the host root by modprobe. */
const BOOT_MODULES = [
  "drivers/virtio/virtio_ring",
  "drivers/virtio/virtio",
  "drivers/virtio/virtio_pci_modern_dev",
  "drivers/virtio/virtio_pci_legacy_dev",
  "drivers/virtio/virtio_pci",
  "fs/netfs/netfs",
  "fs/fscache/fscache",
  "net/9p/9pnet",
  "net/9p/9pnet_virtio",
  "fs/9p/9p",
  "drivers/block/virtio_blk",
];

const DM_MODULES = ["dm-mod", "dm-mirror", "dm-zero", "dm-snapshot", "dm-thin-pool", "dm-raid"];

export interface VmOptions {
  /** Image files attached as virtio disks: the guest sees them as /dev/vda, /dev/vdb, ... in this order. */
  disks?: string[];
  memoryMiB?: number;
  /** Default per-command timeout in the guest. */
  commandTimeoutS?: number;
  /** How long to wait for the agent to come up. */
  bootTimeoutS?: number;
  /** The agent powers the guest off after this long without a command (a host that died without stopping it). */
  idleLimitS?: number;
  /** qemu's -drive cache mode; none (O_DIRECT) needs a file system that has it. */
  cache?: "none" | "writethrough" | "writeback";
  /** qemu's -cpu (see DEFAULT_CPU). */
  cpu?: string;
}

/**
 * The guest CPU: TCG's "max" without AVX. QEMU 7.2 (Debian 12) was the first
 * to emulate AVX/AVX2 under TCG; without them glibc takes its SSE paths, which
 * TCG has emulated for years. (Turned off when host binaries in the guest died
 * in storms of SIGSEGV; the cause turned out to be a guest kernel bug, see
 * kernelBugs. Kept off as the longer-proven path.)
 */
export const DEFAULT_CPU = "max,avx=off,avx2=off";

export interface RunOptions {
  input?: string;
  timeoutS?: number;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Block this thread (the runner must be synchronous) without spinning. */
const sleepMs = (ms: number) => Atomics.wait(sleepCell, 0, 0, ms);

/** POSIX sh single quoting: safe for any text (no NUL in argv anyway). */
export const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class Vm {
  readonly dir: string;
  readonly disks: string[];
  /** Wall time from spawning qemu to the agent's `ready`, and the guest's uptime then. */
  bootMs = 0;
  guestUptimeS = 0;
  private child: ChildProcess | undefined;
  private seq = 0;
  private broken: string | undefined;
  private readonly opts: Required<Omit<VmOptions, "disks">>;
  private readonly onExit = () => this.kill();

  constructor(opts: VmOptions = {}) {
    this.disks = opts.disks ?? [];
    if (this.disks.length > 26) throw new Error("at most 26 disks (vda..vdz)");
    this.opts = {
      memoryMiB: opts.memoryMiB ?? 1024,
      commandTimeoutS: opts.commandTimeoutS ?? 60,
      bootTimeoutS: opts.bootTimeoutS ?? 120,
      idleLimitS: opts.idleLimitS ?? 900,
      cache: opts.cache ?? "none",
      cpu: opts.cpu ?? DEFAULT_CPU,
    };
    this.dir = mkdtempSync(join(tmpdir(), "dvm-vm-"));
    mkdirSync(join(this.dir, "share", "q"), { recursive: true });
  }

  /** The guest device a host image is attached as. */
  device(hostPath: string): string {
    const i = this.disks.indexOf(hostPath);
    if (i < 0) throw new Error(`${hostPath} is not attached to this VM`);
    return `/dev/vd${String.fromCharCode(97 + i)}`;
  }

  get consoleLog(): string {
    const p = join(this.dir, "console.log");
    return existsSync(p) ? readFileSync(p, "utf8") : "";
  }

  /** Build the initramfs, boot, and wait (synchronously) for the agent. */
  start(): void {
    const needs = vmNeeds();
    if (needs.missing.length) throw new Error(`cannot boot a VM: missing ${needs.missing.join(", ")}`);
    writeFileSync(join(this.dir, "initrd.gz"), buildInitramfs(needs.version!));
    writeFileSync(join(this.dir, "share", "agent.sh"), agentScript(this.opts.idleLimitS));
    const args = [
      ...["-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", this.opts.cpu],
      ...["-m", String(this.opts.memoryMiB), "-smp", "2"],
      ...["-display", "none", "-monitor", "none", "-no-reboot"],
      ...["-serial", `file:${join(this.dir, "console.log")}`],
      ...["-kernel", needs.kernel!, "-initrd", join(this.dir, "initrd.gz")],
      // slub_debug: a kernel memory bug is caught where it happens and reported on the
      // console (see kernelBugs), instead of corrupting the guest and crashing commands later.
      ...["-append", "console=ttyS0 quiet panic=-1 slub_debug=FZPU"],
      ...["-fsdev", "local,id=fs0,path=/,security_model=none,readonly=on,multidevs=remap"],
      ...["-device", "virtio-9p-pci,fsdev=fs0,mount_tag=hostroot"],
      ...["-fsdev", `local,id=fs1,path=${join(this.dir, "share")},security_model=none`],
      ...["-device", "virtio-9p-pci,fsdev=fs1,mount_tag=share"],
      ...this.disks.flatMap((d) => [
        "-drive",
        `file=${d.replace(/,/g, ",,")},format=raw,if=virtio,cache=${this.opts.cache}`,
      ]),
    ];
    const t0 = performance.now();
    // qemu's output goes to files, never to a pipe: this thread blocks while waiting and could not drain one.
    this.child = spawn("qemu-system-x86_64", args, { stdio: "ignore" });
    process.on("exit", this.onExit);
    const ready = join(this.dir, "share", "ready");
    const deadline = t0 + this.opts.bootTimeoutS * 1000;
    while (!existsSync(ready)) {
      if (!this.alive())
        throw new Error(`qemu exited during boot; console:\n${this.consoleLog.slice(-3000)}`);
      if (performance.now() > deadline) {
        this.kill();
        throw new Error(
          `the VM did not come up in ${this.opts.bootTimeoutS} s; console:\n${this.consoleLog}`,
        );
      }
      sleepMs(20);
    }
    this.bootMs = Math.round(performance.now() - t0);
    const [uptime, modErr] = readFileSync(ready, "utf8").split("\n");
    this.guestUptimeS = Number(uptime);
    if (modErr) throw new Error(`modprobe in the guest failed: ${modErr}`);
  }

  /** Commands that died of a crash signal and were run again (see exec). */
  crashRetries = 0;

  /**
   * What the guest kernel reported of its own bugs on the console: BUG
   * (slub_debug's reports among them), Oops, general protection faults. Linux
   * 6.1's dm-ima, for one, frees a device's measurement data twice when a
   * device whose staged table was cleared is renamed and then removed; unseen,
   * that corrupted the guest's slab and made every later dmsetup die of
   * SIGSEGV. A test file fails when this is not empty (stop).
   */
  kernelBugs(): string[] {
    return this.consoleLog
      .split("\n")
      .filter((l) => /\] (kernel BUG|BUG |Oops|general protection fault)/.test(l));
  }

  /**
   * Run argv in the guest (chroot of the host root, DM_DISABLE_UDEV=1); never
   * throws for the command's own failure. A command killed by SIGSEGV, SIGBUS
   * or SIGILL is run once more, loudly: under TCG a host binary (mkdir, ln,
   * dmsetup) very rarely crashes on start-up, which is the emulator's fault,
   * not the command's; the second run's result stands.
   */
  exec(argv: string[], opts: RunOptions = {}): CommandResult {
    const r = this.execOnce(argv, opts);
    if (![128 + 4, 128 + 7, 128 + 11].includes(r.status) || this.broken) return r;
    this.crashRetries++;
    console.error(`# vm: ${argv.join(" ")} died of signal ${r.status - 128} (${r.stderr.trim()}); run again`);
    const bugs = this.kernelBugs();
    if (bugs.length) console.error(`# vm: the guest kernel reported:\n${bugs.join("\n")}`);
    return this.execOnce(argv, opts);
  }

  private execOnce(argv: string[], opts: RunOptions): CommandResult {
    if (argv.length === 0) throw new Error("empty argv");
    if (this.broken) return { status: 125, stdout: "", stderr: `vm: ${this.broken}\n` };
    const timeoutS = opts.timeoutS ?? this.opts.commandTimeoutS;
    const n = this.seq++;
    const q = join(this.dir, "share", "q");
    const f = (ext: string) => join(q, `${n}.${ext}`);
    writeFileSync(f("in"), opts.input ?? "");
    writeFileSync(f("t"), `${timeoutS}\n`);
    writeFileSync(f("cmd.tmp"), `exec ${argv.map(shQuote).join(" ")}\n`);
    renameSync(f("cmd.tmp"), f("cmd"));
    // The guest kills the command at timeoutS; a command stuck in the kernel (D state) cannot be, so wait a bit more.
    const deadline = performance.now() + (timeoutS + 15) * 1000;
    let pause = 1;
    while (!existsSync(f("rc"))) {
      if (!this.alive()) {
        this.broken = "qemu has exited";
        return { status: 125, stdout: "", stderr: `vm: qemu exited running ${argv.join(" ")}\n` };
      }
      if (performance.now() > deadline) {
        this.broken = `the agent stopped answering (at ${argv.join(" ")})`;
        return {
          status: 124,
          stdout: "",
          stderr: `vm: no answer in ${timeoutS + 15} s: ${argv.join(" ")}\n`,
        };
      }
      sleepMs(pause);
      pause = Math.min(pause * 2, 10);
    }
    let status = Number(readFileSync(f("rc"), "utf8"));
    const stdout = readFileSync(f("out"), "utf8");
    let stderr = readFileSync(f("err"), "utf8");
    for (const e of ["in", "t", "cmd", "out", "err", "rc"]) rmSync(f(e), { force: true });
    if (status === 124) stderr += `vm: timed out after ${timeoutS} s: ${argv.join(" ")}\n`;
    if (!Number.isInteger(status)) status = 125;
    return { status, stdout, stderr };
  }

  /** A CommandRunner for KernelBackend. */
  readonly runner: CommandRunner = (argv, input) => this.exec(argv, { input });

  /** Run a shell script in the guest; throws when it fails (test set-up and checks). */
  sh(script: string, input?: string): string {
    const r = this.exec(["sh", "-c", script], { input });
    if (r.status !== 0) throw new Error(`guest sh failed (${r.status}): ${script}\n${r.stderr}`);
    return r.stdout;
  }

  /**
   * Ask the agent to power off; kill qemu if it has not gone in `graceMs`.
   * Always removes the scratch folder. Throws (after that) when the guest
   * kernel reported a bug during the run: its console is printed.
   */
  stop(graceMs = 10_000): void {
    if (this.child && this.alive()) {
      writeFileSync(join(this.dir, "share", "stop"), "");
      const deadline = performance.now() + graceMs;
      while (this.alive() && performance.now() < deadline) sleepMs(20);
    }
    this.kill();
    process.off("exit", this.onExit);
    const bugs = this.kernelBugs();
    const console_ = bugs.length ? this.consoleLog : "";
    rmSync(this.dir, { recursive: true, force: true });
    if (bugs.length)
      throw new Error(
        `the guest kernel reported a bug during the run:\n${bugs.join("\n")}\nconsole:\n${console_.slice(-8000)}`,
      );
  }

  private kill(): void {
    if (this.child?.pid && this.alive()) this.child.kill("SIGKILL");
  }

  /**
   * A test file's end: `first` (devices down, daemons killed), then stop
   * (which fails on a guest kernel bug), then `cleanup` (the host's scratch
   * files), each also when the one before failed.
   */
  end(cleanup: () => void, first?: () => void): void {
    try {
      first?.();
    } finally {
      try {
        this.stop();
      } finally {
        cleanup();
      }
    }
  }

  /** Whether qemu still runs (an exited child stays a zombie until the blocked event loop reaps it). */
  private alive(): boolean {
    const pid = this.child?.pid;
    if (!pid || this.child?.exitCode !== null || this.child?.signalCode !== null) return false;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return !/^\d+ \(.*\) [ZX]/.test(stat);
    } catch {
      return false;
    }
  }
}

/** The guest's /init: mounts, the host root, the share, then the agent in a chroot. */
function initScript(): string {
  const mods = BOOT_MODULES.map((m) => `/m/${m.split("/").pop()}.ko`).join(" ");
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Twice over the list: a module whose dependency comes later loads on the second pass.
for pass in 1 2; do for m in ${mods}; do insmod $m 2>/dev/null; done; done
mkdir -p /host
# The host root does not change under a test: cache it (exec over uncached 9p costs ~100 ms a program).
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host; then
  echo "vm-init: cannot mount the host root"; poweroff -f
fi
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
mkdir -p /host/tmp/share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /host/tmp/share
chroot /host /bin/busybox sh /tmp/share/agent.sh
sync
poweroff -f
`;
}

/** The guest agent (busybox sh in the chroot): see the Vm comment for the protocol. */
function agentScript(idleLimitS: number): string {
  return `S=/tmp/share
Q=$S/q
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Nothing in the guest runs udev: libdm makes the /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1 LC_ALL=C HOME=/tmp
err=$(/sbin/modprobe -a ${DM_MODULES.join(" ")} 2>&1 | tr '\\n' ' ')
cut -d' ' -f1 /proc/uptime > $S/ready.tmp
echo "$err" >> $S/ready.tmp
mv $S/ready.tmp $S/ready
i=0
idle=0
while :; do
  if [ -e $Q/$i.cmd ]; then
    read t < $Q/$i.t
    # GNU timeout: TERM at t seconds, KILL 2 s later; 124 when it fired.
    /usr/bin/timeout -k 2 "$t" /bin/sh $Q/$i.cmd < $Q/$i.in > $Q/$i.out 2> $Q/$i.err
    echo $? > $Q/$i.rc.tmp
    mv $Q/$i.rc.tmp $Q/$i.rc
    i=$((i + 1))
    idle=0
  elif [ -e $S/stop ]; then
    break
  else
    # Short sleeps while busy, longer when idle; the idle count bounds a VM whose host died.
    if [ $idle -lt 200 ]; then usleep 5000; else usleep 50000; fi
    idle=$((idle + 1))
    [ $idle -gt $((200 + ${idleLimitS} * 20)) ] && break
  fi
done
sync
`;
}

/** A newc cpio archive (what the kernel unpacks as an initramfs), gzipped. */
function buildInitramfs(version: string): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const entry = (
    name: string,
    mode: number,
    data: Buffer = Buffer.alloc(0),
    rdev: [number, number] = [0, 0],
  ) => {
    const hex = (v: number) => v.toString(16).padStart(8, "0");
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], name.length + 1, 0];
    const head = Buffer.from(`070701${fields.map(hex).join("")}${name}\0`);
    parts.push(head, Buffer.alloc((4 - (head.length % 4)) % 4));
    parts.push(data, Buffer.alloc((4 - (data.length % 4)) % 4));
  };
  const DIR = 0o040755;
  const FILE = 0o100755;
  for (const d of ["bin", "dev", "proc", "sys", "m", "host"]) entry(d, DIR);
  // The kernel opens /dev/console for /init's stdio before devtmpfs is mounted.
  entry("dev/console", 0o020600, undefined, [5, 1]);
  entry("bin/busybox", FILE, readFileSync("/bin/busybox"));
  entry("init", FILE, Buffer.from(initScript()));
  for (const m of BOOT_MODULES) {
    const p = `/lib/modules/${version}/kernel/${m}.ko`;
    if (existsSync(p)) entry(`m/${m.split("/").pop()}.ko`, 0o100644, readFileSync(p));
  }
  entry("TRAILER!!!", 0);
  return gzipSync(Buffer.concat(parts), { level: 1 });
}
