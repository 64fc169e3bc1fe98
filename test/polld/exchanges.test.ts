import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { memoryLogger } from "../../src/polld/log.ts";
import { type DaemonOptions, PolldDaemon } from "../../src/polld/server.ts";
import { scratch } from "../helpers.ts";
import { actAs, exchange, fakePoller, killPollers, pollerRecords, waitFor } from "./helpers.ts";

/**
 * Every byte-exact exchange of lvmpolld.md §2.9, against the daemon in this
 * process (real socket, real pollers: the recording fake as `lvm`).
 */

const LVID = "WFd2dU67S8Av29IcJCnYzqQirdfElnxzhCdzEh7EJrfCn9R1TIQjIj58weUZDre4";
const T = "\n##\n";

async function daemon(dir: string, name: string, extra: Partial<DaemonOptions> = {}) {
  const d = await PolldDaemon.start({
    socketPath: join(dir, `${name}.sock`),
    pidfile: join(dir, `${name}.pid`),
    idleTimeoutS: 0,
    log: memoryLogger(),
    poller: { kind: "lvm", binary: join(dir, "fake-poll.sh"), verbose: false, extraArgs: [] },
    ...extra,
  });
  return { d, sock: join(dir, `${name}.sock`) };
}

describe("lvmpolld.md §2.9 exchanges, byte for byte", () => {
  let s: ReturnType<typeof scratch>;
  let d: PolldDaemon;
  let sock: string;
  const progress = (body: string) => exchange(sock, body);
  before(async () => {
    s = scratch("dvm-polld-x-");
    fakePoller(s.dir);
    ({ d, sock } = await daemon(s.dir, "main"));
  });
  after(async () => {
    await d.shutdown();
    killPollers(s.dir);
    s.cleanup();
  });

  test("#1 hello", async () => {
    assert.equal(
      await exchange(sock, `request = "hello"\n${T}`),
      `response = "OK"\nprotocol = "lvmpolld"\nversion = 1\n${T}`,
    );
  });

  test("#17 dump of an empty daemon", async () => {
    assert.equal(
      await exchange(sock, `request="dump"${T}`),
      `# Registered polling operations\n\npoll {\n}\n\n# Registered abort operations\n\nabort {\n}${T}`,
    );
  });

  test("#2-#5 pvmove: register, in progress, finished with retcode 0, then not found; #18 its dump", async () => {
    actAs(s.dir, "pvmove0", "wait");
    assert.equal(
      await exchange(
        sock,
        `request="pvmove"\nlvid="${LVID}"\nvgname="vg00"\nlvname="pvmove0"\ninterval="15"\ncmdline="pvmove /dev/sdb"\n${T}`,
      ),
      `response = "OK"\n${T}`,
    );
    const info = `request="progress_info"\nlvid="${LVID}"\n${T}`;
    assert.equal(await progress(info), `response = "in_progress"\n${T}`);
    const job = d.core.stores.poll.get(LVID)!;
    await waitFor(() => job.pid, 2000, "the poller's pid");
    assert.equal(
      await exchange(sock, `request="dump"${T}`),
      "# Registered polling operations\n\npoll {\n" +
        `\t${LVID} {\n\t\tlvid="${LVID}"\n\t\ttype="pvmove"\n\t\tlvname="vg00/pvmove0"\n` +
        `\t\tlvmpolld_internal_timeout=60\n\t\tlvm_command_interval="15"\n\t\tLVM_SYSTEM_DIR="<undefined>"\n` +
        `\t\tlvm_command_pid=${job.pid}\n\t\tpolling_finished=0\n\t\terror_occured=0\n\t\tinit_requests_count=1\n` +
        '\t\tlvm_command {\n\t\t\tstate="in_progress"\n\t\t}\n\t}\n}\n\n# Registered abort operations\n\nabort {\n}' +
        T,
    );
    writeFileSync(join(s.dir, "release"), "");
    await waitFor(() => job.finished, 3000, "the poller to finish");
    // Taken back, or the next "wait" poller would see it and finish at once.
    rmSync(join(s.dir, "release"));
    assert.equal(await progress(info), `response = "finished"\nreason = "retcode"\nvalue = 0\n${T}`);
    assert.equal(await progress(info), `response = "not_found"\n${T}`);
  });

  const until = async (body: string, pred: (r: string) => boolean) =>
    waitFor(
      async () => {
        const r = await progress(body);
        return pred(r) ? r : undefined;
      },
      4000,
      "a reply",
    );

  test("#6 a convert job whose poller exited 5", async () => {
    const id = LVID.replace(/.$/, "6");
    assert.equal(
      await exchange(
        sock,
        `request="convert"\nlvid="${id}"\nvgname="vg00"\nlvname="exit5"\ninterval="1"\n${T}`,
      ),
      `response = "OK"\n${T}`,
    );
    const r = await until(`request="progress_info"\nlvid="${id}"\n${T}`, (r) => !r.includes("in_progress"));
    assert.equal(r, `response = "finished"\nreason = "retcode"\nvalue = 5\n${T}`);
  });

  test("#7 a merge_thin job whose poller got SIGKILL", async () => {
    const id = LVID.replace(/.$/, "7");
    await exchange(
      sock,
      `request="merge_thin"\nlvid="${id}"\nvgname="vg00"\nlvname="kill9"\ninterval="1"\n${T}`,
    );
    const r = await until(`request="progress_info"\nlvid="${id}"\n${T}`, (r) => !r.includes("in_progress"));
    assert.equal(r, `response = "finished"\nreason = "signal"\nvalue = 9\n${T}`);
  });

  test("#10, #11 the full-option abort request, its progress with sysdir, and the poller's argv and env", async () => {
    actAs(s.dir, "pvmove1", "wait");
    const id = LVID.replace(/.$/, "A");
    assert.equal(
      await exchange(
        sock,
        `request="pvmove"\ndevicesfile="system.devices"\nsysdir="/etc/lvm"\nhandle_missing_pvs=1\nabort=1\nlvid="${id}"\nvgname="vg00"\nlvname="pvmove1"\ninterval="0"\ncmdline="pvmove --abort"\n${T}`,
      ),
      `response = "OK"\n${T}`,
    );
    const info = `request="progress_info"\nsysdir="/etc/lvm"\nabort=1\nlvid="${id}"\n${T}`;
    assert.equal(await progress(info), `response = "in_progress"\n${T}`);
    // Not in the normal store, nor under the bare lvid.
    assert.equal(
      await progress(`request="progress_info"\nsysdir="/etc/lvm"\nlvid="${id}"\n${T}`),
      `response = "not_found"\n${T}`,
    );
    assert.equal(
      await progress(`request="progress_info"\nabort=1\nlvid="${id}"\n${T}`),
      `response = "not_found"\n${T}`,
    );
    const job = d.core.stores.abort.get(`/etc/lvm${id}`)!;
    await waitFor(() => pollerRecords(s.dir).find((r) => r.pid === job.pid), 3000, "the poller's record");
    const rec = pollerRecords(s.dir).find((r) => r.pid === job.pid)!;
    assert.deepEqual(rec.argv, [
      join(s.dir, "fake-poll.sh"),
      "lvpoll",
      "--interval",
      "0",
      "--abort",
      "--handlemissingpvs",
      "--polloperation",
      "pvmove",
      "vg00/pvmove1",
      "-An",
      "--devicesfile",
      "system.devices",
    ]);
    assert.equal(rec.env.filter((e) => e.startsWith("LVM_SYSTEM_DIR=")).join(), "LVM_SYSTEM_DIR=/etc/lvm");
    writeFileSync(join(s.dir, "release"), "");
    const r = await until(info, (r) => !r.includes("in_progress"));
    rmSync(join(s.dir, "release"));
    assert.equal(r, `response = "finished"\nreason = "retcode"\nvalue = 0\n${T}`);
    assert.equal(await progress(info), `response = "not_found"\n${T}`);
  });

  test("#12 another operation on an LV with a running job", async () => {
    actAs(s.dir, "pvmove2", "hold");
    const id = LVID.replace(/.$/, "C");
    const reg = (req: string) =>
      exchange(
        sock,
        `request="${req}"\nsysdir="/etc/lvmtest"\nlvid="${id}"\nvgname="vg00"\nlvname="pvmove2"\ninterval="7"\n${T}`,
      );
    assert.equal(await reg("pvmove"), `response = "OK"\n${T}`);
    assert.equal(
      await reg("merge"),
      `response = "invalid"\nreason = "Different operation on LV already in progress"\n${T}`,
    );
    // The quirk of plain concatenation: the sysdir-keyed job is found by an lvid that carries the sysdir.
    assert.equal(
      await progress(`request="progress_info"\nlvid="/etc/lvmtest${id}"\n${T}`),
      `response = "in_progress"\n${T}`,
    );
  });

  test("#13 abort with anything but pvmove", async () => {
    assert.equal(
      await exchange(
        sock,
        `request="convert"\nabort=1\nlvid="${LVID}"\nvgname="vg"\nlvname="lv"\ninterval="5"\n${T}`,
      ),
      `response = "invalid"\nreason = "abort only supported with PVMOVE polling operation"\n${T}`,
    );
  });

  test("#14 no interval", async () => {
    assert.equal(
      await exchange(sock, `request="pvmove"\nlvid="${LVID}"\nvgname="vg"\nlvname="lv"\n${T}`),
      `response = "invalid"\nreason = "request requires interval set"\n${T}`,
    );
  });

  test("#15 no lvid", async () => {
    assert.equal(
      await exchange(sock, `request="pvmove"\nvgname="vg"\nlvname="lv"\ninterval="5"\n${T}`),
      `response = "failed"\nreason = "request requires lvid set"\n${T}`,
    );
  });

  test("#16 an unknown request, and an empty one", async () => {
    const want = `response = "invalid"\nreason = "request not implemented"\n${T}`;
    assert.equal(await exchange(sock, `request="foo"\n${T}`), want);
    assert.equal(await exchange(sock, T), want);
  });

  test("#8 a poller that cannot be exec'd: retcode 101", async () => {
    // A bad interpreter passes the start-up access check but fails exec.
    const bin = join(s.dir, "badexec");
    writeFileSync(bin, "#!/nonexistent/interpreter\n", { mode: 0o755 });
    const x = await daemon(s.dir, "badexec", {
      poller: { kind: "lvm", binary: bin, verbose: false, extraArgs: [] },
    });
    try {
      await exchange(
        x.sock,
        `request="pvmove"\nlvid="${LVID}"\nvgname="vg00"\nlvname="pvmove0"\ninterval="1"\n${T}`,
      );
      const r = await waitFor(async () => {
        const r = await exchange(x.sock, `request="progress_info"\nlvid="${LVID}"\n${T}`);
        return r.includes("in_progress") ? undefined : r;
      });
      assert.equal(r, `response = "finished"\nreason = "retcode"\nvalue = 101\n${T}`);
    } finally {
      await x.d.shutdown();
    }
  });

  test("#9 a poller silent for three watchdog periods: failed (and left running)", async () => {
    const x = await daemon(s.dir, "silent", { silencePeriodMs: 80 });
    try {
      await exchange(
        x.sock,
        `request="pvmove"\nlvid="${LVID}"\nvgname="vg00"\nlvname="silent30"\ninterval="1"\n${T}`,
      );
      const job = x.d.core.stores.poll.get(LVID)!;
      await waitFor(() => job.finished, 3000, "the watchdog");
      assert.equal(job.error, true);
      assert.equal(job.monitor?.running, true);
      const dump = await exchange(x.sock, `request="dump"${T}`);
      assert.match(
        dump,
        /polling_finished=1\n\t\terror_occured=1\n.*\n\t\tlvm_command \{\n\t\t\tstate="in_progress"/,
      );
      assert.equal(
        await exchange(x.sock, `request="progress_info"\nlvid="${LVID}"\n${T}`),
        `response = "failed"\nreason = "polling of lvm command failed"\n${T}`,
      );
      job.monitor?.kill("SIGTERM");
    } finally {
      await x.d.shutdown();
    }
  });
});
