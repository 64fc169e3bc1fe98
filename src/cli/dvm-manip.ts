import { hostname } from "node:os";
import { onlyDoc, parseDocs, pipedStdinText, toJson } from "../lib/docio.js";
import type { VgDoc } from "../lib/docs.js";
import { Exit, invalidInput, notFound, usageError } from "../lib/errors.js";
import { generateId } from "../lvm2/uuid.js";
import {
  checkResult,
  lvCreate,
  lvExtend,
  lvReduce,
  lvRemove,
  lvRename,
  type ManipResult,
  parseNewPv,
  pvmoveAbort,
  pvmoveCheckpoint,
  pvmoveFinish,
  pvmoveStart,
  type SizeArg,
  vgCreate,
  vgExtend,
  vgReduce,
  vgRename,
} from "../manip/index.js";
import { mirrorConvertFinish } from "../manip/mirror.js";
import { snapshotMergeFinish } from "../manip/snapshot.js";
import { type Io, type Parsed, parse, parseSize, str, type Tool } from "./common.js";

const USAGE = `Usage: dvm-manip OP [ARGS]   (vg document on stdin, the new one on stdout)

Pure metadata mutators for LVM2-compatible VGs: read one vg document (as from
dvm-tm read), print the changed document with seqno + 1. Nothing is read or
written on any device. Messages (LVM2's, e.g. size rounding) go to stderr.
The allocator picks the extents LVM2 2.03 picks (policy normal, or the VG's).

Operations:
  vg-create VG [--extent-size SIZE] --pv PV...   (no stdin; prints a new VG, seqno 1)
  vg-extend --pv PV...
      PV is PATH:UUID:PE_START_SECTORS:DEV_SIZE_SECTORS (a labelled PV in no VG).
      --extent-size defaults to 4m; a power of 2 >= 1k, or a multiple of 128k.
  vg-reduce PV...        remove PVs (device path, pvN or UUID) that hold no extents
  vg-rename NEWNAME
  lv-create LV --size SIZE [--stripes N [--stripe-size SIZE]] [--on PV[:PE-PE]...]
                [--time UNIX_SECONDS] [--host NAME]
      Linear (1 stripe) or striped. The size is rounded up to whole extents
      (and to a multiple of the stripes). Stripe size: default 64k, a power of
      2 >= 4k, at most the extent size. --on (repeatable) restricts the
      allocation to these PVs, in this order, optionally to PE ranges in LVM2's
      syntax: PV:N, PV:N-M, PV:N-, PV:N+COUNT, several ranges as PV:A-B:C-D.
      --time/--host default to now and this host.
  lv-extend LV --size [+]SIZE [--stripes N] [--stripe-size SIZE] [--on PV[:PE-PE]...]
      +SIZE adds, SIZE is the new total. Stripes default to the LV's.
  lv-reduce LV --size [-]SIZE      -SIZE removes, SIZE is the new total
  lv-remove LV
  lv-rename LV NEWNAME
      LV may be given as VG/LV. Only visible striped/linear LVs that no other
      LV uses can be changed; other segment types pass through untouched.
  pvmove-start SOURCE_PV[:PE-PE...] [DEST_PV[:PE-PE...]...] [--lv LV]
                [--time UNIX_SECONDS] [--host NAME]
      What LVM2's pvmove writes when it starts: a hidden LV pvmove<N> of
      2-way mirror segments (source extents, then new destination extents,
      extents_moved 0, core log) under every area of the (named) LV(s) on the
      source PV, those LVs LOCKED. The destination is allocated as LVM2 does
      (policy normal, never on the source PV, only on DEST_PVs if given).
      Refused while another pvmove is in progress.
  pvmove-checkpoint [PVMOVE_LV | SOURCE_PV]
      The running layer segment's mirror is in sync: record it as copied
      (extents_moved), so the next segment becomes the running mirror.
  pvmove-finish [PVMOVE_LV | SOURCE_PV]
      The copy is done: the moved LVs take the destination extents (adjacent
      segments merged), LOCKED is cleared and the pvmove LV removed.
  pvmove-abort [PVMOVE_LV | SOURCE_PV]
      The moved LVs go back to the source extents (segments already recorded
      as copied, extents_moved = extent_count, keep the destination, as with
      LVM2); LOCKED is cleared and the pvmove LV removed. Without an
      argument both act on the VG's only pvmove.
  mirror-convert-finish LV
      The end of LVM2's mirror up-convert (lvconvert -m+N of a disk-log
      mirror), once in sync: the temporary layer LV_mimagetmp_N collapses into
      LV (its legs and log, then the new images, one mirror), which clears
      LVM2's CONVERTING; the layer is removed. Exit 3 when LV has no layer.
  snapshot-merge-finish ORIGIN
      The kernel has merged the snapshot back into ORIGIN (lvconvert --merge):
      what LVM2's poller then writes: the merging snapshot<N> LV and its COW LV
      (the snapshot's name) are removed; ORIGIN and other snapshots stay as
      they are.

SIZE: a number with an s, b, k, m, g or t suffix (powers of 1024; s = 512-byte
sectors; no suffix = MiB). Write a leading - as --size=-SIZE or --size -SIZE.

Exit codes: 0 ok, 1 usage, 2 invalid input (bad size, name, stripe count,
unchangeable LV, no data to move), 3 LV or PV not found (or no pvmove in
progress, or no snapshot merging into ORIGIN), 4 the PV to move off is
missing, 5 conflict (name exists, PV in use, a pvmove in progress, LV
locked), 6 not enough free space (or PVs for the stripes), 10 internal error.

Options:
  -c, --config FILE  (accepted, unused)   --json   --help   --version
`;

