import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { ExecReportDoc } from "../../src/dm/docs.js";
import type { TargetLine } from "../../src/dm/target.js";
import { pattern, SimLab } from "./lab.js";

/**
 * The two-phase commit of dvm-tm update --activate on the sim, with a
 * failure injected at each step: afterwards the metadata and the dm state
 * are both old (exit 8), or the run says it is stuck (exit 9) and what is left.
 */

const lab = new SimLab([64, 64]);
const DATA = pattern(256 * 1024, 7);

/** The lab's VG, with one active linear LV holding DATA; returns to this state before each case. */
function fresh(vg: string) {
  lab.ok(["vg", "create", vg, ...lab.images]);
  lab.ok(["lv", "create", `${vg}/lv`, "--size", "8m"]);
  lab.ok(["activate", vg]);
  lab.write(`${vg}-lv`, 0, DATA);
}

function teardown(vg: string) {
  lab.dvm(["deactivate", vg]);
  lab.ok(["vg", "remove", vg, "--force"]);
}

const tables = (
  name: string,
): { live: TargetLine[] | null; inactive: TargetLine[] | null; suspended: boolean } => {
  const d = lab.device(name);
  assert.ok(d, `${name} exists`);
  return { live: d.table, inactive: d.inactive_table ?? null, suspended: d.suspended ?? false };
};

const size = (t: TargetLine[] | null) => (t ?? []).reduce((n, x) => n + x.length_sectors, 0);

