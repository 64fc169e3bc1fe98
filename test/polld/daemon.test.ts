import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { formatRequest } from "../../src/polld/protocol.ts";
import { copyTool, DIST, run, scratch, toolEnv } from "../helpers.ts";
import {
  type DaemonProcess,
  exchange,
  exitsWithin,
  fakePoller,
  killPollers,
  lvid,
  pollerRecords,
  rawExchange,
  sleep,
  spawnDaemon,
  waitFor,
} from "./helpers.ts";

/**
 * dvm-polld as a process (dist/dvm-polld.cjs, so `npm run build` first):
 * dedup under load, idle exit, hostile input, signals, socket activation,
 * pidfile and socket conflicts, backgrounding, the `dvm polld` wrapper.
 */

const T = "\n##\n";
const HELLO_OK = `response = "OK"\nprotocol = "lvmpolld"\nversion = 1\n${T}`;

interface Setup {
  dir: string;
  sock: string;
  pid: string;
  bin: string;
  /** Server args: -f, socket, pidfile, fake poller. */
  args: (...more: string[]) => string[];
}

const scratches: ReturnType<typeof scratch>[] = [];
function setup(): Setup {
  const s = scratch("dvm-polld-d-");
  scratches.push(s);
  const bin = fakePoller(s.dir);
  const sock = join(s.dir, "polld.socket");
  const pid = join(s.dir, "polld.pid");
  return {
    dir: s.dir,
    sock,
    pid,
    bin,
    args: (...more) => ["-f", "-s", sock, "-p", pid, "-B", bin, ...more],
  };
}
after(() => {
  for (const s of scratches) {
    killPollers(s.dir);
    s.cleanup();
  }
});

const register = (type: string, id: string, lv: string, interval = "5") =>
  formatRequest([
    ["request", type],
    ["lvid", id],
    ["vgname", "vg"],
    ["lvname", lv],
    ["interval", interval],
  ]) + T;

/** Start a daemon and wait until it answers hello. */
async function started(args: string[], sock: string, env?: NodeJS.ProcessEnv): Promise<DaemonProcess> {
  const d = spawnDaemon(args, env);
  await waitFor(
    async () =>
      existsSync(sock) && (await exchange(sock, `request = "hello"\n${T}`).catch(() => "")) === HELLO_OK,
    8000,
    () => `the daemon on ${sock} (stderr: ${d.stderr()})`,
  );
  return d;
}

async function stop(d: DaemonProcess) {
  d.child.kill("SIGTERM");
  if (!(await exitsWithin(d, 3000))) d.child.kill("SIGKILL");
}

/** Open a connection and keep it (idle) until closed. */
const openClient = (path: string) =>
  new Promise<Socket>((resolve, reject) => {
    const c = connect(path);
    c.once("connect", () => resolve(c));
    c.once("error", reject);
  });

describe("command line", () => {
  const polld = (...a: string[]) => run("dvm-polld", a);
  test("--help and -h print the usage, exit 0", () => {
    for (const h of ["--help", "-h"]) {
      const r = polld(h);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^Usage: dvm-polld /);
    }
  });
  test("--version and -V print the version, exit 0", () => {
    const version = JSON.parse(readFileSync(join(DIST, "../package.json"), "utf8")).version;
    for (const v of ["--version", "-V"]) assert.equal(polld(v).stdout, `dvm-polld ${version}\n`);
  });
  test("an unknown option, a missing argument, a bad timeout: exit 1", () => {
    for (const a of [
      ["--no-such"],
      ["-x"],
      ["-s"],
      ["-t", "abc"],
      ["-t", "-1"],
      ["-t", "4294967295"],
      ["stray"],
    ]) {
      const r = polld(...a);
      assert.equal(r.status, 1, a.join(" "));
      assert.match(r.stderr, /^dvm-polld: error: /);
    }
  });
  test("--dump with server options, or twice: exit 1", () => {
    assert.match(polld("--dump", "-f").stderr, /Invalid combination of client and server parameters/);
    assert.match(polld("--dump", "--dump").stderr, /Action already requested: dump/);
  });
  test("--dump without a daemon: the message, exit 3", () => {
    const s = setup();
    const r = polld("--dump", "-s", s.sock);
    assert.equal(r.status, 3);
    assert.equal(r.stderr, "Failed to establish connection with lvmpolld.\n");
  });
});

