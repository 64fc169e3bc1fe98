import { invalidInput } from "./errors.js";

/**
 * JSON Schemas of the documents, written once here as plain JSON Schema
 * (draft 2020-12 subset): the tools validate their input against them and
 * scripts/gen-schemas.ts writes them to schemas/. The checker below covers
 * exactly the keywords these schemas use, so no schema library has to be
 * loaded (and compiled) at every tool's start-up.
 */

export type Schema = {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean" | "null";
  const?: string | number;
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  items?: Schema;
  minItems?: number;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  $id?: string;
  title?: string;
};

const int = (minimum = 0, maximum?: number): Schema =>
  maximum === undefined ? { type: "integer", minimum } : { type: "integer", minimum, maximum };
const str = (minLength?: number): Schema => (minLength ? { type: "string", minLength } : { type: "string" });
const arr = (items: Schema, minItems?: number): Schema =>
  minItems ? { type: "array", items, minItems } : { type: "array", items };
const lit = (v: string | number): Schema => ({ const: v });
const anyOf = (...s: Schema[]): Schema => ({ anyOf: s });
/** An object; properties whose schema is wrapped in opt() are optional. */
const OPTIONAL = Symbol("optional");
type Prop = Schema & { [OPTIONAL]?: true };
const opt = (s: Schema): Prop => ({ ...s, [OPTIONAL]: true });
function obj(props: Record<string, Prop>, extra: Partial<Schema> = {}): Schema {
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [k, v] of Object.entries(props)) {
    const { [OPTIONAL]: o, ...s } = v;
    properties[k] = s;
    if (!o) required.push(k);
  }
  return { type: "object", properties, required, ...extra };
}

const Area = obj({ offset_bytes: int(), size_bytes: int() });

export const MdaInfoSchema = obj({
  start_bytes: int(),
  size_bytes: int(),
  state: anyOf(lit("ok"), lit("empty"), lit("ignored"), lit("bad")),
  error: opt(str()),
  vg_name: opt(str()),
  vg_id: opt(str()),
  seqno: opt(int()),
  text_offset_bytes: opt(int()),
  text_size_bytes: opt(int()),
  checksum: opt(int()),
});

export const DevicesDocSchema = obj(
  {
    kind: lit("devices"),
    version: lit(1),
    devices: arr(
      obj({
        path: str(1),
        size_bytes: int(),
        pv: opt(
          obj({
            uuid: str(),
            label_sector: int(0, 3),
            device_size_bytes: int(),
            data_areas: arr(Area),
            metadata_areas: arr(Area),
            bootloader_areas: arr(Area),
            ext_version: int(),
            ext_flags: int(),
            mdas: arr(MdaInfoSchema),
          }),
        ),
        label_problems: opt(arr(str())),
      }),
    ),
    vgs: arr(
      obj({ name: str(), id: str(), seqno: int(), pv_uuids: arr(str()), missing_pv_uuids: arr(str()) }),
    ),
  },
  { $id: "devices", title: "dvm devices document" },
);

/** A value in VG metadata: an integer, a string, a list of those, or a nested section. */
const Scalar = anyOf({ type: "integer" }, str());
const FieldValue = anyOf(Scalar, arr(Scalar), { type: "object" });
const open = { additionalProperties: FieldValue };

const Segment = obj({ start_extent: int(), extent_count: int(1), type: str(1) }, open);
const Pv = obj({ name: str(1), id: str(), status: arr(str()), pe_start: int(), pe_count: int() }, open);
const Lv = obj(
  { name: str(1), id: str(), status: arr(str()), segment_count: int(1), segments: arr(Segment, 1) },
  open,
);
const HistoricalLv = obj({ name: str(1), id: str() }, open);

export const VgDocSchema = obj(
  {
    kind: lit("vg"),
    version: lit(1),
    vg: obj(
      {
        name: str(1),
        id: str(),
        seqno: int(),
        status: arr(str()),
        extent_size: int(1),
        max_lv: int(),
        max_pv: int(),
        physical_volumes: arr(Pv),
        logical_volumes: opt(arr(Lv)),
        historical_logical_volumes: opt(arr(HistoricalLv)),
      },
      open,
    ),
    top: { type: "object", additionalProperties: FieldValue },
    comments: opt(
      obj({ generated: opt(str()), values: opt({ type: "object", additionalProperties: str() }) }),
    ),
    pv_devices: arr(obj({ pv_uuid: str(), path: str(), size_bytes: int(), mdas: arr(MdaInfoSchema) })),
  },
  { $id: "vg", title: "dvm vg document" },
);

/** A dm target line: the typed fields of each target type are checked where tables are parsed (src/dm/target.ts). */
const Target = obj(
  { start_sectors: int(), length_sectors: int(), type: str(1) },
  { additionalProperties: true },
);
const bool: Schema = { type: "boolean" };
const Table = arr(Target);

