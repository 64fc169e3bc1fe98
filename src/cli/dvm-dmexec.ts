import type { DmProgramDoc } from "../dm/docs.js";
import { checkProgram, formatProgram, runProgram } from "../dm/exec.js";
import { parseDocsOf, pipedStdinText, toJson } from "../lib/docio.js";
import { usageError } from "../lib/errors.js";
import { flag, type Io, parse, str, type Tool } from "./common.js";
import { BACKEND_OPTIONS, backendFromArgs } from "./dm-common.js";

const USAGE = `Usage: dvm-dmexec run [--dry-run]            (a dm-program on stdin; prints the exec report)
       dvm-dmexec state [--uuid-prefix PREFIX]  (prints the current dm-state)

Runs device-mapper programs step by step, following each failing step's
recovery branch. Exit 0 when the program completed, 8 when a step failed and
its recovery put the old state back, 9 when recovery failed too (the report's
"left" says what is left).

Options:
  --dm-backend kernel|sim   the real device-mapper (through dmsetup) or the sim
  --sim-dir DIR             the sim's state folder (also DVM_SIM_DIR)
  --dry-run                 check the program and print its steps; run nothing
  -c CONFIG, --json, --help, --version
`;

export const dmexecTool: Tool = {
  name: "dvm-dmexec",
  usage: USAGE,
  run(argv: string[], io: Io) {
    const p = parse(argv, {
      ...BACKEND_OPTIONS,
      "dry-run": { type: "boolean" },
      "uuid-prefix": { type: "string" },
    });
    const [cmd, ...rest] = p.positionals;
    if (rest.length) throw usageError(`unexpected argument "${rest[0]}"`);
    if (cmd === "state") {
      io.out(toJson(backendFromArgs(p).state(str(p, "uuid-prefix"))));
      return 0;
    }
    if (cmd !== "run") throw usageError(`expected run or state (got "${cmd ?? ""}")`);
    const text = pipedStdinText();
    if (text.trim() === "") throw usageError("expected a dm-program document on stdin");
    const docs = parseDocsOf(text, ["dm-program"]) as DmProgramDoc[];
    if (docs.length !== 1) throw usageError(`expected one dm-program document on stdin, got ${docs.length}`);
    const program = docs[0]!;
    if (flag(p, "dry-run")) {
      checkProgram(program);
      io.out(formatProgram(program));
      return 0;
    }
    const report = runProgram(program, backendFromArgs(p));
    io.out(toJson(report));
    return report.exit_code;
  },
};