describe("two-phase commit on the sim", () => {
  after(() => lab.cleanup());

  it("extends an active LV: new metadata, new table live, data intact", () => {
    fresh("tp0");
    try {
      const r = lab.ok(["lv", "extend", "tp0/lv", "--size", "+4m"]);
      assert.match(r.stdout, /successfully resized/);
      const t = tables("tp0-lv");
      assert.equal(size(t.live), 12 * 2048);
      assert.equal(t.inactive, null);
      assert.equal(t.suspended, false);
      assert.equal(
        lab.vg("tp0").vg.logical_volumes![0]!.segments.reduce((n, s) => n + s.extent_count, 0),
        3,
      );
      assert.deepEqual(lab.read("tp0-lv", 0, DATA.length), DATA);
    } finally {
      teardown("tp0");
    }
  });

  for (const op of ["load", "suspend"] as const)
    it(`a failing ${op} rolls back: exit 8, old metadata, old table live, nothing staged`, () => {
      fresh("tp1");
      try {
        const seqno = lab.vg("tp1").vg.seqno;
        const r = lab.dvm(["lv", "extend", "tp1/lv", "--size", "+4m"], {
          env: { DVM_SIM_FAULTS: JSON.stringify([{ op, name: "tp1-lv", errno: "EIO" }]) },
        });
        assert.equal(r.status, 8, r.stderr);
        assert.match(r.stderr, new RegExp(`${op} tp1-lv.*rolled back`));
        assert.equal(lab.vg("tp1").vg.seqno, seqno);
        const t = tables("tp1-lv");
        assert.equal(size(t.live), 8 * 2048);
        assert.equal(t.inactive, null);
        assert.equal(t.suspended, false);
        assert.deepEqual(lab.read("tp1-lv", 0, DATA.length), DATA);
      } finally {
        teardown("tp1");
      }
    });

  it("a failing metadata commit (I/O error on each commit write in turn) rolls the dm side back", () => {
    fresh("tp2");
    try {
      const seqno = lab.vg("tp2").vg.seqno;
      let sawRollback = 0;
      // Fail the Nth metadata write, for every N up to the last one the extend makes.
      for (let n = 1; n < 50; n++) {
        const r = lab.dvm(["lv", "extend", "tp2/lv", "--size", "+4m", "--nowait"], {
          env: { DVM_FAULT: `eio:${n}` },
        });
        if (r.status === 0) {
          assert.ok(n > 2, "the extend writes more than twice");
          break;
        }
        // Before the precommit: a plain I/O error (7); at the commit: rolled back (8).
        assert.ok(r.status === 7 || r.status === 8, `write ${n}: exit ${r.status}: ${r.stderr}`);
        if (r.status === 8) sawRollback++;
        assert.equal(lab.vg("tp2").vg.seqno, seqno, `write ${n}: metadata is the old one`);
        const t = tables("tp2-lv");
        assert.equal(size(t.live), 8 * 2048, `write ${n}: old table live`);
        assert.equal(t.inactive, null, `write ${n}: nothing staged`);
        assert.equal(t.suspended, false, `write ${n}: not suspended`);
      }
      assert.ok(sawRollback >= 2, `commit-time failures rolled back (${sawRollback})`);
      // The extend that finally went through is whole.
      assert.equal(lab.vg("tp2").vg.seqno, seqno + 1);
      assert.equal(size(tables("tp2-lv").live), 12 * 2048);
      assert.deepEqual(lab.read("tp2-lv", 0, DATA.length), DATA);
    } finally {
      teardown("tp2");
    }
  });

  it("a crash at any metadata write of an active extend: dvm activate brings the dm state in line with what was committed", () => {
    fresh("tp8");
    try {
      let points = 0;
      for (let n = 1; n < 50; n++) {
        const seqno = lab.vg("tp8").vg.seqno;
        const r = lab.dvm(["lv", "extend", "tp8/lv", "--size", "+4m"], { env: { DVM_FAULT: `crash:${n}` } });
        if (r.status === 0) break;
        points++;
        const now = lab.vg("tp8").vg;
        assert.ok(now.seqno === seqno || now.seqno === seqno + 1, `crash ${n}: seqno ${now.seqno}`);
        const extents = now.logical_volumes![0]!.segments.reduce((k, x) => k + x.extent_count, 0);
        // The crash may leave the device suspended with the new table staged; activating again settles it.
        lab.ok(["activate", "tp8"]);
        const t = tables("tp8-lv");
        assert.equal(t.suspended, false, `crash ${n}: resumed`);
        assert.equal(t.inactive, null, `crash ${n}: nothing staged`);
        assert.equal(
          size(t.live),
          extents * 4 * 2048,
          `crash ${n}: the live table matches the committed metadata`,
        );
        assert.deepEqual(lab.read("tp8-lv", 0, DATA.length), DATA, `crash ${n}: data intact`);
        // Back to the original size for the next crash point.
        if (now.seqno === seqno + 1) lab.ok(["lv", "reduce", "tp8/lv", "--size", "-4m"]);
      }
      assert.ok(points >= 4, `crash points tried: ${points}`);
    } finally {
      teardown("tp8");
    }
  });

  it("a failing resume after the commit is stuck (exit 9): new metadata, and the report says what is left", () => {
    fresh("tp3");
    try {
      const seqno = lab.vg("tp3").vg.seqno;
      const run = lab.dvm(["lv", "extend", "tp3/lv", "--size", "+4m"], {
        env: { DVM_SIM_FAULTS: JSON.stringify([{ op: "resume", name: "tp3-lv", errno: "EIO" }]) },
      });
      assert.equal(run.status, 9, run.stderr);
      assert.match(run.stderr, /tp3-lv is suspended/);
      assert.equal(lab.vg("tp3").vg.seqno, seqno + 1);
      const t = tables("tp3-lv");
      assert.equal(t.suspended, true);
      assert.equal(size(t.inactive), 12 * 2048, "the new table waits in the inactive slot");
      // What the report says to do puts it right.
      lab.ok(["dmexec", "run"], {
        input: JSON.stringify({
          kind: "dm-program",
          version: 1,
          steps: [
            { id: 1, op: "resume", name: "tp3-lv" },
            { id: 2, op: "end", result: "ok" },
          ],
        }),
      });
      assert.equal(size(tables("tp3-lv").live), 12 * 2048);
      assert.deepEqual(lab.read("tp3-lv", 0, DATA.length), DATA);
    } finally {
      teardown("tp3");
    }
  });

  it("a failure inside the recovery branch is stuck (exit 9), with the old metadata kept", () => {
    fresh("tp4");
    try {
      const seqno = lab.vg("tp4").vg.seqno;
      const faults = [
        { op: "suspend", name: "tp4-lv", errno: "EIO" },
        { op: "clear", name: "tp4-lv", errno: "EIO" },
      ];
      const run = lab.dvm(["lv", "extend", "tp4/lv", "--size", "+4m", "--json"], {
        env: { DVM_SIM_FAULTS: JSON.stringify(faults) },
      });
      assert.equal(run.status, 9, run.stderr);
      assert.equal(lab.vg("tp4").vg.seqno, seqno, "no commit happened");
      assert.match(run.stderr, /recovery did not complete/);
      assert.match(run.stderr, /staged inactive table/);
    } finally {
      lab.dvm(["dmexec", "run"], {
        input: JSON.stringify({
          kind: "dm-program",
          version: 1,
          steps: [
            { id: 1, op: "clear", name: "tp4-lv", on_error: "continue" },
            { id: 2, op: "end", result: "ok" },
          ],
        }),
      });
      teardown("tp4");
    }
  });

  it("a failing rename after the commit is stuck, and activating again puts the name right", () => {
    fresh("tp5");
    try {
      const r = lab.dvm(["lv", "rename", "tp5/lv", "lv2"], {
        env: { DVM_SIM_FAULTS: JSON.stringify([{ op: "rename", errno: "EBUSY" }]) },
      });
      // A rename runs after the commit: the metadata is new and the device keeps its old name.
      assert.equal(r.status, 9, r.stderr);
      assert.equal(lab.vg("tp5").vg.logical_volumes![0]!.name, "lv2");
      assert.ok(lab.device("tp5-lv"));
      // Activating again puts the name right.
      lab.ok(["activate", "tp5"]);
      assert.ok(lab.device("tp5-lv2"));
      assert.equal(lab.device("tp5-lv"), undefined);
      assert.deepEqual(lab.read("tp5-lv2", 0, DATA.length), DATA);
    } finally {
      teardown("tp5");
    }
  });

  it("removing an active LV removes its device; vg remove refuses while devices are active", () => {
    fresh("tp6");
    try {
      lab.ok(["lv", "create", "tp6/other", "--size", "4m"]);
      lab.ok(["activate", "tp6/other"]);
      const r = lab.dvm(["vg", "remove", "tp6", "--force"]);
      assert.equal(r.status, 5);
      assert.match(r.stderr, /deactivate it first/);
      lab.ok(["lv", "remove", "tp6/other"]);
      assert.equal(lab.device("tp6-other"), undefined);
      assert.ok(lab.device("tp6-lv"));
      const rep = JSON.parse(
        lab.ok(["report", "lvs", "tp6", "--reportformat", "json", "-o", "lv_name,lv_attr"]).stdout,
      );
      assert.deepEqual(rep.report[0].lv, [{ lv_name: "lv", lv_attr: "-wi-a-----" }]);
    } finally {
      teardown("tp6");
    }
  });

  it("the exec report of a failed activation is JSON on stdout with --json", () => {
    lab.ok(["vg", "create", "tp7", ...lab.images]);
    try {
      lab.ok(["lv", "create", "tp7/a", "--size", "4m"]);
      const r = lab.dvm(["activate", "tp7", "--json"], {
        env: { DVM_SIM_FAULTS: JSON.stringify([{ op: "load", name: "tp7-a", errno: "EINVAL" }]) },
      });
      assert.equal(r.status, 8, r.stderr);
      const rep = JSON.parse(r.stdout) as ExecReportDoc;
      assert.equal(rep.result, "rolled_back");
      const failed = rep.steps.find((s) => s.outcome === "failed")!;
      assert.equal(failed.errno, "EINVAL");
      assert.equal(lab.state().devices.length, 0, "the created device was removed again");
    } finally {
      teardown("tp7");
    }
  });
});
