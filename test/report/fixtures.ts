import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DeviceEntry, VgDoc } from "../../src/lib/docs.js";
import { parseVgText } from "../../src/lvm2/vg.js";
import type { ReportInput, ReportKind, ReportOptions } from "../../src/report/index.js";
import { checkUnits } from "../../src/report/units.js";

/**
 * Fixtures captured from LVM2 2.03.16 by scripts/capture-report-fixtures.sh:
 * per scenario the devices LVM saw, each VG's metadata text, and LVM's
 * output for many report commands.
 */

export const FIXTURE_DIR = new URL("../fixtures/report/", import.meta.url).pathname;

export interface Case {
  args: string[];
  status: number;
  stdout: string;
  error?: string;
}

export interface Fixture {
  name: string;
  input: ReportInput;
  cases: Case[];
}

const strip = (id: string) => id.replaceAll("-", "");

/** The documents dvm-tm and dvm-discover would hand dvm-report for these devices. */
export function loadFixture(name: string): Fixture {
  const dir = join(FIXTURE_DIR, name);
  const devices = JSON.parse(readFileSync(join(dir, "devices.json"), "utf8")) as DeviceEntry[];
  const vgs: VgDoc[] = readdirSync(join(dir, "metadata"))
    .filter((f) => f.endsWith(".txt"))
    .map((f) => {
      const text = parseVgText(readFileSync(join(dir, "metadata", f), "latin1"));
      const ids = new Set(text.vg.physical_volumes.map((p) => strip(p.id)));
      const pv_devices = devices
        .filter((d) => d.pv && ids.has(strip(d.pv.uuid)))
        .map((d) => ({ pv_uuid: d.pv!.uuid, path: d.path, size_bytes: d.size_bytes, mdas: d.pv!.mdas }));
      return { kind: "vg", version: 1, ...text, pv_devices };
    });
  const inVg = new Set(vgs.flatMap((v) => v.vg.physical_volumes.map((p) => strip(p.id))));
  const orphans = devices.filter((d) => d.pv && !inVg.has(strip(d.pv.uuid)));
  const cases = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8")) as Case[];
  return { name, input: { vgs, orphans }, cases };
}

export const fixtureNames = () =>
  readdirSync(FIXTURE_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();

/** An LVM report command line as renderReport's arguments. */
export function parseArgs(args: string[]): { kind: ReportKind; opts: ReportOptions } {
  const [cmd, ...rest] = args;
  let kind: ReportKind;
  if (cmd === "pvs" || cmd === "vgs" || cmd === "lvs") kind = cmd;
  else throw new Error(`not a report command: ${cmd}`);
  const opts: ReportOptions = {};
  const fields: string[] = [];
  const select: string[] = [];
  const value = (i: number) => {
    const v = rest[i + 1];
    if (v === undefined) throw new Error(`${rest[i]} needs a value`);
    return v;
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    switch (a) {
      case "-a":
        opts.all = true;
        break;
      case "--segments":
        kind = "segs";
        break;
      case "-o":
        fields.push(value(i++));
        break;
      case "--units":
        opts.units = checkUnits(value(i++));
        break;
      case "--nosuffix":
        opts.nosuffix = true;
        break;
      case "--noheadings":
        opts.noheadings = true;
        break;
      case "--separator":
        opts.separator = value(i++);
        break;
      case "--reportformat":
        if (value(i++) !== "json") throw new Error("only json report format");
        opts.json = true;
        break;
      default:
        if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
        select.push(a);
    }
  }
  if (fields.length) opts.fields = fields;
  if (select.length) opts.select = select;
  return { kind, opts };
}
