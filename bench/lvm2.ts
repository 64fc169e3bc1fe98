// dvm against LVM2 2.03, side by side on the same loop devices (run as root after a build:
// `npx tsx bench/lvm2.ts [--runs N] [--sizes 1,1000,10000]`).
//
// For a VG of 1, 1,000 and 10,000 LVs (put on disk by vgcfgrestore of a generated backup
// file, on PVs with 64 MiB metadata areas) it times, as the median of N runs:
//   create an LV (dvm lv create / lvcreate -an -Zn), remove it (dvm lv remove / lvremove -f),
//   extend an LV by one extent (dvm lv extend / lvextend; each run is undone by an untimed
//   reduce of the same tool), report lvs as JSON (dvm report lvs / lvs --reportformat json),
//   and the seed's pipeline for the report (dvm-discover find | dvm-tm read | dvm-report lvs).
// dvm and LVM2 alternate run by run on the same VG state (which of the two goes first
// alternates too), both lock the VG in the default /run/lock/lvm, and neither activates
// anything. LVM2 runs with a private LVM_SYSTEM_DIR (no activation, udev, devices file or
// backups) and --devices naming only the bench's loops. NODE_EXTRA_CA_CERTS is removed from
// the environment of every process. Loops and temporary files are removed on exit, also
// after a failure or a signal (test/interop/lvm.ts's Lab).
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DIST } from "../test/helpers.ts";
import { Lab, linearLvBackupText } from "../test/interop/lvm.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "7" },
    "big-runs": { type: "string", default: "5" },
    sizes: { type: "string", default: "1,1000,10000" },
  },
});
const RUNS = Number(values.runs);
const BIG_RUNS = Number(values["big-runs"]);
const SIZES = values.sizes!.split(",").map(Number);

if (process.getuid?.() !== 0) {
  console.error("bench/lvm2.ts needs root (loop devices, LVM2)");
  process.exit(1);
}
for (const [cmd, args] of [
  ["lvm", ["version"]],
  ["losetup", ["--version"]],
] as const)
  if (spawnSync(cmd, args).status !== 0) {
    console.error(`bench/lvm2.ts needs ${cmd}`);
    process.exit(1);
  }

const lab = new Lab();
const env = { ...lab.env };
delete env.NODE_EXTRA_CA_CERTS;
const devNull = openSync("/dev/null", "w");
process.on("exit", () => closeSync(devNull));

interface Timed {
  ms: number;
  status: number;
  stderr: string;
}

/** Run a command with stdout to /dev/null; the wall time of spawn to exit. */
function timed(cmd: string, args: string[]): Timed {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ["ignore", devNull, "pipe"], maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, status: r.status ?? -1, stderr: r.stderr?.toString() ?? "" };
}

function must(t: Timed, what: string): number {
  if (t.status !== 0) throw new Error(`${what} exited ${t.status}: ${t.stderr.trim()}`);
  return t.ms;
}

const node = process.execPath;
const tool = (name: string) => join(DIST, `${name}.cjs`);

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Row {
  op: string;
  lvs: number;
  dvm: number | null;
  lvm: number | null;
  runs: number;
  note?: string;
}
const table: Row[] = [];

/** A VG of `n` one-extent LVs (lv0 .. lv{n-1}) on two new loops, made by LVM2. */
function makeVg(n: number): { vg: string; devs: string[] } {
  const vg = lab.vg(`b${n}`);
  // 4 MiB extents: room for the LVs, plus the 64 MiB metadata area and some spare.
  const mib = Math.ceil(n / 2) * 4 + 256;
  const devs = [lab.attach(`${vg}-a`, mib), lab.attach(`${vg}-b`, mib)];
  lab.lvm(["pvcreate", "-q", "--metadatasize", "64m", ...devs], devs);
  lab.lvm(["vgcreate", "-q", vg, ...devs], devs);
  const tmpl = join(lab.dir, `${vg}.vg`);
  lab.lvm(["vgcfgbackup", "-q", "-f", tmpl, vg], devs);
  const text = readFileSync(tmpl, "utf8");
  const end = text.lastIndexOf("\n}");
  const lvs: string[] = [];
  for (let i = 0; i < n; i++)
    lvs.push(linearLvBackupText(`lv${i}`, `pv${i % 2}`, Math.floor(i / 2), "bench"));
  writeFileSync(tmpl, `${text.slice(0, end)}\n\tlogical_volumes {\n${lvs.join("")}\t}\n${text.slice(end)}`);
  lab.lvm(["vgcfgrestore", "-q", "-f", tmpl, vg], devs);
  const count = lab.lvm(["vgs", "--noheadings", "-o", "lv_count", vg], devs).trim();
  if (count !== String(n)) throw new Error(`${vg}: ${count} LVs after vgcfgrestore, expected ${n}`);
  return { vg, devs };
}

