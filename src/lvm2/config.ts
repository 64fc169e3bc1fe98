import { corrupt } from "../lib/errors.js";

/**
 * LVM2's config-file language, the syntax of VG metadata text
 * (lvm2-on-disk-format.md §10): a generic tree that keeps item order and
 * the comments that matter for byte-exact round trips.
 */

export type Scalar = string | number;
export type Value = Scalar | Scalar[];
export interface Section {
  items: Item[];
}
export interface Item {
  key: string;
  value: Value | Section;
  /** Comment on the same line after the value, without the leading "# ". */
  comment?: string;
  /** Whole-line comments just before this item, without "# ". */
  leading?: string[];
}

export const isSection = (v: Value | Section): v is Section => typeof v === "object" && !Array.isArray(v);

/** Bounds that keep hostile input from exhausting the stack or memory. */
export const MAX_DEPTH = 32;

const C = {
  tab: 9,
  lf: 10,
  cr: 13,
  space: 32,
  quote: 34,
  hash: 35,
  squote: 39,
  plus: 43,
  comma: 44,
  minus: 45,
  dot: 46,
  zero: 48,
  nine: 57,
  eq: 61,
  lbracket: 91,
  backslash: 92,
  rbracket: 93,
  lbrace: 123,
  rbrace: 125,
};

const isSpace = (c: number) => c === C.space || (c >= 9 && c <= 13);
const isDigit = (c: number) => c >= C.zero && c <= C.nine;
/** A byte that ends a bare word. */
const endsWord = (c: number) =>
  isSpace(c) ||
  c === C.hash ||
  c === C.eq ||
  c === C.lbrace ||
  c === C.rbrace ||
  c === C.lbracket ||
  c === C.rbracket ||
  c === C.comma ||
  c === C.quote ||
  c === C.squote ||
  c === 0;

class Parser {
  pos = 0;
  line = 1;
  /** Comment lines seen since the last item, waiting to be attached. */
  pending: string[] = [];
  readonly end: number;

  constructor(readonly s: string) {
    const nul = s.indexOf("\0");
    this.end = nul < 0 ? s.length : nul;
  }

  fail(msg: string): never {
    throw corrupt(`metadata text line ${this.line}: ${msg}`);
  }

  /** Skip whitespace; gather whole-line comments into `pending`. */
  skip(): void {
    const s = this.s;
    while (this.pos < this.end) {
      const c = s.charCodeAt(this.pos);
      if (c === C.lf) {
        this.line++;
        this.pos++;
      } else if (isSpace(c)) this.pos++;
      else if (c === C.hash) {
        let e = s.indexOf("\n", this.pos);
        if (e < 0 || e > this.end) e = this.end;
        this.pending.push(commentText(s.slice(this.pos + 1, e)));
        this.pos = e;
      } else break;
    }
  }

  /** A comment on the rest of the current line, if any (consumed). */
  trailingComment(): string | undefined {
    const s = this.s;
    let p = this.pos;
    while (p < this.end) {
      const c = s.charCodeAt(p);
      if (c === C.space || c === C.tab || c === C.cr) p++;
      else break;
    }
    if (p < this.end && s.charCodeAt(p) === C.hash) {
      let e = s.indexOf("\n", p);
      if (e < 0 || e > this.end) e = this.end;
      this.pos = e;
      return commentText(s.slice(p + 1, e));
    }
    return undefined;
  }

  peek(): number {
    return this.pos < this.end ? this.s.charCodeAt(this.pos) : -1;
  }

  items(depth: number, closing: boolean): Item[] {
    if (depth > MAX_DEPTH) this.fail(`sections nested deeper than ${MAX_DEPTH}`);
    const items: Item[] = [];
    for (;;) {
      this.skip();
      const c = this.peek();
      if (c === -1) {
        if (closing) this.fail('missing "}" at end of text');
        return items;
      }
      if (c === C.rbrace) {
        if (!closing) this.fail('unexpected "}"');
        this.pos++;
        return items;
      }
      const leading = this.pending.length ? this.pending : undefined;
      this.pending = [];
      const key = this.key();
      this.skip();
      const d = this.peek();
      let item: Item;
      if (d === C.lbrace) {
        this.pos++;
        item = { key, value: { items: this.items(depth + 1, true) } };
      } else if (d === C.eq) {
        this.pos++;
        this.skip();
        const value = this.peek() === C.lbracket ? this.array() : this.scalar();
        item = { key, value };
        const comment = this.trailingComment();
        if (comment !== undefined) item.comment = comment;
      } else this.fail(`expected "=" or "{" after "${key.slice(0, 40)}"`);
      if (leading) item.leading = leading;
      items.push(item);
    }
  }

