import type { DmDevice, DmProgramDoc, DmStateDoc, DmStep } from "../dm/docs.js";
import { type TargetLine, targetDevices } from "../dm/target.js";
import { DvmError, Exit, invalidInput } from "../lib/errors.js";
import { foundRefMap, indexState, mapTableDevices, refTarget, sameTable, tableUses } from "./canon.js";
import { checkDmState } from "./check.js";
import { MAPPER_DIR, mapperPath } from "./names.js";

/**
 * dvm-dmactivate: the dm program that turns the current dm state into the
 * desired one, in LVM2's order (device-mapper.md §6): preload children
 * first, suspend top-down, [commit], resume bottom-up, remove top-down.
 * Every step before the commit point has a recovery branch, written up
 * front, that undoes what ran before it; after the commit point the program
 * only goes forward. Pure: no I/O.
 */

export interface PlanOptions {
  /** Put a `commit` step (the metadata commit of a two-phase commit) between suspend and resume. */
  commit?: boolean;
}

const conflict = (msg: string) => new DvmError(Exit.conflict, msg);
const uuidOf = (d: DmDevice) => d.uuid || undefined;

/** One device the plan is about: wanted (desired), existing in scope (current), or both. */
interface Node {
  want?: DmDevice;
  cur?: DmDevice;
  /** Devices this one's desired table uses (desired topology). */
  wantUses: Node[];
  /** Devices in scope this one's live or staged table uses (current topology). */
  curUses: Node[];
}

/** A step before the commit point, with the steps that undo it once it has succeeded. */
interface Staged {
  step: Omit<DmStep, "id">;
  undo: Omit<DmStep, "id">[];
}

/** Children before parents; `uses` must be acyclic (a cycle is reported through `onCycle`). */
function postorder(roots: Node[], uses: (n: Node) => Node[], onCycle: (n: Node) => Error): Node[] {
  const out: Node[] = [];
  const state = new Map<Node, "open" | "done">();
  const visit = (n: Node) => {
    const s = state.get(n);
    if (s === "done") return;
    if (s === "open") throw onCycle(n);
    state.set(n, "open");
    for (const c of uses(n)) visit(c);
    state.set(n, "done");
    out.push(n);
  };
  roots.forEach(visit);
  return out;
}

