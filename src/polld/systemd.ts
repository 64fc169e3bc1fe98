import { fstatSync, readFileSync, readlinkSync } from "node:fs";

/**
 * systemd socket activation as lvmpolld takes it over (lvmpolld.md §1.6):
 * SD_ACTIVATION=1 (set by the unit), LISTEN_PID = our pid, LISTEN_FDS = 1, and
 * fd 3 a listening AF_UNIX stream socket bound to the configured path (its
 * bound path must start with it). The three variables are removed from the
 * environment whatever the outcome, so pollers never see them.
 */

export const SD_LISTEN_FDS_START = 3;

/** strtoul(…, 10) that must consume the whole string; undefined otherwise. */
function wholeUnsigned(s: string | undefined): number | undefined {
  if (s === undefined || !/^[ \t\n\v\f\r]*\+?\d+$/.test(s)) return undefined;
  return Number(s.trim());
}

/** The bound path and type of a Unix socket fd, from /proc (Node has no getsockname for these). */
export function unixSocketInfo(fd: number): { path: string; stream: boolean } | undefined {
  try {
    if (!fstatSync(fd).isSocket()) return undefined;
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    if (!m) return undefined;
    // Num RefCount Protocol Flags Type St Inode [Path]
    for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[6] !== m[1]) continue;
      return { path: f.slice(7).join(" "), stream: f[4] === "0001" };
    }
  } catch {}
  return undefined;
}

export function systemdHandover(
  socketPath: string,
  env: NodeJS.ProcessEnv = process.env,
  pid: number = process.pid,
): number | undefined {
  let fd: number | undefined;
  const lp = wholeUnsigned(env.LISTEN_PID);
  if (env.SD_ACTIVATION === "1" && lp !== undefined && lp > 0 && lp === pid) {
    if (wholeUnsigned(env.LISTEN_FDS) === 1) {
      const info = unixSocketInfo(SD_LISTEN_FDS_START);
      if (info?.stream && info.path.startsWith(socketPath)) fd = SD_LISTEN_FDS_START;
    }
  }
  delete env.SD_ACTIVATION;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  return fd;
}
