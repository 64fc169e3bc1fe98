import { invalidInput } from "../lib/errors.js";

/**
 * Size formatting exactly as LVM2 2.03.16 prints sizes in reports
 * (libdm's dm_size_to_string with si_unit_consistency = 1):
 *
 * - lower-case units k m g t p e are powers of 1024, upper-case K M G T P E
 *   powers of 1000; b/B are bytes and s/S 512-byte sectors (suffix "B"/"S");
 * - h/H pick the largest unit not above the value (1024/1000 based);
 *   r/R do the same and prefix "<" when the shown value was rounded up;
 *   LVM's default is r;
 * - two decimals, except bytes and sectors (none); rounding is C printf's
 *   on the double quotient: to nearest, ties to even ("1.125m" prints 1.12m);
 * - zero is "0" plus the unit letter, or plus a space for h/r (so a column
 *   of human sizes stays aligned); --nosuffix drops the letter, except that
 *   human units always keep it on non-zero values.
 */

export type Units =
  | "b"
  | "s"
  | "k"
  | "m"
  | "g"
  | "t"
  | "p"
  | "e"
  | "h"
  | "r"
  | "B"
  | "S"
  | "K"
  | "M"
  | "G"
  | "T"
  | "P"
  | "E"
  | "H"
  | "R";

export const DEFAULT_UNITS: Units = "r";

const PREFIXES = "eptgmk"; // largest first, as LVM searches them
const SECTOR = 512n;

export function isUnits(u: string): u is Units {
  return /^[bskmgtpehrBSKMGTPEHR]$/.test(u);
}

export function checkUnits(u: string): Units {
  if (!isUnits(u))
    throw invalidInput(`Invalid units specification: "${u}" (use one of b s k m g t p e h r, or upper case)`);
  return u;
}

/** The exact value of a finite non-negative double as numerator / 2^shift. */
function exactDouble(v: number): { num: bigint; den: bigint } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  const bits = view.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const mant = exp === 0 ? frac : frac | (1n << 52n);
  const e = (exp === 0 ? 1 : exp) - 1075; // value = mant * 2^e
  return e >= 0 ? { num: mant << BigInt(e), den: 1n } : { num: mant, den: 1n << BigInt(-e) };
}

/** printf("%.*f") of a double: its exact value rounded to nearest, ties to even (glibc). */
export function printfFixed(v: number, precision: number): string {
  const { num, den } = exactDouble(v);
  const scale = 10n ** BigInt(precision);
  const scaled = num * scale;
  let q = scaled / den;
  const twice = (scaled % den) * 2n;
  if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  if (precision === 0) return q.toString();
  const digits = q.toString().padStart(precision + 1, "0");
  return `${digits.slice(0, -precision)}.${digits.slice(-precision)}`;
}

/** C's nearbyint() in the default rounding mode: to nearest, ties to even. */
function nearbyint(d: number): number {
  const f = Math.floor(d);
  const diff = d - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Sizes already formatted, by units, suffix and size: a report shows the
 * same few sizes on many rows, and each takes big-integer arithmetic.
 */
const formatted = new Map<string, Map<number, string>>();

/** Format a size given in 512-byte sectors, as LVM's reports do. */
export function formatSize(sizeSectors: number, units: Units = DEFAULT_UNITS, suffix = true): string {
  const mode = suffix ? units : `${units}-`;
  let known = formatted.get(mode);
  if (!known) {
    known = new Map();
    formatted.set(mode, known);
  }
  let text = known.get(sizeSectors);
  if (text === undefined) {
    text = computeSize(sizeSectors, units, suffix);
    known.set(sizeSectors, text);
  }
  return text;
}

function computeSize(sizeSectors: number, units: Units, suffix: boolean): string {
  const human = "hHrR".includes(units);
  const lower = units.toLowerCase();
  const si = units !== lower; // upper-case: powers of 1000
  if (sizeSectors === 0) {
    if (!suffix) return "0";
    if (human) return "0 ";
    return lower === "b" || lower === "s" ? `0${lower.toUpperCase()}` : `0${units}`;
  }
  const size = BigInt(sizeSectors) * SECTOR;
  let byte: bigint;
  let letter: string;
  let prefix = "";
  if (!human) {
    if (lower === "b" || lower === "s") {
      byte = lower === "b" ? 1n : SECTOR;
      letter = lower.toUpperCase();
    } else {
      const base = si ? 1000n : 1024n;
      byte = base ** BigInt(PREFIXES.length - PREFIXES.indexOf(lower));
      letter = units;
    }
  } else {
    const base = si ? 1000n : 1024n;
    byte = base ** BigInt(PREFIXES.length);
    let s = 0;
    while (s < PREFIXES.length && size < byte) {
      s++;
      byte /= base;
    }
    const p = PREFIXES[s];
    letter = p === undefined ? (si ? "B" : "b") : si ? p.toUpperCase() : p;
    if (p !== undefined && lower === "r") {
      // Same arithmetic as LVM: 100.0 * (double) size / byte, then floor vs nearbyint.
      const d = (100 * Number(size)) / Number(byte);
      if (Math.floor(d) !== nearbyint(d)) prefix = "<";
    }
    suffix = true;
  }
  const precision = letter === "B" || letter === "b" || letter === "S" ? 0 : 2;
  const text = printfFixed(Number(size) / Number(byte), precision);
  return `${prefix}${text}${suffix ? letter : ""}`;
}
