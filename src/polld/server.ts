import { accessSync, constants, lstatSync, statSync, unlinkSync } from "node:fs";
import type { Server, Socket } from "node:net";
import { net } from "../lib/lazy.js";
import type { PollerConfig } from "./command.js";
import { PollCore } from "./core.js";
import { FrameReader, frame, MessageTooLarge } from "./framing.js";
import { ffiFailure, setCloexec } from "./libc.js";
import type { Logger } from "./log.js";
import { createPidfile, type Pidfile, PidfileLocked } from "./pidfile.js";

/**
 * The daemon process around PollCore (lvmpolld.md §1.4–§1.10): the pidfile,
 * the listening socket (own or systemd's), one reader per connection, the
 * idle clock and an orderly shutdown that never waits on clients.
 */

/** Exit code when the pidfile is held by another daemon (LVM2's EXIT_ALREADYRUNNING). */
export const EXIT_ALREADY_RUNNING = 13;

/** sockaddr_un.sun_path holds 108 bytes including the NUL. */
const SUN_PATH_MAX = 107;

export interface DaemonOptions {
  socketPath: string;
  /** undefined: no pidfile. */
  pidfile?: string;
  /** Exit after this many idle seconds; 0 = never. */
  idleTimeoutS: number;
  log: Logger;
  poller: PollerConfig;
  /** systemd's listening socket (fd 3) when activated. */
  inheritedFd?: number;
  /** Watchdog period override (ms); 0 disables. */
  silencePeriodMs?: number;
  killPollerOnAbort?: boolean;
  /** The environment pollers inherit (default process.env). */
  env?: () => NodeJS.ProcessEnv;
  /** Length of one idle tick in ms (1000; shorter in tests). */
  tickMs?: number;
  /** How long shutdown waits for pollers after SIGTERM, in ms. */
  shutdownGraceMs?: number;
}

export class StartupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "StartupError";
  }
}

/** Listen on a path with mode 0600 (umask around bind, so there is no window with a wider mode). */
function listenPath(path: string, onConnection: (s: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = net().createServer({ allowHalfOpen: true }, onConnection);
    const old = process.umask(0o177);
    try {
      server.once("error", reject);
      server.listen({ path }, () => {
        server.off("error", reject);
        resolve(server);
      });
    } finally {
      process.umask(old);
    }
  });
}

