import { existsSync, readFileSync, writeSync } from "node:fs";
import { devicesDoc } from "../discover/scan.js";
import { openBackend } from "../dm/backends.js";
import { formatProgram } from "../dm/exec.js";
import { splitDmName } from "../dm/names.js";
import { SimBackend } from "../dm/sim/index.js";
import { toJson } from "../lib/docio.js";
import { DvmError, Exit, usageError } from "../lib/errors.js";
import { childProcess, isatty } from "../lib/lazy.js";
import { siblingTool } from "../lib/tools.js";
import { activityFromDmState } from "../report/activity.js";
import { renderReport } from "../report/index.js";
import { activateVg, dmFailure } from "../tm/activate.js";
import { readAllVgs } from "../tm/read.js";
import {
  flag,
  GLOBAL_OPTIONS,
  type Io,
  lockOptions,
  type Parsed,
  parse,
  parseSize,
  runTool,
  scanScope,
  str,
  type Tool,
  warnTo,
} from "./common.js";
import { availableBackend, backendChoice, requiredBackend } from "./dm-common.js";
import { discoverTool, labelFromArgs, scanFrom, unlabelFromArgs } from "./dvm-discover.js";
import { dmactivateTool } from "./dvm-dmactivate.js";
import { dmexecTool } from "./dvm-dmexec.js";
import { manipTool } from "./dvm-manip.js";
import { pollTool } from "./dvm-poll.js";
import { polldTool } from "./dvm-polld.js";
import { REPORT_OPTIONS, reportArgs, reportTool } from "./dvm-report.js";
import { tmTool, vgSelection } from "./dvm-tm.js";
import { volActivateTool } from "./dvm-vol-activate.js";
import { glueSize, lvCommand, MUTATE_OPTIONS, vgCommand } from "./mutate.js";
import { PVMOVE_OPTIONS, pollerArgs, pollMovesOf, pvmoveCommand } from "./pvmove.js";

const USAGE = `Usage: dvm [GLOBAL] COMMAND ...

  dvm pv create DEV... [--metadata-size SIZE]   label devices as PVs (pvcreate)
  dvm pv remove DEV...                          wipe PV labels (pvremove)
  dvm vg create VG DEV... [--extent-size SIZE]  (devices not yet PVs are labelled first)
  dvm vg extend VG DEV...
  dvm vg reduce VG DEV... | --missing [--force]
  dvm vg remove VG [--force]                    (--force: also when it still has LVs)
  dvm vg rename VG NEWNAME
  dvm lv create VG/LV --size SIZE [--type linear|striped] [--stripes N] [--stripe-size SIZE]
                [--on DEV[:PE-PE]...]
  dvm lv extend VG/LV --size [+]SIZE [--on DEV[:PE-PE]...]
  dvm lv reduce VG/LV --size [-]SIZE
  dvm lv remove VG/LV
  dvm lv rename VG/LV NEWNAME
  dvm activate VG[/LV]...                       make LVs live in device-mapper
  dvm deactivate VG[/LV]...
  dvm report pvs [PV...] | vgs|lvs|segs [VG...] [-o FIELD,...] [--reportformat json]
             [--units b|s|k|m|g|t] [--nosuffix] [--noheadings] [--separator S]
  dvm dmsim read|write NAME OFFSET LENGTH       I/O through a sim device (byte offsets;
                                                write takes the data on stdin)
  dvm polld [--foreground] [--socket PATH] [--idle-timeout SECONDS]
                                                start the poll daemon (dvm-polld; its
                                                pollers get this command's GLOBAL options)
  dvm pvmove DEV [DEST...] [--lv LV] [--background] [--abort] [--interval SECONDS]
                                                move the extents of PV DEV (to DESTs) as
                                                LVM2's pvmove, polled by dvm-polld; no DEV:
                                                carry on interrupted moves
  dvm discover|tm|manip|vol-activate|dmactivate|dmexec|report|poll ...
                                                run one of the tools (see dvm TOOL --help)

Changing an active LV (extend, reduce, rename, remove) reloads its device-mapper tables in
LVM2's two-phase commit. The device-mapper is the kernel's (through dmsetup) or, with
--dm-backend sim --sim-dir DIR (or DVM_SIM_DIR), the sim: a user-space device-mapper
on image files, no root needed.

GLOBAL (before or after the command):
  --devices DEV[,DEV...]  look only at these devices or image files
  -c, --config FILE       JSON config (default /etc/dvm/dvm.json when it exists)
  --dm-backend kernel|sim, --sim-dir DIR, --lock-dir DIR
  --dry-run               show what would change, change nothing
  --nowait                fail (exit 5) instead of waiting for a lock: the VG's, or the
                          global one (P_global) that pv create/remove and new PVs take
  --pipeline              run the stages as separate processes (dvm-discover | dvm-tm | dvm-report)
  --json                  machine-readable output and errors
  -v, --verbose
  --help, --version
`;