/** The program that takes `current` to `desired` (within desired.uuid_prefix). */
export function planActivation(
  current: DmStateDoc,
  desired: DmStateDoc,
  opts: PlanOptions = {},
): DmProgramDoc {
  checkDmState(current, "current");
  checkDmState(desired, "desired");
  const prefix = desired.uuid_prefix;
  const inScope = (d: DmDevice) => prefix === undefined || (uuidOf(d)?.startsWith(prefix) ?? false);
  desired.devices.forEach((d, i) => {
    if (prefix !== undefined && !inScope(d))
      throw invalidInput(
        `desired: dm-state document field /devices/${i}/uuid: ${JSON.stringify(d.uuid ?? null)} does not start with uuid_prefix ${prefix}`,
      );
  });
  const cix = indexState(current);

  // ---- match desired devices to current ones: by uuid, then by name
  const nodes: Node[] = [];
  const ofCur = new Map<DmDevice, Node>();
  const ofWantName = new Map<string, Node>();
  const curByUuid = new Map(current.devices.filter(uuidOf).map((d) => [uuidOf(d)!, d]));
  const byUuid = (w: DmDevice) => (uuidOf(w) ? curByUuid.get(uuidOf(w)!) : undefined);
  // uuid matches first, so a name match never takes a device another desired device owns by uuid.
  const matched = new Set(desired.devices.map(byUuid).filter((c) => c !== undefined));
  for (const w of desired.devices) {
    let c = byUuid(w);
    if (!c) {
      // By name only where no uuid contradicts it (a uuid, once set, cannot change).
      const byName = cix.byName.get(w.name);
      if (byName && !matched.has(byName) && inScope(byName) && !(uuidOf(byName) && uuidOf(w))) {
        c = byName;
        matched.add(c);
      }
    }
    const n: Node = { want: w, wantUses: [], curUses: [] };
    if (c) {
      n.cur = c;
      ofCur.set(c, n);
    }
    nodes.push(n);
    ofWantName.set(w.name, n);
  }
  for (const c of current.devices)
    if (inScope(c) && !ofCur.has(c)) {
      const n: Node = { cur: c, wantUses: [], curUses: [] };
      ofCur.set(c, n);
      nodes.push(n);
    }

  // ---- topology: desired (from desired tables and depends_on) and current (live + staged tables)
  desired.devices.forEach((w, i) => {
    const n = ofWantName.get(w.name)!;
    const at = `desired: dm-state document field /devices/${i}`;
    const use = (m: Node) => {
      if (m === n) throw invalidInput(`${at}: ${w.name} uses itself`);
      if (!n.wantUses.includes(m)) n.wantUses.push(m);
    };
    const viaName = (name: string, field: string) => {
      const m = ofWantName.get(name);
      if (m) return use(m);
      const c = cix.byName.get(name);
      if (c && !inScope(c)) return;
      const becomes = c && ofCur.get(c)?.want?.name;
      throw invalidInput(
        `${at}/${field}: ${name} is ${
          becomes
            ? `renamed to ${becomes}`
            : c
              ? "to be removed (not in the desired state)"
              : "neither desired nor present"
        }`,
      );
    };
    for (const t of w.table ?? [])
      for (const dev of "params" in t ? [] : targetDevices(t)) {
        if (dev.startsWith(MAPPER_DIR)) viaName(dev.slice(MAPPER_DIR.length), "table");
        else if (/^\d+:\d+$/.test(dev)) {
          const r = refTarget(cix, dev);
          if (r === null) throw invalidInput(`${at}/table: device ${dev} is not present`);
          if (r === "disk") continue;
          const m = ofCur.get(r);
          if (m?.want) use(m);
          else if (inScope(r)) throw invalidInput(`${at}/table: ${dev} (${r.name}) is to be removed`);
        }
      }
    for (const dep of w.depends_on) viaName(dep, "depends_on");
  });
  for (const n of nodes) {
    if (!n.cur) continue;
    const c = n.cur;
    const used = [...tableUses(cix, c.table), ...tableUses(cix, c.inactive_table)];
    for (const dep of c.depends_on) {
      const d = cix.byName.get(dep);
      if (d) used.push(d);
    }
    for (const d of used) {
      const m = ofCur.get(d);
      if (m && m !== n && !n.curUses.includes(m)) n.curUses.push(m);
    }
  }
  const desiredOrder = postorder(
    nodes.filter((n) => n.want),
    (n) => n.wantUses,
    (n) => invalidInput(`desired: the devices' tables form a cycle through ${n.want!.name}`),
  );
  const currentOrder = postorder(
    nodes.filter((n) => n.cur),
    (n) => n.curUses,
    (n) => invalidInput(`current: the devices' tables form a cycle through ${n.cur!.name}`),
  );

  // ---- what changes
  // A current table in canonical form: dm devices by their desired name (the name they will have).
  const canonCurrent = foundRefMap(cix, (d) => ofCur.get(d)?.want?.name ?? d.name);
  const canonDesired = (dev: string) => (/^\d+:\d+$/.test(dev) ? canonCurrent(dev) : dev);
  const isNew = (n: Node) => !!n.want && !n.cur;
  const changed = new Set<Node>();
  for (const n of nodes) {
    if (!n.want || !n.cur) continue;
    const { want: w, cur: c } = n;
    if (w.table === null) {
      if (c.table !== null)
        throw invalidInput(
          `desired: ${w.name} has no table but is live; leave it out of the desired state to remove it`,
        );
      continue;
    }
    const have = c.table === null ? null : mapTableDevices(c.table, canonCurrent);
    const want = mapTableDevices(w.table, canonDesired);
    const differs =
      c.table === null ||
      have === null ||
      want === null ||
      !sameTable(have, want) ||
      c.read_only !== w.read_only;
    // A leftover staged table would be swapped in by the next resume: replace it with the wanted one.
    if (differs || (c.inactive_table !== undefined && c.inactive_table !== null)) changed.add(n);
  }
  const unwanted = nodes.filter((n) => !n.want);
  const renamed = nodes.filter((n) => n.want && n.cur && n.cur.name !== n.want.name);

  // ---- conflicts, refused before anything runs
  const curNames = new Set(current.devices.map((d) => d.name));
  for (const n of nodes)
    if (isNew(n) && curNames.has(n.want!.name)) {
      const holder = cix.byName.get(n.want!.name)!;
      throw conflict(
        `cannot create ${n.want!.name}: a device of that name exists${uuidOf(holder) ? ` with uuid ${holder.uuid}` : ""}${
          ofCur.get(holder)?.want ? ` (it becomes ${ofCur.get(holder)!.want!.name})` : ""
        }`,
      );
    }
  for (const n of unwanted) {
    const c = n.cur!;
    const users = current.devices.filter(
      (d) => d !== c && tableUses(cix, d.table).concat(tableUses(cix, d.inactive_table)).includes(c),
    );
    const outside = users.find((u) => !ofCur.has(u));
    if (outside) throw conflict(`cannot remove ${c.name}: ${outside.name} (not managed here) uses it`);
    const external = (c.open_count ?? 0) - users.length;
    if (external > 0)
      throw conflict(`cannot remove ${c.name}: it is open (${external} opener(s) besides dm devices)`);
  }
  // Renames need their new names free: run each when its name has been given up (renamed away, or removed).
  const held = new Set(curNames);
  const renameSchedule = (from: Set<string>, todo: Node[]) => {
    const out: Node[] = [];
    for (let progress = true; progress && todo.length; ) {
      progress = false;
      for (let i = 0; i < todo.length; i++) {
        const n = todo[i]!;
        if (from.has(n.want!.name)) continue;
        from.delete(n.cur!.name);
        from.add(n.want!.name);
        out.push(n);
        todo.splice(i--, 1);
        progress = true;
      }
    }
    return out;
  };
  const todo = [...renamed];
  const earlyRenames = renameSchedule(held, todo);
  for (const n of unwanted) held.delete(n.cur!.name);
  const lateRenames = renameSchedule(held, todo);
  if (todo.length)
    throw conflict(
      `cannot rename ${todo.map((n) => `${n.cur!.name} to ${n.want!.name}`).join(", ")}: the new name stays in use`,
    );

  // ---- the steps
  // Loads run before renames: a device being renamed is referenced by the name it has then.
  const nameNow = (n: Node) => (n.cur ? n.cur.name : n.want!.name);
  const loadTable = (n: Node): TargetLine[] =>
    mapTableDevices(n.want!.table!, (dev) => {
      if (!dev.startsWith(MAPPER_DIR)) return dev;
      const m = ofWantName.get(dev.slice(MAPPER_DIR.length));
      return m ? mapperPath(nameNow(m)) : dev;
    })!;
  const label = (n: Node) => (n.want ?? n.cur!).lv ?? (n.want ?? n.cur!).name;

  const staged: Staged[] = [];
  // The kernel checks a mirror's disk log's size when the mirror's table is loaded, so a new log
  // device goes live in the preload already, before any table that uses it is loaded (libdm does
  // the same for disk logs; other new devices wait for the resume phase).
  const diskLogs = new Set<string>();
  for (const n of desiredOrder)
    for (const t of n.want!.table ?? [])
      if ("log" in t && t.log.type === "disk" && t.log.device.startsWith(MAPPER_DIR))
        diskLogs.add(t.log.device.slice(MAPPER_DIR.length));
  const resumedEarly = new Set<Node>();
  // (1) preload, children first
  for (const n of desiredOrder) {
    const w = n.want!;
    if (isNew(n)) {
      const create: Omit<DmStep, "id"> = { op: "create", name: w.name };
      if (uuidOf(w)) create.uuid = w.uuid;
      create.comment = `preload: new device for ${label(n)}`;
      staged.push({
        step: create,
        undo: [{ op: "remove", name: w.name, comment: `undo: remove new ${w.name}` }],
      });
      if (w.table)
        staged.push({
          step: {
            op: "load",
            name: w.name,
            table: loadTable(n),
            read_only: w.read_only,
            comment: "preload: its table",
          },
          undo: [],
        });
      if (w.table && diskLogs.has(w.name)) {
        staged.push({
          step: { op: "resume", name: w.name, comment: "preload: a disk log goes live first" },
          undo: [],
        });
        resumedEarly.add(n);
      }
    } else if (changed.has(n)) {
      const name = n.cur!.name;
      staged.push({
        step: {
          op: "load",
          name,
          table: loadTable(n),
          read_only: w.read_only,
          comment: `preload: new table for ${label(n)} (inactive until resumed)`,
        },
        undo: [{ op: "clear", name, comment: `undo: drop the table staged in ${name}` }],
      });
    }
  }
  // (2) suspend changed live devices, users before the devices they use (current topology)
  for (const n of [...currentOrder].reverse()) {
    const c = n.cur!;
    if (!changed.has(n) || c.table === null || c.suspended) continue;
    staged.push({
      step: {
        op: "suspend",
        name: c.name,
        nolockfs: true,
        comment: `suspend ${label(n)} for the table swap`,
      },
      undo: [
        { op: "clear", name: c.name, comment: `undo: drop the table staged in ${c.name}` },
        { op: "resume", name: c.name, comment: `undo: resume ${c.name} on its old table` },
      ],
    });
  }
  // (3) the commit point
  if (opts.commit) staged.push({ step: { op: "commit", comment: "commit the metadata" }, undo: [] });

  const after: Omit<DmStep, "id">[] = [];
  // (4) resume bottom-up (desired topology): new devices go live, staged tables are swapped in
  for (const n of desiredOrder) {
    const resume =
      (isNew(n) && n.want!.table !== null && !resumedEarly.has(n)) ||
      changed.has(n) ||
      (n.cur?.suspended ?? false);
    if (resume)
      after.push({
        op: "resume",
        name: nameNow(n),
        comment: isNew(n) ? `activate ${label(n)}` : `swap in the new table of ${label(n)}`,
      });
  }
  const renameStep = (n: Node): Omit<DmStep, "id"> => ({
    op: "rename",
    name: n.cur!.name,
    new_name: n.want!.name,
    comment: `rename ${label(n)}`,
  });
  after.push(...earlyRenames.map(renameStep));
  for (const n of nodes)
    if (n.want && n.cur && uuidOf(n.want) && !uuidOf(n.cur))
      after.push({
        op: "rename",
        name: n.want.name,
        uuid: n.want.uuid,
        comment: `set the uuid of ${n.want.name}`,
      });
  // (5) remove what is not wanted, users first (current topology)
  for (const n of [...currentOrder].reverse())
    if (!n.want) after.push({ op: "remove", name: n.cur!.name, comment: `deactivate ${label(n)}` });
  after.push(...lateRenames.map(renameStep));

  return assemble(staged, after);
}