describe("dedup under load", () => {
  test("200 concurrent clients asking to poll one LV start exactly one poller", async () => {
    const s = setup();
    const d = await started(s.args("-t", "0"), s.sock);
    try {
      const id = lvid(1);
      const replies = await Promise.all(
        Array.from({ length: 200 }, async () => {
          // Each as lvm does it: hello, then the registration, on one connection.
          const c = await openClient(s.sock);
          const got: Buffer[] = [];
          const reply = () =>
            new Promise<string>((resolve) => {
              const on = (b: Buffer) => {
                got.push(b);
                const all = Buffer.concat(got).toString();
                if (all.endsWith(T)) {
                  c.off("data", on);
                  got.length = 0;
                  resolve(all);
                }
              };
              c.on("data", on);
            });
          c.write(`request = "hello"\n${T}`);
          assert.equal(await reply(), HELLO_OK);
          c.write(register("pvmove", id, "hold"));
          const r = await reply();
          c.destroy();
          return r;
        }),
      );
      assert.deepEqual(new Set(replies), new Set([`response = "OK"\n${T}`]));
      await waitFor(() => pollerRecords(s.dir).length, 5000, "the poller");
      await sleep(300);
      assert.equal(pollerRecords(s.dir).length, 1);
      assert.match(await exchange(s.sock, `request="dump"${T}`), /\n\t\tinit_requests_count=200\n/);
    } finally {
      await stop(d);
    }
  });

  test("50 LVs start 50 pollers; SIGTERM with clients connected: clean exit, every poller signalled", async () => {
    const s = setup();
    const d = await started(s.args("-t", "0"), s.sock);
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => exchange(s.sock, register("pvmove", lvid(100 + i), "hold"))),
    );
    assert.deepEqual(new Set(replies), new Set([`response = "OK"\n${T}`]));
    await waitFor(() => pollerRecords(s.dir).length === 50, 10000, "50 pollers");
    const dump = await exchange(s.sock, `request="dump"${T}`);
    assert.equal(dump.match(/init_requests_count=1\n/g)?.length, 50);
    // Idle clients, one with half a request sent: the daemon must not wait for them.
    const idle = await openClient(s.sock);
    const half = await openClient(s.sock);
    half.write('request="dum');
    const t0 = Date.now();
    d.child.kill("SIGTERM");
    assert.ok(await exitsWithin(d, 2000), "exited within 2 s");
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
    assert.deepEqual(await d.exit, { code: 0, signal: null });
    assert.equal(existsSync(s.sock), false, "socket removed");
    assert.equal(existsSync(s.pid), false, "pidfile removed");
    await waitFor(() => pollerRecords(s.dir).every((r) => r.term), 3000, "every poller to get SIGTERM");
    idle.destroy();
    half.destroy();
  });
});

describe("idle shutdown", () => {
  test("only with no job running and no client connected", async () => {
    const quiet = setup();
    const client = setup();
    const job = setup();
    const never = setup();
    const [dq, dc, dj, dn] = await Promise.all([
      started(quiet.args("-t", "1", "-l", "info"), quiet.sock),
      started(client.args("-t", "1"), client.sock),
      started(job.args("-t", "1"), job.sock),
      started(never.args("-t", "0"), never.sock),
    ]);
    const c = await openClient(client.sock);
    assert.equal(await exchange(job.sock, register("pvmove", lvid(1), "sleep2.5")), `response = "OK"\n${T}`);
    const t0 = Date.now();
    // Nothing to do: gone within about two ticks, socket and pidfile removed.
    assert.ok(await exitsWithin(dq, 3000), "the idle daemon exits");
    assert.deepEqual(await dq.exit, { code: 0, signal: null });
    assert.match(dq.stderr(), /I: Inactive for 1 seconds\. Exiting\./);
    assert.equal(existsSync(quiet.sock) || existsSync(quiet.pid), false);
    // A connected client and a running job keep their daemons up.
    await sleep(Math.max(0, 2000 - (Date.now() - t0)));
    assert.equal(dc.child.exitCode, null, "an open connection keeps the daemon");
    assert.equal(dj.child.exitCode, null, "a running job keeps the daemon");
    c.destroy();
    assert.ok(await exitsWithin(dc, 3000), "exits once the client has gone");
    assert.ok(await exitsWithin(dj, 4000), "exits once the job has ended");
    assert.ok(Date.now() - t0 >= 2500, "not before the job ended");
    // -t 0: never.
    assert.equal(dn.child.exitCode, null);
    await stop(dn);
  });
});

