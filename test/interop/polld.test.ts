import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { PolldClient } from "../../src/polld/client.ts";
import { DIST, scratch, toolEnv } from "../helpers.ts";
import {
  actAs,
  type DaemonProcess,
  exitsWithin,
  fakePoller,
  killPollers,
  lvid,
  type PollerRecord,
  pollerRecords,
  spawnDaemon,
  waitFor,
} from "../polld/helpers.ts";

/**
 * Conformance: the same request sequence against LVM2's real lvmpolld
 * (`lvmpolld -f -s SOCK -p PIDFILE -B FAKE`; -B is how LVM2's own test suite
 * points it at a wrapper instead of the compiled-in /sbin/lvm) and against
 * dvm-polld with `--poller lvm`, both spawning the same recording fake. The
 * replies must be identical byte for byte, and so must every poller's argv and
 * environment (order included).
 *
 * Normalized, because they cannot be the same: pids in `dump`
 * (lvm_command_pid), and the order of records within a dump store (LVM2 lists
 * them in hash order, we in registration order; §6 #17).
 *
 * Every request of a run goes over one connection, as lvm talks (one per
 * command): LVM2 2.03.16's libdaemon reaps a finished client thread with
 * pthread_kill(thread, SIGTERM), and when that thread has not quite exited
 * the process-wide SIGTERM handler runs and the daemon shuts itself down. With
 * a fresh connection per request that race fires within a few dozen requests
 * (observed; the signal traced to lvmpolld's own reaper). dvm-polld has no
 * such race (tested with a connection per request in test/polld/).
 *
 * Not compared here, as they differ by design (lvmpolld.md): pipelined
 * requests in one write (LVM2 parses them as one message, we split at the first
 * terminator, §2.1/§6 #13); the silence watchdog (LVM2's period cannot go below
 * 60 s; tested with a short period in test/polld/exchanges.test.ts); the pid a
 * job that could not be exec'd shows in `dump` (LVM2 forked, so it has one; we
 * have none and show 0); stderr wording.
 */

const LVMPOLLD = ["/usr/sbin/lvmpolld", "/sbin/lvmpolld"].find((p) => existsSync(p));
const T = "\n##\n";
const LVID = "WFd2dU67S8Av29IcJCnYzqQirdfElnxzhCdzEh7EJrfCn9R1TIQjIj58weUZDre4";

const s = scratch("dvm-polld-conf-");
after(() => {
  killPollers(join(s.dir, "fake"));
  s.cleanup();
});

interface Outcome {
  replies: string[];
  pollers: PollerRecord[];
  exit: { code: number | null; signal: NodeJS.Signals | null };
  leftovers: string[];
}

/** The fake's recordings are cleared between runs; both daemons exec the same path. */
function resetFake(dir: string) {
  rmSync(dir, { recursive: true, force: true });
  spawnSync("mkdir", ["-p", dir]);
  return fakePoller(dir);
}

