import { labelDevices } from "../discover/label.js";
import type { ScannedDevice } from "../discover/scan.js";
import { formatProgram } from "../dm/exec.js";
import { toJson } from "../lib/docio.js";
import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit, type ExitCode, usageError } from "../lib/errors.js";
import { childProcess } from "../lib/lazy.js";
import { siblingTool } from "../lib/tools.js";
import type { ManipResult } from "../manip/index.js";
import type { ActivationRequest } from "../tm/activate.js";
import { createVg, recoverVg, removeVg, type TxOptions, type TxResult, updateVg } from "../tm/update.js";
import { flag, type Io, lockOptions, type Parsed, scanScope, str, warnTo, withGlobalLock } from "./common.js";
import { availableBackend } from "./dm-common.js";
import { scanFrom } from "./dvm-discover.js";
import { glueSize, runOp } from "./dvm-manip.js";

/**
 * The wrapper's vg and lv commands: each is one transaction of dvm-tm with
 * a dvm-manip operation as its mutator, run in-process (the same functions
 * and documents as the tools), or as processes with --pipeline.
 */

export const MUTATE_OPTIONS = {
  "extent-size": { type: "string" },
  size: { type: "string" },
  type: { type: "string" },
  stripes: { type: "string" },
  "stripe-size": { type: "string" },
  on: { type: "string", multiple: true },
  mirrors: { type: "string" },
  origin: { type: "string" },
  pool: { type: "string" },
  "virtual-size": { type: "string" },
  missing: { type: "boolean" },
  force: { type: "boolean" },
  nowait: { type: "boolean" },
} as const;

export { glueSize };

export function txOptions(
  p: Parsed,
  io: Io,
  command: string,
): TxOptions & { scanned: () => ScannedDevice[] } {
  const { devices, config } = scanScope(p);
  let cache: ScannedDevice[] | undefined;
  const scan = () => {
    cache = scanFrom(config, devices);
    return cache;
  };
  return {
    scan,
    scanned: () => cache ?? scan(),
    ...lockOptions(p, config),
    warn: flag(p, "verbose") ? warnTo(io, "dvm") : undefined,
    description: `Write from dvm ${command}.`,
    activation: activation(p),
  };
}

/** Active LVs are reloaded in the same transaction (two-phase commit) when there is a device-mapper. */
function activation(p: Parsed): ActivationRequest | undefined {
  const backend = availableBackend(p);
  return backend ? { backend } : undefined;
}

/** `VG/LV` (or /dev/VG/LV) split in two. */
function vgLv(arg: string | undefined, cmd: string): [string, string] {
  const m = arg ? /^(?:\/dev\/)?([^/]+)\/([^/]+)$/.exec(arg) : null;
  if (!m) throw usageError(`${cmd} needs VG/LV (got "${arg ?? ""}")`);
  return [m[1]!, m[2]!];
}

/**
 * The PVs for vg create / vg extend as dvm-manip's --pv values. Devices
 * that are not PVs yet are labelled first, as LVM2's vgcreate does.
 */
function newPvSpecs(devs: string[], opts: ReturnType<typeof txOptions>): string[] {
  if (!devs.length) throw usageError("at least one device is needed");
  let scanned = opts.scanned();
  const find = (path: string) => scanned.find((d) => d.entry.path === path);
  const unlabelled = devs.filter((d) => !find(d)?.entry.pv);
  if (unlabelled.length) {
    if (opts.dryRun)
      throw new DvmError(
        Exit.invalid,
        `${unlabelled.join(", ")}: not PVs yet (dvm pv create them, or drop --dry-run)`,
      );
    withGlobalLock(opts, () => labelDevices(unlabelled, {}));
    scanned = opts.scan();
  }
  return devs.map((path) => {
    const d = find(path);
    if (!d?.entry.pv)
      throw new DvmError(Exit.notFound, `${path}: device not found among the scanned devices`);
    const pv = d.entry.pv;
    return `${path}:${pv.uuid}:${pv.data_areas[0]!.offset_bytes / 512}:${Math.floor(d.entry.size_bytes / 512)}`;
  });
}

