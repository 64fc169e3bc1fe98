import type { DmDevice, DmStateDoc } from "../dm/docs.js";
import { printTarget, type TargetLine, targetDevices } from "../dm/target.js";
import { MAPPER_DIR, mapperPath } from "./names.js";

/**
 * Device arguments in tables, made comparable. The kernel echoes every
 * device as maj:min; desired tables name devices by path (/dev/mapper/NAME
 * for dm devices). Canonical form is the path, found through the state's
 * disks (path <-> maj:min) and dm devices (maj:min -> /dev/mapper/NAME).
 */

const MAJ_MIN = /^(\d+):(\d+)$/;

/** Maps one device argument; null = cannot be resolved. */
export type RefMap = (dev: string) => string | null;

/** Apply `f` to every device argument of the modelled targets; null if any cannot be mapped. */
export function mapTableDevices(table: readonly TargetLine[], f: RefMap): TargetLine[] | null {
  const out: TargetLine[] = [];
  for (const t of table) {
    if ("params" in t) {
      // Opaque targets keep their text: equal only if written the same way.
      out.push(t);
      continue;
    }
    const area = <A extends { device: string }>(a: A): A | null => {
      const d = f(a.device);
      return d === null ? null : { ...a, device: d };
    };
    switch (t.type) {
      case "linear": {
        const a = area(t as TargetLine & { device: string });
        if (!a) return null;
        out.push(a);
        break;
      }
      case "striped": {
        const s = t as Extract<TargetLine, { type: "striped" }>;
        const stripes = s.stripes.map(area);
        if (stripes.some((x) => x === null)) return null;
        out.push({ ...s, stripes: stripes as typeof s.stripes });
        break;
      }
      case "mirror": {
        const m = t as Extract<TargetLine, { type: "mirror" }>;
        const legs = m.legs.map(area);
        if (legs.some((x) => x === null)) return null;
        let log = m.log;
        if (log.type === "disk") {
          const l = area(log);
          if (!l) return null;
          log = l;
        }
        out.push({ ...m, log, legs: legs as typeof m.legs });
        break;
      }
      default:
        out.push(t);
    }
  }
  return out;
}

/** Same targets, numbers, types and (already canonical) device arguments. */
export function sameTable(a: readonly TargetLine[] | null, b: readonly TargetLine[] | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  return a.every((t, i) => printTarget(t).trimEnd() === printTarget(b[i]!).trimEnd());
}

export interface StateIndex {
  byNumber: Map<string, DmDevice>;
  byName: Map<string, DmDevice>;
  diskByNumber: Map<string, string>;
  diskPaths: Set<string>;
}

export function indexState(state: DmStateDoc): StateIndex {
  const byNumber = new Map<string, DmDevice>();
  for (const d of state.devices)
    if (d.major !== undefined && d.minor !== undefined) byNumber.set(`${d.major}:${d.minor}`, d);
  return {
    byNumber,
    byName: new Map(state.devices.map((d) => [d.name, d])),
    diskByNumber: new Map((state.disks ?? []).map((k) => [`${k.major}:${k.minor}`, k.path])),
    diskPaths: new Set((state.disks ?? []).map((k) => k.path)),
  };
}

/**
 * The dm device a device argument names in a found state (by maj:min or
 * /dev/mapper/NAME), "disk" for a known disk or another path, null if a
 * maj:min names nothing known.
 */
export function refTarget(ix: StateIndex, dev: string): DmDevice | "disk" | null {
  if (MAJ_MIN.test(dev)) {
    const d = ix.byNumber.get(dev);
    if (d) return d;
    return ix.diskByNumber.has(dev) ? "disk" : null;
  }
  if (dev.startsWith(MAPPER_DIR)) {
    const d = ix.byName.get(dev.slice(MAPPER_DIR.length));
    if (d) return d;
  }
  return "disk";
}

/**
 * A RefMap for tables of a found state: dm devices become /dev/mapper/<nameOf(device)>,
 * disks' maj:min their path; other paths stay as they are.
 */
export function foundRefMap(ix: StateIndex, nameOf: (d: DmDevice) => string = (d) => d.name): RefMap {
  return (dev) => {
    const t = refTarget(ix, dev);
    if (t === null) return null;
    if (t !== "disk") return mapperPath(nameOf(t));
    return MAJ_MIN.test(dev) ? ix.diskByNumber.get(dev)! : dev;
  };
}

/** The dm devices a table references in a found state, in table order, without duplicates. */
export function tableUses(ix: StateIndex, table: readonly TargetLine[] | null | undefined): DmDevice[] {
  const out: DmDevice[] = [];
  for (const t of table ?? [])
    for (const dev of targetDevices(t)) {
      const d = refTarget(ix, dev);
      if (d && d !== "disk" && !out.includes(d)) out.push(d);
    }
  return out;
}
