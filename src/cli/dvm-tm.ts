import { devicesDoc } from "../discover/scan.js";
import { onlyDoc, parseDocs, pipedStdinText, toJson } from "../lib/docio.js";
import type { DevicesDoc } from "../lib/docs.js";
import { DvmError, Exit, type ExitCode, usageError } from "../lib/errors.js";
import { childProcess } from "../lib/lazy.js";
import { lineDiff } from "../lib/textdiff.js";
import { printVgText } from "../lvm2/vg.js";
import { activateVg, dmFailure } from "../tm/activate.js";
import { GLOBAL_LOCK, lockAll, vgLockName } from "../tm/lock.js";
import { readAllVgs, readVg } from "../tm/read.js";
import { restoreVg } from "../tm/restore.js";
import {
  createVg,
  DmRunError,
  recoverVg,
  removeVg,
  type TxOptions,
  type TxResult,
  updateVg,
} from "../tm/update.js";
import {
  flag,
  type Io,
  lockOptions,
  type Parsed,
  parse,
  scanScope,
  str,
  type Tool,
  warnTo,
} from "./common.js";
import { BACKEND_OPTIONS, backendFromArgs } from "./dm-common.js";
import { scanFrom } from "./dvm-discover.js";

const USAGE = `Usage: dvm-tm COMMAND [OPTIONS]   (devices document on stdin, e.g. from dvm-discover find VG)

The transaction manager: reads (and, later, commits) VG metadata on the PVs' metadata areas.

Commands:
  read VG        the newest valid metadata of VG as a vg document; stale or bad copies are
                 named on stderr. Exit 4 if PVs are missing (unless --partial), 7 if no copy is valid.
  read           every VG on the devices (vg documents, one per line), then the orphan PVs
                 as a devices document
  verify VG      like read, then a summary of every metadata copy on stderr
  restore VG     write the metadata of a vg document on stdin to the VG's PVs (as vgcfgrestore),
                 with a seqno above every copy on them  [--dry-run prints the text instead]
  update VG -- MUTATOR [ARGS...]
                 lock VG, read it, run MUTATOR with the vg document on its stdin, check the
                 document it prints (seqno + 1, no extent used twice, names, sizes), commit it
                 to every metadata area; prints the new vg document. A mutator that fails,
                 hangs past --timeout or prints an invalid document changes nothing.
  create VG -- MUTATOR [ARGS...]
                 a new VG: MUTATOR (no stdin) prints its first metadata (seqno 1) on orphan PVs
  remove VG      wipe the VG's metadata from its PVs (refuses a VG with LVs unless --force)
  recover VG     mark missing PVs MISSING in the metadata so the rest stays usable;
                 --remove-missing drops them and the LVs wholly on them (--force: partly too)
  activate VG[/LV]...    make the VG's LVs (or the ones named) live in device-mapper;
  deactivate VG[/LV]...  or remove them; prints the exec report (--dry-run: the dm program)

With --activate, update keeps device-mapper in step: LVs that are active stay active with
their new tables, in LVM2's two-phase commit (precommit; load and suspend; commit; resume).
A device-mapper failure exits 8 when everything was put back, 9 when it could not be
(the exec report, printed on stdout, says what is left).

Options:
  --partial               read a VG even with PVs missing
  --dry-run               show the change (a diff of the metadata text), write nothing
  --timeout SECONDS       how long a mutator may run (default 60)
  --lock-dir DIR          where the VG lock files are (default /run/lock/lvm, LVM2's)
  --nowait                fail with exit 5 instead of waiting for a lock
  --global-lock           update, recover: hold LVM2's global lock (P_global) before the VG's,
                          as vgextend and vgreduce do; for a mutator that adds or drops PVs
  --devices DEV[,DEV...]  without a devices document on stdin: scan these devices
  --activate              update: reload active LVs (two-phase commit)
  --dm-backend kernel|sim, --sim-dir DIR   the device-mapper to drive (sim: a state folder)
  -c, --config FILE       JSON config
  --json, --help, --version
`;

const OPTIONS = {
  partial: { type: "boolean" },
  "dry-run": { type: "boolean" },
  timeout: { type: "string" },
  "lock-dir": { type: "string" },
  nowait: { type: "boolean" },
  "global-lock": { type: "boolean" },
  force: { type: "boolean" },
  "remove-missing": { type: "boolean" },
  activate: { type: "boolean" },
  ...BACKEND_OPTIONS,
} as const;