/** Run a dvm-manip operation on a document: in-process, or as a dvm-manip process with --pipeline. */
function mutator(op: string, args: string[], p: Parsed, io: Io, pvSpecs: string[] = []) {
  return (doc: VgDoc | null): VgDoc => {
    if (flag(p, "pipeline")) return manipProcess(op, args, pvSpecs, p, io, doc);
    const messages: string[] = [];
    // dvm-manip's --pv values, computed by the wrapper (vg create / extend)
    const p2: Parsed = { values: { ...p.values, pv: pvSpecs }, positionals: [] };
    let r: ManipResult;
    try {
      r = runOp(op, args, p2, messages, () => {
        if (!doc) throw new DvmError(Exit.internal, `${op} needs a document`);
        return doc;
      });
    } finally {
      for (const m of messages) io.err(`  ${m}\n`);
    }
    if (r.messages !== messages) for (const m of r.messages) io.err(`  ${m}\n`);
    return r.doc;
  };
}

/** Options the wrapper forwards to dvm-manip when it runs as a process. */
const FORWARD = ["size", "stripes", "stripe-size", "extent-size", "on"];

function manipProcess(
  op: string,
  args: string[],
  pvSpecs: string[],
  p: Parsed,
  io: Io,
  doc: VgDoc | null,
): VgDoc {
  const argv = [siblingTool("dvm-manip"), op, ...args];
  for (const s of pvSpecs) argv.push(`--pv=${s}`);
  for (const k of FORWARD) {
    const v = p.values[k];
    for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v]) argv.push(`--${k}=${String(x)}`);
  }
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (flag(p, "verbose")) io.err(`dvm: running dvm-manip ${argv.slice(1).join(" ")}\n`);
  const r = childProcess().spawnSync(process.execPath, argv, {
    input: doc ? JSON.stringify(doc) : "",
    env,
    maxBuffer: 1 << 30,
  });
  if (r.stderr.length) io.err(r.stderr.toString());
  if (r.status !== 0)
    throw new DvmError((r.status ?? Exit.internal) as ExitCode, `dvm-manip ${op} failed; nothing changed`);
  return JSON.parse(r.stdout.toString()) as VgDoc;
}

export function report(r: TxResult | null, p: Parsed, io: Io, done: string) {
  if (!r) return;
  const program = r.dm?.plan.program;
  if (flag(p, "json"))
    io.out(
      toJson(
        flag(p, "dry-run")
          ? { dry_run: true, vg: r.plan.vg, text: r.plan.text, ...(program ? { dm_program: program } : {}) }
          : r.after,
      ),
    );
  else if (flag(p, "dry-run")) {
    io.out(
      `Would write seqno ${r.plan.seqno} of volume group "${r.plan.vg.name}" (${r.plan.written.length} metadata areas).\n`,
    );
    if (program) io.out(`Would change device-mapper in a two-phase commit:\n${formatProgram(program)}`);
  } else io.out(`${done}\n`);
}

