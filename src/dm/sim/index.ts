import { join, resolve } from "node:path";
import { sleepSync } from "../../lib/time.js";
import { SECTOR_SIZE } from "../../lib/units.js";
import { type DmBackend, DmFailure, type SuspendFlags } from "../backend.js";
import type { DmDevice, DmDisk, DmStateDoc } from "../docs.js";
import { printTarget, splitArgs, type TargetLine } from "../target.js";
import {
  byDevno,
  devSize,
  fail,
  findDev,
  heldByAnyTable,
  mustFind,
  openCounts,
  refDevno,
  refreshDisksOf,
  resolveDeviceArg,
  slotRefs,
  sortDevices,
  sweepDeferred,
} from "./devices.js";
import {
  checkFaults,
  type FaultOp,
  matchFault,
  parseFaults,
  type ResumeStage,
  type SimFault,
} from "./faults.js";
import { MustWait, type Plan, planIo, readPieces, writePieces } from "./io.js";
import {
  advanceResync,
  checkMirrorRate,
  mirrorRateFromEnv,
  NEED_IO,
  type RegionCopiedHook,
  recover,
  startResync,
} from "./resync.js";
import { DISK_MAJOR, FAULTS_FILE, MINOR_LIMIT, type SimDev, type SimState, Store } from "./store.js";
import { initialRuntime, statusLine } from "./targets.js";
import { buildTable, checkAreas } from "./validate.js";

export type { FaultOp, ResumeStage, SimFault } from "./faults.js";
export { DEFAULT_MIRROR_RATE, MIRROR_RATE_ENV, type RegionCopiedHook } from "./resync.js";

/**
 * The sim backend: a faithful user-space device-mapper (device-mapper.md §1,
 * §7) whose state lives in a folder shared by every process. Each operation
 * locks the folder, loads the state, applies the change and saves it; a
 * failed operation saves nothing, except where the kernel itself leaves a
 * changed device behind (a resume whose swap or resume hooks fail, §1.5).
 *
 * Mirror targets recover in the background with no daemon (resync.ts):
 * every operation first brings each recovering mirror up to the clock,
 * copying the regions that fell due from leg 0 to the other legs and then
 * saving the new in-sync count; the status line shows `<in-sync>/<regions>`
 * and the mirror's event number goes up when it comes fully in sync. The
 * rate is DVM_SIM_MIRROR_RATE regions per second (default
 * DEFAULT_MIRROR_RATE; 0 freezes recovery, leaving only tick()).
 */

export interface SimOptions {
  /** How long I/O to a suspended device (and waitEvent) waits before giving up (default 30 s). */
  timeoutMs?: number;
  /**
   * Mirror recovery rate in regions per second; 0 freezes recovery (only
   * tick() moves it). Default: DVM_SIM_MIRROR_RATE, else DEFAULT_MIRROR_RATE.
   */
  mirrorRate?: number;
  /** The clock mirror recovery runs on, in ms (default Date.now); tests drive a fake one. */
  now?: () => number;
  /** Tests: called after each recovered region is copied and before it is recorded (a crash point). */
  onRegionCopied?: RegionCopiedHook;
}

export interface WaitOptions {
  timeoutMs?: number;
}

/** One lookup key of an ioctl: uuid, name or device number. */
export interface DeviceKey {
  name?: string;
  uuid?: string;
  major?: number;
  minor?: number;
}

export interface DeviceId {
  name: string;
  uuid?: string;
  major: number;
  minor: number;
}

/** A failure after which the changed state must still be saved (the kernel's partial outcomes). */
class SaveThenFail {
  constructor(readonly failure: DmFailure) {}
}

const POLL_MS = 20;

/** Name rules of DEV_CREATE and DEV_RENAME (§1.1, §1.7). */
function checkName(name: unknown, op: string): asserts name is string {
  if (typeof name !== "string" || name === "") throw fail("EINVAL", `${op}: empty device name`);
  if (Buffer.byteLength(name) > 127) throw fail("EINVAL", `${op}: device name longer than 127 bytes`);
  if (name.includes("/") || name.includes("\0"))
    throw fail("EINVAL", `${op}: device name "${name}" contains "/" or NUL`);
  if (name === "control" || name === "." || name === "..")
    throw fail("EINVAL", `${op}: "${name}" is not allowed as a device name`);
}