const WRAPPER_OPTIONS = {
  ...REPORT_OPTIONS,
  ...MUTATE_OPTIONS,
  "dm-backend": { type: "string" },
  "sim-dir": { type: "string" },
  "lock-dir": { type: "string" },
  "dry-run": { type: "boolean" },
  pipeline: { type: "boolean" },
  "metadata-size": { type: "string" },
  foreground: { type: "boolean" },
  socket: { type: "string" },
  "idle-timeout": { type: "string" },
  ...PVMOVE_OPTIONS,
} as const;

const DEFAULT_CONFIG = "/etc/dvm/dvm.json";
const TOOLS: Record<string, Tool> = {
  discover: discoverTool,
  tm: tmTool,
  manip: manipTool,
  "vol-activate": volActivateTool,
  dmactivate: dmactivateTool,
  dmexec: dmexecTool,
  report: reportTool,
  poll: pollTool,
};

/** The wrapper passes its config to every stage explicitly. */
function withDefaultConfig(p: Parsed): Parsed {
  if (str(p, "config") === undefined && existsSync(DEFAULT_CONFIG)) p.values.config = DEFAULT_CONFIG;
  return p;
}

function pvCommand(p: Parsed, sub: string | undefined, args: string[], io: Io): number {
  if (!args.length) throw usageError(`pv ${sub ?? ""} needs at least one device`);
  const dryRun = flag(p, "dry-run");
  const json = flag(p, "json");
  if (sub === "create") {
    const done = labelFromArgs(p, args);
    if (json) io.out(toJson(dryRun ? { dry_run: true, labelled: done } : { labelled: done }));
    else
      for (const d of done)
        io.out(
          dryRun
            ? `Would create physical volume "${d.path}" (pe_start ${d.pe_start_sectors} sectors, metadata area ${d.mda_size_bytes} bytes).\n`
            : `Physical volume "${d.path}" successfully created.\n`,
        );
    return 0;
  }
  if (sub === "remove") {
    const done = unlabelFromArgs(p, args);
    if (json) io.out(toJson(dryRun ? { dry_run: true, unlabelled: done } : { unlabelled: done }));
    else
      for (const d of done)
        io.out(
          dryRun
            ? `Would wipe labels on "${d.path}".\n`
            : `Labels on physical volume "${d.path}" successfully wiped.\n`,
        );
    return 0;
  }
  throw usageError(`unknown pv command "${sub ?? ""}" (create, remove)`);
}

