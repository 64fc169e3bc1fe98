import type { PollType } from "./protocol.js";

/**
 * The command line and environment of the poller spawned for a job.
 *
 * Two flavours:
 *
 * `lvm` — LVM2's own worker, exactly as lvmpolld 2.03.16 runs it (§3.4), so
 * LVM2 clients get the behaviour they expect:
 *
 *     BINARY lvpoll --interval INTERVAL [--abort] [--handlemissingpvs]
 *            --polloperation pvmove|convert|merge|merge_thin VG/LV -An
 *            [-vvvv] [--devicesfile NAME]
 *
 * `dvm` — dvm's own poller (the default; BINARY defaults to `dvm-poll`):
 *
 *     BINARY --type pvmove|convert|merge|merge_thin --interval INTERVAL
 *            [--abort] [--handle-missing-pvs] [--devicesfile NAME]
 *            --lvid LVID [-v] [EXTRA...] VG/LV
 *
 *   INTERVAL is the client's string verbatim: decimal seconds, possibly with a
 *   leading `+` ("wait one interval before the first check") and, as LVM2
 *   accepts it, trailing junk after the digits (`5x`); the poller decides.
 *   LVID is the 64-character VG UUID + LV UUID without dashes: the poller pins
 *   the LV by uuid so a same-named LV created after an abort is never adopted
 *   (§6 #4). `-v` is added with `-l cmd`. EXTRA is what dvm-polld got after
 *   `--` on its command line (e.g. `-c CONFIG --dm-backend sim --sim-dir DIR`),
 *   so a daemon started for a given configuration runs its pollers with it.
 *   Exit status: 0 done, anything else failure; reported to clients as-is.
 *
 * Environment (both flavours): the daemon's own (LC_ALL=C included, systemd's
 * activation variables already removed) minus LVM_SYSTEM_DIR, plus
 * LVM_SYSTEM_DIR=<sysdir> when the request carried one.
 */

export type PollerKind = "dvm" | "lvm";

export interface PollSpec {
  type: PollType;
  /** `vg/lv` */
  lvname: string;
  lvid: string;
  interval: string;
  abort: boolean;
  handleMissingPvs: boolean;
  devicesfile?: string;
  sysdir?: string;
}

export interface PollerConfig {
  kind: PollerKind;
  binary: string;
  /** `-l cmd`: run the poller verbose. */
  verbose: boolean;
  /** dvm flavour only: arguments placed before VG/LV. */
  extraArgs: string[];
}

export function pollArgv(cfg: PollerConfig, job: PollSpec): string[] {
  if (cfg.kind === "lvm") {
    const a = [cfg.binary, "lvpoll", "--interval", job.interval];
    if (job.abort) a.push("--abort");
    if (job.handleMissingPvs) a.push("--handlemissingpvs");
    a.push("--polloperation", job.type, job.lvname, "-An");
    if (cfg.verbose) a.push("-vvvv");
    if (job.devicesfile !== undefined) a.push("--devicesfile", job.devicesfile);
    return a;
  }
  const a = [cfg.binary, "--type", job.type, "--interval", job.interval];
  if (job.abort) a.push("--abort");
  if (job.handleMissingPvs) a.push("--handle-missing-pvs");
  if (job.devicesfile !== undefined) a.push("--devicesfile", job.devicesfile);
  a.push("--lvid", job.lvid);
  if (cfg.verbose) a.push("-v");
  a.push(...cfg.extraArgs, job.lvname);
  return a;
}

export function pollEnv(base: NodeJS.ProcessEnv, sysdir: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (k !== "LVM_SYSTEM_DIR" && v !== undefined) env[k] = v;
  if (sysdir !== undefined) env.LVM_SYSTEM_DIR = sysdir;
  return env;
}
