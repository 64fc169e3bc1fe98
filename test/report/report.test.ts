import assert from "node:assert/strict";
import { test } from "node:test";
import { DvmError, Exit } from "../../src/lib/errors.js";
import { type ReportOptions, renderReport, resolveColumns } from "../../src/report/index.js";
import { loadFixture } from "./fixtures.js";

const linear = loadFixture("linear").input;

const throwsDvm = (fn: () => unknown, code: number, message: string | RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DvmError, String(e));
    assert.equal(e.exitCode, code);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });

test("field names resolve like LVM's: no underscores or case needed, report prefix optional", () => {
  const ids = (kind: "pvs" | "vgs" | "lvs" | "segs", f: string) => resolveColumns(kind, [f]).map((c) => c.id);
  assert.deepEqual(ids("lvs", "size,attr,uuid,NAME,Lv_Size,lvname"), [
    "lv_size",
    "lv_attr",
    "lv_uuid",
    "lv_name",
    "lv_size",
    "lv_name",
  ]);
  assert.deepEqual(ids("segs", "size,start,count"), ["seg_size", "seg_start", "seg_count"]);
  assert.deepEqual(ids("lvs", "count"), ["lv_count"]);
  assert.deepEqual(ids("pvs", "size,free,attr,pe_count,count"), [
    "pv_size",
    "pv_free",
    "pv_attr",
    "pv_pe_count",
    "pv_count",
  ]);
  assert.deepEqual(ids("vgs", "size,extent_size,seqno"), ["vg_size", "vg_extent_size", "vg_seqno"]);
});

test("-o arguments: plain replaces, + appends (duplicates allowed), - removes", () => {
  const ids = (f: string[]) => resolveColumns("pvs", f).map((c) => c.id);
  assert.deepEqual(ids(["+pv_uuid"]).slice(-2), ["pv_free", "pv_uuid"]);
  assert.deepEqual(ids(["pv_name", "+pv_size,pv_size", "-pv_name"]), ["pv_size", "pv_size"]);
  assert.deepEqual(ids(["pv_name", "vg_name"]), ["vg_name"]);
  assert.deepEqual(ids([",pv_name,,vg_name"]), ["pv_name", "vg_name"]);
});

test("unknown fields fail with LVM's message; known LVM fields dvm lacks say so", () => {
  throwsDvm(
    () => renderReport("lvs", linear, { fields: ["lv_name,bogus"] }),
    Exit.invalid,
    "Unrecognised field: bogus",
  );
  throwsDvm(
    () => renderReport("vgs", linear, { fields: ["count"] }),
    Exit.invalid,
    "Unrecognised field: count",
  );
  throwsDvm(
    () => renderReport("lvs", linear, { fields: ["lv_time"] }),
    Exit.invalid,
    /lv_time.*not supported/,
  );
  throwsDvm(() => renderReport("lvs", linear, { fields: [""] }), Exit.invalid, "Invalid options string: ");
  throwsDvm(
    () => renderReport("pvs", linear, { fields: ["-pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free"] }),
    Exit.invalid,
    "No fields to report",
  );
});

test("PV-segment reports (PV with LV or segment fields) are refused, not guessed", () => {
  throwsDvm(
    () => renderReport("pvs", linear, { fields: ["+lv_name"] }),
    Exit.invalid,
    /lv_name in a pvs report/,
  );
  throwsDvm(
    () => renderReport("lvs", linear, { fields: ["+pv_name"] }),
    Exit.invalid,
    /pv_name in a lvs report/,
  );
});

test("selected names that do not exist", () => {
  throwsDvm(
    () => renderReport("pvs", linear, { select: ["/dev/nope"] }),
    Exit.notFound,
    'Failed to find physical volume "/dev/nope".',
  );
  throwsDvm(
    () => renderReport("vgs", linear, { select: ["nope"] }),
    Exit.notFound,
    'Volume group "nope" not found',
  );
  throwsDvm(
    () => renderReport("lvs", linear, { select: ["rptlin/nope"] }),
    Exit.notFound,
    'Failed to find logical volume "rptlin/nope"',
  );
});

test("invalid units are refused", () => {
  throwsDvm(
    () => renderReport("pvs", linear, { units: "q" } as unknown as ReportOptions),
    Exit.invalid,
    /units/,
  );
});

test("with device-mapper state, lv_attr shows activation as LVM does for live LVs", () => {
  const opts: ReportOptions = {
    fields: ["lv_name,lv_attr,lv_active,lv_device_open,lv_permissions"],
    separator: ":",
    noheadings: true,
    select: ["rptlin/lv1", "rptlin/ro", "rptlin/data"],
  };
  const out = renderReport(
    "lvs",
    { ...linear, activity: { "rptlin/lv1": { active: true, open: true }, "rptlin/ro": { active: true } } },
    opts,
  );
  assert.equal(
    out,
    [
      "  data:-wi-------:::unknown",
      "  lv1:-wi-ao----:active:open:writeable",
      "  ro:-ri-a-----:active::read-only",
      "",
    ].join("\n"),
  );
  // Without it: what LVM prints with activation disabled.
  assert.equal(renderReport("lvs", linear, opts).split("\n")[0], "  data:-wi-XX----:unknown:unknown:unknown");
});

test("an input with nothing to report prints nothing in text and an empty array in JSON", () => {
  const empty = { vgs: [], orphans: [] };
  assert.equal(renderReport("lvs", empty, {}), "");
  assert.equal(
    renderReport("vgs", empty, { json: true }),
    '  {\n      "report": [\n          {\n              "vg": [\n              ]\n          }\n      ]\n  }\n',
  );
});
