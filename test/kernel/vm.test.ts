import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { image, scratch } from "../helpers.ts";
import { hasInterpreter, Vm } from "./vm.ts";

/** The VM harness itself: the guest agent's command protocol, stdin, exit status, timeouts, disks. */

const tmp = scratch("dvm-vm-");
const disk = image(tmp.dir, "d.img", 4);
const vm = new Vm({ disks: [disk], commandTimeoutS: 30 });

describe("the qemu VM harness", { timeout: 300_000 }, () => {
  before(() => {
    vm.start();
    console.log(`# VM up in ${vm.bootMs} ms wall (guest uptime ${vm.guestUptimeS} s)`);
  });
  after(() => vm.end(tmp.cleanup));

  it("passes any argv through unchanged", () => {
    const args = [
      "plain",
      "",
      "two words",
      "it's",
      '"dq"',
      "$HOME `id` $(id)",
      "a\\b",
      "line\nbreak",
      "ünï",
      "*",
    ];
    const r = vm.exec(["sh", "-c", 'for a in "$@"; do printf "[%s]" "$a"; done', "sh", ...args]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, args.map((a) => `[${a}]`).join(""));
  });

  it("gives stdin, and returns stdout, stderr and the exit status", () => {
    const input = "first line\nsecond 'line' with $x\n";
    const r = vm.exec(["sh", "-c", "cat; echo oops >&2; exit 7"], { input });
    assert.deepEqual(r, { status: 7, stdout: input, stderr: "oops\n" });
    // Without input, stdin is empty (never the console).
    assert.deepEqual(vm.exec(["wc", "-c"]), { status: 0, stdout: "0\n", stderr: "" });
    assert.equal(vm.exec(["/nonexistent"]).status, 127);
  });

  it("kills a command at its timeout and keeps serving", () => {
    const t0 = performance.now();
    const r = vm.exec(["sleep", "30"], { timeoutS: 1 });
    assert.equal(r.status, 124);
    assert.match(r.stderr, /timed out after 1 s/);
    assert.ok(performance.now() - t0 < 15_000);
    assert.equal(vm.exec(["echo", "still here"]).stdout, "still here\n");
  });

  it("runs a command that crashed (SIGSEGV) once more, and only once", () => {
    const before = vm.crashRetries;
    // Counts its runs in a file: the first run crashes, the second succeeds.
    vm.exec(["rm", "-f", "/tmp/share/runs"]);
    const script = 'echo x >> /tmp/share/runs; [ "$(wc -l < /tmp/share/runs)" -ge 2 ] || kill -SEGV $$';
    assert.equal(vm.exec(["sh", "-c", script]).status, 0);
    assert.equal(vm.crashRetries, before + 1);
    // A command that always crashes: its status comes back after the one retry.
    assert.equal(vm.exec(["sh", "-c", "kill -SEGV $$"]).status, 139);
    assert.equal(vm.crashRetries, before + 2);
    assert.equal(vm.exec(["sh", "-c", "exit 3"]).status, 3);
    assert.equal(vm.crashRetries, before + 2);
  });

  it("fails a run in which the guest kernel reported a bug, and prints what it said", () => {
    // A second VM, so this one's stop can be made to fail. The kernel's own report is faked through /dev/kmsg.
    const other = new Vm({ commandTimeoutS: 30 });
    try {
      other.start();
      assert.deepEqual(other.kernelBugs(), []);
      other.sh("echo '<2>BUG kmalloc-1k (Not tainted): Object already free' > /dev/kmsg");
      for (let i = 0; i < 100 && !other.kernelBugs().length; i++) other.sh("true");
      assert.match(other.kernelBugs().join("\n"), /BUG kmalloc-1k/);
    } finally {
      assert.throws(() => other.stop(), /guest kernel reported a bug.*\n.*Object already free/);
    }
  });

  it("runs the guest's kernel with device-mapper, and the image as /dev/vda", () => {
    assert.equal(vm.device(disk), "/dev/vda");
    assert.throws(() => vm.device("/nope.img"), /not attached/);
    assert.equal(vm.sh("blockdev --getsz /dev/vda"), `${(4 * 1024 * 1024) / 512}\n`);
    assert.match(vm.sh("dmsetup version"), /^Driver version: +4\./m);
    assert.equal(vm.sh("echo $DM_DISABLE_UDEV"), "1\n");
  });

  it("tells a static busybox from a dynamic program", () => {
    assert.equal(hasInterpreter(readFileSync("/bin/busybox")), false);
    assert.equal(hasInterpreter(readFileSync(process.execPath)), true);
  });
});
