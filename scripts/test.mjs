// Runs the test tiers (design.md, "Tests"). In CI (CI=true) a tier whose needs are
// missing fails; elsewhere it is skipped with a loud message saying why.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const ci = process.env.CI === "true";
const which = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Whether a 64-bit ELF file is dynamically linked (has a PT_INTERP header): no use in an initramfs. */
function hasInterpreter(elf) {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) return true;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  for (let i = 0; i < elf.readUInt16LE(0x38); i++)
    if (elf.readUInt32LE(phoff + i * elf.readUInt16LE(0x36)) === 3) return true;
  return false;
}

function files(dir, skip = []) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return skip.includes(f) ? [] : files(p, skip);
    return p.endsWith(".test.ts") ? [p] : [];
  });
}

const TIERS = {
  unit: { files: () => files("test", ["interop", "kernel", "sim"]), needs: () => [] },
  sim: { files: () => files("test/sim"), needs: () => [] },
  interop: {
    files: () => files("test/interop"),
    needs: () => {
      const missing = [];
      if (process.getuid?.() !== 0) missing.push("root (loop devices)");
      for (const c of ["lvm", "losetup"])
        if (!which(c)) missing.push(`${c} (apt-get install lvm2 util-linux)`);
      if (!existsSync("/dev/loop-control")) missing.push("/dev/loop-control");
      return missing;
    },
  },
  kernel: {
    // qemu under TCG with the Debian kernel (test/kernel/vm.ts, kernel-vm.md); keep in step with vmNeeds there.
    files: () => files("test/kernel"),
    needs: () => {
      const missing = [];
      if (!which("qemu-system-x86_64")) missing.push("qemu-system-x86_64 (apt-get install qemu-system-x86)");
      const kernels = existsSync("/boot")
        ? readdirSync("/boot").filter(
            (f) => f.startsWith("vmlinuz-") && existsSync(`/lib/modules/${f.slice(8)}/kernel`),
          )
        : [];
      if (!kernels.length)
        missing.push("/boot/vmlinuz-* with /lib/modules (apt-get install linux-image-amd64)");
      if (!existsSync("/bin/busybox") || hasInterpreter(readFileSync("/bin/busybox")))
        missing.push("a static /bin/busybox (apt-get install busybox-static)");
      if (!which("dmsetup")) missing.push("dmsetup (apt-get install dmsetup)");
      return missing;
    },
  },
};

const wanted = process.argv[2] === "all" || !process.argv[2] ? Object.keys(TIERS) : process.argv.slice(2);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS; // ~70 ms per Node start otherwise
let failed = false;
for (const name of wanted) {
  const tier = TIERS[name];
  if (!tier) {
    console.error(`unknown tier ${name}`);
    process.exit(1);
  }
  const missing = tier.needs();
  if (missing.length) {
    const msg = `tier ${name}: cannot run, missing: ${missing.join(", ")}`;
    if (ci) {
      console.error(`FAIL ${msg}`);
      failed = true;
    } else console.error(`\n!!! SKIPPED ${msg}\n`);
    continue;
  }
  const list = tier.files();
  if (list.length === 0) {
    console.error(`FAIL tier ${name}: no test files`);
    failed = true;
    continue;
  }
  console.log(`\n=== tier ${name}: ${list.length} files`);
  const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...list], {
    stdio: "inherit",
    env,
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
