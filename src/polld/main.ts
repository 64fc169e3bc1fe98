import { existsSync, realpathSync } from "node:fs";
import { basename, delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Exit, usageError } from "../lib/errors.js";
import { childProcess } from "../lib/lazy.js";
import { siblingTool } from "../lib/tools.js";
import { PolldClient } from "./client.js";
import type { PollerConfig, PollerKind } from "./command.js";
import { cloexecInherited } from "./libc.js";
import { type LogConfig, parseLogConfig, stderrLogger } from "./log.js";
import { type PolldArgs, parseTimeoutSeconds } from "./options.js";
import { Request } from "./protocol.js";
import { PolldDaemon, StartupError } from "./server.js";
import { systemdHandover } from "./systemd.js";

/** Starting dvm-polld from its parsed command line: settings, the daemon, `--dump`, backgrounding. */

/** LVM2's compiled-in defaults, kept so LVM2 clients find us where they look for lvmpolld. */
export const DEFAULT_SOCKET = "/run/lvm/lvmpolld.socket";
export const DEFAULT_PIDFILE = "/run/lvmpolld.pid";
export const DEFAULT_LVM_BINARY = "/sbin/lvm";
/** dvm's poller idles the daemon out after a minute (the shipped unit's value); lvmpolld's default is never. */
export const DEFAULT_IDLE_TIMEOUT_S = 60;

/** Internal: set in the backgrounded daemon's environment by its launcher, removed at start. */
const ENV_DAEMON_CHILD = "DVM_POLLD_DAEMON_CHILD";
const ENV_INHERITED_FD = "DVM_POLLD_INHERITED_FD";

export interface Settings {
  socketPath: string;
  pidfile: string;
  idleTimeoutS: number;
  logConfig: LogConfig;
  poller: PollerConfig;
  foreground: boolean;
  silencePeriodMs?: number;
  killPollerOnAbort: boolean;
}

export interface Out {
  out(s: string): void;
  err(s: string): void;
}

/** `dvm-poll` beside this bundle (dist/), else on PATH. */
function defaultDvmPoll(): string {
  const dirs = [dirname(fileURLToPath(import.meta.url))];
  try {
    if (process.argv[1]) dirs.push(dirname(realpathSync(process.argv[1])));
  } catch {}
  for (const d of dirs) if (existsSync(join(d, "dvm-poll.cjs"))) return join(d, "dvm-poll.cjs");
  for (const d of (process.env.PATH ?? "").split(delimiter))
    if (d && existsSync(join(d, "dvm-poll"))) return join(d, "dvm-poll");
  return "dvm-poll";
}

export function socketPathOf(args: PolldArgs, env: NodeJS.ProcessEnv = process.env): string {
  return args.values.get("socket") ?? env.LVM_LVMPOLLD_SOCKET ?? DEFAULT_SOCKET;
}

/** Options, environment and defaults → settings, with lvmpolld's precedence (§1.2). Paths made absolute. */
export function resolveSettings(args: PolldArgs, env: NodeJS.ProcessEnv = process.env): Settings {
  const v = args.values;
  const kindText = v.get("poller") ?? env.DVM_POLLD_POLLER ?? "dvm";
  if (kindText !== "dvm" && kindText !== "lvm")
    throw usageError(`--poller must be dvm or lvm (got "${kindText}")`);
  const kind: PollerKind = kindText;
  let idleTimeoutS = kind === "dvm" ? DEFAULT_IDLE_TIMEOUT_S : 0;
  const t = v.get("timeout");
  if (t !== undefined) {
    const n = parseTimeoutSeconds(t);
    if (n === undefined) throw usageError(`Invalid value of timeout parameter: "${t}"`);
    idleTimeoutS = n;
  }
  let silencePeriodMs: number | undefined;
  const st = v.get("silence-timeout");
  if (st !== undefined) {
    if (!/^\d+$/.test(st)) throw usageError(`--silence-timeout takes whole seconds (got "${st}")`);
    silencePeriodMs = Number(st) * 1000;
  }
  const logConfig = parseLogConfig(v.get("log"));
  const binary = v.get("binary") ?? (kind === "lvm" ? DEFAULT_LVM_BINARY : defaultDvmPoll());
  const extra = [...args.extra];
  const config = v.get("config");
  if (config !== undefined) extra.unshift("-c", resolve(config));
  if (kind === "lvm" && extra.length) throw usageError("-c and arguments after -- are for --poller dvm only");
  return {
    socketPath: resolve(socketPathOf(args, env)),
    pidfile: resolve(v.get("pidfile") ?? env.LVM_LVMPOLLD_PIDFILE ?? DEFAULT_PIDFILE),
    idleTimeoutS,
    logConfig,
    // A bare command name stays as given (it was not found); a path is made absolute for the chdir("/").
    poller: {
      kind,
      binary: binary.includes("/") ? resolve(binary) : binary,
      verbose: logConfig.cmd,
      extraArgs: extra,
    },
    foreground: v.has("foreground") || env[ENV_DAEMON_CHILD] === "1",
    silencePeriodMs,
    killPollerOnAbort: v.has("kill-on-abort"),
  };
}

