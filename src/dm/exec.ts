import { invalidInput } from "../lib/errors.js";
import { type DmBackend, DmFailure } from "./backend.js";
import type { DmProgramDoc, DmStep, ExecReportDoc, StepReport } from "./docs.js";
import { printTarget, type TargetLine, targetProblem } from "./target.js";

/**
 * dvm-dmexec's engine: run a dm program step by step on a backend, following
 * each failing step's on_error branch, and report every step. The program is
 * checked whole before the first step runs, so a malformed program changes
 * nothing.
 */

export interface ExecOptions {
  /** The metadata commit of a two-phase commit; throwing here fails the commit step. */
  onCommit?: () => void;
  /** Called after each step (progress output, logs). */
  onStep?: (r: StepReport) => void;
}

const DEVICE_OPS = new Set(["create", "load", "suspend", "resume", "clear", "remove", "rename", "message"]);
const QUERY_OPS = new Set(["status", "table", "info", "deps"]);

/** Check a program's structure: ids, branch targets, the fields each op needs, typed target lines. */
export function checkProgram(p: DmProgramDoc): void {
  const ids = new Set<number>();
  p.steps.forEach((s, i) => {
    const at = `dm-program step ${i + 1} (id ${s.id}, ${s.op})`;
    if (ids.has(s.id)) throw invalidInput(`${at}: id ${s.id} is used twice`);
    ids.add(s.id);
    if ((DEVICE_OPS.has(s.op) || QUERY_OPS.has(s.op)) && !s.name)
      throw invalidInput(`${at}: field name is required`);
    if (s.op === "load" && !s.table) throw invalidInput(`${at}: field table is required`);
    if (s.op === "rename" && !s.new_name && !s.uuid)
      throw invalidInput(`${at}: rename needs new_name or uuid`);
    if (s.op === "message" && (s.sector === undefined || s.text === undefined))
      throw invalidInput(`${at}: message needs sector and text`);
    if (s.op === "end" && !s.result) throw invalidInput(`${at}: end needs result ok or rolled_back`);
    for (const t of s.table ?? []) checkTargetShape(t, at);
  });
  for (const s of p.steps)
    if (typeof s.on_error === "number" && !ids.has(s.on_error))
      throw invalidInput(`dm-program step id ${s.id}: on_error ${s.on_error} names no step`);
  if (!p.steps.some((s) => s.op === "end" && s.result === "ok"))
    throw invalidInput('dm-program: no {"op":"end","result":"ok"} step');
}

function checkTargetShape(t: TargetLine, at: string): void {
  const why = targetProblem(t);
  if (why) throw invalidInput(`${at}: ${why}`);
}

/** Carry out one step; returns query output, if any. */
function runStep(b: DmBackend, s: DmStep, opts: ExecOptions): string | undefined {
  const name = s.name!;
  const flags = { noflush: s.noflush, nolockfs: s.nolockfs };
  switch (s.op) {
    case "create":
      // With a table, as dmsetup create: create + load + resume, and no device left behind on failure.
      b.create(name, s.uuid);
      if (s.table) {
        try {
          b.load(name, s.table, s.read_only ?? false);
          b.resume(name);
        } catch (e) {
          try {
            b.remove(name);
          } catch {}
          throw e;
        }
      }
      return;
    case "load":
      b.load(name, s.table!, s.read_only ?? false);
      return;
    case "suspend":
      b.suspend(name, flags);
      return;
    case "resume":
      b.resume(name, flags);
      return;
    case "clear":
      b.clear(name);
      return;
    case "remove":
      b.remove(name, { deferred: s.deferred });
      return;
    case "rename":
      if (s.new_name) b.rename(name, s.new_name);
      else b.setUuid(name, s.uuid!);
      return;
    case "message":
      return b.message(name, s.sector!, s.text!);
    case "status":
    case "table":
    case "info":
    case "deps":
      return b.query(s.op, name, s.inactive);
    case "commit":
      opts.onCommit?.();
      return;
    case "end":
      return;
  }
}

