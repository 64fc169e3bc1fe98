import { type PollerConfig, pollArgv, pollEnv } from "./command.js";
import { type ConfigNode, findInt, findString, tryParseConfig, writeConfig } from "./config.js";
import type { Logger } from "./log.js";
import { type ChildOutcome, type Monitor, startMonitor } from "./monitor.js";
import { helloReply, isPollType, type PollType, Reason, Request, Status, simpleReply } from "./protocol.js";

/**
 * The daemon's state and request handling, without sockets (lvmpolld.md
 * §2.5–§2.8, §3): two stores of jobs (normal polls and pvmove aborts), each
 * job keyed by sysdir + lvid, one poller per job, a finished job's result kept
 * until a client reads it.
 *
 * Every request is handled synchronously from lookup to reply, so concurrent
 * clients on the event loop see each other's registrations atomically: two
 * requests for the same LV can never both spawn a poller.
 */

export type StoreName = "poll" | "abort";

/** lvmpolld's floor for the silence watchdog period (MIN_POLLING_TIMEOUT), in seconds. */
export const MIN_SILENCE_TIMEOUT_S = 60;

export class Job {
  pid = 0;
  initRequests = 1;
  /** No more updates will come: the child ended, or monitoring failed. */
  finished = false;
  /** Daemon-side failure: replies `failed`. */
  error = false;
  retcode = -1;
  signal = 0;
  monitor?: Monitor;

  constructor(
    readonly id: string,
    readonly lvid: string,
    readonly type: PollType,
    /** `vg/lv` */
    readonly lvname: string,
    /** As the client sent it; passed on verbatim. */
    readonly interval: string,
    /** lvmpolld_internal_timeout: max(60, 2 × interval) in 32-bit unsigned arithmetic. */
    readonly silenceTimeoutS: number,
    readonly sysdir: string | undefined,
    readonly devicesfile: string | undefined,
    readonly abort: boolean,
    readonly handleMissingPvs: boolean,
  ) {}
}

export interface CoreOptions {
  poller: PollerConfig;
  log: Logger;
  /** The environment pollers inherit (minus LVM_SYSTEM_DIR); default process.env, read at spawn time. */
  env?: () => NodeJS.ProcessEnv;
  /** Overrides the watchdog period (default: the job's silence timeout); 0 disables the watchdog. */
  silencePeriodMs?: number;
  /**
   * [>= 2.03.40] SIGTERM the normal poller of an LV when an abort is registered
   * for it. Off by default: 2.03.16 leaves it to notice the pvmove is gone.
   */
  killPollerOnAbort?: boolean;
}

/** A request value as C's `unsigned` takes an int64: its low 32 bits. */
const low32 = (v: bigint) => Number(BigInt.asUintN(32, v));

/**
 * `sscanf(interval, "%u")` as lvmpolld validates the interval: optional
 * whitespace and sign, then at least one digit; the number is strtoul's
 * (saturating at 2^64 - 1) cut to 32 bits. undefined = no match.
 */
export function scanUnsigned(s: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*[+-]?(\d+)/.exec(s);
  if (!m) return undefined;
  const v = BigInt(m[1]!);
  const ul = v > (1n << 64n) - 1n ? (1n << 64n) - 1n : v;
  return low32(s.trimStart().startsWith("-") ? -ul : ul);
}

/** max(60, 2 × interval) as lvmpolld computes it in `unsigned` (so it wraps). */
export const silenceTimeoutS = (interval: number) => {
  const t = (interval * 2) % 2 ** 32;
  return Math.max(t, MIN_SILENCE_TIMEOUT_S);
};

/** `%d` of a C unsigned: the dump prints these as signed 32-bit. */
const asInt32 = (n: number) => n | 0;

export class PollCore {
  readonly stores: Record<StoreName, Map<string, Job>> = { poll: new Map(), abort: new Map() };
  private active = 0;
  private readonly monitorsDone = new Set<() => void>();

  constructor(private readonly o: CoreOptions) {}

  /** Jobs whose poller is still being monitored (finished-but-uncollected ones do not count). */
  get runningJobs(): number {
    return this.active;
  }