describe("hostile input", () => {
  let s: Setup;
  let d: DaemonProcess;
  before(async () => {
    s = setup();
    d = await started(s.args("-t", "0"), s.sock);
  });
  after(() => stop(d));
  const alive = async () => assert.equal(await exchange(s.sock, `request = "hello"\n${T}`), HELLO_OK);
  const notImplemented = `response = "invalid"\nreason = "request not implemented"\n${T}`;

  test("garbage gets the 'not implemented' reply", async () => {
    for (const g of ["garbage {{{", "\0\0\0", '"', "a=[1,", 'request="hello', "= = =", "\xff\xfe{}"])
      assert.equal(await exchange(s.sock, g + T), notImplemented, JSON.stringify(g));
    const random = Buffer.from(
      Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256).filter((b) => b !== 35),
    );
    assert.equal(
      (await rawExchange(s.sock, Buffer.concat([random, Buffer.from(T)]))).toString(),
      notImplemented,
    );
    assert.match(d.stderr(), /error parsing request:/);
    await alive();
  });

  test("an oversized request closes that connection only", async () => {
    const c = await openClient(s.sock);
    const closed = new Promise<void>((r) => c.on("close", () => r()));
    c.on("error", () => {});
    const chunk = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 17; i++) c.write(chunk);
    await alive(); // others are served meanwhile
    await closed;
    await alive();
  });

  test("half-sent requests: abandoned or left hanging", async () => {
    const c1 = await openClient(s.sock);
    c1.write('request="pvmove"\nlvid="x');
    c1.destroy();
    const c2 = await openClient(s.sock);
    c2.write('request="hel');
    await alive();
    c2.end(); // EOF in the middle of a message: the connection just ends
    await alive();
  });

  test("a request then a half-close still gets its reply; pipelined requests get theirs in order", async () => {
    assert.match(await exchange(s.sock, `request="dump"${T}`, true), /^# Registered polling operations/);
    const r = await new Promise<string>((resolve) => {
      const c = connect(s.sock, () => c.end(`request="foo"${T}request = "hello"\n${T}`));
      let got = "";
      c.on("data", (b) => {
        got += b;
      });
      c.on("close", () => resolve(got));
    });
    assert.equal(r, notImplemented + HELLO_OK);
  });
});

