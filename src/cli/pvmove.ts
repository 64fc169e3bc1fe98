import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { dmName } from "../activate/names.js";
import type { ScannedDevice } from "../discover/scan.js";
import { devicesDoc, summarize } from "../discover/scan.js";
import type { DmBackend } from "../dm/backend.js";
import type { VgDoc } from "../lib/docs.js";
import { DvmError, Exit, notFound, usageError } from "../lib/errors.js";
import { childProcess, isatty } from "../lib/lazy.js";
import { siblingTool } from "../lib/tools.js";
import { isPvmoveLv } from "../lvm2/mirror.js";
import { generateId, rawId } from "../lvm2/uuid.js";
import type { LvMeta } from "../lvm2/vg.js";
import { pvmoveStart } from "../manip/pvmove.js";
import { type PvmoveProgress, percent, progressLine, pvmoveProgress } from "../poll/pvmove.js";
import { PolldClient } from "../polld/client.js";
import { findInt, findString, parseConfig } from "../polld/config.js";
import { DEFAULT_SOCKET } from "../polld/main.js";
import { activateVg } from "../tm/activate.js";
import { readVg } from "../tm/read.js";
import { type TxResult, updateVg } from "../tm/update.js";
import { deviceList, flag, type Io, type Parsed, str } from "./common.js";
import { requiredBackend } from "./dm-common.js";
import { parseInterval } from "./dvm-poll.js";
import { report, txOptions } from "./mutate.js";

/**
 * `dvm pvmove`, as LVM2's pvmove with lvmpolld: start the move in one
 * transaction (the pvmove layer written and activated in a two-phase
 * commit), hand the polling to dvm-polld (started if it is not running), and
 * unless --background show the progress until the daemon's poller is done.
 * With no device: carry on every interrupted move (activating its layer if
 * need be); with --abort: ask for the moves to be aborted.
 */

export const PVMOVE_OPTIONS = {
  abort: { type: "boolean" },
  background: { type: "boolean", short: "b" },
  lv: { type: "string", short: "n" },
  interval: { type: "string", short: "i" },
} as const;

/** LVM2's default activation/polling_interval. */
const DEFAULT_INTERVAL_S = 15;

interface Move {
  vg: string;
  layer: string;
  /** VG id + layer LV id, no dashes: the job's identity in the daemon. */
  lvid: string;
}

const lvidOf = (doc: VgDoc, lv: LvMeta) => `${rawId(String(doc.vg.id))}${rawId(String(lv.id))}`;
const layersOf = (doc: VgDoc) => (doc.vg.logical_volumes ?? []).filter(isPvmoveLv);

/** The pvmove layer whose source is `pv` (a PV section name). */
const layerFrom = (doc: VgDoc, pvName: string) =>
  layersOf(doc).find((l) => l.segments.some((s) => Array.isArray(s.mirrors) && s.mirrors[0] === pvName));