/** `--dump`: hello, then dump, every line printed with two leading spaces (as lvmpolld --dump). */
export async function runDump(socketPath: string, io: Out): Promise<number> {
  let client: PolldClient;
  try {
    client = await PolldClient.connect(socketPath);
    await client.hello();
  } catch {
    io.err("Failed to establish connection with lvmpolld.\n");
    // lvmpolld exits 0 here (§6 #12); a failure is a failure.
    return Exit.notFound;
  }
  try {
    const body = await client.request([["request", Request.dump]]);
    for (const line of body.toString("utf8").split("\n")) io.out(`  ${line}\n`);
    return Exit.ok;
  } catch (e) {
    io.err(`Failed to send a request or receive response: ${(e as Error).message}\n`);
    return Exit.internal;
  } finally {
    client.close();
  }
}

/** The dvm-polld executable: this bundle when running as it, else the one beside the running bundle. */
function selfScript(): string {
  const a = process.argv[1] ?? "";
  if (/^dvm-polld(\.cjs)?$/.test(basename(a))) return a;
  return siblingTool("dvm-polld");
}

/**
 * Background start (§1.8): re-run ourselves detached (new session, cwd /,
 * stdio /dev/null) and wait for word from the child: ready → exit 0; a
 * start-up error → its message and exit code. A systemd socket taken over
 * here is handed down as fd 3.
 */
function daemonize(argv: string[], inheritedFd: number | undefined, io: Out): void {
  const env: NodeJS.ProcessEnv = { ...process.env, [ENV_DAEMON_CHILD]: "1" };
  if (inheritedFd !== undefined) env[ENV_INHERITED_FD] = String(inheritedFd);
  const child = childProcess().spawn(process.execPath, [selfScript(), ...argv], {
    detached: true,
    env,
    stdio: ["ignore", "ignore", "ignore", inheritedFd ?? "ignore", "ipc"],
  });
  let done = false;
  child.on("message", (m: { ready?: boolean; error?: string; code?: number }) => {
    done = true;
    if (m.error) io.err(`dvm-polld: error: ${m.error}\n`);
    process.exit(m.ready ? 0 : (m.code ?? 1));
  });
  child.on("exit", (code, signal) => {
    if (done) return;
    io.err(`dvm-polld: error: the daemon exited with ${signal ? `signal ${signal}` : `code ${code}`}\n`);
    process.exit(code ?? 1);
  });
  child.on("error", (e) => {
    io.err(`dvm-polld: error: cannot start the daemon: ${e.message}\n`);
    process.exit(Exit.internal);
  });
}

const SHUTDOWN_SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGALRM"];

/** Start the daemon (foreground or backgrounded); the process exits when the daemon does. */
export function runDaemon(argv: string[], s: Settings, io: Out): void {
  // The C locale for every poller, as lvmpolld sets it for itself (§1.4).
  process.env.LC_ALL = "C";
  cloexecInherited();
  const childOfLauncher = process.env[ENV_DAEMON_CHILD] === "1";
  const inherited = process.env[ENV_INHERITED_FD];
  // The launcher already took systemd's socket over (LISTEN_PID was its pid).
  const inheritedFd = childOfLauncher
    ? inherited
      ? Number(inherited)
      : undefined
    : systemdHandover(s.socketPath, process.env);
  delete process.env[ENV_DAEMON_CHILD];
  delete process.env[ENV_INHERITED_FD];
  if (!s.foreground) {
    daemonize(argv, inheritedFd, io);
    return;
  }
  /** Word to the launcher (ready, or why not), delivered before we go on or exit. */
  const tell = (m: object) =>
    new Promise<void>((resolve) => {
      if (!childOfLauncher || !process.send) return resolve();
      process.send(m, undefined, {}, () => {
        process.disconnect?.();
        resolve();
      });
    });
  if (childOfLauncher) {
    try {
      process.chdir("/");
    } catch {}
  }
  const log = stderrLogger(s.logConfig, io.err);
  let daemon: PolldDaemon | undefined;
  let stopRequested = false;
  for (const sig of SHUTDOWN_SIGNALS)
    process.on(sig, () => {
      stopRequested = true;
      if (daemon) void daemon.shutdown(0);
    });
  PolldDaemon.start({
    socketPath: s.socketPath,
    pidfile: s.pidfile,
    idleTimeoutS: s.idleTimeoutS,
    log,
    poller: s.poller,
    inheritedFd,
    silencePeriodMs: s.silencePeriodMs,
    killPollerOnAbort: s.killPollerOnAbort,
  }).then(
    (d) => {
      daemon = d;
      void tell({ ready: true });
      void d.exited.then((code) => process.exit(code));
      if (stopRequested) void d.shutdown(0);
    },
    (e) => {
      const code = e instanceof StartupError ? e.exitCode : Exit.internal;
      io.err(`dvm-polld: error: ${(e as Error).message}\n`);
      void tell({ error: (e as Error).message, code }).then(() => process.exit(code));
    },
  );
}