/**
 * Number the steps 1..n: the staged steps (each with its recovery entry),
 * the forward rest (on_error "continue"), `end ok`, then the recovery branch:
 * the undo steps of the staged steps in reverse order, then `end rolled_back`.
 */
function assemble(staged: Staged[], after: Omit<DmStep, "id">[]): DmProgramDoc {
  let id = 1;
  const forward: DmStep[] = staged.map((s) => ({ id: id++, ...s.step }));
  const rest: DmStep[] = after.map((s) => ({ id: id++, ...s, on_error: "continue" }));
  const endOk: DmStep = { id: id++, op: "end", result: "ok" };
  const recovery: DmStep[] = [];
  const undoStart: number[] = [];
  for (let k = staged.length - 1; k >= 0; k--) {
    undoStart[k] = id;
    for (const u of staged[k]!.undo) recovery.push({ id: id++, ...u, on_error: "continue" });
  }
  const endRolledBack: DmStep = { id: id++, op: "end", result: "rolled_back" };
  // A failing staged step needs undone what succeeded before it: start at the undo of the nearest earlier step that has one.
  let entry = endRolledBack.id;
  forward.forEach((s, k) => {
    s.on_error = entry;
    if (staged[k]!.undo.length) entry = undoStart[k]!;
  });
  const program = [...forward, ...rest, endOk];
  if (staged.length) program.push(...recovery, endRolledBack);
  return { kind: "dm-program", version: 1, steps: reorderKeys(program) };
}

/** id and op first, on_error and comment last, so programs read well as JSON. */
function reorderKeys(steps: DmStep[]): DmStep[] {
  return steps.map(({ id, op, on_error, comment, ...rest }) => {
    const s: DmStep = { id, op, ...rest };
    if (on_error !== undefined) s.on_error = on_error;
    if (comment !== undefined) s.comment = comment;
    return s;
  });
}