function checkUuid(uuid: unknown, op: string): asserts uuid is string {
  if (typeof uuid !== "string" || uuid === "") throw fail("EINVAL", `${op}: empty uuid`);
  if (Buffer.byteLength(uuid) > 128 || uuid.includes("\0"))
    throw fail("EINVAL", `${op}: uuid longer than 128 bytes or contains NUL`);
}

const isWhole = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

export class SimBackend implements DmBackend {
  readonly name = "sim";
  /** The state folder (absolute). */
  readonly dir: string;
  private readonly store: Store;
  /** DVM_SIM_FAULTS: this process's own faults. */
  private envFaults: SimFault[];
  private readonly timeoutMs: number;
  /** Mirror recovery: regions per second, the clock, the crash-point hook. */
  readonly mirrorRate: number;
  private readonly now: () => number;
  private readonly onRegionCopied: RegionCopiedHook | undefined;

  constructor(dir: string, opts: SimOptions = {}) {
    this.dir = resolve(dir);
    this.store = new Store(this.dir);
    const env = process.env.DVM_SIM_FAULTS;
    this.envFaults = env?.trim() ? parseFaults(env, "DVM_SIM_FAULTS") : [];
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.mirrorRate =
      opts.mirrorRate === undefined
        ? mirrorRateFromEnv(process.env, this.dir)
        : checkMirrorRate(opts.mirrorRate, "mirrorRate");
    this.now = opts.now ?? Date.now;
    this.onRegionCopied = opts.onRegionCopied;
  }

  // ---- transactions and faults ----

  /**
   * Lock, load, bring mirror recovery up to now, check faults, apply, save,
   * unlock. `write: false` for queries (they still save recovery progress).
   */
  private tx<T>(
    op: FaultOp | undefined,
    name: string | undefined,
    fn: (st: SimState) => T,
    opts: { io?: boolean; write?: boolean } = {},
  ): T {
    let io = !!opts.io;
    for (;;) {
      const out = this.store.locked(
        () => {
          const st = this.store.load();
          // Recovery copies data, which needs the I/O lock: without it, start over holding it.
          const progress = this.resync(st, io);
          if (progress === NEED_IO) return NEED_IO;
          // Copied first, recorded now: the operation below may still fail, the progress stands.
          if (progress) this.store.save(st);
          if (op) this.fault(op, name, undefined);
          let result: T;
          try {
            result = fn(st);
          } catch (e) {
            if (!(e instanceof SaveThenFail)) throw e;
            sweepDeferred(st);
            this.store.save(st);
            throw e.failure;
          }
          if (opts.write !== false) {
            sweepDeferred(st);
            this.store.save(st);
          }
          return { result };
        },
        { io },
      );
      if (out !== NEED_IO) return out.result;
      io = true;
    }
  }

  /** Background mirror recovery up to the clock (resync.ts); `io`: the I/O lock is held, copies may run. */
  private resync(st: SimState, io: boolean): boolean | typeof NEED_IO {
    return advanceResync(st, {
      now: this.now(),
      rate: this.mirrorRate,
      io,
      onRegionCopied: this.onRegionCopied,
    });
  }

  /** Fire a matching fault (env first, then faults.json); consumed counts are saved at once. Caller holds the lock. */
  private fault(op: FaultOp, name: string | undefined, stage: ResumeStage | undefined): void {
    const env = matchFault(this.envFaults, op, name, stage);
    if (env.failure) throw env.failure;
    const text = this.store.readFaultsText();
    if (text === undefined || !text.trim()) return;
    const list = parseFaults(text, join(this.dir, FAULTS_FILE));
    const hit = matchFault(list, op, name, stage);
    if (hit.changed) this.store.writeFaultsText(`${JSON.stringify(list)}\n`);
    if (hit.failure) throw hit.failure;
  }

  /** Add a fault to faults.json (seen by every process using this folder). */
  addFault(f: SimFault): void {
    const [checked] = checkFaults([f], "fault");
    this.store.locked(() => {
      const text = this.store.readFaultsText();
      const list = text?.trim() ? parseFaults(text, join(this.dir, FAULTS_FILE)) : [];
      list.push({ ...checked! });
      this.store.writeFaultsText(`${JSON.stringify(list)}\n`);
    });
  }

