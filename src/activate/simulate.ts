import type { DmDevice, DmProgramDoc, DmStateDoc, DmStep, StepOp } from "../dm/docs.js";
import type { TargetLine } from "../dm/target.js";
import { invalidInput } from "../lib/errors.js";
import { indexState, mapTableDevices, refTarget, tableUses } from "./canon.js";
import { MAPPER_DIR } from "./names.js";

/**
 * A model executor: a dm program applied to an abstract dm state, in memory.
 * It follows the program semantics of dvm-dmexec (array order, on_error
 * branches, end steps) and the kernel rules a plan's order depends on
 * (device-mapper.md §1): create refuses taken names and uuids; load checks
 * that referenced devices exist and stores them as maj:min, as the kernel
 * echoes them; resume swaps a staged table in (§1.5); remove refuses a
 * device another table (live or staged) or an outside opener holds; rename
 * refuses taken names. No I/O, no sizes, no data. For tests and --dry-run.
 */

export interface SimStep {
  id: number;
  op: StepOp;
  name?: string;
  outcome: "ok" | "failed";
  /** Why it failed: errno name and reason. */
  why?: string;
}

export interface SimResult {
  state: DmStateDoc;
  /** As dvm-dmexec would report it: ok, rolled_back (exit 8) or stuck (exit 9). */
  result: "ok" | "rolled_back" | "stuck";
  trace: SimStep[];
}

export interface SimOptions {
  /** Called after every step that ran, with the state after it. */
  observe?: (step: DmStep, outcome: "ok" | "failed", state: DmStateDoc) => void;
}

class Fail extends Error {}
const fail = (errno: string, why: string) => new Fail(`${errno}: ${why}`);

interface Model {
  devices: DmDevice[];
  /** Staged tables' read-only flag, by device. */
  stagedRo: Map<DmDevice, boolean>;
  /** Openers that are not dm devices (mounts, processes), by device. */
  outside: Map<DmDevice, number>;
  disks: DmStateDoc["disks"];
  dmMajor: number;
}

const find = (m: Model, name: string | undefined) => m.devices.find((d) => d.name === name);
const need = (m: Model, name: string | undefined) => {
  const d = find(m, name);
  if (!d) throw fail("ENXIO", `no device ${name}`);
  return d;
};

function asDoc(m: Model, source: DmStateDoc): DmStateDoc {
  const ix = indexState({ ...source, devices: m.devices, disks: m.disks });
  const devices = m.devices.map((d) => {
    const users = m.devices.filter(
      (u) => u !== d && [...tableUses(ix, u.table), ...tableUses(ix, u.inactive_table)].includes(d),
    ).length;
    const out: DmDevice = { ...d, depends_on: tableUses(ix, d.table).map((x) => x.name) };
    // Modelled only where the state reported it: dm users plus outside openers.
    if (d.open_count !== undefined) out.open_count = users + (m.outside.get(d) ?? 0);
    return structuredClone(out);
  });
  return { ...structuredClone({ ...source, devices: [] }), devices };
}

/** The kernel's view of a table at load: every device argument as maj:min; refuses what does not exist. */
function resolveTable(m: Model, self: DmDevice, table: TargetLine[]): TargetLine[] {
  if (table.length === 0) throw fail("EINVAL", "empty table");
  let end = 0;
  for (const t of table) {
    if (t.start_sectors !== end || t.length_sectors < 1) throw fail("EINVAL", "gap, overlap or empty target");
    end += t.length_sectors;
  }
  const ix = indexState({
    kind: "dm-state",
    version: 1,
    source: "model",
    devices: m.devices,
    disks: m.disks,
  });
  const out = mapTableDevices(table, (dev) => {
    if (/^\d+:\d+$/.test(dev)) {
      const r = refTarget(ix, dev);
      if (r === null) {
        if (!m.disks) return dev; // no disks listed: any disk number is taken to exist
        throw fail("ENXIO", `no device ${dev}`);
      }
      if (r === self) throw fail("EINVAL", "table references its own device");
      return dev;
    }
    if (dev.startsWith(MAPPER_DIR)) {
      const d = find(m, dev.slice(MAPPER_DIR.length));
      if (!d) throw fail("ENOENT", `no ${dev}`);
      if (d === self) throw fail("EINVAL", "table references its own device");
      return `${d.major}:${d.minor}`;
    }
    if (!m.disks) return dev; // no disks listed: any path is taken to exist
    const disk = m.disks.find((k) => k.path === dev);
    if (!disk) throw fail("ENOENT", `no ${dev}`);
    return `${disk.major}:${disk.minor}`;
  });
  return out!;
}