/**
 * Time `steps` of dvm and of LVM2 alternately, `runs` times each. A step is a list of
 * commands: the first is timed, the rest (undoing it) are not; a timed step may be
 * the first of a pair that is timed separately (create, then remove).
 */
type Cmd = { cmd: string; args: string[] };
interface Op {
  name: string;
  dvm: Cmd[];
  lvm: Cmd[];
  /** Which commands of the list are timed, by label (the rest restore the VG's state). */
  timed: (string | null)[];
}

async function measure(n: number, ops: Op[], runs: number) {
  for (const op of ops) {
    const labels = op.timed.filter((l): l is string => l !== null);
    const got: Record<"dvm" | "lvm", Record<string, number[]>> = { dvm: {}, lvm: {} };
    const failed: Partial<Record<"dvm" | "lvm", string>> = {};
    const once = async (who: "dvm" | "lvm") => {
      if (failed[who]) return;
      const cmds = op[who];
      for (let i = 0; i < cmds.length; i++) {
        const c = cmds[i]!;
        const t = timed(c.cmd, c.args);
        // Let signal handlers run (Lab's cleanup on SIGINT/SIGTERM) between commands.
        await tick();
        if (t.status !== 0) {
          failed[who] =
            `${c.cmd} ${c.args.slice(0, 4).join(" ")} ...: exit ${t.status}: ${t.stderr.trim().split("\n").pop()}`;
          return;
        }
        const label = op.timed[i];
        if (label) {
          got[who][label] ??= [];
          got[who][label]!.push(t.ms);
        }
      }
    };
    // One untimed warm-up each (page cache, lock files), then alternate who goes first.
    await once("dvm");
    await once("lvm");
    for (const who of ["dvm", "lvm"] as const)
      if (failed[who]) console.error(`! ${op.name}, ${n} LVs, ${who}: ${failed[who]}`);
    for (const who of ["dvm", "lvm"] as const) got[who] = {};
    for (let r = 0; r < runs; r++) {
      const order = r % 2 === 0 ? (["dvm", "lvm"] as const) : (["lvm", "dvm"] as const);
      for (const who of order) await once(who);
    }
    for (const label of labels) {
      const d = got.dvm[label];
      const l = got.lvm[label];
      table.push({
        op: label,
        lvs: n,
        dvm: d?.length ? median(d) : null,
        lvm: l?.length ? median(l) : null,
        runs,
        note: [failed.dvm && `dvm failed: ${failed.dvm}`, failed.lvm && `LVM2 failed: ${failed.lvm}`]
          .filter(Boolean)
          .join("; "),
      });
    }
    const f = (x: number | null) => (x === null ? "n/a" : x.toFixed(1));
    for (const r of table.slice(-labels.length))
      console.error(`  ${n} LVs, ${r.op}: dvm ${f(r.dvm)} ms, LVM2 ${f(r.lvm)} ms`);
  }
}