  /** Drop every fault: faults.json and this process's DVM_SIM_FAULTS ones. */
  clearFaults(): void {
    this.envFaults = [];
    this.store.locked(() => this.store.writeFaultsText("[]\n"));
  }

  /** The faults still pending in faults.json. */
  faults(): SimFault[] {
    return this.store.locked(() => {
      const text = this.store.readFaultsText();
      return text?.trim() ? parseFaults(text, join(this.dir, FAULTS_FILE)) : [];
    });
  }

  // ---- DmBackend ----

  /** DEV_CREATE; `minor` asks for a specific (persistent) minor. */
  create(name: string, uuid?: string, opts: { minor?: number } = {}): void {
    this.tx("create", name, (st) => {
      checkName(name, "create");
      const id = uuid === undefined || uuid === "" ? undefined : uuid;
      if (id !== undefined) checkUuid(id, `create ${name}`);
      let minor = 0;
      const used = new Set(st.devices.map((d) => d.minor));
      if (opts.minor !== undefined) {
        if (!isWhole(opts.minor) || opts.minor >= MINOR_LIMIT)
          throw fail("EINVAL", `create ${name}: minor ${opts.minor} out of range`);
        if (used.has(opts.minor)) throw fail("EBUSY", `create ${name}: minor ${opts.minor} is in use`);
        minor = opts.minor;
      } else while (used.has(minor)) minor++;
      if (findDev(st, name)) throw fail("EBUSY", `create ${name}: a device with this name exists`);
      const other = id !== undefined && st.devices.find((d) => d.uuid === id);
      if (other) throw fail("EBUSY", `create ${name}: uuid ${id} is used by ${other.name}`);
      const dev: SimDev = {
        name,
        minor,
        live: null,
        inactive: null,
        live_rt: [],
        suspended: false,
        read_only: false,
        openers: 0,
        claimed: false,
        event_nr: 0,
        deferred_remove: false,
        disk_added: false,
      };
      if (id !== undefined) dev.uuid = id;
      st.devices.push(dev);
      sortDevices(st);
      st.global_event_nr++;
    });
  }

  load(name: string, table: TargetLine[], readOnly: boolean): void {
    this.tx("load", name, (st) => {
      const dev = mustFind(st, name, "load");
      const targets = buildTable(st, dev, table);
      // A device's first table is checked against device sizes now; later ones at resume (§1.4 step 5).
      if (!dev.disk_added) checkAreas(st, targets, `load ${name}`);
      dev.inactive = { read_only: !!readOnly, targets };
      dev.disk_added = true;
    });
  }

  suspend(name: string, _flags: SuspendFlags = {}): void {
    // Under the I/O lock: in-flight I/O finishes first, new I/O then waits for the resume.
    this.tx(
      "suspend",
      name,
      (st) => {
        mustFind(st, name, "suspend").suspended = true;
      },
      { io: true },
    );
  }

  /** §1.5, step for step, including its three failure outcomes. */
  resume(name: string, _flags: SuspendFlags = {}): void {
    this.tx(
      "resume",
      name,
      (st) => {
        const dev = mustFind(st, name, "resume");
        const staged = dev.inactive;
        let swapped = false;
        if (staged) {
          // Implicit suspend; if it fails nothing has changed: the staged table stays, the device active.
          if (!dev.suspended) this.fault("resume", name, "suspend");
          dev.suspended = true;
          dev.inactive = null;
          try {
            this.fault("resume", name, "swap");
            refreshDisksOf(st, slotRefs(staged.targets));
            checkAreas(st, staged.targets, `resume ${name}`);
          } catch (e) {
            // Failed swap: device left suspended, old table live, staged table destroyed.
            if (e instanceof DmFailure) throw new SaveThenFail(e);
            throw e;
          }
          dev.live = staged;
          dev.live_rt = staged.targets.map(initialRuntime);
          dev.read_only = staged.read_only;
          st.global_event_nr++;
          swapped = true;
        }
        if (dev.suspended) {
          if (!dev.live || devSize(dev) === 0)
            throw fail("EINVAL", `resume ${name}: suspended device has no table to resume`);
          try {
            this.fault("resume", name, "preresume");
          } catch (e) {
            // Resume hooks failed after the swap: the new table is live, the device stays suspended.
            if (e instanceof DmFailure && swapped) throw new SaveThenFail(e);
            throw e;
          }
          dev.suspended = false;
          // Mirror recovery (re)starts its clock: time spent suspended does not count.
          startResync(dev, this.now());
        }
      },
      { io: true },
    );
  }

