import type { Ctx, FieldDef, Row } from "./fields.js";
import { formatSize, type Units } from "./units.js";

/**
 * Text and JSON output in libdm's layout (LVM2 2.03.16). Every line starts
 * with LVM's two-space message indent.
 */

export interface RenderOptions {
  units: Units;
  suffix: boolean;
  headings: boolean;
  /** undefined: aligned columns separated by one space. */
  separator: string | undefined;
}

/** A value as LVM prints it: sizes in the report's units, numbers in decimal. */
export function cellText(f: FieldDef, row: Row, ctx: Ctx, o: RenderOptions): string {
  const v = f.value(row, ctx);
  if (typeof v === "string") return v;
  return f.kind === "size" ? formatSize(v, o.units, o.suffix) : String(v);
}

const INDENT = "  ";

/**
 * Columns: width is the largest of LVM's minimum width, the heading and
 * every value (the heading counts even when not printed); strings are
 * left-aligned, numbers, sizes and binary words right-aligned, headings
 * always left; the last column is padded too. A separator turns alignment
 * off. An empty report prints nothing, not even headings.
 */
export function renderText(cols: FieldDef[], cells: string[][], o: RenderOptions): string {
  if (cells.length === 0) return "";
  const aligned = o.separator === undefined;
  const sep = o.separator ?? " ";
  const widths = cols.map((f, i) => Math.max(f.width, f.header.length, ...cells.map((r) => r[i]!.length)));
  const lines: string[] = [];
  if (o.headings)
    lines.push(INDENT + cols.map((f, i) => (aligned ? f.header.padEnd(widths[i]!) : f.header)).join(sep));
  for (const r of cells)
    lines.push(
      INDENT +
        r
          .map((v, i) => {
            if (!aligned) return v;
            return cols[i]!.kind === "str" ? v.padEnd(widths[i]!) : v.padStart(widths[i]!);
          })
          .join(sep),
    );
  return `${lines.join("\n")}\n`;
}

/** libdm escapes only what would end the JSON string. */
const jsonString = (s: string) =>
  s.indexOf('"') < 0 && s.indexOf("\\") < 0 ? `"${s}"` : `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/**
 * LVM's JSON: one report object holding an array named after the report
 * ("pv", "vg", "lv", "seg"), one line per row, every value a string,
 * four-space indentation under the message indent.
 */
export function renderJson(key: string, cols: FieldDef[], cells: string[][]): string {
  const pad = (n: number) => INDENT + " ".repeat(4 * n);
  // The rows as pieces joined once: no string per cell or per row.
  const first = cols.map((c) => `${pad(4)}{${jsonString(c.id)}:`);
  const next = cols.map((c) => `, ${jsonString(c.id)}:`);
  const parts: string[] = [];
  for (let r = 0; r < cells.length; r++) {
    const row = cells[r]!;
    if (r) parts.push(",\n");
    if (row.length === 0) parts.push(`${pad(4)}{`);
    for (let i = 0; i < row.length; i++) {
      const v = row[i]!;
      parts.push(i ? next[i]! : first[i]!);
      if (v.indexOf('"') < 0 && v.indexOf("\\") < 0) parts.push('"', v, '"');
      else parts.push(jsonString(v));
    }
    parts.push("}");
  }
  const lines = [
    `${INDENT}{`,
    `${pad(1)}"report": [`,
    `${pad(2)}{`,
    `${pad(3)}${jsonString(key)}: [`,
    ...(cells.length ? [parts.join("")] : []),
    `${pad(3)}]`,
    `${pad(2)}}`,
    `${pad(1)}]`,
    `${INDENT}}`,
  ];
  return `${lines.join("\n")}\n`;
}