const OPTIONS = {
  "extent-size": { type: "string" },
  pv: { type: "string", multiple: true },
  size: { type: "string" },
  stripes: { type: "string" },
  "stripe-size": { type: "string" },
  on: { type: "string", multiple: true },
  time: { type: "string" },
  host: { type: "string" },
  lv: { type: "string" },
} as const;

/** A size option's value in sectors (rounded up to a whole sector). */
function sectorsOf(text: string, what: string): number {
  return Math.ceil(parseSize(text, what) / 512);
}

function sizeArg(p: Parsed, allowed: "+" | "-" | null): SizeArg {
  const text = str(p, "size");
  if (text === undefined) throw usageError("--size is required");
  const sign = text[0] === "+" || text[0] === "-" ? text[0] : null;
  if (sign && sign !== allowed)
    throw invalidInput(
      `--size "${text}": ${allowed ? `only ${allowed}SIZE or SIZE` : "no sign"} allowed here`,
    );
  return { sectors: sectorsOf(sign ? text.slice(1) : text, "--size"), relative: sign !== null };
}

function intOpt(p: Parsed, k: string): number | undefined {
  const v = str(p, k);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw invalidInput(`--${k}: "${v}" is not a number`);
  return Number(v);
}

const list = (p: Parsed, k: string) => (p.values[k] as string[] | undefined) ?? [];

function readStdinDoc(): VgDoc {
  const text = pipedStdinText();
  if (text.trim() === "") throw usageError("expected a vg document on stdin");
  return onlyDoc(parseDocs(text), "vg", "dvm-manip");
}

/** An LV argument: LV or VG/LV (the VG must be the document's). */
function lvName(doc: VgDoc, arg: string | undefined, op: string): string {
  if (!arg) throw usageError(`${op} needs the LV name`);
  const slash = arg.lastIndexOf("/");
  if (slash < 0) return arg;
  const vg = arg.slice(0, slash).replace(/^\/dev\//, "");
  if (vg !== doc.vg.name) throw notFound(`volume group "${vg}" is not the document's ("${doc.vg.name}")`);
  return arg.slice(slash + 1);
}

const nowOf = (p: Parsed) => {
  const t = str(p, "time");
  if (t === undefined) return Math.floor(Date.now() / 1000);
  if (!/^\d+$/.test(t)) throw invalidInput(`--time: "${t}" is not a number of seconds`);
  return Number(t);
};

/** `--size -5m` would look like an option to parseArgs: glue it to --size. */
export function glueSize(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--size" && i + 1 < argv.length) out.push(`--size=${argv[++i]}`);
    else out.push(argv[i]!);
  }
  return out;
}

function only(args: string[], n: number, op: string, what: string) {
  if (args.length !== n) throw usageError(`${op} takes ${what}`);
}

/**
 * Run one operation with parsed arguments. `messages` receives LVM2-style
 * messages (also when the operation then fails); `input` supplies the vg
 * document (stdin by default; vg-create never asks for one).
 */
