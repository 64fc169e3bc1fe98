/**
 * The config text of libdaemon message bodies (libdm's config syntax,
 * lvmpolld.md §2.2), parsed the way LVM2 2.03.16's lvmpolld parses it, quirks
 * included, because the parse decides which replies a client gets:
 *
 * - tokens as libdm's tokenizer cuts them (a value starting with a digit, `+`,
 *   `-` or `.` is a number token: digits and at most one `.`);
 * - an integer's value is C's strtoll(base 0) from the token start, which reads
 *   past the token (`0x10` is 16, `010` is 8) and whose overflow fails the parse;
 * - a float overflowing strtod fails the parse;
 * - every occurrence of a key is its own node and lookups return the first;
 * - a NUL byte ends the text (the C parser works on a C string).
 *
 * A parse failure is `undefined`: lvmpolld then treats the request as having
 * no `request` at all.
 */

export type ConfigValue =
  | { type: "int"; value: bigint }
  | { type: "float"; value: number }
  | { type: "string"; value: string }
  | { type: "empty_array" };

export interface ConfigNode {
  key: string;
  /** A value or an array of values; undefined for a section. */
  values?: ConfigValue[];
  children?: ConfigNode[];
}

export class ConfigParseError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = "ConfigParseError";
  }
}

enum Tok {
  Int,
  Float,
  String, // '…'
  StringEscaped, // "…"
  StringBare,
  Eq,
  SectionB,
  SectionE,
  ArrayB,
  ArrayE,
  Identifier,
  Comma,
  Eof,
}

const isSpace = (c: string) =>
  c === " " || c === "\t" || c === "\n" || c === "\v" || c === "\f" || c === "\r";
const isDigit = (c: string) => c >= "0" && c <= "9";

/** The one-character tokens. */
const SINGLE: Record<string, Tok> = {
  "{": Tok.SectionB,
  "}": Tok.SectionE,
  "[": Tok.ArrayB,
  "]": Tok.ArrayE,
  ",": Tok.Comma,
  "=": Tok.Eq,
};

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** C's strtoll(s + at, NULL, 0): the value, or "range" on overflow (errno ERANGE). */
export function strtoll(s: string, at: number): bigint | "range" {
  let i = at;
  while (i < s.length && isSpace(s[i]!)) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  let base = 10n;
  if (s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X") && /[0-9a-fA-F]/.test(s[i + 2] ?? "")) {
    base = 16n;
    i += 2;
  } else if (s[i] === "0") base = 8n;
  let v = 0n;
  for (; i < s.length; i++) {
    const d = Number.parseInt(s[i]!, 16);
    if (Number.isNaN(d) || BigInt(d) >= base) break;
    v = v * base + BigInt(d);
    // Past the limit already: stop before the number grows without bound.
    if (v > INT64_MAX + 1n) return "range";
  }
  if (neg) v = -v;
  return v > INT64_MAX || v < INT64_MIN ? "range" : v;
}

const DBL_MIN = 2.2250738585072014e-308;

/** C's strtod(s + at, NULL) for what a float token can start with: the value, or "range". */
export function strtod(s: string, at: number): number | "range" {
  const m = /^[ \t\n\v\f\r]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/.exec(s.slice(at, at + 4096));
  if (!m) return 0;
  const v = Number(m[1]);
  if (!Number.isFinite(v)) return "range";
  const mantissa = m[1]!.replace(/[eE].*$/, "");
  if ((v === 0 && /[1-9]/.test(mantissa)) || (v !== 0 && Math.abs(v) < DBL_MIN)) return "range";
  return v;
}

class Parser {
  private tb = 0;
  private te = 0;
  private t: Tok = Tok.Eof;

  constructor(private readonly s: string) {
    this.getToken(Tok.SectionE);
  }

  /** The current token (a call, so TypeScript does not narrow it across match()). */
  private cur(): Tok {
    return this.t;
  }

  private fail(what: string): never {
    throw new ConfigParseError(`Parse error at byte ${this.tb + 1}: ${what}`, this.tb);
  }