  clear(name: string): void {
    this.tx("clear", name, (st) => {
      mustFind(st, name, "clear").inactive = null;
    });
  }

  remove(name: string, opts: { deferred?: boolean } = {}): void {
    this.tx(
      "remove",
      name,
      (st) => {
        const dev = mustFind(st, name, "remove");
        const open = openCounts(st).get(dev)!;
        if (open > 0) {
          if (opts.deferred) {
            dev.deferred_remove = true;
            return;
          }
          throw fail("EBUSY", `remove ${name}: device is in use (open count ${open})`);
        }
        st.devices = st.devices.filter((d) => d !== dev);
        st.global_event_nr++;
      },
      { io: true },
    );
  }

  /** DEV_RENAME: checks in the kernel's order (new name, name taken, source missing). */
  rename(name: string, newName: string): void {
    this.tx("rename", name, (st) => {
      checkName(newName, `rename ${name}`);
      if (findDev(st, newName)) throw fail("EBUSY", `rename ${name}: ${newName} exists`);
      const dev = mustFind(st, name, "rename");
      dev.name = newName;
      this.renamed(st, dev);
      sortDevices(st);
    });
  }

  /** DEV_RENAME with the uuid flag: only a device without a uuid can get one. */
  setUuid(name: string, uuid: string): void {
    this.tx("rename", name, (st) => {
      checkUuid(uuid, `set uuid of ${name}`);
      const other = st.devices.find((d) => d.uuid === uuid);
      if (other) throw fail("EBUSY", `set uuid of ${name}: ${uuid} is used by ${other.name}`);
      const dev = mustFind(st, name, "rename");
      if (dev.uuid) throw fail("EINVAL", `set uuid of ${name}: the device already has uuid ${dev.uuid}`);
      dev.uuid = uuid;
      this.renamed(st, dev);
    });
  }

  /** A rename raises a table event only when there is a live table (§1.7, §1.8). */
  private renamed(st: SimState, dev: SimDev): void {
    if (dev.live) dev.event_nr++;
    st.global_event_nr++;
  }

  message(name: string, sector: number, text: string): string {
    return this.tx("message", name, (st) => {
      const dev = mustFind(st, name, "message");
      const argv = splitArgs(typeof text === "string" ? text : "");
      if (!argv.length) throw fail("EINVAL", `message ${name}: empty message`);
      if (argv[0]!.startsWith("@")) {
        // Messages to dm core work with or without a table.
        if (argv[0]!.toLowerCase() !== "@cancel_deferred_remove")
          throw fail("EINVAL", `message ${name}: unsupported message to dm core: ${argv[0]}`);
        if (argv.length !== 1) throw fail("EINVAL", `message ${name}: ${argv[0]} takes no arguments`);
        dev.deferred_remove = false;
        return "";
      }
      // No live table: the kernel answers "nothing done" (2), which libdm reports as success.
      if (!dev.live) return "";
      const t = isWhole(sector)
        ? dev.live.targets.find(
            (x) => sector >= x.start_sectors && sector < x.start_sectors + x.length_sectors,
          )
        : undefined;
      if (!t) throw fail("EINVAL", `message ${name}: sector ${sector} is outside the device`);
      throw fail("EINVAL", `message ${name}: target type ${t.type} does not support messages`);
    });
  }