/** Run a checked program; never throws for a failing step (that is in the report), only for a bad program. */
export function runProgram(program: DmProgramDoc, backend: DmBackend, opts: ExecOptions = {}): ExecReportDoc {
  checkProgram(program);
  const index = new Map(program.steps.map((s, i) => [s.id, i]));
  const reports: StepReport[] = [];
  let pc = 0;
  let recovering = false;
  let anyFailed = false;
  const failures: string[] = [];
  // A program that jumps back could loop forever; no sane program runs a step more than a few times.
  let budget = program.steps.length * 4 + 16;
  let result: ExecReportDoc["result"] | undefined;
  while (pc < program.steps.length) {
    if (budget-- <= 0) {
      failures.push("the program loops: stopped");
      result = "stuck";
      break;
    }
    const s = program.steps[pc]!;
    if (s.op === "end") {
      // Clean only when nothing failed on the way: "ok" on the forward path, "rolled_back" after a recovery.
      const clean = !anyFailed && (s.result === "ok" ? !recovering : recovering);
      result = clean ? s.result! : "stuck";
      if (!clean) failures.push(`reached end (${s.result}) after failures`);
      reports.push({ id: s.id, op: s.op, outcome: "ok", duration_ms: 0 });
      break;
    }
    const t0 = performance.now();
    const r: StepReport = { id: s.id, op: s.op, outcome: "ok", duration_ms: 0 };
    if (s.name) r.name = s.name;
    let failed = false;
    try {
      const out = runStep(backend, s, opts);
      if (out !== undefined && out !== "") r.output = out;
    } catch (e) {
      failed = true;
      r.outcome = "failed";
      if (e instanceof DmFailure) {
        r.errno = e.errno;
        r.code = e.code;
      }
      r.message = (e as Error).message;
    }
    r.duration_ms = Math.round((performance.now() - t0) * 1000) / 1000;
    reports.push(r);
    opts.onStep?.(r);
    if (!failed) {
      pc++;
      continue;
    }
    const what = `step ${s.id} ${s.op}${s.name ? ` ${s.name}` : ""} failed: ${r.message}`;
    if (s.on_error === "continue") {
      anyFailed = true;
      failures.push(what);
      pc++;
    } else if (typeof s.on_error === "number" && !recovering) {
      // Entering the recovery branch: from here on any failure means the old state may not be back.
      recovering = true;
      pc = index.get(s.on_error)!;
    } else {
      failures.push(what);
      result = "stuck";
      break;
    }
  }
  if (!result) {
    failures.push("the program ran off its end without an end step");
    result = "stuck";
  }
  const report: ExecReportDoc = {
    kind: "exec-report",
    version: 1,
    backend: backend.name,
    result,
    exit_code: result === "ok" ? 0 : result === "rolled_back" ? 8 : 9,
    steps: reports,
  };
  if (result === "stuck") report.left = [...failures, ...leftState(backend)];
  return report;
}

/** What a stuck program leaves behind, in words: suspended devices and staged tables. */
function leftState(b: DmBackend): string[] {
  try {
    const st = b.state();
    const out: string[] = [];
    for (const d of st.devices) {
      if (d.suspended) out.push(`${d.name} is suspended (resume it: dmsetup resume ${d.name})`);
      if (d.inactive_table) out.push(`${d.name} has a staged inactive table`);
      if (!d.table) out.push(`${d.name} has no live table`);
    }
    return out;
  } catch (e) {
    return [`the dm state could not be read: ${(e as Error).message}`];
  }
}

/** A program as lines people read (for --dry-run): one step per line, its table lines below it. */
export function formatProgram(p: DmProgramDoc): string {
  const out: string[] = [];
  for (const s of p.steps) {
    const args: string[] = [];
    if (s.name) args.push(s.name);
    if (s.op === "create" && s.uuid) args.push(`uuid ${s.uuid}`);
    if (s.op === "rename") args.push(s.new_name ? `to ${s.new_name}` : `set uuid ${s.uuid}`);
    if (s.op === "message") args.push(`${s.sector} "${s.text}"`);
    if (s.read_only) args.push("read-only");
    if (s.op === "end") args.push(s.result ?? "");
    const branch =
      s.on_error === undefined
        ? ""
        : s.on_error === "continue"
          ? "  [on error: continue]"
          : `  [on error: go to ${s.on_error}]`;
    out.push(
      `${String(s.id).padStart(3)}  ${s.op} ${args.join(" ")}${branch}${s.comment ? `  # ${s.comment}` : ""}`,
    );
    for (const t of s.table ?? []) out.push(`       ${printTarget(t)}`);
  }
  return `${out.join("\n")}\n`;
}