export async function pvmoveCommand(p: Parsed, args: string[], io: Io): Promise<number> {
  const abort = flag(p, "abort");
  const background = flag(p, "background");
  const interval = str(p, "interval") ?? String(DEFAULT_INTERVAL_S);
  const { seconds } = parseInterval(interval);
  if (abort && args.length > 1) throw usageError("pvmove --abort takes at most the source device");
  if (!args.length && str(p, "lv") !== undefined) throw usageError("--lv goes with a source device");
  const backend = requiredBackend(p, "pvmove");
  const tx = txOptions(p, io, ["pvmove", ...args].join(" "));
  if (tx.dryRun) {
    // The start's metadata change and dm program; nothing is written, no daemon asked.
    if (abort || !args.length)
      throw usageError("--dry-run shows the start of a move: name the source device");
    const { doc } = vgOfDevice(tx.scan(), args[0]!);
    report(startMove(doc.vg.name, args[0]!, args.slice(1), p, io, backend, tx).tx, p, io, "");
    return Exit.ok;
  }

  const moves: { move: Move; source: string }[] = [];
  if (args.length === 0) {
    // Every move in progress, in every VG in scope.
    for (const { doc } of vgsOf(tx.scan()))
      for (const layer of layersOf(doc)) {
        if (!abort) ensureActive(doc.vg.name, layer.name, backend, tx);
        moves.push({ move: { vg: doc.vg.name, layer: layer.name, lvid: lvidOf(doc, layer) }, source: "" });
      }
    if (!moves.length) {
      io.out("  No pvmove in progress.\n");
      return Exit.ok;
    }
  } else {
    const source = args[0]!;
    const { doc, pvName } = vgOfDevice(tx.scan(), source);
    const running = layerFrom(doc, pvName);
    if (abort) {
      if (!running) throw notFound(`${source}: no pvmove in progress`);
      moves.push({ move: { vg: doc.vg.name, layer: running.name, lvid: lvidOf(doc, running) }, source });
    } else if (running) {
      io.err(`  Detected pvmove in progress for ${source}.\n`);
      if (args.length > 1 || str(p, "lv") !== undefined)
        io.err("  Ignoring remaining command line arguments.\n");
      ensureActive(doc.vg.name, running.name, backend, tx);
      moves.push({ move: { vg: doc.vg.name, layer: running.name, lvid: lvidOf(doc, running) }, source });
    } else
      moves.push({ move: startMove(doc.vg.name, source, args.slice(1), p, io, backend, tx).move, source });
  }

  const socket = process.env.LVM_LVMPOLLD_SOCKET ?? DEFAULT_SOCKET;
  const client = await connectOrStart(socket, p);
  try {
    for (const { move } of moves) await register(client, move, abort ? "0" : interval, abort);
    if (background) return Exit.ok;
    return await follow(client, moves, abort, seconds, { backend, tx, io });
  } finally {
    client.close();
  }
}

/**
 * After `dvm activate`: the moves in progress in `vg` get their pollers (in
 * the background, as LVM2's vgchange -ay does). A daemon that cannot be
 * reached is a warning, not a failure of the activation.
 */
export async function pollMovesOf(p: Parsed, io: Io, vg: string): Promise<number> {
  const tx = txOptions(p, io, `activate ${vg}`);
  const { doc } = readVg(devicesDoc(tx.scan()), vg);
  const moves = layersOf(doc).map((l) => ({ vg, layer: l.name, lvid: lvidOf(doc, l) }));
  if (!moves.length) return Exit.ok;
  const socket = process.env.LVM_LVMPOLLD_SOCKET ?? DEFAULT_SOCKET;
  try {
    const client = await connectOrStart(socket, p);
    try {
      for (const m of moves)
        await register(client, m, str(p, "interval") ?? String(DEFAULT_INTERVAL_S), false);
    } finally {
      client.close();
    }
    io.out(`  ${moves.length} interrupted pvmove(s) in volume group "${vg}" handed to dvm-polld\n`);
  } catch (e) {
    io.err(`dvm: warning: ${(e as Error).message}; carry the move on with dvm pvmove\n`);
  }
  return Exit.ok;
}

/** Every VG in the scan, read. */
function vgsOf(scanned: ScannedDevice[]): { doc: VgDoc }[] {
  const devices = devicesDoc(scanned);
  return summarize(scanned).map((v) => ({ doc: readVg(devices, v.name).doc }));
}

/** The VG that has `device` as a PV, and that PV's section name. */
function vgOfDevice(scanned: ScannedDevice[], device: string): { doc: VgDoc; pvName: string } {
  const dev = scanned.find((d) => d.entry.path === device);
  if (!dev) throw notFound(`${device}: device not found among the scanned devices`);
  if (!dev.entry.pv) throw new DvmError(Exit.invalid, `${device}: not a PV`);
  const uuid = rawId(dev.entry.pv.uuid);
  const vg = summarize(scanned).find((v) => v.pv_uuids.some((u) => rawId(u) === uuid));
  if (!vg) throw new DvmError(Exit.invalid, `${device}: PV is not in a volume group`);
  const { doc } = readVg(devicesDoc(scanned), vg.name);
  const pv = doc.vg.physical_volumes.find((x) => rawId(String(x.id)) === uuid)!;
  return { doc, pvName: pv.name };
}

/** The layer of an interrupted move must be live before a poller can follow its mirror. */
function ensureActive(vg: string, layer: string, backend: DmBackend, tx: ReturnType<typeof txOptions>) {
  const r = activateVg(vg, { backend, activate: [layer] }, tx);
  if (r.report && r.report.result !== "ok")
    throw new DvmError(Exit.dmRolledBack, `${vg}/${layer}: activation failed (${r.report.result})`);
}