/** Run a mutator process: the document on its stdin, the new document from its stdout. */
export function spawnMutator(cmd: string[], timeoutS: number, io: Io): (doc: unknown) => unknown {
  return (doc) => {
    const r = childProcess().spawnSync(cmd[0]!, cmd.slice(1), {
      input: doc === undefined ? "" : JSON.stringify(doc),
      timeout: timeoutS * 1000,
      maxBuffer: 1 << 30,
      stdio: ["pipe", "pipe", "pipe"],
    });
    if (r.stderr?.length) io.err(r.stderr.toString());
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT")
      throw new DvmError(Exit.notFound, `mutator ${cmd[0]} not found; nothing changed`);
    if (r.signal === "SIGTERM" && r.error)
      throw new DvmError(
        Exit.invalid,
        `mutator ${cmd[0]} still running after ${timeoutS} s, killed; nothing changed`,
      );
    if (r.status !== 0) {
      const code = r.status !== null && r.status >= 1 && r.status <= 10 ? r.status : Exit.invalid;
      throw new DvmError(
        code as ExitCode,
        `mutator ${cmd[0]} failed (${r.status ?? r.signal}); nothing changed`,
      );
    }
    const docs = parseDocs(r.stdout.toString(), "mutator output");
    if (docs.length !== 1)
      throw new DvmError(Exit.invalid, `mutator output: expected one vg document, got ${docs.length}`);
    return docs[0];
  };
}

export function txOptions(p: Parsed, io: Io, description: string): TxOptions {
  const { devices, config } = scanScope(p);
  return {
    scan: () => scanFrom(config, devices),
    ...lockOptions(p, config),
    globalLock: flag(p, "global-lock"),
    warn: warnTo(io, "dvm-tm"),
    description,
  };
}

function printTx(r: TxResult | null, p: Parsed, io: Io) {
  if (!r) return;
  if (flag(p, "dry-run")) {
    const before = r.before ? printVgText(r.before).replace(/\0$/, "") : "";
    io.out(
      lineDiff(before, r.plan.text.replace(/\0$/, ""), [
        r.before ? `${r.before.vg.name} seqno ${r.before.vg.seqno}` : "(no VG)",
        `${r.plan.vg.name} seqno ${r.plan.seqno}`,
      ]),
    );
  } else io.out(toJson(r.after));
}

/** The devices document from stdin, or a fresh scan when stdin is a terminal or empty. */
export function devicesInput(p: Parsed): DevicesDoc {
  const text = pipedStdinText();
  if (text.trim() === "") {
    const { devices, config } = scanScope(p);
    return devicesDoc(scanFrom(config, devices));
  }
  return onlyDoc(parseDocs(text), "devices", "dvm-tm");
}

/** `VG` or `VG/LV...` of one VG: the VG and the LVs named (none = all). */
export function vgSelection(args: string[], cmd: string): { vg: string; lvs: string[] } {
  if (!args.length) throw usageError(`${cmd} needs VG or VG/LV`);
  let vg: string | undefined;
  const lvs: string[] = [];
  for (const a of args) {
    const m = /^(?:\/dev\/)?([^/]+)(?:\/([^/]+))?$/.exec(a);
    if (!m) throw usageError(`${cmd}: "${a}" is not VG or VG/LV`);
    if (vg !== undefined && m[1] !== vg)
      throw usageError(`${cmd}: one VG at a time (got "${vg}" and "${m[1]}")`);
    vg = m[1]!;
    if (m[2]) lvs.push(m[2]);
    else if (args.length > 1) throw usageError(`${cmd}: name either the VG or its LVs`);
  }
  return { vg: vg!, lvs };
}

