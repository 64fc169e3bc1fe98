import { invalidInput } from "../lib/errors.js";

/**
 * Device-mapper target lines as typed values (device-mapper.md §4). Each
 * modelled target type prints to the kernel's canonical table text and
 * parses back; types dvm does not model keep their parameters as text, so
 * a table read from the kernel always round-trips.
 *
 * Every number in a table is in 512-byte sectors, and the field names say so.
 * A device argument is a string: "maj:min" (what the kernel echoes), or a
 * path (/dev/loop3, an image file for the sim, /dev/mapper/NAME for another
 * dm device).
 */

export interface DevArea {
  device: string;
  offset_sectors: number;
}

interface TargetBase {
  start_sectors: number;
  length_sectors: number;
}

export interface LinearTarget extends TargetBase, DevArea {
  type: "linear";
}

export interface StripedTarget extends TargetBase {
  type: "striped";
  chunk_sectors: number;
  stripes: DevArea[];
}

export interface ErrorTarget extends TargetBase {
  type: "error";
}

export interface ZeroTarget extends TargetBase {
  type: "zero";
}

export type MirrorSync = "sync" | "nosync";

export type MirrorLog =
  | { type: "core"; region_sectors: number; sync?: MirrorSync }
  | { type: "disk"; device: string; region_sectors: number; sync?: MirrorSync };

export interface MirrorTarget extends TargetBase {
  type: "mirror";
  log: MirrorLog;
  legs: DevArea[];
  /** handle_errors, keep_log, in the kernel's order. */
  features: string[];
}

/** A target type dvm does not model (yet): its parameters kept as text. */
export interface OpaqueTarget extends TargetBase {
  type: string;
  params: string;
}

export type TargetLine =
  | LinearTarget
  | StripedTarget
  | ErrorTarget
  | ZeroTarget
  | MirrorTarget
  | OpaqueTarget;

/** How many leading parameters of the (opaque) snapshot targets are devices (device-mapper.md §4.7-4.9). */
const SNAPSHOT_DEVICE_ARGS: Partial<Record<string, number>> = {
  "snapshot-origin": 1,
  snapshot: 2,
  "snapshot-merge": 2,
};

export const MODELLED_TYPES = ["linear", "striped", "error", "zero", "mirror"] as const;
const MODELLED: ReadonlySet<string> = new Set(MODELLED_TYPES);
export const isModelled = (t: TargetLine): t is Exclude<TargetLine, OpaqueTarget> =>
  MODELLED.has(t.type) && !("params" in t);

/**
 * The devices a target references, in table order (duplicates kept). The
 * snapshot targets stay opaque text, but their devices lead the parameters
 * (origin; origin and COW): a device under a snapshot is in use.
 */
export function targetDevices(t: TargetLine): string[] {
  if ("params" in t) {
    const n = Object.hasOwn(SNAPSHOT_DEVICE_ARGS, t.type) ? SNAPSHOT_DEVICE_ARGS[t.type]! : 0;
    return n ? splitArgs((t as OpaqueTarget).params).slice(0, n) : [];
  }
  switch (t.type) {
    case "linear":
      return [(t as LinearTarget).device];
    case "striped":
      return (t as StripedTarget).stripes.map((s) => s.device);
    case "mirror": {
      const m = t as MirrorTarget;
      return [...(m.log.type === "disk" ? [m.log.device] : []), ...m.legs.map((l) => l.device)];
    }
    default:
      return [];
  }
}

/** The parameter text after the type, as the kernel echoes it (mirror's inner spaces included). */
export function printParams(t: TargetLine): string {
  if ("params" in t) return (t as OpaqueTarget).params;
  switch (t.type) {
    case "linear": {
      const l = t as LinearTarget;
      return `${l.device} ${l.offset_sectors}`;
    }
    case "striped": {
      const s = t as StripedTarget;
      return [
        s.stripes.length,
        s.chunk_sectors,
        ...s.stripes.flatMap((a) => [a.device, a.offset_sectors]),
      ].join(" ");
    }
    case "error":
    case "zero":
      return "";
    case "mirror": {
      const m = t as MirrorTarget;
      const logArgs =
        m.log.type === "core"
          ? [m.log.region_sectors, ...(m.log.sync ? [m.log.sync] : [])]
          : [m.log.device, m.log.region_sectors, ...(m.log.sync ? [m.log.sync] : [])];
      const legs = [m.legs.length, ...m.legs.flatMap((a) => [a.device, a.offset_sectors])].join(" ");
      const feats = m.features.length ? ` ${m.features.length} ${m.features.join(" ")}` : "";
      return `${m.log.type} ${logArgs.length} ${logArgs.join(" ")} ${legs}${feats}`;
    }
  }
  throw new Error(`unmodelled target ${(t as TargetLine).type} without params`);
}

/** One table line, `start length type params`; the space after the type is always there, as in dmsetup. */
export const printTarget = (t: TargetLine) =>
  `${t.start_sectors} ${t.length_sectors} ${t.type} ${printParams(t)}`;

/** A whole table as dmsetup prints it: one line per target, each ending in a newline. */
export const printTable = (table: TargetLine[]) => table.map((t) => `${printTarget(t)}\n`).join("");

const NUM_RE = /^\d+$/;