  /** Handle one request body; returns the reply body (to be framed). */
  handle(body: Buffer): string {
    const { log } = this.o;
    const tree = tryParseConfig(body);
    if (!tree) {
      // As LVM2 prints it (up to a NUL), but a few KiB at most: garbage can be 16 MiB.
      const nul = body.indexOf(0);
      const text = (nul < 0 ? body : body.subarray(0, nul)).subarray(0, 4096).toString("utf8");
      log.raw(`error parsing request:\n ${text}\n`);
    } else if (log.enabled("wire")) for (const l of writeConfig(tree)) log.log("wire", `<- ${l}`);
    const rq = findString(tree, "request") ?? "NONE";
    let reply: string;
    if (rq === Request.hello) reply = helloReply();
    else if (isPollType(rq)) reply = this.pollInit(tree, rq);
    else if (rq === Request.progress) reply = this.progressInfo(tree);
    else if (rq === Request.dump) reply = this.dump();
    else reply = simpleReply(Status.invalid, ["reason", Reason.notImplemented]);
    if (log.enabled("wire")) for (const l of reply.split("\n")) log.log("wire", `-> ${l}`);
    return reply;
  }

  private pollInit(tree: ConfigNode[] | undefined, type: PollType): string {
    const { log } = this.o;
    const interval = findString(tree, "interval");
    const lvid = findString(tree, "lvid");
    const lvname = findString(tree, "lvname");
    const vgname = findString(tree, "vgname");
    const sysdir = findString(tree, "sysdir");
    const devicesfile = findString(tree, "devicesfile");
    const abort = low32(findInt(tree, "abort", 0n)) !== 0;
    const handleMissingPvs = low32(findInt(tree, "handle_missing_pvs", 0n)) !== 0;
    const fail = (status: string, reason: string) => simpleReply(status, ["reason", reason]);

    // Validation order and replies as observed on 2.03.16 (§2.6).
    if (abort && type !== "pvmove") return fail(Status.invalid, Reason.illegalAbort);
    const uinterval = interval === undefined || interval.includes("-") ? undefined : scanUnsigned(interval);
    if (uinterval === undefined) return fail(Status.invalid, Reason.invalidInterval);
    if (lvname === undefined) return fail(Status.failed, Reason.missingLvname);
    if (lvid === undefined) return fail(Status.failed, Reason.missingLvid);
    if (vgname === undefined) return fail(Status.failed, Reason.missingVgname);

    const id = (sysdir ?? "") + lvid;
    const store = this.stores[abort ? "abort" : "poll"];
    let job = store.get(id);
    if (job?.finished) {
      // A new registration evicts an uncollected result (§3.6).
      log.log("warn", `LVMPOLLD: Force removal of uncollected info for LV ${lvid}`);
      store.delete(id);
      job = undefined;
    }
    if (job) {
      if (job.type !== type) {
        log.log(
          "error",
          `LVMPOLLD: poll operation type mismatch on LV identified by '${id}': expected: ${job.type}, requested: ${type}`,
        );
        return fail(Status.invalid, Reason.differentOperation);
      }
      // The same job asked for again: count it, start nothing (new interval etc. ignored, as LVM2).
      job.initRequests++;
      return simpleReply(Status.ok);
    }

    job = new Job(
      id,
      lvid,
      type,
      `${vgname}/${lvname}`,
      interval!,
      silenceTimeoutS(uinterval),
      sysdir,
      devicesfile,
      abort,
      handleMissingPvs,
    );
    store.set(id, job);
    this.active++;
    this.start(job);
    if (abort && this.o.killPollerOnAbort) {
      const normal = this.stores.poll.get(id);
      if (normal && !normal.finished) normal.monitor?.kill("SIGTERM");
    }
    return simpleReply(Status.ok);
  }