/** Tables (live or staged) that hold `d`. */
function holders(m: Model, d: DmDevice): DmDevice[] {
  const ix = indexState({
    kind: "dm-state",
    version: 1,
    source: "model",
    devices: m.devices,
    disks: m.disks,
  });
  return m.devices.filter(
    (u) => u !== d && [...tableUses(ix, u.table), ...tableUses(ix, u.inactive_table)].includes(d),
  );
}

function create(m: Model, s: DmStep): DmDevice {
  const name = s.name!;
  if (!name || name.includes("/") || name === "control" || name === "." || name === "..")
    throw fail("EINVAL", `invalid name "${name}"`);
  if (find(m, name)) throw fail("EBUSY", `${name} exists`);
  if (s.uuid && m.devices.some((d) => d.uuid === s.uuid)) throw fail("EBUSY", `uuid ${s.uuid} is taken`);
  let minor = 0;
  const used = new Set(m.devices.filter((d) => d.major === m.dmMajor).map((d) => d.minor));
  while (used.has(minor)) minor++;
  const d: DmDevice = {
    name,
    read_only: false,
    table: null,
    depends_on: [],
    major: m.dmMajor,
    minor,
    suspended: false,
    inactive_table: null,
  };
  if (s.uuid) d.uuid = s.uuid;
  m.devices.push(d);
  return d;
}

function load(m: Model, d: DmDevice, table: TargetLine[], ro: boolean) {
  d.inactive_table = resolveTable(m, d, table);
  m.stagedRo.set(d, ro);
}

function resume(m: Model, d: DmDevice) {
  if (d.inactive_table) {
    d.table = d.inactive_table;
    d.read_only = m.stagedRo.get(d) ?? false;
    d.inactive_table = null;
    d.suspended = false;
  } else if (d.suspended) {
    if (!d.table) throw fail("EINVAL", `${d.name} has no table to resume`);
    d.suspended = false;
  }
}

function remove(m: Model, d: DmDevice) {
  const h = holders(m, d);
  if (h.length) throw fail("EBUSY", `${d.name} is used by ${h.map((x) => x.name).join(", ")}`);
  if (m.outside.get(d)) throw fail("EBUSY", `${d.name} is open`);
  m.devices.splice(m.devices.indexOf(d), 1);
}

function apply(m: Model, s: DmStep): void {
  switch (s.op) {
    case "create": {
      const d = create(m, s);
      if (s.table)
        try {
          load(m, d, s.table, s.read_only ?? false);
          resume(m, d);
        } catch (e) {
          m.devices.splice(m.devices.indexOf(d), 1);
          throw e;
        }
      return;
    }
    case "load":
      load(m, need(m, s.name), s.table ?? [], s.read_only ?? false);
      return;
    case "suspend":
      need(m, s.name).suspended = true;
      return;
    case "resume":
      resume(m, need(m, s.name));
      return;
    case "clear":
      need(m, s.name).inactive_table = null;
      return;
    case "remove": {
      const d = need(m, s.name);
      if (s.deferred && (holders(m, d).length || m.outside.get(d))) {
        d.deferred_remove = true;
        return;
      }
      remove(m, d);
      return;
    }
    case "rename": {
      const d = need(m, s.name);
      if (s.new_name) {
        if (find(m, s.new_name)) throw fail("EBUSY", `${s.new_name} exists`);
        d.name = s.new_name;
      } else {
        if (d.uuid) throw fail("EINVAL", `${d.name} has a uuid`);
        if (m.devices.some((x) => x.uuid === s.uuid)) throw fail("EBUSY", `uuid ${s.uuid} is taken`);
        d.uuid = s.uuid!;
      }
      return;
    }
    case "message":
    case "status":
    case "table":
    case "info":
    case "deps":
      need(m, s.name);
      return;
    case "commit":
    case "end":
      return;
  }
}

