import type { DmStateDoc } from "../dm/docs.js";
import { type AnyDoc, parseDocsOf, pipedStdinText } from "../lib/docio.js";
import type { DeviceEntry, VgDoc } from "../lib/docs.js";
import { usageError } from "../lib/errors.js";
import { rawId } from "../lvm2/uuid.js";
import { activityFromDmState } from "../report/activity.js";
import { type ReportInput, type ReportKind, type ReportOptions, renderReport } from "../report/index.js";
import { checkUnits } from "../report/units.js";
import { flag, type Io, type Parsed, parse, str, type Tool } from "./common.js";

const USAGE = `Usage: dvm-report pvs [PV...] | vgs [VG...] | lvs [VG[/LV]...] | segs [VG...]  [OPTIONS]

LVM2's pvs / vgs / lvs / lvs --segments tables from vg documents on stdin (as dvm-tm read
prints them; a devices document adds orphan PVs; a dm-state document, as dvm-dmexec state
prints it, adds LV activation).

Options:
  -o, --options FIELD[,FIELD...]   columns (LVM2 field names; "+FIELD" adds to the defaults)
  --units b|s|k|m|g|t|p|e|h|r      units, powers of 1024 (upper case: powers of 1000);
                                   h human-readable, r (the default) also marks rounded values with "<"
  --nosuffix                       no unit suffix on sizes
  --noheadings                     no header line
  --separator S                    separate columns with S instead of aligning them
  --reportformat basic|json        json: LVM2's JSON report shape
  -a, --all                        lvs/segs: hidden LVs too
  --json, --help, --version
`;

export const REPORT_OPTIONS = {
  options: { type: "string", short: "o", multiple: true },
  units: { type: "string" },
  nosuffix: { type: "boolean" },
  noheadings: { type: "boolean" },
  separator: { type: "string" },
  reportformat: { type: "string" },
  all: { type: "boolean", short: "a" },
} as const;

const KINDS = new Set(["pvs", "vgs", "lvs", "segs"]);

export function reportArgs(p: Parsed, positionals: string[]): { kind: ReportKind; opts: ReportOptions } {
  const [kind, ...select] = positionals;
  if (!kind || !KINDS.has(kind))
    throw usageError(`report kind must be pvs, vgs, lvs or segs (got "${kind ?? ""}")`);
  const units = str(p, "units");
  const format = str(p, "reportformat");
  if (format !== undefined && format !== "basic" && format !== "json")
    throw usageError(`--reportformat must be basic or json (got "${format}")`);
  // Each -o argument goes to the report whole: "+a,b" appends, a plain list replaces.
  const fields = p.values.options as string[] | undefined;
  const opts: ReportOptions = {
    fields,
    units: units === undefined ? undefined : checkUnits(units),
    all: flag(p, "all"),
    nosuffix: flag(p, "nosuffix"),
    noheadings: flag(p, "noheadings"),
    separator: str(p, "separator"),
    json: format === "json",
    select,
  };
  return { kind: kind as ReportKind, opts };
}

/**
 * vg documents, plus the orphan PVs among any devices documents (PVs no VG
 * lists and no metadata claims), plus LV activation from a dm-state document.
 */
export function reportInput(docs: (AnyDoc | DmStateDoc)[]): ReportInput {
  const vgs = docs.filter((d): d is VgDoc => d.kind === "vg");
  const members = new Set(vgs.flatMap((v) => v.vg.physical_volumes.map((pv) => rawId(String(pv.id)))));
  const orphans: DeviceEntry[] = [];
  for (const d of docs)
    if (d.kind === "devices")
      for (const e of d.devices)
        if (e.pv && !members.has(rawId(e.pv.uuid)) && !e.pv.mdas.some((m) => m.state === "ok"))
          orphans.push(e);
  const dm = docs.filter((d): d is DmStateDoc => d.kind === "dm-state");
  if (dm.length > 1) throw usageError(`expected at most one dm-state document on stdin, got ${dm.length}`);
  return dm[0] ? { vgs, orphans, activity: activityFromDmState(vgs, dm[0]) } : { vgs, orphans };
}

export const reportTool: Tool = {
  name: "dvm-report",
  usage: USAGE,
  run(argv: string[], io: Io) {
    const p = parse(argv, REPORT_OPTIONS);
    const { kind, opts } = reportArgs(p, p.positionals);
    const text = pipedStdinText();
    if (text.trim() === "") throw usageError("expected vg documents on stdin (e.g. from dvm-tm read VG)");
    const docs = parseDocsOf(text, ["vg", "devices", "dm-state"]) as (AnyDoc | DmStateDoc)[];
    io.out(renderReport(kind, reportInput(docs), opts));
    return 0;
  },
};