  query(kind: "table" | "status" | "deps" | "info", name: string, inactive = false): string {
    return this.tx(
      undefined,
      name,
      (st) => {
        const dev = mustFind(st, name, kind);
        const slot = inactive ? dev.inactive : dev.live;
        switch (kind) {
          case "table":
            return slot ? slot.targets.map((t) => `${printTarget(t)}\n`).join("") : "\n";
          case "status":
            return slot
              ? slot.targets
                  .map((t, i) => `${statusLine(t, inactive ? undefined : dev.live_rt[i])}\n`)
                  .join("")
              : "\n";
          case "deps": {
            // The kernel lists a table's devices newest first: reverse order of first reference.
            const refs = slotRefs(slot?.targets).reverse();
            return `${refs.length} dependencies\t:${refs.map((r) => ` (${r.replace(":", ", ")})`).join("")}\n`;
          }
          case "info":
            return `${this.infoLine(st, dev, inactive, openCounts(st).get(dev)!)}\n`;
          default:
            throw fail("EINVAL", `query ${String(kind)}: unknown query`);
        }
      },
      { write: false },
    );
  }

  /** `dmsetup info -c --noheadings --separator '|' -o name,uuid,major,minor,open,segments,events,attr`. */
  private infoLine(st: SimState, dev: SimDev, inactive: boolean, open: number): string {
    // With the inactive flag, target count and read-only come from the inactive table (DEV_STATUS).
    const segments = (inactive ? dev.inactive : dev.live)?.targets.length ?? 0;
    const ro = inactive ? !!dev.inactive?.read_only : !!dev.live && dev.read_only;
    const attr = `${dev.live ? "L" : "-"}${dev.inactive ? "I" : "-"}${dev.suspended ? "s" : "-"}${ro ? "r" : "w"}`;
    return [dev.name, dev.uuid ?? "", st.dm_major, dev.minor, open, segments, dev.event_nr, attr].join("|");
  }

  state(uuidPrefix?: string): DmStateDoc {
    return this.tx(
      undefined,
      undefined,
      (st) => {
        const counts = openCounts(st);
        const chosen = st.devices.filter((d) => !uuidPrefix || d.uuid?.startsWith(uuidPrefix));
        const diskNums = new Set<string>();
        const devices = chosen.map((d): DmDevice => {
          const refs = [...new Set([...slotRefs(d.live?.targets), ...slotRefs(d.inactive?.targets)])];
          const deps: string[] = [];
          for (const n of refs) {
            const r = byDevno(st, n);
            if (r?.kind === "dm") deps.push(r.dev.name);
            else if (r?.kind === "disk") diskNums.add(n);
          }
          const out: DmDevice = {
            name: d.name,
            read_only: !!d.live && d.read_only,
            table: d.live ? structuredClone(d.live.targets) : null,
            depends_on: deps,
            major: st.dm_major,
            minor: d.minor,
            suspended: d.suspended,
            open_count: counts.get(d)!,
            event_nr: d.event_nr,
            inactive_table: d.inactive ? structuredClone(d.inactive.targets) : null,
            deferred_remove: d.deferred_remove,
          };
          if (d.uuid !== undefined) out.uuid = d.uuid;
          return out;
        });
        const disks: DmDisk[] = st.disks
          .filter((k) => diskNums.has(`${DISK_MAJOR}:${k.minor}`))
          .map((k) => ({ path: k.path, major: DISK_MAJOR, minor: k.minor, size_sectors: k.size_sectors }));
        const doc: DmStateDoc = { kind: "dm-state", version: 1, source: "sim", devices, disks };
        if (uuidPrefix) doc.uuid_prefix = uuidPrefix;
        return doc;
      },
      { write: false },
    );
  }

  /**
   * Find a device by exactly one key as the ioctls do (§1.1): uuid, else
   * name, else device number. Name and uuid together are EINVAL; a device
   * number with either, or nothing found, is ENXIO. Answers the canonical
   * identity.
   */
  lookup(key: DeviceKey): DeviceId {
    return this.tx(
      undefined,
      key.name,
      (st) => {
        const hasDev = key.major !== undefined || key.minor !== undefined;
        if (key.uuid && key.name) throw fail("EINVAL", "lookup: give only one of name or uuid");
        if ((key.uuid || key.name) && hasDev)
          throw fail("ENXIO", "lookup: a device number with a name or uuid");
        const d = key.uuid
          ? st.devices.find((x) => x.uuid === key.uuid)
          : key.name
            ? findDev(st, key.name)
            : hasDev && key.major === st.dm_major
              ? st.devices.find((x) => x.minor === key.minor)
              : undefined;
        if (!d) throw fail("ENXIO", `lookup ${JSON.stringify(key)}: no such device`);
        const id: DeviceId = { name: d.name, major: st.dm_major, minor: d.minor };
        if (d.uuid !== undefined) id.uuid = d.uuid;
        return id;
      },
      { write: false },
    );
  }