describe("start-up and shutdown", () => {
  test("socket mode 0600, pidfile holds the pid; a second daemon: exit 13 (pidfile) or 1 (socket in use)", async () => {
    const s = setup();
    const d = await started(s.args(), s.sock);
    try {
      assert.equal(statSync(s.sock).mode & 0o777, 0o600);
      assert.equal(readFileSync(s.pid, "utf8"), `${d.child.pid}\n`);
      const again = run("dvm-polld", s.args());
      assert.equal(again.status, 13, again.stderr);
      assert.match(again.stderr, /Failed to acquire lock on .*\. Already running\?/);
      const other = run("dvm-polld", ["-f", "-s", s.sock, "-p", join(s.dir, "other.pid"), "-B", s.bin]);
      assert.equal(other.status, 1, other.stderr);
      assert.match(other.stderr, /Socket .* already in use/);
      assert.equal(existsSync(join(s.dir, "other.pid")), false, "the failed daemon removed its pidfile");
    } finally {
      await stop(d);
    }
  });

  test("without koffi (no fcntl lock) the daemon still runs, and warns that its pidfile guards nothing", async () => {
    const s = setup();
    // dist/dvm-polld.cjs and its bundle alone, out of reach of node_modules/koffi.
    const bare = join(s.dir, "bare");
    copyTool("dvm-polld", bare);
    const d = spawnDaemon(s.args("-t", "1"), toolEnv(), [process.execPath, join(bare, "dvm-polld.cjs")]);
    assert.ok(await exitsWithin(d, 8000), d.stderr());
    assert.match(
      d.stderr(),
      /W: .*polld\.pid: not locked, a second daemon will not be refused \(no FFI for fcntl: .*koffi/,
    );
  });

  test("a stale socket is replaced; a non-socket in the way fails", async () => {
    const s = setup();
    // A socket file nobody listens on.
    const srv = createServer().listen(s.sock);
    await new Promise((r) => srv.once("listening", r));
    renameSync(s.sock, `${s.sock}.keep`);
    srv.close();
    renameSync(`${s.sock}.keep`, s.sock);
    // Owner-only, or it is "unrecognised permissions" (as LVM2 would say).
    chmodSync(s.sock, 0o600);
    const d = await started(s.args(), s.sock);
    assert.match(d.stderr(), /removing stale socket/);
    await stop(d);
    writeFileSync(s.sock, "not a socket");
    const r = run("dvm-polld", s.args());
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not a socket/);
  });

  test("an unusable poll command fails the start (exit 1), leaving nothing behind", () => {
    const s = setup();
    const r = run("dvm-polld", ["-f", "-s", s.sock, "-p", s.pid, "-B", join(s.dir, "missing")]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot execute the poll command/);
    assert.equal(existsSync(s.sock) || existsSync(s.pid), false);
  });

  test("a socket path too long for sun_path: exit 1", () => {
    const s = setup();
    const long = join(s.dir, `${"x".repeat(120)}.socket`);
    const r = run("dvm-polld", ["-f", "-s", long, "-p", s.pid, "-B", s.bin]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /daemon socket path too long/);
    assert.equal(existsSync(s.pid), false);
  });

  test("SIGINT, SIGHUP, SIGQUIT also stop it cleanly; a poller ignoring SIGTERM does not hold it up", async () => {
    for (const sig of ["SIGINT", "SIGHUP", "SIGQUIT"] as const) {
      const s = setup();
      const d = await started(s.args(), s.sock);
      if (sig === "SIGQUIT") {
        await exchange(s.sock, register("convert", lvid(1), "stubborn"));
        await waitFor(() => pollerRecords(s.dir).length, 3000, "the poller");
      }
      d.child.kill(sig);
      assert.ok(await exitsWithin(d, 2500), `${sig}: exited`);
      assert.deepEqual(await d.exit, { code: 0, signal: null });
      assert.equal(existsSync(s.sock) || existsSync(s.pid), false);
    }
  });

  test("in the background (no -f): the launcher exits 0 once it serves; the pidfile holds the daemon's pid", async () => {
    const s = setup();
    const r = run("dvm-polld", ["-s", s.sock, "-p", s.pid, "-B", s.bin, "-t", "0"]);
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(readFileSync(s.pid, "utf8"));
    assert.ok(pid > 0);
    assert.equal(await exchange(s.sock, `request = "hello"\n${T}`), HELLO_OK);
    process.kill(pid, "SIGTERM");
    await waitFor(() => !existsSync(s.pid) && !existsSync(s.sock), 3000, "the daemon to stop");
    // A failing background start reports the failure.
    const bad = run("dvm-polld", ["-s", s.sock, "-p", s.pid, "-B", join(s.dir, "missing")]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /cannot execute the poll command/);
  });

  test("--dump prints the daemon's state, two spaces in front of every line", async () => {
    const s = setup();
    const d = await started(s.args(), s.sock);
    try {
      const r = run("dvm-polld", ["--dump", "-s", s.sock]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        r.stdout,
        "  # Registered polling operations\n  \n  poll {\n  }\n  \n  # Registered abort operations\n  \n  abort {\n  }\n",
      );
    } finally {
      await stop(d);
    }
  });
});