/** The report as the seed's pipeline computes it, with each stage in its own process. */
function reportPipeline(p: Parsed, io: Io): number {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const common: string[] = [];
  for (const d of (p.values.devices as string[] | undefined) ?? []) common.push("--devices", d);
  if (str(p, "config")) common.push("-c", str(p, "config")!);
  // dvm-report gets the report's own arguments and options, nothing of the wrapper's.
  const reportArgv = p.positionals.slice(1);
  for (const k of Object.keys(REPORT_OPTIONS)) {
    const v = p.values[k];
    for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v])
      reportArgv.push(x === true ? `--${k}` : `--${k}=${String(x)}`);
  }
  const stages: [string, string[]][] = [
    ["dvm-discover", ["scan", ...common]],
    ["dvm-tm", ["read", ...common]],
    ["dvm-report", reportArgv],
  ];
  const stage = (tool: string, args: string[], input: Buffer | string) => {
    if (flag(p, "verbose")) io.err(`dvm: running ${tool} ${args.join(" ")}\n`);
    const r = childProcess().spawnSync(process.execPath, [siblingTool(tool), ...args], {
      input,
      env,
      maxBuffer: 1 << 30,
    });
    if (r.stderr.length) io.err(r.stderr.toString());
    return r;
  };
  let input: Buffer | undefined;
  for (const [tool, args] of stages) {
    if (tool === "dvm-report" && availableBackend(p)) {
      // LV activation: the dm state joins the report's input, as `{ dvm-tm read; dvm-dmexec state; } | dvm-report`.
      const dmArgs = ["state", "--uuid-prefix", "LVM-"];
      for (const k of ["dm-backend", "sim-dir"]) if (str(p, k)) dmArgs.push(`--${k}=${str(p, k)}`);
      if (str(p, "config")) dmArgs.push("-c", str(p, "config")!);
      const dm = stage("dvm-dmexec", dmArgs, "");
      if (dm.status !== 0) return dm.status ?? Exit.internal;
      input = Buffer.concat([input!, dm.stdout]);
    }
    const r = stage(tool, args, input ?? "");
    if (r.status !== 0) return r.status ?? Exit.internal;
    input = r.stdout;
  }
  io.out(input!.toString());
  return 0;
}

function activateCommand(
  p: Parsed,
  cmd: "activate" | "deactivate",
  args: string[],
  io: Io,
): number | Promise<number> {
  const { vg, lvs } = vgSelection(args, cmd);
  const backend = requiredBackend(p, cmd);
  const { devices, config } = scanScope(p);
  const all = lvs.length === 0 ? "all" : lvs;
  const r = activateVg(vg, cmd === "activate" ? { backend, activate: all } : { backend, deactivate: all }, {
    scan: () => scanFrom(config, devices),
    ...lockOptions(p, config),
    warn: flag(p, "verbose") ? warnTo(io, "dvm") : undefined,
  });
  if (!r.report) {
    io.out(flag(p, "json") ? toJson(r.plan.program) : formatProgram(r.plan.program));
    return 0;
  }
  if (flag(p, "json")) io.out(toJson(r.report));
  if (r.report.result !== "ok") throw dmFailure(r.report);
  if (!flag(p, "json"))
    io.out(`  ${r.plan.active.length} logical volume(s) in volume group "${vg}" now active\n`);
  // A pvmove layer live after activation is an interrupted move: it gets its poller again.
  const isLayer = (name: string) => {
    const parts = splitDmName(name);
    return parts?.vg === vg && !parts.layer && /^pvmove\d+$/.test(parts.lv);
  };
  if (cmd === "activate" && r.plan.desired.devices.some((d) => isLayer(d.name)))
    return pollMovesOf(p, io, vg);
  return 0;
}

/** A byte count: digits with an optional b/s/k/m/g/t suffix (no suffix = bytes). */
function byteArg(text: string | undefined, what: string): number {
  if (text === undefined) throw usageError(`dmsim needs ${what}`);
  return parseSize(/^\d+$/.test(text) ? `${text}b` : text, what);
}

/** I/O through a sim device: the data path of the sim, for trying and testing LVs without root. */
function dmsimCommand(p: Parsed, sub: string | undefined, args: string[]): number {
  const backend = openBackend({ ...backendChoice(p), kind: "sim" });
  if (!(backend instanceof SimBackend)) throw new DvmError(Exit.internal, "dmsim: not a sim backend");
  const [name, off, len, ...rest] = args;
  if (!name) throw usageError("dmsim needs a device name");
  if (rest.length) throw usageError(`dmsim: unexpected argument "${rest[0]}"`);
  const offset = byteArg(off, "OFFSET");
  const length = byteArg(len, "LENGTH");
  if (sub === "read") {
    const data = backend.readData(name, offset, length);
    writeSync(1, data);
    return 0;
  }
  if (sub === "write") {
    const data = isatty(0) ? Buffer.alloc(0) : readFileSync(0);
    if (data.length !== length)
      throw new DvmError(Exit.invalid, `dmsim write: LENGTH is ${length} bytes but stdin had ${data.length}`);
    backend.writeData(name, offset, data);
    return 0;
  }
  throw usageError(`unknown dmsim command "${sub ?? ""}" (read, write)`);
}