function num(s: string | undefined, what: string, line: string): number {
  if (s === undefined || !NUM_RE.test(s))
    throw invalidInput(`table line "${line}": ${what} "${s ?? ""}" is not a number`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw invalidInput(`table line "${line}": ${what} ${s} is too large`);
  return n;
}

/** Split on whitespace, honouring backslash escapes as the kernel's dm_split_args does. */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function area(args: string[], i: number, line: string): DevArea {
  const device = args[i];
  if (device === undefined) throw invalidInput(`table line "${line}": device ${i} missing`);
  return { device, offset_sectors: num(args[i + 1], "offset", line) };
}

/**
 * Parse the parameters of a modelled type (argument counts as the kernel
 * checks them); unknown types become opaque targets.
 */
export function parseParams(type: string, params: string, base: TargetBase, line: string): TargetLine {
  const a = splitArgs(params);
  const bad = (why: string) => invalidInput(`table line "${line}": ${type}: ${why}`);
  switch (type) {
    case "linear":
      if (a.length !== 2) throw bad(`expected 2 arguments (device offset), got ${a.length}`);
      return { ...base, type, ...area(a, 0, line) };
    case "striped": {
      const n = num(a[0], "stripe count", line);
      if (n < 1) throw bad("stripe count must be at least 1");
      if (a.length !== 2 + 2 * n)
        throw bad(`expected ${2 + 2 * n} arguments for ${n} stripes, got ${a.length}`);
      const chunk = num(a[1], "chunk size", line);
      if (chunk < 1) throw bad("chunk size must be at least 1");
      const stripes = Array.from({ length: n }, (_, k) => area(a, 2 + 2 * k, line));
      return { ...base, type, chunk_sectors: chunk, stripes };
    }
    case "error":
    case "zero":
      if (a.length !== 0) throw bad(`takes no arguments, got ${a.length}`);
      return { ...base, type } as ErrorTarget | ZeroTarget;
    case "mirror": {
      const logType = a[0];
      const nLog = num(a[1], "log argument count", line);
      const logArgs = a.slice(2, 2 + nLog);
      if (logArgs.length !== nLog) throw bad("log arguments truncated");
      let log: MirrorLog;
      const syncOf = (s: string | undefined): MirrorSync | undefined => {
        if (s === undefined) return undefined;
        if (s !== "sync" && s !== "nosync") throw bad(`unknown log option "${s}"`);
        return s;
      };
      if (logType === "core") {
        if (nLog < 1 || nLog > 2) throw bad("core log takes 1 or 2 arguments");
        log = { type: "core", region_sectors: num(logArgs[0], "region size", line) };
        const s = syncOf(logArgs[1]);
        if (s) log.sync = s;
      } else if (logType === "disk") {
        if (nLog < 2 || nLog > 3) throw bad("disk log takes 2 or 3 arguments");
        log = { type: "disk", device: logArgs[0]!, region_sectors: num(logArgs[1], "region size", line) };
        const s = syncOf(logArgs[2]);
        if (s) log.sync = s;
      } else throw bad(`unknown log type "${logType ?? ""}"`);
      let i = 2 + nLog;
      const nLegs = num(a[i++], "leg count", line);
      const legs: DevArea[] = [];
      for (let k = 0; k < nLegs; k++, i += 2) legs.push(area(a, i, line));
      let features: string[] = [];
      if (i < a.length) {
        const nf = num(a[i++], "feature count", line);
        features = a.slice(i, i + nf);
        if (features.length !== nf) throw bad("features truncated");
        i += nf;
      }
      if (i !== a.length) throw bad(`${a.length - i} unexpected trailing argument(s)`);
      return { ...base, type, log, legs, features };
    }
    default:
      return { ...base, type, params: params.trim() };
  }
}

/** Parse one `start length type params` line. */
export function parseTarget(line: string): TargetLine {
  const m = /^\s*(\S+)\s+(\S+)\s+(\S+)(?:\s(.*))?$/.exec(line);
  if (!m) throw invalidInput(`table line "${line}": expected "start length type [params]"`);
  const base = { start_sectors: num(m[1], "start", line), length_sectors: num(m[2], "length", line) };
  return parseParams(m[3]!, m[4] ?? "", base, line);
}

/** Table text as dmsetup reads it: one target per line; blank lines and # comments ignored. */
export function parseTable(text: string): TargetLine[] {
  const out: TargetLine[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line) out.push(parseTarget(line));
  }
  return out;
}

/** Size of a table: where its last target ends (0 for no table). */
export const tableSize = (table: readonly TargetLine[] | null | undefined) =>
  table?.length ? table[table.length - 1]!.start_sectors + table[table.length - 1]!.length_sectors : 0;

const sortedKeys = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(sortedKeys)
    : v && typeof v === "object"
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, sortedKeys((v as Record<string, unknown>)[k])]),
        )
      : v;

/**
 * Why a target line read from a document is not a well-typed value, or null:
 * it must print and parse back to itself, which checks every typed field
 * (JSON schemas only see start, length and type).
 */
export function targetProblem(t: TargetLine): string | null {
  if (!MODELLED.has(t.type) && typeof (t as { params?: unknown }).params !== "string")
    return `target type "${t.type}" needs its parameters as text in field params`;
  let again: TargetLine;
  try {
    again = parseTarget(printTarget(t));
  } catch (e) {
    return (e as Error).message;
  }
  return JSON.stringify(sortedKeys(again)) === JSON.stringify(sortedKeys(t))
    ? null
    : `target ${JSON.stringify(t).slice(0, 100)} does not have the fields of a ${t.type} target`;
}
