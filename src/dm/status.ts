import { invalidInput } from "../lib/errors.js";

/**
 * Status lines (`dmsetup status` text) of the targets whose progress dvm
 * follows. A line is `start length type params`; only the params differ by
 * target type (device-mapper.md §4.5 for mirror).
 */

export interface StatusLine {
  start_sectors: number;
  length_sectors: number;
  type: string;
  params: string;
}

/** One line per target, in table order; "No devices found" and blank lines are no lines. */
export function parseStatusLines(text: string): StatusLine[] {
  const out: StatusLine[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(\d+) (\d+) (\S+) ?(.*)$/.exec(line);
    if (!m) throw invalidInput(`status line "${line}": expected START LENGTH TYPE PARAMS`);
    out.push({ start_sectors: Number(m[1]), length_sectors: Number(m[2]), type: m[3]!, params: m[4]! });
  }
  return out;
}

export interface MirrorStatus {
  /** The legs' devices as the kernel names them (maj:min). */
  legs: string[];
  in_sync_regions: number;
  total_regions: number;
  /** One health character per leg: A alive, D dead, S sync failed, R read failed, U unclassified. */
  health: string;
}

/** `<#legs> <dev>... <in>/<total> <#health args> <health> <#log args> <log args>...` */
export function parseMirrorStatus(params: string): MirrorStatus {
  const a = params.trim().split(/\s+/);
  const bad = (why: string) => invalidInput(`mirror status "${params}": ${why}`);
  const n = Number(a[0]);
  if (!Number.isSafeInteger(n) || n < 1 || a.length < n + 3)
    throw bad("expected the number of legs and the legs");
  const legs = a.slice(1, 1 + n);
  const ratio = /^(\d+)\/(\d+)$/.exec(a[1 + n]!);
  if (!ratio) throw bad("expected IN_SYNC/TOTAL regions after the legs");
  const in_sync_regions = Number(ratio[1]);
  const total_regions = Number(ratio[2]);
  if (in_sync_regions > total_regions) throw bad("more regions in sync than there are");
  const health = Number(a[2 + n]) >= 1 ? (a[3 + n] ?? "") : "";
  return { legs, in_sync_regions, total_regions, health };
}

/**
 * Status of a `snapshot` or `snapshot-merge` target (device-mapper.md §4.8,
 * §4.9): how much of the COW device is in use, or a word when the snapshot
 * no longer works. While merging, `allocated` shrinks towards `metadata`;
 * the merge is done when they are equal.
 */
export type SnapshotStatus =
  | {
      state: "usage";
      /** Next free chunk × chunk size: header, metadata and data chunks in use. */
      allocated_sectors: number;
      /** The COW device's size. */
      total_sectors: number;
      /** (Metadata areas + 1) × chunk size; null from kernels before target version 1.8 (not printed). */
      metadata_sectors: number | null;
    }
  /** Invalid: the COW filled up or failed; Overflow: the same, reported so with `PO`; Unknown: no store yet. */
  | { state: "invalid" | "merge_failed" | "overflow" | "unknown" };

const SNAPSHOT_WORDS: Record<string, SnapshotStatus["state"]> = {
  Invalid: "invalid",
  "Merge failed": "merge_failed",
  Overflow: "overflow",
  Unknown: "unknown",
};

/** `<allocated>/<total> [<metadata>]`, or Invalid, Merge failed, Overflow, Unknown. */
export function parseSnapshotStatus(params: string): SnapshotStatus {
  const text = params.trim();
  const word = Object.hasOwn(SNAPSHOT_WORDS, text) ? SNAPSHOT_WORDS[text] : undefined;
  if (word) return { state: word } as SnapshotStatus;
  const m = /^(\d+)\/(\d+)(?: (\d+))?$/.exec(text);
  if (!m)
    throw invalidInput(
      `snapshot status "${params}": expected ALLOCATED/TOTAL [METADATA] (sectors), Invalid, Merge failed, Overflow or Unknown`,
    );
  const [allocated_sectors, total_sectors] = [Number(m[1]), Number(m[2])];
  const metadata_sectors = m[3] === undefined ? null : Number(m[3]);
  if (![allocated_sectors, total_sectors, metadata_sectors ?? 0].every(Number.isSafeInteger))
    throw invalidInput(`snapshot status "${params}": a number is too large`);
  if (allocated_sectors > total_sectors)
    throw invalidInput(`snapshot status "${params}": more sectors allocated than the COW device has`);
  return { state: "usage", allocated_sectors, total_sectors, metadata_sectors };
}
