import { isatty } from "node:tty";
import { devicesDoc } from "../discover/scan.js";
import { onlyDoc, parseDocs, readStdinText, toJson } from "../lib/docio.js";
import type { DevicesDoc } from "../lib/docs.js";
import { DvmError, Exit, usageError } from "../lib/errors.js";
import { readAllVgs, readVg } from "../tm/read.js";
import { restoreVg } from "../tm/restore.js";
import { flag, type Io, type Parsed, parse, scanScope, type Tool, warnTo } from "./common.js";
import { scanFrom } from "./dvm-discover.js";

const USAGE = `Usage: dvm-tm COMMAND [OPTIONS]   (devices document on stdin, e.g. from dvm-discover find VG)

The transaction manager: reads (and, later, commits) VG metadata on the PVs' metadata areas.

Commands:
  read VG        the newest valid metadata of VG as a vg document; stale or bad copies are
                 named on stderr. Exit 4 if PVs are missing (unless --partial), 7 if no copy is valid.
  read           every VG on the devices (vg documents, one per line), then the orphan PVs
                 as a devices document
  verify VG      like read, then a summary of every metadata copy on stderr
  restore VG     write the metadata of a vg document on stdin to the VG's PVs (as vgcfgrestore),
                 with a seqno above every copy on them  [--dry-run prints the text instead]

Options:
  --partial               read a VG even with PVs missing
  --devices DEV[,DEV...]  without a devices document on stdin: scan these devices
  -c, --config FILE       JSON config
  --json, --help, --version
`;

const OPTIONS = { partial: { type: "boolean" }, "dry-run": { type: "boolean" } } as const;

/** The devices document from stdin, or a fresh scan when stdin is a terminal or empty. */
export function devicesInput(p: Parsed): DevicesDoc {
  const text = isatty(0) ? "" : readStdinText();
  if (text.trim() === "") {
    const { devices, config } = scanScope(p);
    return devicesDoc(scanFrom(config, devices));
  }
  return onlyDoc(parseDocs(text), "devices", "dvm-tm");
}

export const tmTool: Tool = {
  name: "dvm-tm",
  usage: USAGE,
  run(argv: string[], io: Io) {
    const p = parse(argv, OPTIONS);
    const [cmd, ...args] = p.positionals;
    const warn = warnTo(io, "dvm-tm");
    switch (cmd) {
      case "read":
      case "verify": {
        if (args.length > 1) throw usageError(`${cmd} takes one VG name`);
        if (args.length === 0) {
          if (cmd === "verify") throw usageError("verify needs a VG name");
          const { vgs, orphans } = readAllVgs(devicesInput(p), { warn });
          for (const vg of vgs) io.out(toJson(vg));
          io.out(toJson({ kind: "devices", version: 1, devices: orphans, vgs: [] }));
          return 0;
        }
        const r = readVg(devicesInput(p), args[0]!, { partial: flag(p, "partial"), warn });
        if (cmd === "verify") {
          const count = (s: string) => r.copies.filter((c) => c.state === s).length;
          io.err(
            `dvm-tm: VG ${r.doc.vg.name} seqno ${r.doc.vg.seqno}: ${count("current")} current, ${count("stale")} stale, ` +
              `${count("bad") + count("mismatch")} bad metadata copies; ${r.missing.length} PVs missing\n`,
          );
        }
        io.out(toJson(r.doc));
        return 0;
      }
      case "restore": {
        if (args.length !== 1) throw usageError("restore needs the VG name");
        const text = isatty(0) ? "" : readStdinText();
        if (text.trim() === "") throw usageError("restore expects a vg document on stdin");
        const doc = onlyDoc(parseDocs(text), "vg", "dvm-tm");
        if (doc.vg.name !== args[0])
          throw new DvmError(Exit.invalid, `the vg document is for "${doc.vg.name}", not "${args[0]}"`);
        const { devices, config } = scanScope(p);
        const r = restoreVg(doc, scanFrom(config, devices), { dryRun: flag(p, "dry-run") });
        if (flag(p, "dry-run")) io.out(r.text.replace(/\0$/, ""));
        else io.out(toJson({ vg: r.vg.name, seqno: r.seqno, written: r.written }));
        return 0;
      }
      case undefined:
        throw usageError("missing command");
      default:
        throw usageError(`unknown command "${cmd}"`);
    }
  },
};
