import assert from "node:assert/strict";
import { test } from "node:test";
import { DvmError } from "../../src/lib/errors.ts";
import { DEFAULT_PIDFILE, DEFAULT_SOCKET, resolveSettings } from "../../src/polld/main.ts";
import { parsePolldArgs, parseTimeoutSeconds } from "../../src/polld/options.ts";

/** lvmpolld's command line as getopt_long reads it (§1.3), and the settings it resolves to (§1.2). */

const values = (argv: string[]) => Object.fromEntries(parsePolldArgs(argv).values);
const usage = (argv: string[]) =>
  assert.throws(
    () => parsePolldArgs(argv),
    (e) => e instanceof DvmError && e.exitCode === 1,
    argv.join(" "),
  );

test("short options: separate, attached and clustered values", () => {
  assert.deepEqual(values(["-f", "-t", "60", "-s", "/a"]), { foreground: "", timeout: "60", socket: "/a" });
  assert.deepEqual(values(["-ft60", "-l", "all"]), { foreground: "", timeout: "60", log: "all" });
  assert.deepEqual(values(["-fs/a"]), { foreground: "", socket: "/a" });
});

test("long options: --name value, --name=value, unique prefixes", () => {
  assert.deepEqual(values(["--timeout", "5", "--socket=/s", "--fore", "--bin", "/b"]), {
    timeout: "5",
    socket: "/s",
    foreground: "",
    binary: "/b",
  });
});

test("errors: unknown, ambiguous, missing argument, argument to a flag, stray word", () => {
  usage(["-x"]);
  usage(["--nope"]);
  usage(["--s"]); // socket, silence-timeout
  usage(["-t"]);
  usage(["--pidfile"]);
  usage(["--foreground=1"]);
  usage(["stray"]);
});

test("server vs client options; -- passes the rest on", () => {
  assert.equal(parsePolldArgs(["--dump", "-s", "/x"]).server, false);
  assert.equal(parsePolldArgs(["--dump", "-p", "/x"]).server, true);
  assert.equal(parsePolldArgs(["--dump", "--dump"]).dumpCount, 2);
  assert.deepEqual(parsePolldArgs(["-f", "--", "--sim-dir", "/s", "-v"]).extra, ["--sim-dir", "/s", "-v"]);
});

test("-t: strtoul over the whole string, below UINT_MAX", () => {
  assert.equal(parseTimeoutSeconds("60"), 60);
  assert.equal(parseTimeoutSeconds("0"), 0);
  assert.equal(parseTimeoutSeconds(""), 0);
  assert.equal(parseTimeoutSeconds(" +7"), 7);
  assert.equal(parseTimeoutSeconds("-0"), 0);
  assert.equal(parseTimeoutSeconds("4294967294"), 4294967294);
  for (const bad of ["abc", "5x", "-1", "4294967295", "99999999999999999999", " "])
    assert.equal(parseTimeoutSeconds(bad), undefined, bad);
});

test("settings: -s over LVM_LVMPOLLD_SOCKET over the default; likewise the pidfile", () => {
  const s = (argv: string[], env: NodeJS.ProcessEnv = {}) => resolveSettings(parsePolldArgs(argv), env);
  assert.equal(s([]).socketPath, DEFAULT_SOCKET);
  assert.equal(s([]).pidfile, DEFAULT_PIDFILE);
  assert.equal(s([], { LVM_LVMPOLLD_SOCKET: "/e.sock" }).socketPath, "/e.sock");
  assert.equal(s(["-s", "/o.sock"], { LVM_LVMPOLLD_SOCKET: "/e.sock" }).socketPath, "/o.sock");
  assert.equal(s([], { LVM_LVMPOLLD_PIDFILE: "/e.pid" }).pidfile, "/e.pid");
  assert.equal(s(["-p", "/o.pid"], { LVM_LVMPOLLD_PIDFILE: "/e.pid" }).pidfile, "/o.pid");
});

test("settings: the poller, its defaults and extra arguments", () => {
  const s = (argv: string[], env: NodeJS.ProcessEnv = {}) => resolveSettings(parsePolldArgs(argv), env);
  assert.equal(s([]).poller.kind, "dvm");
  assert.equal(s([]).idleTimeoutS, 60);
  assert.equal(s(["--poller", "lvm"]).idleTimeoutS, 0);
  assert.equal(s(["--poller", "lvm"]).poller.binary, "/sbin/lvm");
  assert.equal(s([], { DVM_POLLD_POLLER: "lvm" }).poller.kind, "lvm");
  assert.equal(s(["-t", "0"]).idleTimeoutS, 0);
  assert.equal(s(["-l", "cmd"]).poller.verbose, true);
  assert.deepEqual(s(["-B", "/p", "-c", "/c.json", "--", "--sim-dir", "/s"]).poller, {
    kind: "dvm",
    binary: "/p",
    verbose: false,
    extraArgs: ["-c", "/c.json", "--sim-dir", "/s"],
  });
  assert.equal(s(["--silence-timeout", "2"]).silencePeriodMs, 2000);
  for (const bad of [
    ["--poller", "x"],
    ["-t", "x"],
    ["--poller", "lvm", "--", "-v"],
    ["--silence-timeout", "1s"],
  ])
    assert.throws(() => s(bad), DvmError, bad.join(" "));
});