  private start(job: Job) {
    const { poller, log } = this.o;
    const argv = pollArgv(poller, job);
    const env = pollEnv(this.o.env?.() ?? process.env, job.sysdir);
    if (log.enabled("debug")) {
      log.log("debug", "LVMPOLLD: cmd line arguments:");
      for (const a of argv) log.log("debug", `LVMPOLLD: ${a}`);
      log.log("debug", "LVMPOLLD: ---end---");
    }
    job.monitor = startMonitor({
      argv,
      env,
      log,
      silenceTimeoutS: job.silenceTimeoutS,
      silencePeriodMs: this.o.silencePeriodMs ?? job.silenceTimeoutS * 1000,
      onStart: (pid) => {
        job.pid = pid;
      },
      onEnd: (outcome) => this.ended(job, outcome),
    });
  }

  private ended(job: Job, outcome: ChildOutcome) {
    job.finished = true;
    job.error = outcome.error;
    job.retcode = outcome.retcode;
    job.signal = outcome.signal;
    this.active--;
    for (const f of this.monitorsDone) f();
  }

  private progressInfo(tree: ConfigNode[] | undefined): string {
    const lvid = findString(tree, "lvid");
    if (lvid === undefined) return simpleReply(Status.failed, ["reason", Reason.missingLvid]);
    const sysdir = findString(tree, "sysdir");
    const abort = low32(findInt(tree, "abort", 0n)) !== 0;
    const id = (sysdir ?? "") + lvid;
    const store = this.stores[abort ? "abort" : "poll"];
    const job = store.get(id);
    if (!job) return simpleReply(Status.notFound);
    if (!job.error && !job.finished) return simpleReply(Status.inProgress);
    // A result is delivered exactly once.
    this.o.log.log("info", `LVMPOLLD: Polling finished. Removing related data structure for LV ${lvid}`);
    store.delete(id);
    if (job.error) return simpleReply(Status.failed, ["reason", Reason.pollingFailed]);
    return job.signal
      ? simpleReply(Status.finished, ["reason", Reason.signal], ["value", job.signal])
      : simpleReply(Status.finished, ["reason", Reason.retcode], ["value", job.retcode]);
  }

  /** The debugging dump, layout byte for byte as LVM2's (§2.8); records in registration order. */
  dump(): string {
    const records = (store: Map<string, Job>) => {
      let s = "";
      for (const j of store.values()) {
        s += `\t${j.id} {\n`;
        s += `\t\tlvid="${j.lvid}"\n`;
        s += `\t\ttype="${j.type}"\n`;
        s += `\t\tlvname="${j.lvname}"\n`;
        s += `\t\tlvmpolld_internal_timeout=${asInt32(j.silenceTimeoutS)}\n`;
        s += `\t\tlvm_command_interval="${j.interval}"\n`;
        s += `\t\tLVM_SYSTEM_DIR="${j.sysdir ?? "<undefined>"}"\n`;
        s += `\t\tlvm_command_pid=${j.pid}\n`;
        s += `\t\tpolling_finished=${j.finished ? 1 : 0}\n`;
        s += `\t\terror_occured=${j.error ? 1 : 0}\n`;
        s += `\t\tinit_requests_count=${asInt32(j.initRequests)}\n`;
        s += "\t\tlvm_command {\n";
        if (j.retcode === -1 && !j.signal) s += `\t\t\tstate="${Status.inProgress}"\n`;
        else
          s += `\t\t\tstate="${Status.finished}"\n\t\t\treason="${j.signal ? Reason.signal : Reason.retcode}"\n\t\t\tvalue=${j.signal || j.retcode}\n`;
        s += "\t\t}\n\t}\n";
      }
      return s;
    };
    return (
      "# Registered polling operations\n\npoll {\n" +
      records(this.stores.poll) +
      "}\n\n# Registered abort operations\n\nabort {\n" +
      records(this.stores.abort) +
      "}"
    );
  }

  /**
   * Shutdown: SIGTERM every running poller, then wait until their monitors
   * end or `graceMs` passes. Uncollected results are dropped with the daemon.
   */
  async stopAll(graceMs: number): Promise<void> {
    for (const store of Object.values(this.stores))
      for (const j of store.values()) if (!j.finished) j.monitor?.kill("SIGTERM");
    if (this.active === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, graceMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      const check = () => {
        if (this.active === 0) {
          this.monitorsDone.delete(check);
          done();
        }
      };
      this.monitorsDone.add(check);
    });
  }
}