export const DmStateDocSchema = obj(
  {
    kind: lit("dm-state"),
    version: lit(1),
    source: str(),
    devices: arr(
      obj({
        name: str(1),
        uuid: opt(str()),
        read_only: bool,
        table: anyOf(Table, { type: "null" }),
        depends_on: arr(str()),
        major: opt(int()),
        minor: opt(int()),
        suspended: opt(bool),
        open_count: opt(int()),
        event_nr: opt(int()),
        inactive_table: opt(anyOf(Table, { type: "null" })),
        deferred_remove: opt(bool),
        lv: opt(str()),
      }),
    ),
    disks: opt(arr(obj({ path: str(1), major: int(), minor: int(), size_sectors: int() }))),
    uuid_prefix: opt(str()),
  },
  { $id: "dm-state", title: "dvm dm-state document" },
);

const STEP_OPS = [
  "create",
  "load",
  "suspend",
  "resume",
  "clear",
  "remove",
  "rename",
  "message",
  "status",
  "table",
  "info",
  "deps",
  "commit",
  "end",
];

export const DmProgramDocSchema = obj(
  {
    kind: lit("dm-program"),
    version: lit(1),
    steps: arr(
      obj({
        id: int(1),
        op: anyOf(...STEP_OPS.map(lit)),
        name: opt(str(1)),
        uuid: opt(str()),
        new_name: opt(str(1)),
        table: opt(Table),
        read_only: opt(bool),
        noflush: opt(bool),
        nolockfs: opt(bool),
        deferred: opt(bool),
        sector: opt(int()),
        text: opt(str()),
        inactive: opt(bool),
        result: opt(anyOf(lit("ok"), lit("rolled_back"))),
        on_error: opt(anyOf(int(1), lit("continue"))),
        comment: opt(str()),
      }),
    ),
  },
  { $id: "dm-program", title: "dvm dm-program document" },
);

export const ExecReportDocSchema = obj(
  {
    kind: lit("exec-report"),
    version: lit(1),
    backend: str(),
    result: anyOf(lit("ok"), lit("rolled_back"), lit("stuck")),
    exit_code: anyOf(lit(0), lit(8), lit(9)),
    steps: arr(
      obj({
        id: int(1),
        op: anyOf(...STEP_OPS.map(lit)),
        name: opt(str()),
        outcome: anyOf(lit("ok"), lit("failed")),
        errno: opt(str()),
        code: opt(int()),
        message: opt(str()),
        duration_ms: { type: "number", minimum: 0 },
        output: opt(str()),
      }),
    ),
    left: opt(arr(str())),
  },
  { $id: "exec-report", title: "dvm exec-report document" },
);

export const SCHEMAS: Record<string, Schema> = {
  devices: DevicesDocSchema,
  vg: VgDocSchema,
  "dm-state": DmStateDocSchema,
  "dm-program": DmProgramDocSchema,
  "exec-report": ExecReportDocSchema,
};

const typeOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/**
 * The first way `v` breaks `s`, as [JSON pointer, what was expected], or
 * null. The pointer is built only for the failing path, on the way out.
 */
export function schemaError(s: Schema, v: unknown): [string, string] | null {
  // Valid documents are the common case: accept them without building any failure on the way.
  return accepts(s, v) ? null : checkFailure(s, v);
}

type Accept = (v: unknown) => boolean;
const acceptors = new WeakMap<Schema, Accept>();

/**
 * Whether `v` satisfies `s`: the same rules as check(), as a plain yes or no, by a function made
 * once per schema node. A document of 1,000 LVs has ~30,000 values to check; interpreting the
 * schema for each in cold code cost ~10 ms, the specialized functions a fraction of it.
 */
export function accepts(s: Schema, v: unknown): boolean {
  return acceptor(s)(v);
}

function acceptor(s: Schema): Accept {
  let f = acceptors.get(s);
  if (!f) {
    f = makeAcceptor(s);
    acceptors.set(s, f);
  }
  return f;
}