  file(): ConfigNode[] {
    const nodes: ConfigNode[] = [];
    while (this.t !== Tok.Eof) nodes.push(this.section());
    // libdm fails a text without a single node (an empty tree is its error value).
    if (!nodes.length) this.fail("no config nodes");
    return nodes;
  }

  private match(t: Tok) {
    if (this.t !== t) this.fail("unexpected token");
    this.getToken(t);
  }

  /** libdm strips the first and last character of a quoted token, closed or not. */
  private stringTok(): string {
    const b = this.tb + 1;
    const e = this.te - 1;
    if (e < b) this.fail("expected a string token");
    return this.s.slice(b, e);
  }

  private section(): ConfigNode {
    let key: string;
    if (this.t === Tok.StringEscaped) {
      key = unescapeDoubleQuotes(this.stringTok());
      this.match(Tok.StringEscaped);
    } else if (this.t === Tok.String) {
      key = this.stringTok();
      this.match(Tok.String);
    } else {
      key = this.s.slice(this.tb, this.te);
      this.match(Tok.Identifier);
    }
    if (key === "") this.fail("empty section identifier");
    if (this.t === Tok.SectionB) {
      this.match(Tok.SectionB);
      const children: ConfigNode[] = [];
      while (this.cur() !== Tok.SectionE) children.push(this.section());
      this.match(Tok.SectionE);
      return { key, children };
    }
    this.match(Tok.Eq);
    return { key, values: this.value() };
  }

  private value(): ConfigValue[] {
    if (this.t !== Tok.ArrayB) return [this.type()];
    this.match(Tok.ArrayB);
    const vs: ConfigValue[] = [];
    while (this.cur() !== Tok.ArrayE) {
      vs.push(this.type());
      if (this.cur() === Tok.Comma) this.match(Tok.Comma);
    }
    this.match(Tok.ArrayE);
    return vs.length ? vs : [{ type: "empty_array" }];
  }

  private type(): ConfigValue {
    switch (this.t) {
      case Tok.Int: {
        const v = strtoll(this.s, this.tb);
        if (v === "range") this.fail("integer out of range");
        this.match(Tok.Int);
        return { type: "int", value: v };
      }
      case Tok.Float: {
        const v = strtod(this.s, this.tb);
        if (v === "range") this.fail("float out of range");
        this.match(Tok.Float);
        return { type: "float", value: v };
      }
      case Tok.String: {
        const v = this.stringTok();
        this.match(Tok.String);
        return { type: "string", value: v };
      }
      case Tok.StringBare: {
        const v = this.s.slice(this.tb, this.te);
        this.match(Tok.StringBare);
        return { type: "string", value: v };
      }
      case Tok.StringEscaped: {
        const v = unescapeDoubleQuotes(this.stringTok());
        this.match(Tok.StringEscaped);
        return { type: "string", value: v };
      }
      default:
        this.fail("expected a value");
    }
  }

  private eatSpace() {
    const s = this.s;
    while (this.tb !== s.length) {
      if (s[this.te] === "#") while (this.te !== s.length && s[this.te] !== "\n") this.te++;
      else if (!isSpace(s[this.te] ?? "")) break;
      while (this.te !== s.length && isSpace(s[this.te]!)) this.te++;
      this.tb = this.te;
    }
  }