const probe = (path: string) =>
  new Promise<boolean>((resolve) => {
    const s = net().connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

/** Our own socket, with LVM2's stale-socket handling (§1.5). */
async function createSocket(path: string, log: Logger, onConnection: (s: Socket) => void): Promise<Server> {
  log.raw(`[D] creating ${path}\n`);
  if (Buffer.byteLength(path) > SUN_PATH_MAX)
    throw new StartupError(`${path}: daemon socket path too long.`, 1);
  try {
    return await listenPath(path, onConnection);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE")
      throw new StartupError(`can't bind local socket ${path}: ${(e as Error).message}`, 1);
  }
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (e) {
    throw new StartupError(`stat ${path} failed: ${(e as Error).message}`, 1);
  }
  if (!st.isSocket()) throw new StartupError(`${path}: not a socket`, 1);
  // LVM2 wants owner root; we want owner = us, so unprivileged test runs work the same way.
  if (st.uid !== (process.geteuid?.() ?? st.uid) || (st.mode & 0o077) !== 0)
    throw new StartupError(`${path}: unrecognised permissions`, 1);
  if (await probe(path)) throw new StartupError(`Socket ${path} already in use`, 1);
  log.raw(`removing stale socket ${path}\n`);
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT")
      throw new StartupError(`unlink ${path} failed: ${(e as Error).message}`, 1);
  }
  try {
    return await listenPath(path, onConnection);
  } catch (e) {
    throw new StartupError(`local socket bind failed after unlink: ${(e as Error).message}`, 1);
  }
}

function listenFd(fd: number, onConnection: (s: Socket) => void): Promise<Server> {
  // Close-on-exec, as LVM2 sets it: else every poller inherits the listening socket.
  setCloexec(fd);
  return new Promise((resolve, reject) => {
    const server = net().createServer({ allowHalfOpen: true }, onConnection);
    server.once("error", reject);
    server.listen({ fd }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

export class PolldDaemon {
  readonly core: PollCore;
  private server?: Server;
  private socketIno?: number;
  private pid?: Pidfile;
  private readonly clients = new Set<Socket>();
  private idleCount = 0;
  private tick?: NodeJS.Timeout;
  private stopping?: Promise<number>;
  private resolveExit!: (code: number) => void;
  /** Resolves with the exit code once the daemon has shut down. */
  readonly exited: Promise<number>;

  private constructor(private readonly o: DaemonOptions) {
    this.core = new PollCore({
      poller: o.poller,
      log: o.log,
      env: o.env,
      silencePeriodMs: o.silencePeriodMs,
      killPollerOnAbort: o.killPollerOnAbort,
    });
    this.exited = new Promise((r) => {
      this.resolveExit = r;
    });
  }

  /** Start serving: pidfile, socket, binary check (§1.4). Throws StartupError. */
  static async start(o: DaemonOptions): Promise<PolldDaemon> {
    const d = new PolldDaemon(o);
    if (o.pidfile !== undefined) {
      try {
        d.pid = createPidfile(o.pidfile);
      } catch (e) {
        if (e instanceof PidfileLocked)
          throw new StartupError(
            `Failed to acquire lock on ${o.pidfile}. Already running?`,
            EXIT_ALREADY_RUNNING,
          );
        throw new StartupError((e as Error).message, 1);
      }
      // Without the lock a second daemon is not refused: say so rather than run unguarded in silence.
      if (!d.pid.locked)
        o.log.log(
          "warn",
          `${o.pidfile}: not locked, a second daemon will not be refused (no FFI for fcntl: ${ffiFailure() || "unknown"})`,
        );
    }
    try {
      const onConnection = (sock: Socket) => d.onConnection(sock);
      d.server =
        o.inheritedFd !== undefined
          ? await listenFd(o.inheritedFd, onConnection)
          : await createSocket(o.socketPath, o.log, onConnection);
      if (o.inheritedFd === undefined) d.socketIno = statSync(o.socketPath).ino;
      try {
        accessSync(o.poller.binary, constants.X_OK);
      } catch {
        o.log.log("fatal", `LVMPOLLD: Execute access rights denied on ${o.poller.binary}`);
        throw new StartupError(`cannot execute the poll command ${o.poller.binary}`, 1);
      }
    } catch (e) {
      d.closeSocket();
      for (const c of d.clients) c.destroy();
      d.pid?.remove();
      throw e instanceof StartupError ? e : new StartupError((e as Error).message, 1);
    }
    if (o.idleTimeoutS > 0) d.tick = setInterval(() => d.onTick(), o.tickMs ?? 1000);
    return d;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  private idle(): boolean {
    return this.core.runningJobs === 0 && this.clients.size === 0;
  }

  private onTick() {
    if (!this.idle()) return;
    if (++this.idleCount >= this.o.idleTimeoutS) {
      this.o.log.log("info", `Inactive for ${this.idleCount} seconds. Exiting.`);
      void this.shutdown(0);
    }
  }

  private onConnection(sock: Socket) {
    if (this.stopping) {
      sock.destroy();
      return;
    }
    this.idleCount = 0;
    this.clients.add(sock);
    const reader = new FrameReader();
    sock.on("data", (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = reader.push(chunk);
      } catch (e) {
        if (!(e instanceof MessageTooLarge)) throw e;
        this.o.log.log("warn", `dropping a client: ${e.message}`);
        sock.destroy();
        return;
      }
      for (const m of messages) {
        let reply: string;
        try {
          reply = this.core.handle(m);
        } catch (e) {
          // A bug must not take the daemon (and every other client's jobs) down: drop this client.
          this.o.log.log("error", `internal error handling a request: ${(e as Error)?.stack ?? e}`);
          sock.destroy();
          return;
        }
        // A client that sends without reading fills our buffer: stop reading until it drains.
        if (!sock.write(frame(reply))) sock.pause();
      }
    });
    sock.on("drain", () => sock.resume());
    // The peer shut down its side: replies already written still go out, then we close (§2.1).
    sock.on("end", () => sock.end());
    sock.on("error", () => sock.destroy());
    sock.on("close", () => this.clients.delete(sock));
  }

  private closeSocket() {
    const server = this.server;
    this.server = undefined;
    server?.close();
    // Our own socket file goes with us (systemd owns an inherited one). Node unlinks a path it
    // bound when closing; unlink here too, but only while the path is still our socket.
    if (this.socketIno !== undefined) {
      try {
        if (statSync(this.o.socketPath).ino === this.socketIno) unlinkSync(this.o.socketPath);
      } catch {}
    }
  }

  /** Orderly shutdown (§1.9): stop accepting, drop clients, SIGTERM pollers, remove pidfile. */
  shutdown(exitCode = 0): Promise<number> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      const { log } = this.o;
      log.log("info", "dvm-polld shutdown requested");
      if (this.tick) clearInterval(this.tick);
      this.closeSocket();
      // LVM2 2.03.16 waited for clients to hang up; >= 2.03.37 shuts them down, as we do.
      for (const c of this.clients) c.destroy();
      this.clients.clear();
      await this.core.stopAll(this.o.shutdownGraceMs ?? 800);
      this.pid?.remove();
      log.log("info", "dvm-polld shutting down");
      this.resolveExit(exitCode);
      return exitCode;
    })();
    return this.stopping;
  }
}
