import type { BlockIO } from "../lib/blockdev.js";
import { DvmError } from "../lib/errors.js";
import { bytes } from "../lib/units.js";
import { findLabel, LABEL_SCAN_BYTES, type PvLabel } from "./label.js";
import {
  checkText,
  decodeMdaHeader,
  MDA_HEADER_SIZE,
  type MdaHeader,
  RAW_LOCN_IGNORED,
  ringPieces,
} from "./mda.js";
import { nameProblem } from "./names.js";
import { leadingVgName, parseVgText, type VgText } from "./vg.js";

/** Reading a PV's label and metadata areas from a device. */

export interface MdaRead {
  start: number;
  size: number;
  state: "ok" | "empty" | "ignored" | "bad";
  error?: string;
  header?: MdaHeader;
  /** The committed text, NUL stripped (state "ok" only). */
  text?: string;
  vg?: VgText;
}

export interface PvRead {
  label: PvLabel | null;
  labelProblems: string[];
  mdas: MdaRead[];
}

/**
 * Parses of metadata text, shared by every copy with the same bytes: all
 * PVs of a VG normally hold identical text, which is then parsed once.
 */
export class TextCache {
  private map = new Map<string, VgText | DvmError>();
  parse(text: string): VgText {
    let r = this.map.get(text);
    if (r === undefined) {
      try {
        r = parseVgText(text);
      } catch (e) {
        if (!(e instanceof DvmError)) throw e;
        r = e;
      }
      this.map.set(text, r);
    }
    if (r instanceof DvmError) throw r;
    return r;
  }
}

/** Read one metadata area's committed copy. Problems are recorded, not thrown. */
export function readMda(io: BlockIO, start: number, size: number, cache: TextCache): MdaRead {
  const m: MdaRead = { start, size, state: "bad" };
  try {
    if (start + MDA_HEADER_SIZE > io.size) throw new Error(`header at ${start} lies beyond the device end`);
    const h = decodeMdaHeader(io.read(bytes(start), MDA_HEADER_SIZE), bytes(start));
    m.header = h;
    if (h.size !== size) throw new Error(`header size ${h.size} differs from the PV header's ${size}`);
    if (start + h.size > io.size)
      throw new Error(`area of ${h.size} bytes at ${start} runs past the device end`);
    const c = h.committed;
    if (c.flags & RAW_LOCN_IGNORED) {
      m.state = "ignored";
      return m;
    }
    if (c.offset === 0) {
      m.state = "empty";
      return m;
    }
    const pieces = ringPieces(h, c).map((p) => io.read(p.offset, p.length));
    const buf = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    checkText(buf, c);
    let text = Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString("latin1");
    const nul = text.indexOf("\0");
    if (nul >= 0) text = text.slice(0, nul);
    const name = leadingVgName(text);
    const np = nameProblem(name);
    if (np) throw new Error(`metadata text begins with an invalid VG name "${name.slice(0, 40)}": ${np}`);
    m.vg = cache.parse(text);
    if (m.vg.vg.name !== name)
      throw new Error(`metadata text begins with "${name}" but its VG section is "${m.vg.vg.name}"`);
    m.text = text;
    m.state = "ok";
  } catch (e) {
    if (!(e instanceof Error) || (e.constructor !== Error && !(e instanceof DvmError))) throw e;
    m.error = e.message;
    m.state = "bad";
  }
  return m;
}

/** The label and every metadata area of a device; `label` is null when it is not a PV. */
export function readPv(io: BlockIO, cache: TextCache): PvRead {
  const headLen = Math.min(LABEL_SCAN_BYTES, io.size - (io.size % 512));
  const found = headLen > 0 ? findLabel(io.read(bytes(0), headLen)) : { label: null, problems: [] };
  if (!found.label) return { label: null, labelProblems: found.problems, mdas: [] };
  const mdas = found.label.metadataAreas.map((a) => readMda(io, a.offset, a.size, cache));
  return { label: found.label, labelProblems: [], mdas };
}
