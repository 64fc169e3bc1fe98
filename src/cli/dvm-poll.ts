import { usageError } from "../lib/errors.js";
import { POLLERS } from "../poll/index.js";
import type { TxOptions } from "../tm/update.js";
import { flag, type Io, lockOptions, parse, scanScope, str, type Tool, warnTo } from "./common.js";
import { requiredBackend } from "./dm-common.js";
import { scanFrom } from "./dvm-discover.js";

const USAGE = `Usage: dvm-poll --type pvmove|merge|convert --interval SECONDS [--abort] --lvid LVID VG/LV
       dvm-poll lvpoll --polloperation pvmove|merge|convert [--interval SECONDS] [--abort] VG/LV [-An]

Poll one long operation to its end, as LVM2's \`lvm lvpoll\` does; dvm-polld runs
it for each job (the first form), and the second form takes lvmpolld's own
command line. For a pvmove (VG/LV names the layer, pvmove0...): print the
progress each interval (\`  /dev/sdb: Moved: 42.00%\`), checkpoint each layer
segment in the metadata when its mirror is in sync (the next one starts), and
finish the move when all are copied, each step one dvm-tm transaction with a
two-phase commit of the device-mapper tables. With --abort: put the extents
not yet checkpointed back on the source now.

For a snapshot merge (lvconvert --merge of an old-style snapshot; VG/LV names
the origin): print the progress each interval (\`  vg/lv: Merged: 42.00%\`)
from the origin's snapshot-merge status; when the kernel is done, remove the
merged snapshot's LVs and reload the origin with its own segments (its
snapshot devices go), one dvm-tm transaction. An origin inactive or no
longer merging ends the poll (exit 0), as with LVM2. Not done by dvm (exit 2,
nothing changed; LVM2's \`lvchange --poll y\` finishes it): an origin that
keeps other snapshots, or a VG with other active LVs dvm cannot activate.
A merge cannot be aborted (--abort: exit 1).

For a mirror conversion (lvconvert --type mirror -m N, or -m+N; VG/LV names
the mirror): print the sync each interval (\`  vg/lv: Converted: 42.00%\`);
once in sync, a mirror over a temporary LV_mimagetmp_N layer (the -m+N of a
disk-log mirror) has the layer collapsed into it in one dvm-tm transaction
(\`  Logical volume vg/lv converted.\`); other conversions were complete in the
metadata already. No abort (--abort: exit 1).

Options:
  --type, --polloperation OP  pvmove, merge, convert (mirror sync, then the collapse of
                              an LV_mimagetmp_N layer); merge_thin: not yet in dvm
  --interval SECONDS          between looks (default 15; "+N": wait before the first)
  --abort                     abort the operation
  --lvid LVID                 VG id + LV id without dashes: poll only that LV
  --handle-missing-pvs, --handlemissingpvs, --devicesfile NAME, -A y|n
                              accepted for LVM2 compatibility
  GLOBAL: --devices DEV,...  -c CONFIG  --dm-backend kernel|sim  --sim-dir DIR  --lock-dir DIR  -v

Exit codes: 0 done (or nothing left to poll), 1 usage, 2 invalid input (or a
merge dvm cannot finish, see above), 3 not found, 5 locked (--nowait), or the
merge failed in the kernel (snapshot invalid, merge failed, no snapshot-merge
status), 8/9 a device-mapper step failed (rolled back / stuck), 10 internal
error.
`;

const OPTIONS = {
  type: { type: "string" },
  polloperation: { type: "string" },
  interval: { type: "string", short: "i" },
  abort: { type: "boolean" },
  lvid: { type: "string" },
  "handle-missing-pvs": { type: "boolean" },
  handlemissingpvs: { type: "boolean" },
  devicesfile: { type: "string" },
  autobackup: { type: "string", short: "A" },
  nowait: { type: "boolean" },
} as const;

/** "15", "+15", "5x" (LVM2 reads the leading number and ignores the rest) → seconds. */
export function parseInterval(text: string | undefined): { seconds: number; waitFirst: boolean } {
  if (text === undefined) return { seconds: 15, waitFirst: false };
  const m = /^(\+)?(\d+(?:\.\d+)?)/.exec(text.trim());
  if (!m) throw usageError(`--interval takes a number of seconds (got "${text}")`);
  return { seconds: Number(m[2]), waitFirst: m[1] === "+" };
}

export const pollTool: Tool = {
  name: "dvm-poll",
  usage: USAGE,
  run(argv: string[], io: Io) {
    // lvmpolld's command line starts with the lvm command name ("-An" parses as -A n).
    const args = argv[0] === "lvpoll" ? argv.slice(1) : argv;
    const p = parse(args, OPTIONS);
    const type = str(p, "type") ?? str(p, "polloperation");
    if (type === undefined) throw usageError("--polloperation parameter is mandatory");
    if (!["pvmove", "convert", "merge", "merge_thin"].includes(type))
      throw usageError(`Unknown polling operation ${type}`);
    const poller = POLLERS[type as keyof typeof POLLERS];
    if (!poller) throw usageError(`polling operation ${type}: not in dvm yet`);
    if (p.positionals.length !== 1) throw usageError("name one VG/LV to poll");
    const m = /^(?:\/dev\/)?([^/]+)\/([^/]+)$/.exec(p.positionals[0]!);
    if (!m) throw usageError(`"${p.positionals[0]}" is not VG/LV`);
    const interval = parseInterval(str(p, "interval"));
    const { devices, config } = scanScope(p);
    const tx: TxOptions = {
      scan: () => scanFrom(config, devices),
      ...lockOptions(p, config),
      warn: flag(p, "verbose") ? warnTo(io, "dvm-poll") : undefined,
    };
    return poller({
      vg: m[1]!,
      lv: m[2]!,
      lvid: str(p, "lvid"),
      backend: requiredBackend(p, "dvm-poll"),
      tx,
      intervalS: flag(p, "abort") ? 0 : interval.seconds,
      waitFirst: interval.waitFirst,
      abort: flag(p, "abort"),
      say: (line) => io.out(`${line}\n`),
    });
  },
};