  // ---- hooks for tests and operations ----

  /** An outside opener (a process, a mount) of the device: +1 open count. */
  open(name: string): void {
    this.tx(undefined, name, (st) => {
      const dev = mustFind(st, name, "open");
      if (!dev.disk_added) throw fail("ENXIO", `open ${name}: the device has no disk yet (no table loaded)`);
      dev.openers++;
    });
  }

  /** Last close of a device marked for deferred removal removes it. */
  close(name: string): void {
    this.tx(undefined, name, (st) => {
      const dev = mustFind(st, name, "close");
      if (dev.openers === 0) throw fail("EINVAL", `close ${name}: the device is not open`);
      dev.openers--;
    });
  }

  /**
   * Claim a device exclusively, as a mount or an O_EXCL opener does (§1.9):
   * EBUSY if a table uses it or someone claimed it already; while claimed,
   * tables cannot reference it. Takes an image path, a block device,
   * /dev/mapper/NAME, /dev/dm-N or maj:min.
   */
  claimDisk(path: string): void {
    this.tx(undefined, undefined, (st) => {
      const r = resolveDeviceArg(st, path);
      const num = refDevno(st, r);
      const holder = r.kind === "dm" ? r.dev : r.disk;
      if (holder.claimed) throw fail("EBUSY", `claim ${path}: already claimed`);
      if (heldByAnyTable(st, num)) throw fail("EBUSY", `claim ${path}: ${num} is used by a dm table`);
      holder.claimed = true;
    });
  }

  releaseDisk(path: string): void {
    this.tx(undefined, undefined, (st) => {
      const r = resolveDeviceArg(st, path);
      const holder = r.kind === "dm" ? r.dev : r.disk;
      if (!holder.claimed) throw fail("EINVAL", `release ${path}: not claimed`);
      holder.claimed = false;
    });
  }

  /**
   * Let mirror recovery copy `regions` more regions of each mirror target of
   * the live table (none while suspended), on top of the time-based
   * recovery (which is brought up to now first). Each region's data is
   * copied from leg 0 to the other legs, then counted; a device suspended on
   * a leg's way stops the copying there. A mirror that becomes fully in sync
   * raises an event (§4.5).
   */
  tick(name: string, regions: number): void {
    this.tx(
      undefined,
      name,
      (st) => {
        const dev = mustFind(st, name, "tick");
        if (!isWhole(regions)) throw fail("EINVAL", `tick ${name}: regions must be a whole number`);
        if (dev.suspended || !dev.live) return;
        dev.live.targets.forEach((t, i) => {
          if (t.type === "mirror") recover(st, dev, i, regions, this.onRegionCopied);
        });
      },
      { io: true },
    );
  }

  /** DEV_WAIT: wait until the device's event number differs from eventNr; returns it. Timeout → EINTR. */
  waitEvent(name: string, eventNr: number, opts: WaitOptions = {}): number {
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
    for (;;) {
      const cur = this.tx(undefined, name, (st) => mustFind(st, name, "wait").event_nr, { write: false });
      if (cur !== eventNr) return cur;
      if (Date.now() >= deadline) throw fail("EINTR", `wait ${name}: no event within the timeout`);
      sleepSync(POLL_MS);
    }
  }

  /** The global event counter (what poll() on the control node watches, §1.8). */
  globalEventNr(): number {
    return this.tx(undefined, undefined, (st) => st.global_event_nr, { write: false });
  }

  // ---- data path ----

  /** Read through the device's live table stack. Waits while a device on the way is suspended. */
  readData(name: string, offsetBytes: number, lengthBytes: number, opts: WaitOptions = {}): Buffer {
    this.checkRange(name, offsetBytes, lengthBytes);
    const first = Math.floor(offsetBytes / SECTOR_SIZE);
    const end = lengthBytes ? Math.ceil((offsetBytes + lengthBytes) / SECTOR_SIZE) : first;
    return this.withPlans(
      name,
      false,
      opts,
      (st, dev) => [planIo(st, dev, first, end - first, false)],
      (plans) => {
        const buf = Buffer.alloc((end - first) * SECTOR_SIZE);
        readPieces(plans[0]!.pieces, buf);
        const from = offsetBytes - first * SECTOR_SIZE;
        return buf.subarray(from, from + lengthBytes);
      },
    );
  }