/** Sorted records, pids masked: what must match between the daemons. */
function normalizeDump(text: string): string {
  const masked = text.replace(/lvm_command_pid=\d+/g, "lvm_command_pid=PID");
  return masked.replace(
    /((?:poll|abort) \{\n)((?:\t[^\n]* \{\n(?:\t\t[^\n]*\n)*\t\}\n)*)/g,
    (_, head, body) => {
      const recs = body.match(/\t[^\n]* \{\n(?:\t\t[^\n]*\n)*\t\}\n/g) ?? [];
      return head + [...recs].sort().join("");
    },
  );
}

/** The value of `field` in the dump record of `id`. */
function dumpField(dump: string, id: string, field: string): string | undefined {
  const at = dump.indexOf(`\t${id} {\n`);
  if (at < 0) return undefined;
  return new RegExp(`\\n\\t\\t${field}=([^\\n]*)\\n`).exec(dump.slice(at))?.[1];
}

/** One request on the run's connection: the reply's bytes (its body and the terminator). */
const ask = async (c: PolldClient, req: string | Buffer) => {
  const text = typeof req === "string" ? req : req.toString("latin1");
  if (!text.endsWith(T)) throw new Error(`unterminated request ${JSON.stringify(text)}`);
  const body = typeof req === "string" ? req.slice(0, -T.length) : req.subarray(0, req.length - T.length);
  return `${(await c.requestRaw(body)).toString("utf8")}${T}`;
};

/** The scenario, on one connection; replies are collected in order. */
async function scenario(c: PolldClient, fakeDir: string): Promise<string[]> {
  const replies: string[] = [];
  const say = async (req: string | Buffer) => {
    const r = await ask(c, req);
    replies.push(r.startsWith("# Registered") ? normalizeDump(r) : r);
    return r;
  };
  const dump = () => ask(c, `request="dump"${T}`);
  /** Wait (through dump, which collects nothing) until a job's poller has finished. */
  const finished = (id: string, store = "poll") =>
    waitFor(
      async () => {
        const d = await dump();
        const part =
          store === "poll" ? d.slice(0, d.indexOf("# Registered abort")) : d.slice(d.indexOf("abort {"));
        return dumpField(part, id, "polling_finished") === "1";
      },
      8000,
      `job ${id} to finish`,
    );
  const reg = (type: string, id: string, lv: string, more = "", interval = '"1"') =>
    say(
      `request="${type}"\n${more}lvid="${id}"\nvgname="vg00"\nlvname="${lv}"\ninterval=${interval}\ncmdline="x"\n${T}`,
    );
  const progress = (id: string, more = "") => say(`request="progress_info"\n${more}lvid="${id}"\n${T}`);

  await say(`request = "hello"\n${T}`);
  await say(`request="dump"${T}`);
  // Outcomes: exit 0, exit 5, SIGKILL, SIGTERM.
  await reg("pvmove", lvid(1), "exit0", "", '"15"');
  await reg("convert", lvid(2), "exit5");
  await reg("merge_thin", lvid(3), "kill9");
  await reg("merge", lvid(4), "kill15");
  for (const i of [1, 2, 3, 4]) {
    await finished(lvid(i));
    await progress(lvid(i));
    await progress(lvid(i));
  }
  // The full-option abort, with sysdir and devicesfile; its progress in the abort store only.
  actAs(fakeDir, "pvmove0", "wait");
  await say(
    `request="pvmove"\ndevicesfile="system.devices"\nsysdir="/etc/lvm"\nhandle_missing_pvs=1\nabort=1\nlvid="${LVID}"\nvgname="vg00"\nlvname="pvmove0"\ninterval="0"\ncmdline="pvmove --abort"\n${T}`,
  );
  await progress(LVID, 'sysdir="/etc/lvm"\nabort=1\n');
  await progress(LVID, 'sysdir="/etc/lvm"\n');
  await progress(LVID, "abort=1\n");
  await progress(`/etc/lvm${LVID}`, "abort=1\n"); // the plain-concatenation quirk
  // A long job: duplicates, another operation, abort misuse, every validation failure.
  actAs(fakeDir, "long", "wait");
  await reg("pvmove", lvid(5), "long", 'handle_missing_pvs=1\ndevicesfile="my.devices"\n', '"5x"');
  await reg("pvmove", lvid(5), "long", "", '"99"');
  await reg("merge", lvid(5), "long");
  await reg("convert", lvid(6), "long", "abort=1\n");
  await reg("pvmove", lvid(7), "exit0", 'abort="1"\n', '" +3"');
  await reg("pvmove", lvid(8), "exit0", "abort=4294967296\n", '"3000000000"');
  await reg("pvmove", lvid(9), "exit0", "", "15");
  await reg("pvmove", lvid(9), "exit0", "", '"-1"');
  await reg("pvmove", lvid(9), "exit0", "", '"abc"');
  await reg("pvmove", lvid(9), "exit0", "", '""');
  await say(`request="pvmove"\nlvid="${lvid(9)}"\nvgname="vg"\ninterval="5"\n${T}`);
  await say(`request="pvmove"\nlvname="lv"\nvgname="vg"\ninterval="5"\n${T}`);
  await say(`request="pvmove"\nlvid="${lvid(9)}"\nlvname="lv"\ninterval="5"\n${T}`);
  await say(`request="progress_info"\n${T}`);
  await progress(lvid(404));
  for (const i of [7, 8]) await finished(lvid(i));
  await say(`request="dump"${T}`);
  // What parses how.
  for (const body of [
    'request="foo"',
    "",
    "garbage {{{",
    'request="foo"\nrequest="hello"',
    'request="hello"\nrequest="foo"',
    'request{}\nrequest="hello"',
    "request=hello",
    "request='hello'",
    'request="hello',
    'request="hello"\0garbage',
    'abort=0x10 request="hello"',
    `request="progress_info" lvid=8888${"8".repeat(40)}JJJ`,
    'request = "hello" # comment',
    'x { y = 1 } request = "dump"',
    'request=["hello", 1]',
  ])
    await say(Buffer.concat([Buffer.from(body), Buffer.from(T)]));
  // An uncollected result is evicted by a new registration.
  await reg("pvmove", lvid(10), "exit0");
  await finished(lvid(10));
  await reg("pvmove", lvid(10), "exit0");
  await finished(lvid(10));
  await say(`request="dump"${T}`);
  // Let the abort job finish; collect it.
  writeFileSync(join(fakeDir, "release"), "");
  await finished(`/etc/lvm${LVID}`, "abort");
  await finished(lvid(5));
  await progress(LVID, 'sysdir="/etc/lvm"\nabort=1\n');
  await progress(lvid(5));
  // One more running job, for shutdown.
  actAs(fakeDir, "last", "hold");
  await reg("convert", lvid(11), "last");
  await waitFor(() => pollerRecords(fakeDir).some((r) => r.argv.includes("vg00/last") && r.fds.length), 5000);
  return replies;
}

async function runAgainst(kind: "lvm2" | "dvm", fakeDir: string, badexec = false): Promise<Outcome> {
  const bin = resetFake(fakeDir);
  const exe = badexec ? join(fakeDir, "badexec") : bin;
  if (badexec) writeFileSync(exe, "#!/nonexistent/interpreter\n", { mode: 0o755 });
  const sock = join(s.dir, `${kind}.socket`);
  const pid = join(s.dir, `${kind}.pid`);
  const args = ["-f", "-s", sock, "-p", pid, "-B", exe];
  const env = { ...toolEnv(), DVM_CONFORMANCE: "1" };
  const d: DaemonProcess =
    kind === "lvm2"
      ? spawnDaemon(args, env, [LVMPOLLD!])
      : spawnDaemon([...args, "--poller", "lvm"], env, [process.execPath, join(DIST, "dvm-polld.cjs")]);
  const c = await waitFor(
    () => PolldClient.connect(sock).catch(() => undefined),
    10000,
    () => `${kind} to serve (stderr: ${d.stderr()})`,
  );
  let replies: string[];
  if (badexec) {
    replies = [
      await ask(c, `request="pvmove"\nlvid="${LVID}"\nvgname="vg"\nlvname="lv"\ninterval="1"\n${T}`),
    ];
    await waitFor(
      async () => dumpField(await ask(c, `request="dump"${T}`), LVID, "polling_finished") === "1",
    );
    replies.push(await ask(c, `request="progress_info"\nlvid="${LVID}"\n${T}`));
  } else replies = await scenario(c, fakeDir);
  // LVM2 2.03.16 does not finish shutting down while a client is connected (§1.9): hang up first.
  c.close();
  d.child.kill("SIGTERM");
  if (!(await exitsWithin(d, 5000))) d.child.kill("SIGKILL");
  const exit = await d.exit;
  if (!badexec)
    await waitFor(
      () => pollerRecords(fakeDir).find((r) => r.argv.includes("vg00/last"))?.term,
      3000,
      "SIGTERM",
    );
  const leftovers = [sock, pid].filter((p) => existsSync(p)).map((p) => p.slice(s.dir.length + 1));
  return { replies, pollers: pollerRecords(fakeDir), exit, leftovers };
}

describe("dvm-polld --poller lvm against LVM2's lvmpolld", { skip: !LVMPOLLD }, () => {
  let lvm2: Outcome;
  let dvm: Outcome;
  before(async () => {
    // One after the other on one fake path, so argv[0] is the same for both.
    const fake = join(s.dir, "fake");
    lvm2 = await runAgainst("lvm2", fake);
    dvm = await runAgainst("dvm", fake);
  });

  test("the same replies, byte for byte", () => {
    assert.ok(lvm2.replies.length > 50);
    for (let i = 0; i < lvm2.replies.length; i++)
      assert.equal(dvm.replies[i], lvm2.replies[i], `reply #${i + 1}`);
    assert.equal(dvm.replies.length, lvm2.replies.length);
  });

  test("the same pollers, each with the same argv and environment (variable order included)", () => {
    // LVM2 forks from one thread per job, so spawn order (and pid order) is not registration order.
    const key = (p: PollerRecord) => JSON.stringify([p.argv, p.env]);
    const a = [...lvm2.pollers].sort((x, y) => key(x).localeCompare(key(y)));
    const b = [...dvm.pollers].sort((x, y) => key(x).localeCompare(key(y)));
    assert.equal(b.length, a.length);
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual(b[i]!.argv, a[i]!.argv, `poller #${i + 1} argv`);
      assert.deepEqual(b[i]!.env, a[i]!.env, `poller #${i + 1} env`);
      // No fd leaks into pollers beyond stdio (dash keeps its script on fd >= 10).
      assert.deepEqual(
        b[i]!.fds.filter((f) => f > 2 && f < 10),
        a[i]!.fds.filter((f) => f > 2 && f < 10),
      );
    }
  });

  test("SIGTERM: both exit 0, signal the running poller, remove socket and pidfile", () => {
    assert.deepEqual(lvm2.exit, { code: 0, signal: null });
    assert.deepEqual(dvm.exit, { code: 0, signal: null });
    assert.deepEqual(dvm.leftovers, lvm2.leftovers);
    assert.deepEqual(lvm2.leftovers, []);
  });

  test("a poller that cannot be exec'd: retcode 101 from both", async () => {
    const fake = join(s.dir, "fake");
    const a = await runAgainst("lvm2", fake, true);
    const b = await runAgainst("dvm", fake, true);
    assert.deepEqual(b.replies, a.replies);
    assert.equal(a.replies[1], `response = "finished"\nreason = "retcode"\nvalue = 101\n${T}`);
  });
});

test("lvmpolld is installed for the conformance tests", { skip: !!LVMPOLLD }, () => {
  // Only reached without lvmpolld: loud outside CI, a failure in CI (the lvm2 package ships it).
  const msg = "lvmpolld not found (/usr/sbin/lvmpolld): the LVM2 conformance tests of dvm-polld did not run";
  if (process.env.CI === "true") assert.fail(msg);
  console.error(`\n!!! SKIPPED ${msg}\n`);
});
