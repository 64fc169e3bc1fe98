import type { TargetLine } from "./target.js";

/**
 * The device-mapper documents (design.md, "Documents"): dm-state, dm-program
 * and exec-report. Their JSON Schemas are in src/lib/schema.ts.
 */

/** One dm device, as wanted (from dvm-vol-activate) or as found (from a backend). */
export interface DmDevice {
  name: string;
  /** LVM-<vg id><lv id>[-layer]; absent for devices without a uuid. */
  uuid?: string;
  read_only: boolean;
  /** The live table (desired: the table wanted live); null = none. */
  table: TargetLine[] | null;
  /** Names of the dm devices this one's table uses (its children). */
  depends_on: string[];
  /** Found state only. */
  major?: number;
  minor?: number;
  suspended?: boolean;
  open_count?: number;
  event_nr?: number;
  inactive_table?: TargetLine[] | null;
  deferred_remove?: boolean;
  /** Desired state only: the LV this device maps ("vg/lv"), for messages. */
  lv?: string;
}

/** A block device that tables reference, with its device number (found state). */
export interface DmDisk {
  path: string;
  major: number;
  minor: number;
  size_sectors: number;
}

export interface DmStateDoc {
  kind: "dm-state";
  version: 1;
  /** Which backend reported it ("sim" / "kernel"), or "desired". */
  source: string;
  devices: DmDevice[];
  /** Disks (non-dm) referenced by tables, so "maj:min" can be matched to paths. */
  disks?: DmDisk[];
  /** The uuid prefix this state is limited to (LVM-<vg id>), if any. */
  uuid_prefix?: string;
}

export type StepOp =
  | "create"
  | "load"
  | "suspend"
  | "resume"
  | "clear"
  | "remove"
  | "rename"
  | "message"
  | "status"
  | "table"
  | "info"
  | "deps"
  | "commit"
  | "end";

/**
 * One step of a dm program. Steps run in array order; a failing step jumps
 * to its on_error step (a recovery branch written up front) or, with
 * "continue", is recorded and the next step runs. A step without on_error
 * that fails stops the program as stuck (exit 9).
 */
export interface DmStep {
  id: number;
  op: StepOp;
  /** The device (all ops but commit and end). */
  name?: string;
  /** create: the uuid; rename: set this uuid instead of a new name. */
  uuid?: string;
  /** rename: the new name. */
  new_name?: string;
  /** load/create: the table; create with a table = create + load + resume, removing the device on failure. */
  table?: TargetLine[];
  read_only?: boolean;
  /** suspend/resume flags. */
  noflush?: boolean;
  nolockfs?: boolean;
  /** remove: deferred removal of an open device. */
  deferred?: boolean;
  /** message: sector and text. */
  sector?: number;
  text?: string;
  /** status/table/deps/info: query the inactive table. */
  inactive?: boolean;
  /** end: how the program ends when it gets here. */
  result?: "ok" | "rolled_back";
  on_error?: number | "continue";
  /** What the step is for, for people reading the program. */
  comment?: string;
}

export interface DmProgramDoc {
  kind: "dm-program";
  version: 1;
  steps: DmStep[];
}

export interface StepReport {
  id: number;
  op: StepOp;
  name?: string;
  outcome: "ok" | "failed";
  /** errno name and number of a failure (EBUSY, 16), as the kernel would give them. */
  errno?: string;
  code?: number;
  message?: string;
  duration_ms: number;
  /** Output of query steps (status/table/deps/info text), and message replies. */
  output?: string;
}

export interface ExecReportDoc {
  kind: "exec-report";
  version: 1;
  backend: string;
  /** ok: done; rolled_back: a step failed and recovery put the old state back (exit 8); stuck: exit 9. */
  result: "ok" | "rolled_back" | "stuck";
  exit_code: 0 | 8 | 9;
  steps: StepReport[];
  /** When stuck: what is left, in words. */
  left?: string[];
}
