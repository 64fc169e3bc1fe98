import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pollArgv, pollEnv } from "../../src/polld/command.ts";
import { PollCore, scanUnsigned, silenceTimeoutS } from "../../src/polld/core.ts";
import { memoryLogger } from "../../src/polld/log.ts";
import { formatRequest, type RequestField } from "../../src/polld/protocol.ts";
import { scratch } from "../helpers.ts";
import { actAs, fakePoller, killPollers, lvid, pollerRecords, waitFor } from "./helpers.ts";

/** Job registration, dedup, the two stores and result collection (lvmpolld.md §2.6–§2.8, §3). */

describe("PollCore", () => {
  let s: ReturnType<typeof scratch>;
  let core: PollCore;
  let log: ReturnType<typeof memoryLogger>;
  let bin: string;
  before(() => {
    s = scratch("dvm-polld-core-");
    bin = fakePoller(s.dir);
    log = memoryLogger();
    core = new PollCore({
      poller: { kind: "dvm", binary: bin, verbose: false, extraArgs: ["--sim-dir", "/x"] },
      log,
      env: () => ({ PATH: process.env.PATH, LVM_SYSTEM_DIR: "/daemon/own", KEEP: "1" }),
    });
  });
  after(async () => {
    await core.stopAll(500);
    killPollers(s.dir);
    s.cleanup();
  });
  const req = (...f: RequestField[]) => core.handle(Buffer.from(formatRequest(f)));
  const poll = (type: string, id: string, lv: string, more: RequestField[] = []) =>
    req(["request", type], ...more, ["lvid", id], ["vgname", "vg"], ["lvname", lv], ["interval", "5"]);
  const progress = (id: string, more: RequestField[] = []) =>
    req(["request", "progress_info"], ...more, ["lvid", id]);
  const recordsOf = (pid: number) => pollerRecords(s.dir).filter((r) => r.pid === pid);

  test("a duplicate registration counts and starts nothing; its new interval is ignored", async () => {
    actAs(s.dir, "dup", "hold");
    assert.equal(poll("pvmove", lvid(1), "dup"), 'response = "OK"\n');
    assert.equal(
      req(["request", "pvmove"], ["lvid", lvid(1)], ["vgname", "vg"], ["lvname", "dup"], ["interval", "99"]),
      'response = "OK"\n',
    );
    const job = core.stores.poll.get(lvid(1))!;
    assert.equal(job.initRequests, 2);
    assert.equal(job.interval, "5");
    assert.match(core.dump(), /init_requests_count=2/);
    await waitFor(() => recordsOf(job.pid).length, 3000, "the poller");
    assert.equal(pollerRecords(s.dir).filter((r) => r.argv.at(-1) === "vg/dup").length, 1);
  });

  test("dvm-poll's argv; the environment swaps LVM_SYSTEM_DIR for the request's sysdir", async () => {
    actAs(s.dir, "argv", "hold");
    poll("merge", lvid(2), "argv", [
      ["devicesfile", "my.devices"],
      ["sysdir", "/etc/lvmtest"],
      ["handle_missing_pvs", 1],
    ]);
    const job = core.stores.poll.get(`/etc/lvmtest${lvid(2)}`)!;
    const rec = await waitFor(() => recordsOf(job.pid)[0], 3000, "the poller");
    assert.deepEqual(rec.argv, [
      bin,
      "--type",
      "merge",
      "--interval",
      "5",
      "--handle-missing-pvs",
      "--devicesfile",
      "my.devices",
      "--lvid",
      lvid(2),
      "--sim-dir",
      "/x",
      "vg/argv",
    ]);
    assert.deepEqual(rec.env, [`PATH=${process.env.PATH}`, "KEEP=1", "LVM_SYSTEM_DIR=/etc/lvmtest"]);
  });

  test("another sysdir is another job; another operation on the same one is refused", () => {
    actAs(s.dir, "sys", "hold");
    assert.equal(poll("convert", lvid(3), "sys"), 'response = "OK"\n');
    assert.equal(poll("convert", lvid(3), "sys", [["sysdir", "/other"]]), 'response = "OK"\n');
    assert.equal(core.stores.poll.get(lvid(3))!.initRequests, 1);
    assert.equal(core.stores.poll.get(`/other${lvid(3)}`)!.initRequests, 1);
    assert.equal(
      poll("merge", lvid(3), "sys"),
      'response = "invalid"\nreason = "Different operation on LV already in progress"\n',
    );
    assert.ok(log.lines.some((l) => l.includes("poll operation type mismatch")));
  });

  test("the abort store is separate; abort must be an integer", () => {
    actAs(s.dir, "ab", "hold");
    assert.equal(poll("pvmove", lvid(4), "ab", [["abort", 1]]), 'response = "OK"\n');
    assert.equal(core.stores.abort.has(lvid(4)), true);
    assert.equal(core.stores.poll.has(lvid(4)), false);
    assert.equal(progress(lvid(4)), 'response = "not_found"\n');
    assert.equal(progress(lvid(4), [["abort", 1]]), 'response = "in_progress"\n');
    // abort="1" is a string: not an abort (observed on 2.03.16).
    assert.equal(poll("pvmove", lvid(4), "ab", [["abort", "1"]]), 'response = "OK"\n');
    assert.equal(core.stores.poll.has(lvid(4)), true);
    // The low 32 bits decide, as lvmpolld stores abort in an unsigned.
    assert.equal(poll("convert", lvid(5), "ab", [["abort", 4294967296n]]), 'response = "OK"\n');
  });

  test("a finished, uncollected result is evicted by a new registration", async () => {
    assert.equal(poll("pvmove", lvid(6), "exit3"), 'response = "OK"\n');
    const first = core.stores.poll.get(lvid(6))!;
    await waitFor(() => first.finished, 3000, "the first poller");
    assert.equal(poll("pvmove", lvid(6), "exit0"), 'response = "OK"\n');
    const second = core.stores.poll.get(lvid(6))!;
    assert.notEqual(second, first);
    assert.ok(
      log.lines.some((l) => l === `W: LVMPOLLD: Force removal of uncollected info for LV ${lvid(6)}`),
    );
    await waitFor(() => second.finished, 3000, "the second poller");
    assert.equal(progress(lvid(6)), 'response = "finished"\nreason = "retcode"\nvalue = 0\n');
  });

  test("escaped names arrive unescaped in argv and dump", async () => {
    req(["request", "pvmove"], ["lvid", lvid(7)], ["vgname", 'v"g'], ["lvname", "a\\b"], ["interval", "1"]);
    const job = core.stores.poll.get(lvid(7))!;
    assert.equal(job.lvname, 'v"g/a\\b');
    assert.match(core.dump(), /lvname="v"g\/a\\b"/);
    const rec = await waitFor(() => recordsOf(job.pid)[0], 3000, "the poller");
    assert.equal(rec.argv.at(-1), 'v"g/a\\b');
  });

  test("validation order and reasons (§2.6)", () => {
    const r = (f: RequestField[]) => req(["request", "pvmove"], ...f);
    const full: RequestField[] = [
      ["lvid", lvid(8)],
      ["vgname", "vg"],
      ["lvname", "lv"],
    ];
    const invalidInterval = 'response = "invalid"\nreason = "request requires interval set"\n';
    assert.equal(r([...full, ["interval", 15]]), invalidInterval);
    assert.equal(r([...full, ["interval", "-1"]]), invalidInterval);
    assert.equal(r([...full, ["interval", "1-"]]), invalidInterval);
    assert.equal(r([...full, ["interval", "abc"]]), invalidInterval);
    assert.equal(r([["interval", "5"]]), 'response = "failed"\nreason = "request requires lvname set"\n');
    assert.equal(
      r([
        ["interval", "5"],
        ["lvname", "x"],
      ]),
      'response = "failed"\nreason = "request requires lvid set"\n',
    );
    assert.equal(
      r([
        ["interval", "5"],
        ["lvname", "x"],
        ["lvid", "y"],
      ]),
      'response = "failed"\nreason = "request requires vgname set"\n',
    );
    assert.equal(
      req(["request", "progress_info"]),
      'response = "failed"\nreason = "request requires lvid set"\n',
    );
  });

  test('intervals "5x" and " +3" are accepted and passed on verbatim', async () => {
    req(["request", "convert"], ["lvid", lvid(10)], ["vgname", "vg"], ["lvname", "i1"], ["interval", "5x"]);
    req(["request", "convert"], ["lvid", lvid(11)], ["vgname", "vg"], ["lvname", "i2"], ["interval", " +3"]);
    const a = core.stores.poll.get(lvid(10))!;
    const b = core.stores.poll.get(lvid(11))!;
    assert.equal(a.interval, "5x");
    assert.equal(b.interval, " +3");
    const ra = await waitFor(() => recordsOf(a.pid)[0], 3000, "poller a");
    assert.equal(ra.argv[4], "5x");
  });
});

test("--kill-on-abort: registering an abort SIGTERMs the LV's normal poller (upstream >= 2.03.40)", async () => {
  const s = scratch("dvm-polld-core-");
  fakePoller(s.dir);
  actAs(s.dir, "moving", "hold");
  const core = new PollCore({
    poller: { kind: "lvm", binary: `${s.dir}/fake-poll.sh`, verbose: false, extraArgs: [] },
    log: memoryLogger(),
    killPollerOnAbort: true,
  });
  try {
    const reg = (...more: RequestField[]) =>
      core.handle(
        Buffer.from(
          formatRequest([
            ["request", "pvmove"],
            ...more,
            ["lvid", lvid(1)],
            ["vgname", "vg"],
            ["lvname", "moving"],
            ["interval", "0"],
          ]),
        ),
      );
    reg();
    const normal = core.stores.poll.get(lvid(1))!;
    await waitFor(() => pollerRecords(s.dir).length === 1, 3000, "the normal poller");
    reg(["abort", 1]);
    await waitFor(() => normal.finished, 3000, "the normal poller to end");
    assert.equal(normal.signal, 15);
    assert.equal(core.stores.abort.get(lvid(1))!.finished, false);
  } finally {
    await core.stopAll(500);
    killPollers(s.dir);
    s.cleanup();
  }
});

test("the interval's number and the watchdog period, in lvmpolld's 32-bit arithmetic", () => {
  assert.equal(scanUnsigned("15"), 15);
  assert.equal(scanUnsigned(" +7x"), 7);
  assert.equal(scanUnsigned("abc"), undefined);
  assert.equal(scanUnsigned("4294967296"), 0);
  assert.equal(scanUnsigned("99999999999999999999999"), 0xffffffff);
  assert.equal(silenceTimeoutS(15), 60);
  assert.equal(silenceTimeoutS(31), 62);
  assert.equal(silenceTimeoutS(3000000000), 1705032704);
  assert.equal(silenceTimeoutS(2 ** 31), 60);
});

test("lvm lvpoll argv (§3.4), -l cmd adds -vvvv; the environment", () => {
  const job = {
    type: "pvmove" as const,
    lvname: "vg1/sleep6",
    lvid: lvid(1),
    interval: "5x",
    abort: false,
    handleMissingPvs: true,
    devicesfile: "system.devices",
  };
  const cfg = { kind: "lvm" as const, binary: "/sbin/lvm", verbose: false, extraArgs: [] };
  assert.deepEqual(pollArgv(cfg, job), [
    "/sbin/lvm",
    "lvpoll",
    "--interval",
    "5x",
    "--handlemissingpvs",
    "--polloperation",
    "pvmove",
    "vg1/sleep6",
    "-An",
    "--devicesfile",
    "system.devices",
  ]);
  assert.deepEqual(
    pollArgv(
      { ...cfg, verbose: true },
      { ...job, abort: true, handleMissingPvs: false, devicesfile: undefined },
    ),
    [
      "/sbin/lvm",
      "lvpoll",
      "--interval",
      "5x",
      "--abort",
      "--polloperation",
      "pvmove",
      "vg1/sleep6",
      "-An",
      "-vvvv",
    ],
  );
  assert.deepEqual(pollEnv({ A: "1", LVM_SYSTEM_DIR: "/x", LVM_SYSTEM_DIRX: "y" }, undefined), {
    A: "1",
    LVM_SYSTEM_DIRX: "y",
  });
});
