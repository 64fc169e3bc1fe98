import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { invalidInput } from "./errors.js";

/**
 * JSON Schemas of the documents, written once here: the tools validate
 * their input against them and scripts/gen-schemas.ts writes them to
 * schemas/ for everyone else.
 */

const Int = (min = 0) => T.Integer({ minimum: min });
const Area = T.Object({ offset_bytes: Int(), size_bytes: Int() });

export const MdaInfoSchema = T.Object({
  start_bytes: Int(),
  size_bytes: Int(),
  state: T.Union([T.Literal("ok"), T.Literal("empty"), T.Literal("ignored"), T.Literal("bad")]),
  error: T.Optional(T.String()),
  vg_name: T.Optional(T.String()),
  vg_id: T.Optional(T.String()),
  seqno: T.Optional(Int()),
  text_offset_bytes: T.Optional(Int()),
  text_size_bytes: T.Optional(Int()),
  checksum: T.Optional(Int()),
});

export const DevicesDocSchema = T.Object(
  {
    kind: T.Literal("devices"),
    version: T.Literal(1),
    devices: T.Array(
      T.Object({
        path: T.String({ minLength: 1 }),
        size_bytes: Int(),
        pv: T.Optional(
          T.Object({
            uuid: T.String(),
            label_sector: T.Integer({ minimum: 0, maximum: 3 }),
            device_size_bytes: Int(),
            data_areas: T.Array(Area),
            metadata_areas: T.Array(Area),
            bootloader_areas: T.Array(Area),
            ext_version: Int(),
            ext_flags: Int(),
            mdas: T.Array(MdaInfoSchema),
          }),
        ),
        label_problems: T.Optional(T.Array(T.String())),
      }),
    ),
    vgs: T.Array(
      T.Object({
        name: T.String(),
        id: T.String(),
        seqno: Int(),
        pv_uuids: T.Array(T.String()),
        missing_pv_uuids: T.Array(T.String()),
      }),
    ),
  },
  { $id: "devices", title: "dvm devices document" },
);

/** A value in VG metadata: an integer, a string, a list of those, or a nested section. */
const Scalar = T.Union([T.Integer(), T.String()]);
const FieldValue = T.Union([Scalar, T.Array(Scalar), T.Record(T.String(), T.Unknown())]);
const Open = { additionalProperties: FieldValue };

const Segment = T.Object(
  { start_extent: Int(), extent_count: Int(1), type: T.String({ minLength: 1 }) },
  Open,
);
const Pv = T.Object(
  {
    name: T.String({ minLength: 1 }),
    id: T.String(),
    status: T.Array(T.String()),
    pe_start: Int(),
    pe_count: Int(),
  },
  Open,
);
const Lv = T.Object(
  {
    name: T.String({ minLength: 1 }),
    id: T.String(),
    status: T.Array(T.String()),
    segment_count: Int(1),
    segments: T.Array(Segment, { minItems: 1 }),
  },
  { additionalProperties: T.Union([FieldValue, T.Array(Segment)]) },
);
const HistoricalLv = T.Object({ name: T.String({ minLength: 1 }), id: T.String() }, Open);

export const VgDocSchema = T.Object(
  {
    kind: T.Literal("vg"),
    version: T.Literal(1),
    vg: T.Object(
      {
        name: T.String({ minLength: 1 }),
        id: T.String(),
        seqno: Int(),
        status: T.Array(T.String()),
        extent_size: Int(1),
        max_lv: Int(),
        max_pv: Int(),
        physical_volumes: T.Array(Pv),
        logical_volumes: T.Optional(T.Array(Lv)),
        historical_logical_volumes: T.Optional(T.Array(HistoricalLv)),
      },
      { additionalProperties: FieldValue },
    ),
    top: T.Record(T.String(), FieldValue),
    comments: T.Optional(
      T.Object({
        generated: T.Optional(T.String()),
        values: T.Optional(T.Record(T.String(), T.String())),
      }),
    ),
    pv_devices: T.Array(
      T.Object({ pv_uuid: T.String(), path: T.String(), size_bytes: Int(), mdas: T.Array(MdaInfoSchema) }),
    ),
  },
  { $id: "vg", title: "dvm vg document" },
);

export const SCHEMAS: Record<string, TSchema> = { devices: DevicesDocSchema, vg: VgDocSchema };

export type DevicesDocJson = Static<typeof DevicesDocSchema>;

/** Check `doc` against its kind's schema; the error names the field, the value and what was expected. */
export function checkDoc<K extends keyof typeof SCHEMAS>(kind: K, doc: unknown, source: string): void {
  const schema = SCHEMAS[kind]!;
  if (Value.Check(schema, doc)) return;
  const e = Value.Errors(schema, doc).First()!;
  const shown = JSON.stringify(e.value);
  throw invalidInput(
    `${source}: ${kind} document field ${e.path || "/"}: ${e.message} (got ${shown === undefined ? "nothing" : shown.slice(0, 60)})`,
  );
}