/** pvmove-start in one transaction, the new layer activated with it (LVM2 always activates it). */
function startMove(
  vg: string,
  source: string,
  dests: string[],
  p: Parsed,
  io: Io,
  backend: DmBackend,
  tx: ReturnType<typeof txOptions>,
): { move: Move; tx: TxResult } {
  // The layer's name is known only once the mutator has run; the activation request is read after it.
  const activate: string[] = [];
  const messages: string[] = [];
  const r = updateVg(
    vg,
    (doc) => {
      const out = pvmoveStart(doc, {
        source,
        dest: dests,
        lv: str(p, "lv"),
        time: Math.floor(Date.now() / 1000),
        host: hostname(),
        newId: generateId,
        messages,
      });
      const before = new Set(layersOf(doc).map((l) => l.name));
      const layer = layersOf(out.doc).find((l) => !before.has(l.name));
      if (layer) activate.push(layer.name);
      return out.doc;
    },
    { ...tx, activation: { backend, activate } },
  );
  for (const m of messages) io.err(`  ${m}\n`);
  const layer = layersOf(r.after).find((l) => l.name === activate[0])!;
  return { move: { vg, layer: layer.name, lvid: lvidOf(r.after, layer) }, tx: r };
}

/** Talk to dvm-polld at `socket`, starting it first when nobody answers there. */
async function connectOrStart(socket: string, p: Parsed): Promise<PolldClient> {
  try {
    const c = await PolldClient.connect(socket);
    await c.hello();
    return c;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ECONNREFUSED") throw polldError(socket, e);
  }
  const daemon = polldBinary();
  const argv = [...daemon, "-s", socket, "--", ...pollerArgs(p)];
  // Without -f the daemon returns once it serves the socket (or failed to).
  const r = childProcess().spawnSync(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
    env: process.env,
  });
  if (r.status !== 0)
    throw new DvmError(
      Exit.internal,
      `could not start dvm-polld (${argv.join(" ")}): ${r.stderr?.toString().trim()}`,
    );
  try {
    const c = await PolldClient.connect(socket);
    await c.hello();
    return c;
  } catch (e) {
    throw polldError(socket, e);
  }
}

const polldError = (socket: string, e: unknown) =>
  new DvmError(Exit.internal, `cannot talk to dvm-polld at ${socket}: ${(e as Error).message}`);

/**
 * The wrapper's options every poller needs, to find the same devices, locks
 * and device-mapper; paths made absolute, as the daemon works from "/".
 */
export function pollerArgs(p: Parsed): string[] {
  const out: string[] = [];
  const config = str(p, "config");
  if (config !== undefined) out.push("-c", resolve(config));
  const devices = deviceList(p);
  if (devices) out.push("--devices", devices.map((d) => resolve(d)).join(","));
  const backend = str(p, "dm-backend");
  if (backend !== undefined) out.push("--dm-backend", backend);
  for (const k of ["sim-dir", "lock-dir"]) {
    const v = str(p, k);
    if (v !== undefined) out.push(`--${k}`, resolve(v));
  }
  return out;
}

/** dvm-polld beside this bundle (dist/), else on PATH. */
function polldBinary(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const f of [siblingTool("dvm-polld"), join(here, "../../dist/dvm-polld.cjs")])
    if (existsSync(f)) return [process.execPath, f];
  return ["dvm-polld"];
}

async function register(client: PolldClient, m: Move, interval: string, abort: boolean): Promise<void> {
  const fields: [string, string | number][] = [
    ["request", "pvmove"],
    ["lvid", m.lvid],
    ["vgname", m.vg],
    ["lvname", m.layer],
    ["interval", interval],
  ];
  if (abort) fields.push(["abort", 1]);
  const tree = parseConfig(await client.request(fields));
  const response = findString(tree, "response");
  if (response !== "OK")
    throw new DvmError(
      Exit.internal,
      `dvm-polld refused ${m.vg}/${m.layer}: ${response ?? "no response"} (${findString(tree, "reason") ?? ""})`,
    );
}

interface Follow {
  backend: DmBackend;
  tx: ReturnType<typeof txOptions>;
  io: Io;
}

