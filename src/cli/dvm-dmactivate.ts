import { readFileSync } from "node:fs";
import { planActivation } from "../activate/plan.js";
import type { DmStateDoc } from "../dm/docs.js";
import { parseDocsOf, pipedStdinText, toJson } from "../lib/docio.js";
import { Exit, invalidInput, usageError } from "../lib/errors.js";
import { flag, type Io, parse, str, type Tool } from "./common.js";

const USAGE = `Usage: dvm-dmactivate [--commit] [--current FILE --desired FILE]   (dm-program on stdout)

The dm program that takes the current device-mapper state to the desired one:
two dm-state documents on stdin, current (dvm-dmexec state) then desired
(dvm-vol-activate), or given as files. Only devices whose uuid starts with the
desired state's uuid_prefix are touched; those not desired are removed.

The program runs as LVM2 activates: preload children first (create, load),
suspend changed devices top-down, [commit], resume bottom-up, rename, remove
unwanted devices top-down. Every step before the commit point (or before the
first resume) jumps on failure to a recovery branch that undoes what ran
before it and ends "rolled_back"; later steps continue on failure.

Options:
  --commit          put a commit step (the metadata commit of a two-phase
                    commit) between suspend and resume
  --current FILE, --desired FILE   read the states from files, not stdin
  -c, --config FILE  (accepted, unused)   --json   --help   --version

Exit codes: 0 ok, 1 usage, 2 invalid input (bad document, inconsistent
desired state), 5 conflict (a name in use, a device to remove still open or
used by a device not managed here), 10 internal error.
`;

const OPTIONS = {
  commit: { type: "boolean" },
  current: { type: "string" },
  desired: { type: "string" },
} as const;

function stateFile(path: string, opt: string): DmStateDoc {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw invalidInput(`${opt} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  const docs = parseDocsOf(text, ["dm-state"], path) as DmStateDoc[];
  if (docs.length !== 1) throw invalidInput(`${path}: expected one dm-state document, got ${docs.length}`);
  return docs[0]!;
}

export const dmactivateTool: Tool = {
  name: "dvm-dmactivate",
  usage: USAGE,
  argsOptional: true,
  run(argv: string[], io: Io) {
    const p = parse(argv, OPTIONS);
    if (p.positionals.length) throw usageError(`unexpected argument "${p.positionals[0]}"`);
    const cur = str(p, "current");
    const des = str(p, "desired");
    let current: DmStateDoc;
    let desired: DmStateDoc;
    if (cur !== undefined || des !== undefined) {
      if (cur === undefined || des === undefined) throw usageError("--current and --desired go together");
      current = stateFile(cur, "--current");
      desired = stateFile(des, "--desired");
    } else {
      const text = pipedStdinText();
      if (text.trim() === "") {
        // Nothing to read and nothing asked: the usage, as every tool prints it when called bare.
        if (argv.length === 0) {
          io.out(USAGE);
          return Exit.usage;
        }
        throw usageError("expected two dm-state documents on stdin: current, then desired");
      }
      const docs = parseDocsOf(text, ["dm-state"]) as DmStateDoc[];
      if (docs.length !== 2)
        throw invalidInput(
          `stdin: expected two dm-state documents (current, then desired), got ${docs.length}`,
        );
      [current, desired] = docs as [DmStateDoc, DmStateDoc];
    }
    io.out(toJson(planActivation(current, desired, { commit: flag(p, "commit") })));
    return 0;
  },
};
