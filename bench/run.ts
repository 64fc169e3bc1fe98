// npm run bench: start-up time of each bundled tool (median of 20 runs, NODE_EXTRA_CA_CERTS
// unset), and report timings on a VG built on image files.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const RUNS = 20;

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(cmd: string, args: string[], input?: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, input, stdio: ["pipe", "ignore", "pipe"] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return ms;
}

const rows: [string, number][] = [];
rows.push(["node -e 0", median(Array.from({ length: RUNS }, () => time(process.execPath, ["-e", "0"])))]);
for (const t of ["dvm", "dvm-discover", "dvm-tm", "dvm-report"])
  rows.push([
    `${t} --version`,
    median(Array.from({ length: RUNS }, () => time(process.execPath, [`dist/${t}.cjs`, "--version"]))),
  ]);

// A VG of 1,000 LVs on two image files, written by dvm-tm restore.
const dir = mkdtempSync(join(tmpdir(), "dvm-bench-"));
try {
  const imgs = [0, 1].map((i) => {
    const p = join(dir, `pv${i}.img`);
    writeFileSync(p, "");
    truncateSync(p, 8 * 2 ** 30);
    return p;
  });
  const devs = imgs.join(",");
  const node = (tool: string, args: string[], input?: string) =>
    spawnSync(process.execPath, [`dist/${tool}.cjs`, ...args], { env, input, maxBuffer: 1 << 28 });
  const labels = imgs.map(
    (p) => JSON.parse(node("dvm-discover", ["label", p]).stdout.toString()).labelled[0],
  );
  const lvs = Array.from({ length: 1000 }, (_, i) => ({
    name: `lv${i}`,
    id: `${String(i).padStart(6, "0")}-aaaa-bbbb-cccc-dddd-eeee-ffffff`,
    status: ["READ", "WRITE", "VISIBLE"],
    flags: [],
    creation_time: 1700000000,
    creation_host: "bench",
    segment_count: 1,
    segments: [
      {
        start_extent: 0,
        extent_count: 1,
        type: "striped",
        stripe_count: 1,
        stripes: [`pv${i % 2}`, Math.floor(i / 2)],
      },
    ],
  }));
  const vg = {
    name: "bench0",
    id: "benchV-aaaa-bbbb-cccc-dddd-eeee-ffffff",
    seqno: 1,
    format: "lvm2",
    status: ["RESIZEABLE", "READ", "WRITE"],
    flags: [],
    extent_size: 8192,
    max_lv: 0,
    max_pv: 0,
    metadata_copies: 0,
    physical_volumes: labels.map((l, i) => ({
      name: `pv${i}`,
      id: l.pv_uuid,
      device: imgs[i],
      status: ["ALLOCATABLE"],
      flags: [],
      dev_size: (8 * 2 ** 30) / 512,
      pe_start: 2048,
      pe_count: 2047,
    })),
    logical_volumes: lvs,
  };
  const r = node(
    "dvm-tm",
    ["restore", "bench0", "--devices", devs],
    JSON.stringify({ kind: "vg", version: 1, vg, top: {}, pv_devices: [] }),
  );
  if (r.status !== 0) throw new Error(r.stderr.toString());
  const reportArgs = ["lvs", "bench0", "--devices", devs, "--reportformat", "json"];
  rows.push([
    "dvm report lvs (1,000 LVs, json)",
    median(
      Array.from({ length: 10 }, () => time(process.execPath, ["dist/dvm.cjs", "report", ...reportArgs])),
    ),
  ]);
  rows.push([
    "dvm-discover find | dvm-tm read | dvm-report lvs (1,000 LVs)",
    median(
      Array.from({ length: 10 }, () =>
        time("sh", [
          "-c",
          `node dist/dvm-discover.cjs find bench0 --devices ${devs} | node dist/dvm-tm.cjs read bench0 | node dist/dvm-report.cjs lvs --reportformat json`,
        ]),
      ),
    ),
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const w = Math.max(...rows.map((r) => r[0].length));
console.log(`${"what".padEnd(w)}  median ms`);
for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v.toFixed(1)}`);