async function bench(n: number) {
  const t0 = Date.now();
  const { vg, devs } = makeVg(n);
  console.error(`VG ${vg}: ${n} LVs restored in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const D = devs.join(",");
  const dvm = (...args: string[]): Cmd => ({ cmd: node, args: [tool("dvm"), ...args, "--devices", D] });
  const lvm = (...args: string[]): Cmd => ({ cmd: "lvm", args: [...args, "--devices", D] });
  const runs = n >= 10000 ? BIG_RUNS : RUNS;
  const pipeline =
    `${node} ${tool("dvm-discover")} find ${vg} --devices ${D} | ${node} ${tool("dvm-tm")} read ${vg}` +
    ` | ${node} ${tool("dvm-report")} lvs --reportformat json`;
  await measure(
    n,
    [
      {
        name: "create + remove",
        dvm: [dvm("lv", "create", `${vg}/bnew`, "--size", "4m"), dvm("lv", "remove", `${vg}/bnew`)],
        lvm: [
          lvm("lvcreate", "-q", "-an", "-Zn", "-n", "bnew", "-L", "4m", vg),
          lvm("lvremove", "-q", "-f", `${vg}/bnew`),
        ],
        timed: ["lv create", "lv remove"],
      },
      {
        name: "extend",
        dvm: [
          dvm("lv", "extend", `${vg}/lv0`, "--size", "+4m"),
          dvm("lv", "reduce", `${vg}/lv0`, "--size", "-4m"),
        ],
        lvm: [
          lvm("lvextend", "-q", "-L", "+4m", `${vg}/lv0`),
          lvm("lvreduce", "-q", "-f", "-L", "-4m", `${vg}/lv0`),
        ],
        timed: ["lv extend", null],
      },
      {
        name: "report",
        dvm: [dvm("report", "lvs", vg, "--reportformat", "json")],
        lvm: [lvm("lvs", "--reportformat", "json", vg)],
        timed: ["report lvs json"],
      },
      {
        name: "report (pipeline)",
        dvm: [{ cmd: "bash", args: ["-o", "pipefail", "-c", pipeline] }],
        lvm: [lvm("lvs", "--reportformat", "json", vg)],
        timed: ["report lvs json, pipeline"],
      },
    ],
    runs,
  );
  // The VG must still be what it was: n LVs, readable by both.
  const count = lab.lvm(["vgs", "--noheadings", "-o", "lv_count", vg], devs).trim();
  if (count !== String(n)) throw new Error(`${vg}: ${count} LVs after the bench, expected ${n}`);
  must(timed(node, [tool("dvm-tm"), "verify", vg, "--devices", D]), "dvm-tm verify");
  lab.lvmRaw(["vgremove", "-q", "-ff", vg], devs);
  for (const d of devs) lab.detach(d);
}

try {
  const version = /LVM version:\s*(\S+)/.exec(spawnSync("lvm", ["version"], { env }).stdout.toString())?.[1];
  console.error(`dvm vs LVM2 ${version}, node ${process.version}, ${RUNS} runs (${BIG_RUNS} at 10,000 LVs)`);
  for (const n of SIZES) await bench(n);
} finally {
  lab.cleanup();
}

const pad = (s: string, w: number, right = false) => (right ? s.padStart(w) : s.padEnd(w));
const num = (x: number | null) => (x === null ? "n/a" : x.toFixed(1));
const head = ["operation", "LVs", "dvm ms", "LVM2 ms", "dvm/LVM2", "runs"];
const body = table.map((r) => [
  r.op,
  r.lvs.toLocaleString("en"),
  num(r.dvm),
  num(r.lvm),
  r.dvm !== null && r.lvm !== null ? (r.dvm / r.lvm).toFixed(2) : "n/a",
  String(r.runs),
]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i > 1)).join("  ");
console.log(line(head));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const b of body) console.log(line(b));
for (const r of table) if (r.note) console.log(`note: ${r.op}, ${r.lvs} LVs: ${r.note}`);
const at1000 = table.filter((r) => r.lvs === 1000 && r.dvm !== null && r.lvm !== null);
if (at1000.length) {
  console.log("\ntargets at 1,000 LVs (for information): wrapper ratio <= 0.5, pipeline <= 1.0");
  for (const r of at1000) {
    const target = r.op.includes("pipeline") ? 1.0 : 0.5;
    const ratio = r.dvm! / r.lvm!;
    console.log(`  ${r.op}: ${ratio.toFixed(2)} ${ratio <= target ? "meets" : "misses"} ${target}`);
  }
}
