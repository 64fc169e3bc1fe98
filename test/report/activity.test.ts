import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { desiredState } from "../../src/activate/index.js";
import type { DmStateDoc } from "../../src/dm/docs.js";
import { lvCreate } from "../../src/manip/index.js";
import { activityFromDmState } from "../../src/report/activity.js";
import { renderReport } from "../../src/report/index.js";
import { vgOn } from "../activate/helpers.ts";
import { idGen } from "../manip/helpers.ts";

/** lv_attr's state and open characters, lv_active and friends, from a dm state. */

const ids = idGen("A");
let doc = vgOn([100, 100]);
for (const name of ["a", "b", "c", "d"])
  doc = lvCreate(doc, { name, size: 8192, time: 1, host: "h", newId: ids }).doc;

/** The found state of the VG with a, b, c active; b open, c suspended. */
function found(): DmStateDoc {
  const want = desiredState(doc, ["a", "b", "c"]);
  return {
    ...want,
    source: "sim",
    devices: want.devices.map((d) => ({
      ...d,
      open_count: d.name === "vg-b" ? 1 : 0,
      suspended: d.name === "vg-c",
    })),
  };
}

describe("LV activation in reports", () => {
  it("maps devices to LVs by uuid", () => {
    const act = activityFromDmState([doc], found());
    assert.deepEqual(act["vg/a"], { active: true, open: false, suspended: false });
    assert.deepEqual(act["vg/b"], { active: true, open: true, suspended: false });
    assert.deepEqual(act["vg/c"], { active: true, open: false, suspended: true });
    assert.equal(act["vg/d"], undefined);
  });

  it("a device found under another name is still its LV (names are cosmetic)", () => {
    const st = found();
    st.devices[0]!.name = "renamed";
    assert.equal(activityFromDmState([doc], st)["vg/a"]?.active, true);
  });

  it("lv_attr shows a, o, s and -; without a dm state, X", () => {
    const opts = { fields: ["lv_name,lv_attr,lv_active,lv_device_open,lv_suspended"], json: true };
    const rows = (activity?: ReturnType<typeof activityFromDmState>) =>
      JSON.parse(renderReport("lvs", { vgs: [doc], orphans: [], activity }, opts)).report[0].lv.map(
        (l: Record<string, string>) => Object.values(l).join(" "),
      );
    assert.deepEqual(rows(activityFromDmState([doc], found())), [
      "a -wi-a----- active  ",
      "b -wi-ao---- active open ",
      "c -wi-s----- active  suspended",
      "d -wi-------   ",
    ]);
    assert.deepEqual(rows(undefined), [
      "a -wi-XX---- unknown unknown unknown",
      "b -wi-XX---- unknown unknown unknown",
      "c -wi-XX---- unknown unknown unknown",
      "d -wi-XX---- unknown unknown unknown",
    ]);
  });
});