/**
 * Run `program` on a copy of `state`. Steps whose id is in `failAt` fail
 * without effect, as an injected error; steps the model refuses fail too.
 */
export function simulateProgram(
  state: DmStateDoc,
  program: DmProgramDoc,
  failAt: ReadonlySet<number> = new Set(),
  opts: SimOptions = {},
): SimResult {
  const index = new Map<number, number>();
  program.steps.forEach((s, i) => {
    if (index.has(s.id)) throw invalidInput(`dm-program: step id ${s.id} is used twice`);
    index.set(s.id, i);
  });
  for (const s of program.steps)
    if (typeof s.on_error === "number" && !index.has(s.on_error))
      throw invalidInput(`dm-program step ${s.id}: on_error ${s.on_error} names no step`);

  const devices: DmDevice[] = structuredClone(state.devices).map((d) => ({
    ...d,
    suspended: d.suspended ?? false,
    inactive_table: d.inactive_table ?? null,
  }));
  const m: Model = {
    devices,
    stagedRo: new Map(),
    outside: new Map(),
    disks: state.disks ? structuredClone(state.disks) : undefined,
    dmMajor: devices.find((d) => d.major !== undefined)?.major ?? 253,
  };
  // Devices without a number (a desired state used as a start) get one, as create would give.
  for (const d of devices)
    if (d.major === undefined || d.minor === undefined) {
      const used = new Set(devices.filter((x) => x.major === m.dmMajor).map((x) => x.minor));
      let minor = 0;
      while (used.has(minor)) minor++;
      d.major = m.dmMajor;
      d.minor = minor;
    }
  for (const d of devices) {
    const outside = (d.open_count ?? 0) - holders(m, d).length;
    if (outside > 0) m.outside.set(d, outside);
  }

  const trace: SimStep[] = [];
  let pc = 0;
  let recovering = false;
  let anyFailed = false;
  let result: SimResult["result"] = "stuck";
  let budget = program.steps.length * 4 + 16;
  while (pc < program.steps.length && budget-- > 0) {
    const s = program.steps[pc]!;
    if (s.op === "end") {
      // Clean only when nothing failed on the way, as dvm-dmexec decides.
      const clean = !anyFailed && (s.result === "ok" ? !recovering : recovering);
      result = clean ? s.result! : "stuck";
      trace.push({ id: s.id, op: s.op, outcome: "ok" });
      opts.observe?.(s, "ok", asDoc(m, state));
      break;
    }
    let why: string | undefined;
    if (failAt.has(s.id)) why = "injected failure";
    else
      try {
        apply(m, s);
      } catch (e) {
        if (!(e instanceof Fail)) throw e;
        why = e.message;
      }
    const t: SimStep = { id: s.id, op: s.op, outcome: why === undefined ? "ok" : "failed" };
    if (s.name) t.name = s.name;
    if (why !== undefined) t.why = why;
    trace.push(t);
    opts.observe?.(s, t.outcome, asDoc(m, state));
    if (why === undefined) pc++;
    else if (s.on_error === "continue") {
      anyFailed = true;
      pc++;
    } else if (typeof s.on_error === "number" && !recovering) {
      recovering = true;
      pc = index.get(s.on_error)!;
    } else break;
  }
  return { state: asDoc(m, state), result, trace };
}
