import { writeSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { DmFailure } from "../dm/backend.js";
import { loadConfig } from "../lib/config.js";
import { DvmError, Exit, usageError } from "../lib/errors.js";
import { type Bytes, bytes } from "../lib/units.js";
import { GLOBAL_LOCK, type LockOptions, lockAll } from "../tm/lock.js";

/** What every executable shares: argument parsing, output, and errors mapped to exit codes. */

export { VERSION } from "../lib/version.js";

import { VERSION } from "../lib/version.js";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Every tool accepts the wrapper's global options, so `dvm TOOL ... GLOBAL` works for each tool. */
export const GLOBAL_OPTIONS: Options = {
  config: { type: "string", short: "c" },
  devices: { type: "string", multiple: true },
  "lock-dir": { type: "string" },
  "dm-backend": { type: "string" },
  "sim-dir": { type: "string" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
};

export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: Options): Parsed {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return r as Parsed;
  } catch (e) {
    throw usageError((e as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
}

export const str = (p: Parsed, k: string) => p.values[k] as string | undefined;
export const flag = (p: Parsed, k: string) => p.values[k] === true;

/** --devices may be repeated and may hold comma-separated lists. */
export function deviceList(p: Parsed): string[] | undefined {
  const v = p.values.devices as string[] | undefined;
  if (!v) return undefined;
  return v.flatMap((s) => s.split(",")).filter((s) => s.length > 0);
}

/** Scan scope: --devices wins, then the config's devices.scan, else every system device. */
export function scanScope(p: Parsed) {
  const cfg = loadConfig(str(p, "config"));
  return { devices: deviceList(p) ?? cfg.devices?.scan, config: cfg };
}

/** --lock-dir (else the config's lock_dir), --nowait and --dry-run. */
export const lockOptions = (p: Parsed, config = loadConfig(str(p, "config"))) => ({
  lockDir: str(p, "lock-dir") ?? config.lock_dir,
  nowait: flag(p, "nowait"),
  dryRun: flag(p, "dry-run"),
});

/**
 * Run `fn` holding LVM2's global lock (P_global), as pvcreate and pvremove do: a label written or
 * wiped while another command (dvm's or LVM2's) adds the device to a VG could cost that VG a PV.
 * A dry run writes nothing and takes no lock.
 */
export function withGlobalLock<T>(opts: LockOptions & { dryRun?: boolean }, fn: () => T): T {
  if (opts.dryRun) return fn();
  const lock = lockAll([GLOBAL_LOCK], opts);
  try {
    return fn();
  } finally {
    lock.release();
  }
}

const SIZE_RE = /^(\d+(?:\.\d+)?)([sbkmgtpe]?)$/i;
const UNIT: Record<string, number> = {
  "": 1024 ** 2,
  s: 512,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
  e: 1024 ** 6,
};

/** A size with an s/b/k/m/g/t suffix (powers of 1024; s = 512-byte sectors; no suffix = MiB as in LVM2). */
export function parseSize(text: string, what: string): Bytes {
  const m = SIZE_RE.exec(text.trim());
  if (!m)
    throw new DvmError(Exit.invalid, `${what}: "${text}" is not a size (number with s, b, k, m, g or t)`);
  const v = Number(m[1]) * UNIT[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(Math.ceil(v)))
    throw new DvmError(Exit.invalid, `${what}: "${text}" is too large`);
  return bytes(Math.ceil(v));
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const writeAll = (fd: number, s: string) => {
  const b = Buffer.from(s);
  let off = 0;
  while (off < b.length) {
    try {
      off += writeSync(fd, b, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
      if ((e as NodeJS.ErrnoException).code === "EPIPE") return;
      throw e;
    }
  }
};

export const processIo: Io = { out: (s) => writeAll(1, s), err: (s) => writeAll(2, s) };

export interface Tool {
  name: string;
  usage: string;
  /** Run even without arguments (a tool that reads everything from stdin); otherwise no arguments print the usage, exit 1. */
  argsOptional?: boolean;
  /** A promise for tools that wait on something (a daemon); the exit code is set when it settles. */
  run(argv: string[], io: Io): number | undefined | Promise<number | undefined>;
}

/** Run a tool, turning errors into `TOOL: error: MESSAGE` and the documented exit code. */
export function runTool(tool: Tool, argv: string[], io: Io = processIo): number {
  const json = argv.includes("--json");
  try {
    if (argv.includes("--version")) {
      io.out(`${tool.name} ${VERSION}\n`);
      return Exit.ok;
    }
    const bare = argv.length === 0 && !tool.argsOptional;
    if (bare || argv.includes("--help") || argv.includes("-h") || argv[0] === "help") {
      io.out(tool.usage);
      return argv.length === 0 ? Exit.usage : Exit.ok;
    }
    const r = tool.run(argv, io);
    if (!(r instanceof Promise)) return r ?? Exit.ok;
    // A tool that waits (on a daemon, a socket): its exit code is set when it is done.
    r.then(
      (code) => {
        process.exitCode = code ?? Exit.ok;
      },
      (e: unknown) => {
        process.exitCode = failure(tool, e, io, json);
      },
    );
    return Exit.ok;
  } catch (e) {
    return failure(tool, e, io, json);
  }
}

/** Print an error as `TOOL: error: MESSAGE` (and as JSON with --json); its exit code. */
function failure(tool: Tool, e: unknown, io: Io, json: boolean): number {
  // A device-mapper call that failed outside a program (e.g. reading the state) changed nothing.
  const err =
    e instanceof DvmError
      ? e
      : e instanceof DmFailure
        ? new DvmError(Exit.dmRolledBack, `device-mapper: ${e.message} (${e.errno}); nothing changed`)
        : new DvmError(Exit.internal, `internal error: ${(e as Error)?.stack ?? String(e)}`);
  io.err(`${tool.name}: error: ${err.message}\n`);
  if (json)
    io.err(
      `${JSON.stringify({ error: { tool: tool.name, exit_code: err.exitCode, message: err.message } })}\n`,
    );
  if (err.exitCode === Exit.usage && !(e as Error).message.includes("internal"))
    io.err(`Try '${tool.name} --help'.\n`);
  return err.exitCode;
}

export function main(tool: Tool) {
  process.exitCode = runTool(tool, process.argv.slice(2));
}

export const warnTo = (io: Io, tool: string) => (msg: string) => io.err(`${tool}: warning: ${msg}\n`);
