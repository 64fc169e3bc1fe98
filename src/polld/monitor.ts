import type { ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { childProcess } from "../lib/lazy.js";
import type { Logger } from "./log.js";

/**
 * Runs one poller and watches it, as lvmpolld's per-job monitor thread does
 * (§3.4): every output line is logged (stdout INFO, stderr WARN), a child
 * silent for three watchdog periods in a row is declared failed (and left
 * running), and the exit status is recorded when the child ends.
 */

/** lvmpolld's fork-then-exec child exits 101 when exec fails; a spawn error maps to the same code. */
export const RETCODE_EXEC_FAILED = 101;

/** Node's timers overflow past 2^31-1 ms (~24.8 days); a longer watchdog period is capped there. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** After the child's exit, how long to wait for its pipes to close (a grandchild may hold them). */
const DRAIN_MS = 200;

export interface ChildOutcome {
  /** Daemon-side failure (spawn setup, silence watchdog): the job is `failed`. */
  error: boolean;
  /** Exit code, or -1 when killed by a signal or unknown. */
  retcode: number;
  /** Signal number, 0 when none. */
  signal: number;
}

export interface MonitorOptions {
  argv: string[];
  env: Record<string, string>;
  log: Logger;
  /** The watchdog period (lvmpolld_internal_timeout) in seconds, shown in messages. */
  silenceTimeoutS: number;
  /** The period actually used, in ms; 0 disables the watchdog. */
  silencePeriodMs: number;
  /** The pid once known (0 if the spawn failed). */
  onStart(pid: number): void;
  /** Called once, when monitoring ends. */
  onEnd(outcome: ChildOutcome): void;
}

export interface Monitor {
  /** Signal the child if it is still running. */
  kill(signal: NodeJS.Signals): void;
  readonly running: boolean;
}

const signalNumber = (name: NodeJS.Signals | null): number =>
  name ? ((constants.signals as Record<string, number>)[name] ?? 0) : 0;

/** Splits a byte stream into lines ("\n"-terminated; the newline is dropped). */
class LineSplitter {
  private rest: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): string[] {
    const buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const lines: string[] = [];
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      lines.push(buf.subarray(start, nl).toString("utf8"));
      start = nl + 1;
    }
    this.rest = buf.subarray(start);
    return lines;
  }
  flush(): string[] {
    const r = this.rest.length ? [this.rest.toString("utf8")] : [];
    this.rest = Buffer.alloc(0);
    return r;
  }
}

export function startMonitor(o: MonitorOptions): Monitor {
  const { log } = o;
  let ended = false;
  let child: ChildProcess | undefined;
  let pid = 0;
  let exited = false;
  let timer: NodeJS.Timeout | undefined;
  let silent = 0;

  const end = (outcome: ChildOutcome) => {
    if (ended) return;
    ended = true;
    if (timer) clearTimeout(timer);
    o.onEnd(outcome);
  };

  const arm = () => {
    if (timer) clearTimeout(timer);
    if (o.silencePeriodMs > 0 && !ended)
      timer = setTimeout(onSilence, Math.min(o.silencePeriodMs, MAX_TIMER_MS));
  };
  const onSilence = () => {
    silent++;
    log.log("warn", `LVMPOLLD: polling for output of the lvm cmd (PID ${pid}) has timed out`);
    if (silent > 2) {
      log.log(
        "error",
        `LVMPOLLD: LVM2 cmd is unresponsive too long (PID ${pid}) (no output for ${silent * o.silenceTimeoutS} seconds)`,
      );
      // Like LVM2 the child is left running; it is still reaped when it exits.
      end({ error: true, retcode: -1, signal: 0 });
      return;
    }
    arm();
  };

  try {
    child = childProcess().spawn(o.argv[0]!, o.argv.slice(1), {
      argv0: o.argv[0],
      env: o.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    // Invalid arguments (spawn throws synchronously): nothing ran.
    log.log("error", `LVMPOLLD: failed to spawn ${o.argv[0]}: ${(e as Error).message}`);
    queueMicrotask(() => end({ error: true, retcode: -1, signal: 0 }));
    return { kill() {}, running: false };
  }

  if (child.pid === undefined) {
    // exec failed (ENOENT, EACCES, bad interpreter): LVM2's child would exit 101.
    child.once("error", (e) => {
      log.log("error", `LVMPOLLD: exec of ${o.argv[0]} failed: ${e.message}`);
      log.log("error", `LVMPOLLD: lvm2 cmd (PID 0) failed (retcode: ${RETCODE_EXEC_FAILED})`);
      o.onStart(0);
      end({ error: false, retcode: RETCODE_EXEC_FAILED, signal: 0 });
    });
    return { kill() {}, running: false };
  }
  pid = child.pid;
  o.onStart(pid);
  log.log("info", `LVMPOLLD: LVM2 cmd "${o.argv[0]}" (PID: ${pid})`);
  child.on("error", () => {}); // e.g. a failed kill(); the exit event still decides

  const out = new LineSplitter();
  const err = new LineSplitter();
  const logLines = (stream: "STDOUT" | "STDERR", lines: string[]) => {
    for (const l of lines)
      log.log(stream === "STDOUT" ? "info" : "warn", `\tLVPOLL: PID ${pid}: ${stream}: '${l}'`);
  };
  child.stdout!.on("data", (c: Buffer) => {
    silent = 0;
    arm();
    logLines("STDOUT", out.push(c));
  });
  child.stderr!.on("data", (c: Buffer) => {
    silent = 0;
    arm();
    logLines("STDERR", err.push(c));
  });
  arm();

  let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let openStreams = 2;
  let settled = false;
  const settle = () => {
    if (!status || settled) return;
    settled = true;
    // Let go of the pipes even when a grandchild still holds them open.
    child!.stdout!.destroy();
    child!.stderr!.destroy();
    if (ended) return; // the watchdog already gave up on it
    logLines("STDOUT", out.flush());
    logLines("STDERR", err.flush());
    const signal = signalNumber(status.signal);
    const retcode = status.code ?? -1;
    if (signal) log.log("error", `LVMPOLLD: lvm2 cmd (PID ${pid}) got terminated by signal (${signal})`);
    else if (retcode) log.log("error", `LVMPOLLD: lvm2 cmd (PID ${pid}) failed (retcode: ${retcode})`);
    else log.log("info", `LVMPOLLD: lvm2 cmd (PID ${pid}) finished successfully`);
    end({ error: false, retcode: signal ? -1 : retcode, signal });
  };
  const streamClosed = () => {
    openStreams--;
    if (openStreams === 0) settle();
  };
  child.stdout!.on("close", streamClosed);
  child.stderr!.on("close", streamClosed);
  child.on("exit", (code, signal) => {
    exited = true;
    status = { code, signal };
    if (openStreams === 0) settle();
    // A grandchild may keep the pipes open: the child's exit ends the job anyway.
    else setTimeout(settle, DRAIN_MS).unref();
  });

  return {
    kill(signal) {
      if (!exited) child!.kill(signal);
    },
    get running() {
      return !exited;
    },
  };
}