export function runOp(
  op: string | undefined,
  args: string[],
  p: Parsed,
  messages: string[],
  input: () => VgDoc = readStdinDoc,
): ManipResult {
  const readDoc = input;
  switch (op) {
    case "vg-create": {
      only(args, 1, op, "the VG name");
      const es = str(p, "extent-size");
      return checkResult(
        null,
        vgCreate({
          name: args[0]!,
          extentSize: es === undefined ? undefined : sectorsOf(es, "--extent-size"),
          pvs: list(p, "pv").map(parseNewPv),
          newId: generateId,
          time: nowOf(p),
          host: str(p, "host") ?? hostname(),
        }),
      );
    }
    case "vg-extend": {
      only(args, 0, op, "no arguments but --pv");
      const doc = readDoc();
      return checkResult(doc, vgExtend(doc, { pvs: list(p, "pv").map(parseNewPv) }));
    }
    case "vg-reduce": {
      if (args.length === 0) throw usageError("vg-reduce needs the PVs to remove");
      const doc = readDoc();
      return checkResult(doc, vgReduce(doc, { pvs: args }));
    }
    case "vg-rename": {
      only(args, 1, op, "the new VG name");
      const doc = readDoc();
      return checkResult(doc, vgRename(doc, { name: args[0]! }));
    }
    case "lv-create": {
      only(args, 1, op, "the LV name");
      const doc = readDoc();
      const size = sizeArg(p, null);
      const ss = str(p, "stripe-size");
      return checkResult(
        doc,
        lvCreate(doc, {
          name: lvName(doc, args[0], op),
          size: size.sectors,
          stripes: intOpt(p, "stripes"),
          stripeSize: ss === undefined ? undefined : sectorsOf(ss, "--stripe-size"),
          on: list(p, "on"),
          time: nowOf(p),
          host: str(p, "host") ?? hostname(),
          newId: generateId,
          messages,
        }),
      );
    }
    case "lv-extend": {
      only(args, 1, op, "the LV name");
      const doc = readDoc();
      const ss = str(p, "stripe-size");
      return checkResult(
        doc,
        lvExtend(doc, {
          name: lvName(doc, args[0], op),
          size: sizeArg(p, "+"),
          stripes: intOpt(p, "stripes"),
          stripeSize: ss === undefined ? undefined : sectorsOf(ss, "--stripe-size"),
          on: list(p, "on"),
          messages,
        }),
      );
    }
    case "lv-reduce": {
      only(args, 1, op, "the LV name");
      const doc = readDoc();
      return checkResult(
        doc,
        lvReduce(doc, { name: lvName(doc, args[0], op), size: sizeArg(p, "-"), messages }),
      );
    }
    case "lv-remove": {
      only(args, 1, op, "the LV name");
      const doc = readDoc();
      return checkResult(doc, lvRemove(doc, { name: lvName(doc, args[0], op) }));
    }
    case "lv-rename": {
      only(args, 2, op, "the LV name and the new name");
      const doc = readDoc();
      const name = lvName(doc, args[0], op);
      const newName = lvName(doc, args[1], op);
      return checkResult(doc, lvRename(doc, { name, newName }));
    }
    case "pvmove-start": {
      if (args.length < 1) throw usageError("pvmove-start needs the source PV");
      const doc = readDoc();
      const lv = str(p, "lv");
      return checkResult(
        doc,
        pvmoveStart(doc, {
          source: args[0]!,
          dest: args.slice(1),
          lv: lv === undefined ? undefined : lvName(doc, lv, op),
          time: nowOf(p),
          host: str(p, "host") ?? hostname(),
          newId: generateId,
          messages,
        }),
      );
    }
    case "pvmove-checkpoint":
    case "pvmove-finish":
    case "pvmove-abort": {
      if (args.length > 1) throw usageError(`${op} takes at most the pvmove LV or its source PV`);
      const doc = readDoc();
      const end =
        op === "pvmove-finish" ? pvmoveFinish : op === "pvmove-abort" ? pvmoveAbort : pvmoveCheckpoint;
      return checkResult(doc, end(doc, { target: args[0], messages }));
    }
    case "snapshot-merge-finish": {
      only(args, 1, op, "the origin LV");
      const doc = readDoc();
      return checkResult(doc, snapshotMergeFinish(doc, { origin: lvName(doc, args[0], op), messages }));
    }
    case "mirror-convert-finish": {
      only(args, 1, op, "the LV name");
      const doc = readDoc();
      return checkResult(doc, mirrorConvertFinish(doc, { target: lvName(doc, args[0], op), messages }));
    }
    case undefined:
      throw usageError("missing operation");
    default:
      throw usageError(`unknown operation "${op}"`);
  }
}

export const manipTool: Tool = {
  name: "dvm-manip",
  usage: USAGE,
  run(argv: string[], io: Io) {
    const p = parse(glueSize(argv), OPTIONS);
    const [op, ...args] = p.positionals;
    const messages: string[] = [];
    let r: ManipResult;
    try {
      r = runOp(op, args, p, messages);
    } finally {
      for (const m of messages) io.err(`  ${m}\n`);
    }
    if (r.messages !== messages) for (const m of r.messages) io.err(`  ${m}\n`);
    io.out(toJson(r.doc));
    return Exit.ok;
  },
};