  private getToken(prev: Tok) {
    const s = this.s;
    this.tb = this.te;
    this.eatSpace();
    if (this.tb === s.length) {
      this.t = Tok.Eof;
      return;
    }
    // After `=`, `[` or `,` a token is a value, elsewhere an identifier.
    const valuesAllowed = prev === Tok.Eq || prev === Tok.ArrayB || prev === Tok.Comma;
    let te = this.te;
    const c = s[te]!;
    if (SINGLE[c] !== undefined) {
      this.t = SINGLE[c]!;
      te++;
    } else if (c === '"') {
      this.t = Tok.StringEscaped;
      te++;
      while (te !== s.length && s[te] !== '"') {
        if (s[te] === "\\" && te + 1 !== s.length) te++;
        te++;
      }
      if (te !== s.length) te++;
    } else if (c === "'") {
      this.t = Tok.String;
      te++;
      while (te !== s.length && s[te] !== "'") te++;
      if (te !== s.length) te++;
    } else if (valuesAllowed && (c === "." || isDigit(c) || c === "+" || c === "-")) {
      this.t = c === "." ? Tok.Float : Tok.Int;
      while (++te !== s.length) {
        const d = s[te]!;
        if (isDigit(d)) continue;
        if (d === "." && this.t !== Tok.Float) {
          this.t = Tok.Float;
          continue;
        }
        break;
      }
    } else {
      this.t = valuesAllowed ? Tok.StringBare : Tok.Identifier;
      while (te !== s.length && !isSpace(s[te]!) && !"#={}".includes(s[te]!)) te++;
    }
    this.te = te;
  }
}

/** libdm's unescaping of "…" strings: `\"` → `"`, `\\` → `\`; any other backslash stays. */
export function unescapeDoubleQuotes(s: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(/\\(["\\])/g, "$1");
}

/** `"` → `\"`, `\` → `\\` (libdm's dm_escape_double_quotes). */
export function escapeDoubleQuotes(s: string): string {
  return s.replace(/["\\]/g, "\\$&");
}

/** Parse a message body; throws ConfigParseError. The body ends at its first NUL byte. */
export function parseConfig(body: Buffer | string): ConfigNode[] {
  let text: string;
  if (typeof body === "string") {
    const nul = body.indexOf("\0");
    text = nul < 0 ? body : body.slice(0, nul);
  } else {
    const nul = body.indexOf(0);
    text = (nul < 0 ? body : body.subarray(0, nul)).toString("utf8");
  }
  return new Parser(text).file();
}

/** Parse, or undefined when the text does not parse (what lvmpolld calls "no tree"). */
export function tryParseConfig(body: Buffer | string): ConfigNode[] | undefined {
  try {
    return parseConfig(body);
  } catch (e) {
    if (e instanceof ConfigParseError) return undefined;
    throw e;
  }
}

/** The first top-level node with this key (duplicates are allowed; the first one counts). */
export function findNode(tree: ConfigNode[] | undefined, key: string): ConfigNode | undefined {
  return tree?.find((n) => n.key === key);
}

/** A string value, non-empty; anything else (int, section, "") counts as absent. */
export function findString(tree: ConfigNode[] | undefined, key: string): string | undefined {
  const v = findNode(tree, key)?.values?.[0];
  return v?.type === "string" && v.value !== "" ? v.value : undefined;
}

/** An integer value; anything else (a string "1" included) gives the default. */
export function findInt(tree: ConfigNode[] | undefined, key: string, dflt: bigint): bigint {
  const v = findNode(tree, key)?.values?.[0];
  return v?.type === "int" ? v.value : dflt;
}

function formatValue(v: ConfigValue): string {
  switch (v.type) {
    case "string":
      return `"${escapeDoubleQuotes(v.value)}"`;
    case "int":
      return v.value.toString();
    case "float":
      return v.value.toFixed(6);
    case "empty_array":
      return "[]";
  }
}

/** The tree written back as libdm writes it (used for the wire log): one line per value or section edge. */
export function writeConfig(nodes: ConfigNode[], level = 0): string[] {
  const indent = "\t".repeat(Math.min(level, 32));
  const lines: string[] = [];
  for (const n of nodes) {
    const key = /[#"!]/.test(n.key) ? `"${escapeDoubleQuotes(n.key)}"` : n.key;
    if (!n.values) {
      lines.push(`${indent}${key} {`, ...writeConfig(n.children ?? [], level + 1), `${indent}}`);
      continue;
    }
    const vs = n.values;
    const one = vs.length === 1 && vs[0]!.type !== "empty_array";
    const text = one
      ? formatValue(vs[0]!)
      : `[${vs
          .filter((v) => v.type !== "empty_array")
          .map(formatValue)
          .join(", ")}]`;
    lines.push(`${indent}${key}=${text}`);
  }
  return lines;
}