  /** Write through the device's live table stack; partial sectors at the edges are read, patched, written. */
  writeData(name: string, offsetBytes: number, data: Buffer, opts: WaitOptions = {}): void {
    this.checkRange(name, offsetBytes, data.length);
    const first = Math.floor(offsetBytes / SECTOR_SIZE);
    const end = data.length ? Math.ceil((offsetBytes + data.length) / SECTOR_SIZE) : first;
    const count = end - first;
    const head = count > 0 && offsetBytes % SECTOR_SIZE !== 0;
    const tail = count > 0 && (offsetBytes + data.length) % SECTOR_SIZE !== 0 && !(head && count === 1);
    this.withPlans(
      name,
      true,
      opts,
      (st, dev) => {
        const main = planIo(st, dev, first, count, true);
        if (main.error !== undefined) return [main];
        return [
          main,
          ...(head ? [planIo(st, dev, first, 1, false)] : []),
          ...(tail ? [planIo(st, dev, end - 1, 1, false)] : []),
        ];
      },
      (plans) => {
        const buf = Buffer.alloc(count * SECTOR_SIZE);
        let p = 1;
        if (head) readPieces(plans[p++]!.pieces, buf.subarray(0, SECTOR_SIZE));
        if (tail) readPieces(plans[p++]!.pieces, buf.subarray((count - 1) * SECTOR_SIZE));
        data.copy(buf, offsetBytes - first * SECTOR_SIZE);
        writePieces(plans[0]!.pieces, buf);
      },
    );
  }

  private checkRange(name: string, offsetBytes: number, lengthBytes: number): void {
    if (!isWhole(offsetBytes) || !isWhole(lengthBytes) || !Number.isSafeInteger(offsetBytes + lengthBytes))
      throw fail("EINVAL", `I/O on ${name}: offset and length must be whole byte counts`);
  }

  /**
   * Map the request under the state lock (inside the I/O lock), then do the
   * file I/O holding only the I/O lock. While some device on the way is
   * suspended, drop both locks and poll until it is resumed or time runs out.
   */
  private withPlans<T>(
    name: string,
    write: boolean,
    opts: WaitOptions,
    plan: (st: SimState, dev: SimDev) => Plan[],
    run: (plans: Plan[]) => T,
  ): T {
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
    let waitingFor = "";
    // Queued I/O belongs to the device, not its name: after the first lookup, follow the minor (a rename may come).
    let minor: number | undefined;
    for (;;) {
      const done = this.store.ioLocked(() => {
        const plans = this.store.locked(() => {
          const st = this.store.load();
          // Mirror recovery up to now (the I/O lock is held, so it may copy); copied, then recorded.
          if (this.resync(st, true)) this.store.save(st);
          const dev = minor === undefined ? findDev(st, name) : st.devices.find((d) => d.minor === minor);
          if (!dev?.disk_added) {
            // A device that vanished while we waited had its queued I/O failed.
            if (waitingFor) throw fail("EIO", `I/O on ${name}: the device was removed`);
            throw fail("ENXIO", `I/O on ${name}: no such device`);
          }
          minor = dev.minor;
          if (write && dev.live && dev.read_only)
            throw fail("EPERM", `write to ${name}: the device is read-only`);
          try {
            const ps = plan(st, dev);
            const bad = ps.find((x) => x.error !== undefined);
            if (ps.some((x) => x.dirty)) this.store.save(st);
            if (bad) throw bad.error;
            return ps;
          } catch (e) {
            if (e instanceof MustWait) {
              waitingFor = e.device;
              return undefined;
            }
            throw e;
          }
        });
        return plans ? { value: run(plans) } : undefined;
      });
      if (done) return done.value;
      if (Date.now() >= deadline)
        throw fail("EIO", `I/O on ${name}: timed out waiting for resume of ${waitingFor}`);
      sleepSync(POLL_MS);
    }
  }
}