function makeAcceptor(s: Schema): Accept {
  if (s.const !== undefined) {
    const c = s.const;
    return (v) => v === c;
  }
  if (s.anyOf) {
    const alts = s.anyOf.map(acceptor);
    return (v) => {
      for (let i = 0; i < alts.length; i++) if (alts[i]!(v)) return true;
      return false;
    };
  }
  switch (s.type) {
    case "integer": {
      const min = s.minimum ?? Number.NEGATIVE_INFINITY;
      const max = s.maximum ?? Number.POSITIVE_INFINITY;
      return (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
    }
    case "number": {
      const min = s.minimum ?? Number.NEGATIVE_INFINITY;
      return (v) => typeof v === "number" && Number.isFinite(v) && v >= min;
    }
    case "boolean":
      return (v) => typeof v === "boolean";
    case "null":
      return (v) => v === null;
    case "string": {
      const min = s.minLength ?? 0;
      return (v) => typeof v === "string" && v.length >= min;
    }
    case "array": {
      const item = s.items ? acceptor(s.items) : undefined;
      const min = s.minItems ?? 0;
      return (v) => {
        if (!Array.isArray(v) || v.length < min) return false;
        if (item) for (let i = 0; i < v.length; i++) if (!item(v[i])) return false;
        return true;
      };
    }
    case "object": {
      const req = s.required ?? [];
      const props = new Map(Object.entries(s.properties ?? {}).map(([k, p]) => [k, acceptor(p)] as const));
      const extra = typeof s.additionalProperties === "object" ? acceptor(s.additionalProperties) : undefined;
      return (v) => {
        if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
        const o = v as Record<string, unknown>;
        for (let i = 0; i < req.length; i++) if (!Object.hasOwn(o, req[i]!)) return false;
        for (const k in o) {
          if (!Object.hasOwn(o, k)) continue;
          const sub = props.get(k) ?? extra;
          if (sub && !sub(o[k])) return false;
        }
        return true;
      };
    }
    default:
      return () => true;
  }
}

interface Failure {
  /** Pointer segments, innermost first. */
  path: string[];
  what: string;
}

const fail = (what: string): Failure => ({ path: [], what });
const under = (key: string | number, e: Failure | null) => {
  e?.path.push(`/${key}`);
  return e;
};

/** The failure check() finds, as its pointer and message (schemaError's slow path; tests hold accepts() to it). */
export function checkFailure(s: Schema, v: unknown): [string, string] | null {
  const e = check(s, v);
  return e ? [e.path.reverse().join(""), e.what] : null;
}

function check(s: Schema, v: unknown): Failure | null {
  if (s.const !== undefined) return v === s.const ? null : fail(`expected ${JSON.stringify(s.const)}`);
  if (s.anyOf) {
    for (const alt of s.anyOf) if (!check(alt, v)) return null;
    return fail(`expected ${s.anyOf.map(describe).join(" or ")}`);
  }
  switch (s.type) {
    case "integer":
      if (typeof v !== "number" || !Number.isSafeInteger(v)) return fail("expected an integer");
      if (s.minimum !== undefined && v < s.minimum) return fail(`expected an integer >= ${s.minimum}`);
      if (s.maximum !== undefined && v > s.maximum) return fail(`expected an integer <= ${s.maximum}`);
      return null;
    case "number":
      if (typeof v !== "number" || !Number.isFinite(v)) return fail("expected a number");
      if (s.minimum !== undefined && v < s.minimum) return fail(`expected a number >= ${s.minimum}`);
      return null;
    case "boolean":
      return typeof v === "boolean" ? null : fail("expected true or false");
    case "null":
      return v === null ? null : fail("expected null");
    case "string":
      if (typeof v !== "string") return fail("expected a string");
      if (s.minLength && v.length < s.minLength) return fail("expected a non-empty string");
      return null;
    case "array": {
      if (!Array.isArray(v)) return fail("expected an array");
      if (s.minItems && v.length < s.minItems) return fail(`expected at least ${s.minItems} item(s)`);
      if (s.items)
        for (let i = 0; i < v.length; i++) {
          const e = check(s.items, v[i]);
          if (e) return under(i, e);
        }
      return null;
    }
    case "object": {
      if (typeOf(v) !== "object") return fail("expected an object");
      const o = v as Record<string, unknown>;
      for (const k of s.required ?? [])
        if (!Object.hasOwn(o, k)) return under(k, fail("required property missing"));
      const extra = typeof s.additionalProperties === "object" ? s.additionalProperties : undefined;
      for (const k in o) {
        if (!Object.hasOwn(o, k)) continue;
        const sub = (s.properties && Object.hasOwn(s.properties, k) ? s.properties[k] : undefined) ?? extra;
        if (sub) {
          const e = check(sub, o[k]);
          if (e) return under(k, e);
        }
      }
      return null;
    }
    default:
      return null;
  }
}

function describe(s: Schema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf) return s.anyOf.map(describe).join(" or ");
  if (s.type === "null") return "null";
  return s.type === "integer"
    ? "an integer"
    : `a${s.type === "object" || s.type === "array" ? "n" : ""} ${s.type}`;
}

/** Check `doc` against its kind's schema; the error names the field, the value and what was expected. */
export function checkDoc(kind: string, doc: unknown, source: string): void {
  const e = schemaError(SCHEMAS[kind]!, doc);
  if (!e) return;
  const [path, what] = e;
  let value: unknown = doc;
  for (const part of path.split("/").slice(1)) value = (value as Record<string, unknown> | undefined)?.[part];
  const shown = JSON.stringify(value);
  throw invalidInput(
    `${source}: ${kind} document field ${path || "/"}: ${what} (got ${shown === undefined ? "nothing" : shown.slice(0, 60)})`,
  );
}