/**
 * `dvm polld`: dvm-polld in this process, its options mapped (--foreground -f, --socket -s,
 * --idle-timeout -t), the wrapper's config and device-mapper options passed on to every dvm-poll.
 */
function polldCommand(p: Parsed, args: string[], io: Io): number {
  if (args.length) throw usageError(`polld: unexpected argument "${args[0]}"`);
  const argv: string[] = [];
  if (flag(p, "foreground")) argv.push("-f");
  const socket = str(p, "socket");
  if (socket !== undefined) argv.push("-s", socket);
  const idle = str(p, "idle-timeout");
  if (idle !== undefined) {
    if (!/^\d+$/.test(idle)) throw usageError(`--idle-timeout takes whole seconds (got "${idle}")`);
    argv.push("-t", idle);
  }
  if (flag(p, "verbose")) argv.push("-l", "info");
  const extra = pollerArgs(p);
  return runTool(polldTool, extra.length ? [...argv, "--", ...extra] : argv, io);
}

/** Where the command word is: the first argument that is neither an option nor an option's value. */
function commandIndex(argv: string[]): number {
  const opts: Record<string, { type: string; short?: string }> = { ...GLOBAL_OPTIONS, ...WRAPPER_OPTIONS };
  const takesValue = new Set<string>();
  for (const [k, o] of Object.entries(opts))
    if (o.type === "string") {
      takesValue.add(`--${k}`);
      if (o.short) takesValue.add(`-${o.short}`);
    }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return -1;
    if (!a.startsWith("-")) return i;
    if (takesValue.has(a)) i++;
  }
  return -1;
}

export const dvmTool: Tool = {
  name: "dvm",
  usage: USAGE,
  run(argv: string[], io: Io) {
    const at = commandIndex(argv);
    const first = at < 0 ? undefined : argv[at];
    if (first && TOOLS[first]) {
      const rest = [...argv];
      rest.splice(at, 1);
      if (!rest.some((a) => a === "-c" || a === "--config") && existsSync(DEFAULT_CONFIG))
        rest.push("-c", DEFAULT_CONFIG);
      if (first !== "report") return runTool(TOOLS[first]!, rest, io);
    }
    const p = withDefaultConfig(parse(glueSize(argv), WRAPPER_OPTIONS));
    const [cmd, sub, ...args] = p.positionals;
    switch (cmd) {
      case "pv":
        return pvCommand(p, sub, args, io);
      case "report": {
        const { kind, opts } = reportArgs(p, p.positionals.slice(1));
        if (flag(p, "pipeline")) return reportPipeline(p, io);
        const { devices, config } = scanScope(p);
        // The stages run in-process on the same reads: devices are read once.
        const scanned = scanFrom(config, devices);
        const { vgs, orphans } = readAllVgs(devicesDoc(scanned), {
          warn: flag(p, "verbose") ? warnTo(io, "dvm") : undefined,
          prefetched: new Map(scanned.map((d) => [d.entry.path, { read: d.read, size: d.entry.size_bytes }])),
        });
        // LV activation comes from the device-mapper, when there is one (lvs' state and open columns).
        const dm = kind === "lvs" || kind === "segs" ? availableBackend(p)?.state("LVM-") : undefined;
        io.out(renderReport(kind, { vgs, orphans, activity: dm && activityFromDmState(vgs, dm) }, opts));
        return 0;
      }
      case "activate":
      case "deactivate":
        return activateCommand(
          p,
          cmd,
          [sub, ...args].filter((a): a is string => a !== undefined),
          io,
        );
      case "dmsim":
        return dmsimCommand(p, sub, args);
      case "vg":
        return vgCommand(p, sub, args, io);
      case "lv":
        return lvCommand(p, sub, args, io);
      case "polld":
        return polldCommand(
          p,
          [sub, ...args].filter((a): a is string => a !== undefined),
          io,
        );
      case "pvmove":
        return pvmoveCommand(
          p,
          [sub, ...args].filter((a): a is string => a !== undefined),
          io,
        );
      case "merge":
        throw new DvmError(Exit.usage, `"${cmd}" is not available in this version of dvm (see the README)`);
      case undefined:
        throw usageError("missing command");
      default:
        throw usageError(`unknown command "${cmd}"`);
    }
  },
};