  key(): string {
    const c = this.peek();
    if (c === C.quote) return this.dqString();
    if (c === C.squote) return this.sqString();
    const start = this.pos;
    while (this.pos < this.end && !endsWord(this.s.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail(`unexpected character "${this.s[this.pos]}"`);
    const key = this.s.slice(start, this.pos);
    if (key.includes("/")) this.fail(`key "${key.slice(0, 40)}" contains "/"`);
    return key;
  }

  array(): Scalar[] {
    this.pos++; // [
    const out: Scalar[] = [];
    for (;;) {
      this.skip();
      const c = this.peek();
      if (c === C.rbracket) {
        this.pos++;
        return out;
      }
      if (c === -1) this.fail('missing "]" at end of text');
      out.push(this.scalar());
      this.skip();
      if (this.peek() === C.comma) this.pos++;
    }
  }

  scalar(): Scalar {
    const c = this.peek();
    if (c === C.quote) return this.dqString();
    if (c === C.squote) return this.sqString();
    if (c === -1) this.fail("value missing at end of text");
    const start = this.pos;
    while (this.pos < this.end && !endsWord(this.s.charCodeAt(this.pos))) this.pos++;
    const word = this.s.slice(start, this.pos);
    if (word.length === 0) this.fail(`unexpected "${this.s[this.pos]}" where a value belongs`);
    const first = word.charCodeAt(0);
    if (isDigit(first) || ((first === C.plus || first === C.minus) && word.length > 1))
      return this.number(word);
    return word;
  }

  /** Integers as C's strtoll(..., 0) reads them, limited to what a JSON number holds exactly. */
  number(word: string): number {
    const m = /^([+-]?)(\d+)$/.exec(word);
    if (!m) {
      if (/^[+-]?\d*\.\d+$|^[+-]?\d+\.\d*$/.test(word))
        this.fail(`floating-point value "${word}" is not used in VG metadata`);
      this.fail(`malformed number "${word.slice(0, 40)}"`);
    }
    const digits = m[2]!;
    let v: number;
    if (digits.length > 1 && digits.startsWith("0")) {
      if (!/^[0-7]+$/.test(digits)) this.fail(`malformed octal number "${word}"`);
      v = Number.parseInt(digits, 8);
    } else v = Number(digits);
    if (!Number.isSafeInteger(v)) this.fail(`number "${word.slice(0, 40)}" is too large (limit 2^53-1)`);
    return m[1] === "-" && v !== 0 ? -v : v;
  }

  dqString(): string {
    const s = this.s;
    let p = this.pos + 1;
    let hasEscape = false;
    for (;;) {
      if (p >= this.end) this.fail("unterminated string");
      const c = s.charCodeAt(p);
      if (c === C.quote) break;
      if (c === C.backslash) {
        hasEscape = true;
        p += 2;
        continue;
      }
      if (c === C.lf) this.line++;
      p++;
    }
    const raw = s.slice(this.pos + 1, p);
    this.pos = p + 1;
    return hasEscape ? raw.replace(/\\(["\\])/g, "$1") : raw;
  }

  sqString(): string {
    const e = this.s.indexOf("'", this.pos + 1);
    if (e < 0 || e >= this.end) this.fail("unterminated string");
    const v = this.s.slice(this.pos + 1, e);
    for (const ch of v) if (ch === "\n") this.line++;
    this.pos = e + 1;
    return v;
  }
}

function commentText(c: string): string {
  const t = c.endsWith("\r") ? c.slice(0, -1) : c;
  return t.startsWith(" ") ? t.slice(1) : t;
}

export interface ParsedConfig {
  root: Section;
  /** Comment lines after the last item. */
  trailing: string[];
}

/** Parse config text (stops at the first NUL byte, as LVM2 does). */
export function parseConfig(text: string): ParsedConfig {
  const p = new Parser(text);
  const items = p.items(0, false);
  return { root: { items }, trailing: p.pending };
}

/** A string value as LVM2 writes it: only `"` and `\` are escaped. */
export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, "\\$&")}"`;
}

export function formatScalar(v: Scalar): string {
  return typeof v === "number" ? String(v) : quote(v);
}

/** An array on one line, LVM2's `["a", "b"]` form. */
export function formatInlineArray(a: Scalar[]): string {
  return `[${a.map(formatScalar).join(", ")}]`;
}