describe("systemd socket activation", () => {
  /**
   * A listening socket at `path` as systemd would hand it over: its fd for the
   * child's fd 3. Our copy is closed once the child has it (without Node
   * unlinking the file, as it would when closing a socket it bound).
   */
  async function listening(path: string) {
    const srv = createServer().listen(path);
    await new Promise((r) => srv.once("listening", r));
    const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
    const release = () => {
      renameSync(path, `${path}.keep`);
      srv.close();
      renameSync(`${path}.keep`, path);
    };
    return { fd, release };
  }
  // LISTEN_PID must be the daemon's own pid: a shell sets it to its pid, then execs node.
  const viaShell = [
    "sh",
    "-c",
    'LISTEN_PID=$$ exec "$0" "$@"',
    process.execPath,
    join(DIST, "dvm-polld.cjs"),
  ];
  const activationEnv = () => ({ ...toolEnv(), SD_ACTIVATION: "1", LISTEN_FDS: "1" });

  test("serves on the inherited fd 3; no socket of its own, which stays after exit; pollers get neither fd 3 nor LISTEN_*", async () => {
    const s = setup();
    const sock = await listening(s.sock);
    const d = spawnDaemon(s.args("-t", "0", "--poller", "lvm"), activationEnv(), viaShell, sock.fd);
    sock.release();
    try {
      await waitFor(
        async () => (await exchange(s.sock, `request = "hello"\n${T}`).catch(() => "")) === HELLO_OK,
        8000,
        () => `the activated daemon (stderr: ${d.stderr()})`,
      );
      assert.doesNotMatch(d.stderr(), /\[D\] creating/);
      await exchange(s.sock, register("pvmove", lvid(1), "hold"));
      const rec = await waitFor(() => pollerRecords(s.dir).find((r) => r.fds.length), 3000, "the poller");
      assert.ok(!rec.fds.includes(3), `fds ${rec.fds}`);
      assert.deepEqual(
        rec.env.filter((e) => /^(SD_ACTIVATION|LISTEN_PID|LISTEN_FDS)=/.test(e)),
        [],
      );
      assert.ok(rec.env.includes("LC_ALL=C"));
    } finally {
      await stop(d);
    }
    assert.equal(existsSync(s.sock), true, "systemd's socket file is left alone");
  });

  test("in the background too: the launcher hands fd 3 to the daemon", async () => {
    const s = setup();
    const sock = await listening(s.sock);
    const launcher = spawnDaemon(
      ["-s", s.sock, "-p", s.pid, "-B", s.bin, "-t", "0"],
      activationEnv(),
      viaShell,
      sock.fd,
    );
    sock.release();
    assert.deepEqual(await launcher.exit, { code: 0, signal: null }, launcher.stderr());
    assert.equal(await exchange(s.sock, `request = "hello"\n${T}`), HELLO_OK);
    const pid = Number(readFileSync(s.pid, "utf8"));
    process.kill(pid, "SIGTERM");
    await waitFor(() => !existsSync(s.pid), 3000, "the daemon to stop");
    assert.equal(existsSync(s.sock), true);
  });

  test("a LISTEN_PID that is not ours: the daemon makes its own socket", async () => {
    const s = setup();
    const env = { ...activationEnv(), LISTEN_PID: "1" };
    const d = await started(s.args(), s.sock, env);
    assert.match(d.stderr(), /\[D\] creating/);
    await stop(d);
  });
});

describe("dvm polld", () => {
  test("maps --foreground --socket --idle-timeout onto the daemon", async () => {
    const s = setup();
    // dvm-poll is looked up beside the bundle, then on PATH: the fake stands in on PATH.
    const bindir = join(s.dir, "bin");
    mkdirSync(bindir);
    fakePoller(bindir, "dvm-poll");
    const env = { ...toolEnv(), PATH: `${bindir}:${process.env.PATH}`, LVM_LVMPOLLD_PIDFILE: s.pid };
    const d = spawnDaemon(["polld", "--foreground", "--socket", s.sock, "--idle-timeout", "1"], env, [
      process.execPath,
      join(DIST, "dvm.cjs"),
    ]);
    await waitFor(
      async () => (await exchange(s.sock, `request = "hello"\n${T}`).catch(() => "")) === HELLO_OK,
      8000,
      () => `dvm polld (stderr: ${d.stderr()})`,
    );
    assert.ok(await exitsWithin(d, 4000), "idle exit after a second");
    assert.deepEqual(await d.exit, { code: 0, signal: null });
    const bad = run("dvm", ["polld", "--idle-timeout", "soon"]);
    assert.equal(bad.status, 1);
  });
});