export const tmTool: Tool = {
  name: "dvm-tm",
  usage: USAGE,
  run(argv: string[], io: Io) {
    const dash = argv.indexOf("--");
    const mutator = dash >= 0 ? argv.slice(dash + 1) : [];
    const p = parse(dash >= 0 ? argv.slice(0, dash) : argv, OPTIONS);
    const [cmd, ...args] = p.positionals;
    const warn = warnTo(io, "dvm-tm");
    switch (cmd) {
      case "read":
      case "verify": {
        if (args.length > 1) throw usageError(`${cmd} takes one VG name`);
        if (args.length === 0) {
          if (cmd === "verify") throw usageError("verify needs a VG name");
          const { vgs, orphans } = readAllVgs(devicesInput(p), { warn });
          for (const vg of vgs) io.out(toJson(vg));
          io.out(toJson({ kind: "devices", version: 1, devices: orphans, vgs: [] }));
          return 0;
        }
        const r = readVg(devicesInput(p), args[0]!, { partial: flag(p, "partial"), warn });
        if (cmd === "verify") {
          const count = (s: string) => r.copies.filter((c) => c.state === s).length;
          io.err(
            `dvm-tm: VG ${r.doc.vg.name} seqno ${r.doc.vg.seqno}: ${count("current")} current, ${count("stale")} stale, ` +
              `${count("bad") + count("mismatch")} bad metadata copies; ${r.missing.length} PVs missing\n`,
          );
        }
        io.out(toJson(r.doc));
        return 0;
      }
      case "restore": {
        if (args.length !== 1) throw usageError("restore needs the VG name");
        const text = pipedStdinText();
        if (text.trim() === "") throw usageError("restore expects a vg document on stdin");
        const doc = onlyDoc(parseDocs(text), "vg", "dvm-tm");
        if (doc.vg.name !== args[0])
          throw new DvmError(Exit.invalid, `the vg document is for "${doc.vg.name}", not "${args[0]}"`);
        const { devices, config } = scanScope(p);
        const lock = lockAll([GLOBAL_LOCK, vgLockName(doc.vg.name)], lockOptions(p, config));
        let r: ReturnType<typeof restoreVg>;
        try {
          r = restoreVg(doc, scanFrom(config, devices), { dryRun: flag(p, "dry-run") });
        } finally {
          lock.release();
        }
        if (flag(p, "dry-run")) io.out(r.text.replace(/\0$/, ""));
        else io.out(toJson({ vg: r.vg.name, seqno: r.seqno, written: r.written }));
        return 0;
      }
      case "update":
      case "create": {
        if (args.length !== 1) throw usageError(`${cmd} needs the VG name`);
        if (mutator.length === 0) throw usageError(`${cmd} needs a mutator after "--"`);
        const timeout = Number(str(p, "timeout") ?? 60);
        if (!(timeout > 0))
          throw new DvmError(Exit.invalid, `--timeout must be a positive number of seconds`);
        const opts = txOptions(p, io, `Write from dvm-tm ${cmd} ${args[0]} -- ${mutator.join(" ")}.`);
        if (flag(p, "activate")) {
          if (cmd !== "update") throw usageError("--activate goes with update");
          opts.activation = { backend: backendFromArgs(p) };
        }
        const run = spawnMutator(mutator, timeout, io);
        try {
          printTx(
            cmd === "update" ? updateVg(args[0]!, run, opts) : createVg(args[0]!, () => run(undefined), opts),
            p,
            io,
          );
        } catch (e) {
          if (e instanceof DmRunError && e.dm.report) io.out(toJson(e.dm.report));
          throw e;
        }
        return 0;
      }
      case "remove": {
        if (args.length !== 1) throw usageError("remove needs the VG name");
        const r = removeVg(args[0]!, { ...txOptions(p, io, ""), force: flag(p, "force") });
        io.out(toJson({ removed: args[0], dry_run: flag(p, "dry-run") || undefined, wiped: r.paths }));
        return 0;
      }
      case "recover": {
        if (args.length !== 1) throw usageError("recover needs the VG name");
        const r = recoverVg(args[0]!, {
          ...txOptions(p, io, `Write from dvm-tm recover ${args[0]}.`),
          removeMissing: flag(p, "remove-missing"),
          force: flag(p, "force"),
        });
        if (!r) io.err(`dvm-tm: volume group "${args[0]}" has no missing PVs to recover\n`);
        printTx(r, p, io);
        return 0;
      }
      case "activate":
      case "deactivate": {
        const { vg, lvs } = vgSelection(args, cmd);
        const backend = backendFromArgs(p);
        const all = lvs.length === 0 ? "all" : lvs;
        const r = activateVg(
          vg,
          cmd === "activate" ? { backend, activate: all } : { backend, deactivate: all },
          {
            ...txOptions(p, io, ""),
            dryRun: flag(p, "dry-run"),
          },
        );
        if (!r.report) {
          io.out(toJson(r.plan.program));
          return 0;
        }
        io.out(toJson(r.report));
        if (r.report.result !== "ok") throw dmFailure(r.report);
        return 0;
      }
      case undefined:
        throw usageError("missing command");
      default:
        throw usageError(`unknown command "${cmd}"`);
    }
  },
};