/**
 * Wait for the daemon's pollers, as LVM2's client does: progress_info each
 * interval; between, show how far each move is (from the metadata and the
 * layer's mirror status). The poller's exit code becomes ours.
 */
async function follow(
  client: PolldClient,
  moves: { move: Move; source: string }[],
  abort: boolean,
  intervalS: number,
  f: Follow,
): Promise<number> {
  const bar = !abort && isatty(1) ? await progressBar() : undefined;
  let worst: number = Exit.ok;
  let pending = moves.map((m) => m.move);
  /** What each move's progress is shown against (its source PV), once known. */
  const shown = new Map<string, string>();
  const pauseMs = Math.max(100, Math.min(intervalS * 1000, 1000));
  try {
    while (pending.length) {
      const next: Move[] = [];
      for (const m of pending) {
        const fields: [string, string | number][] = [
          ["request", "progress_info"],
          ["lvid", m.lvid],
        ];
        if (abort) fields.push(["abort", 1]);
        const tree = parseConfig(await client.request(fields));
        const response = findString(tree, "response");
        if (response === "in_progress") {
          next.push(m);
          const pr = abort ? undefined : progressOf(m, f);
          if (pr) {
            shown.set(m.lvid, pr.display);
            if (bar) bar.show(pr);
            else f.io.out(`${progressLine(pr)}\n`);
          }
        } else if (response === "finished") {
          const reason = findString(tree, "reason");
          const value = Number(findInt(tree, "value", -1n));
          if (reason === "retcode" && value === 0 && !abort && layerLeft(m, f)) {
            // The poller stopped without finishing: the layer went inactive under it.
            f.io.err(
              `dvm: error: ${m.vg}/${m.layer}: the move was interrupted (its layer is no longer active); dvm pvmove carries it on\n`,
            );
            worst = Exit.conflict;
          } else if (reason === "retcode" && value === 0) {
            if (bar) bar.done();
            else if (!abort) f.io.out(`  ${shown.get(m.lvid) ?? `${m.vg}/${m.layer}`}: Moved: 100.00%\n`);
          } else {
            f.io.err(
              `dvm: error: the poller of ${m.vg}/${m.layer} ${reason === "signal" ? `was killed by signal ${value}` : `failed with exit code ${value}`} (see dvm-polld's log)\n`,
            );
            worst = reason === "retcode" && value > 0 && value < 100 ? value : Exit.internal;
          }
        } else if (response === "not_found") {
          // Nothing left to poll: finished before we looked (as LVM2's client, a success).
        } else {
          f.io.err(
            `dvm: error: dvm-polld: ${response ?? "no response"} (${findString(tree, "reason") ?? ""})\n`,
          );
          worst = Exit.internal;
        }
      }
      pending = next;
      if (pending.length) await new Promise((r) => setTimeout(r, pauseMs));
    }
  } finally {
    bar?.stop();
  }
  return worst;
}

/** Whether the move's layer is still in the metadata. */
function layerLeft(m: Move, f: Follow): boolean {
  const { doc } = readVg(devicesDoc(f.tx.scan()), m.vg);
  return layersOf(doc).some((l) => lvidOf(doc, l) === m.lvid);
}

/** How far a move is, or undefined when it cannot be told right now (finished meanwhile, not active). */
function progressOf(m: Move, f: Follow): PvmoveProgress | undefined {
  try {
    const { doc } = readVg(devicesDoc(f.tx.scan()), m.vg);
    const layer = doc.vg.logical_volumes?.find((l) => l.name === m.layer);
    if (!layer) return undefined;
    return pvmoveProgress(doc, layer, f.backend.query("status", dmName(m.vg, m.layer)));
  } catch {
    return undefined;
  }
}

/** A cli-progress bar, loaded only for a terminal. */
async function progressBar() {
  const { SingleBar, Presets } = await import("cli-progress");
  const bar = new SingleBar(
    { format: "  {display}: Moved [{bar}] {percentage}%", hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  let started = false;
  return {
    show(p: PvmoveProgress) {
      const v = Math.floor(percent(p) * 100) / 100;
      if (!started) {
        bar.start(100, v, { display: p.display });
        started = true;
      } else bar.update(v, { display: p.display });
    },
    done() {
      if (started) bar.update(100);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
