import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { DIST, ROOT, toolEnv } from "../helpers.ts";

/** Shared by the dvm-polld tests: the fake poller, raw socket exchanges, daemons as processes. */

export const FAKE_POLL = join(ROOT, "test/polld/fake-poll.sh");

/** A copy of the fake poller in `dir` (it records beside itself), executable. */
export function fakePoller(dir: string, name = "fake-poll.sh"): string {
  const p = join(dir, name);
  copyFileSync(FAKE_POLL, p);
  chmodSync(p, 0o755);
  return p;
}

/** Make the fake's LV `lv` behave as `as` (e.g. "hold", "exit5"). */
export function actAs(dir: string, lv: string, as: string) {
  writeFileSync(join(dir, `as-${lv}`), as);
}

export interface PollerRecord {
  pid: number;
  /** argv as exec'd: argv[0] is the binary path (the /bin/sh interpreter line is dropped). */
  argv: string[];
  env: string[];
  /** The poller got SIGTERM. */
  term: boolean;
  /** Its open file descriptors at start. */
  fds: number[];
}

const nulList = (b: Buffer) => {
  const s = b.toString("utf8");
  return (s.endsWith("\0") ? s.slice(0, -1) : s).split("\0");
};

/** Every poller the fake in `dir` recorded. */
export function pollerRecords(dir: string): PollerRecord[] {
  return readdirSync(dir)
    .filter((f) => /^\d+\.env$/.test(f))
    .map((f) => {
      const pid = Number(f.slice(0, -4));
      const argv = existsSync(join(dir, `${pid}.argv`))
        ? nulList(readFileSync(join(dir, `${pid}.argv`)))
        : [];
      return {
        pid,
        argv: argv.slice(1),
        env: nulList(readFileSync(join(dir, f))),
        term: existsSync(join(dir, `${pid}.term`)),
        fds: existsSync(join(dir, `${pid}.fds`))
          ? readFileSync(join(dir, `${pid}.fds`), "utf8")
              .split(/\s+/)
              .filter(Boolean)
              .map(Number)
          : [],
      };
    })
    .sort((a, b) => a.pid - b.pid);
}

/**
 * Stop whatever fake pollers are left (a failed test must not leave minute-long
 * sleepers): each recorded pid that is still our fake (its command line names
 * `dir`, so a recycled pid is never touched), and that fake's own children.
 */
export function killPollers(dir: string) {
  for (const r of existsSync(dir) ? pollerRecords(dir) : []) {
    let cmdline = "";
    let children: number[] = [];
    try {
      cmdline = readFileSync(`/proc/${r.pid}/cmdline`, "utf8");
      children = readdirSync(`/proc/${r.pid}/task`).flatMap((t) =>
        readFileSync(`/proc/${r.pid}/task/${t}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number),
      );
    } catch {
      continue; // gone
    }
    if (!cmdline.includes(dir)) continue;
    for (const pid of [...children, r.pid])
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `f` returns a truthy value (or throw after `ms`). */
export async function waitFor<T>(
  f: () => T | Promise<T>,
  ms = 5000,
  what: string | (() => string) = "condition",
): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await sleep(20);
  }
}

/**
 * Send bytes exactly as given on a new connection; return the reply bytes
 * exactly as received, through the first terminator (or whatever came before
 * the connection closed). `halfClose` shuts our write side after sending.
 */
export function rawExchange(path: string, bytes: string | Buffer, halfClose = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let got = Buffer.alloc(0);
    s.on("connect", () => {
      s.write(bytes);
      if (halfClose) s.end();
    });
    s.on("data", (c) => {
      got = Buffer.concat([got, c]);
      if (got.includes("\n##\n")) {
        s.destroy();
        resolve(got);
      }
    });
    s.on("error", reject);
    s.on("close", () => resolve(got));
  });
}

export const exchange = async (path: string, text: string, halfClose = false) =>
  (await rawExchange(path, text, halfClose)).toString("utf8");

export interface DaemonProcess {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Run dist/dvm-polld.cjs (after `npm run build`) with `args`; env without NODE_EXTRA_CA_CERTS. */
export function spawnDaemon(
  args: string[],
  env: NodeJS.ProcessEnv = toolEnv(),
  cmd?: string[],
  fd3?: number,
): DaemonProcess {
  const argv = cmd ?? [process.execPath, join(DIST, "dvm-polld.cjs")];
  const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "pipe", "pipe"];
  if (fd3 !== undefined) stdio.push(fd3);
  const child = spawn(argv[0]!, [...argv.slice(1), ...args], { env, stdio });
  let err = "";
  child.stderr!.on("data", (c) => {
    err += c;
  });
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on("exit", (code, signal) => r({ code, signal })),
  );
  return { child, stderr: () => err, exit };
}

/** Resolves true when the process exits within `ms`. */
export const exitsWithin = (d: DaemonProcess, ms: number) =>
  Promise.race([d.exit.then(() => true), sleep(ms).then(() => false)]);

/** A VG uuid + LV uuid as lvm sends it (64 characters). */
export const lvid = (n: number | string) =>
  `WFd2dU67S8Av29IcJCnYzqQirdfElnxz${String(n).padStart(32, "0")}`.slice(0, 64);
