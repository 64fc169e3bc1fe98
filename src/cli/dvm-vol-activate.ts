import { desiredState } from "../activate/vol.js";
import { parseDocsOf, pipedStdinText, toJson } from "../lib/docio.js";
import type { VgDoc } from "../lib/docs.js";
import { invalidInput, notFound, usageError } from "../lib/errors.js";
import { flag, type Io, parse, type Tool } from "./common.js";

const USAGE = `Usage: dvm-vol-activate VG[/LV]... [--partial]   (vg document on stdin, dm-state on stdout)

The device-mapper state that makes LVs active, from the VG metadata (as dvm-tm
read prints it): one dm device per LV, named and identified as LVM2 does
(VG-LV with "-" doubled inside names; uuid LVM-<vg id><lv id>), one target
per segment, plus the devices of hidden LVs they are stacked on. Nothing is
read from or written to any device: feed the result to dvm-dmactivate.

  VG         every visible LV of the VG
  VG/LV      that LV (and what it is stacked on); repeatable

Options:
  --partial  map extents on missing PVs to error targets (LVM2's partial
             activation) instead of refusing (exit 4)
  -c, --config FILE  (accepted, unused)   --json   --help   --version

Exit codes: 0 ok, 1 usage, 2 invalid input (bad document; a segment type
dvm cannot activate yet), 3 VG or LV not found, 4 PVs missing, 10 internal error.
`;

const OPTIONS = { partial: { type: "boolean" } } as const;

export const volActivateTool: Tool = {
  name: "dvm-vol-activate",
  usage: USAGE,
  run(argv: string[], io: Io) {
    const p = parse(argv, OPTIONS);
    if (p.positionals.length === 0) throw usageError("name the VG or VG/LV to activate");
    const text = pipedStdinText();
    if (text.trim() === "") throw usageError("expected a vg document on stdin (e.g. from dvm-tm read VG)");
    const docs = parseDocsOf(text, ["vg"]) as VgDoc[];
    if (docs.length !== 1) throw invalidInput(`stdin: expected one vg document, got ${docs.length}`);
    const doc = docs[0]!;
    let all = false;
    const lvs: string[] = [];
    for (const arg of p.positionals) {
      const [vg, lv, ...more] = arg.replace(/^\/dev\//, "").split("/");
      if (more.length || lv === "") throw usageError(`"${arg}" is not VG or VG/LV`);
      if (vg !== doc.vg.name) throw notFound(`volume group "${vg}" is not the document's ("${doc.vg.name}")`);
      if (lv === undefined) all = true;
      else if (!lvs.includes(lv)) lvs.push(lv);
    }
    io.out(toJson(desiredState(doc, all ? "all" : lvs, { partial: flag(p, "partial") })));
    return 0;
  },
};