export function vgCommand(p: Parsed, sub: string | undefined, args: string[], io: Io): number {
  const [vg, ...rest] = args;
  if (!vg) throw usageError(`vg ${sub ?? ""} needs a VG name`);
  const opts = txOptions(p, io, `vg ${sub} ${args.join(" ")}`);
  switch (sub) {
    case "create": {
      const specs = newPvSpecs(rest, opts);
      report(
        createVg(vg, () => mutator("vg-create", [vg], p, io, specs)(null), opts),
        p,
        io,
        `Volume group "${vg}" successfully created`,
      );
      return 0;
    }
    case "extend": {
      const specs = newPvSpecs(rest, opts);
      report(
        updateVg(vg, mutator("vg-extend", [], p, io, specs), { ...opts, globalLock: true }),
        p,
        io,
        `Volume group "${vg}" successfully extended`,
      );
      return 0;
    }
    case "reduce": {
      if (flag(p, "missing")) {
        const r = recoverVg(vg, { ...opts, removeMissing: true, force: flag(p, "force"), globalLock: true });
        if (!r) io.err(`dvm: volume group "${vg}" has no missing PVs\n`);
        report(r, p, io, `Wrote out consistent volume group ${vg}.`);
        return 0;
      }
      if (!rest.length) throw usageError("vg reduce needs the PVs to remove, or --missing");
      report(
        updateVg(vg, mutator("vg-reduce", rest, p, io), { ...opts, globalLock: true }),
        p,
        io,
        `Removed ${rest.map((d) => `"${d}"`).join(", ")} from volume group "${vg}"`,
      );
      return 0;
    }
    case "rename": {
      if (rest.length !== 1) throw usageError("vg rename needs the new name");
      report(
        updateVg(vg, mutator("vg-rename", rest, p, io), { ...opts, globalLock: true }),
        p,
        io,
        `Volume group "${vg}" successfully renamed to "${rest[0]}"`,
      );
      return 0;
    }
    case "remove": {
      if (rest.length) throw usageError("vg remove takes one VG");
      const r = removeVg(vg, { ...opts, force: flag(p, "force") });
      if (flag(p, "json")) io.out(toJson({ removed: vg, dry_run: opts.dryRun || undefined, wiped: r.paths }));
      else
        io.out(
          opts.dryRun
            ? `Would remove volume group "${vg}".\n`
            : `Volume group "${vg}" successfully removed\n`,
        );
      return 0;
    }
    default:
      throw usageError(`unknown vg command "${sub ?? ""}" (create, extend, reduce, remove, rename)`);
  }
}

const LATER_TYPES = new Set(["mirror", "raid1", "snapshot", "thin-pool", "thin"]);

export function lvCommand(p: Parsed, sub: string | undefined, args: string[], io: Io): number {
  const [vg, lv] = vgLv(args[0], `lv ${sub ?? ""}`);
  const opts = txOptions(p, io, `lv ${sub} ${args.join(" ")}`);
  const name = `${vg}/${lv}`;
  switch (sub) {
    case "create": {
      const type = str(p, "type") ?? (str(p, "stripes") ? "striped" : "linear");
      if (LATER_TYPES.has(type))
        throw new DvmError(
          Exit.invalid,
          `--type ${type} is not supported by this version of dvm (linear, striped)`,
        );
      if (type !== "linear" && type !== "striped")
        throw new DvmError(Exit.invalid, `unknown --type "${type}"`);
      if (type === "linear" && str(p, "stripes") && str(p, "stripes") !== "1")
        throw new DvmError(Exit.invalid, "--type linear takes no --stripes");
      if (args.length !== 1) throw usageError("lv create takes VG/LV");
      report(updateVg(vg, mutator("lv-create", [lv], p, io), opts), p, io, `Logical volume "${lv}" created.`);
      return 0;
    }
    case "extend":
    case "reduce": {
      if (args.length !== 1) throw usageError(`lv ${sub} takes VG/LV`);
      report(
        updateVg(vg, mutator(`lv-${sub}`, [lv], p, io), opts),
        p,
        io,
        `Logical volume ${name} successfully resized.`,
      );
      return 0;
    }
    case "remove": {
      if (args.length !== 1) throw usageError("lv remove takes VG/LV");
      report(
        updateVg(vg, mutator("lv-remove", [lv], p, io), opts),
        p,
        io,
        `Logical volume "${lv}" successfully removed.`,
      );
      return 0;
    }
    case "rename": {
      if (args.length !== 2) throw usageError("lv rename takes VG/LV NEWNAME");
      report(
        updateVg(vg, mutator("lv-rename", [lv, args[1]!], p, io), opts),
        p,
        io,
        `Renamed "${lv}" to "${args[1]}" in volume group "${vg}"`,
      );
      return 0;
    }
    default:
      throw usageError(`unknown lv command "${sub ?? ""}" (create, extend, reduce, remove, rename)`);
  }
}
