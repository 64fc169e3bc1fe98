import { closeSync, openSync, readSync } from "node:fs";
import { corrupt } from "../lib/errors.js";

/** LVM2's ID alphabet; generated IDs use only the first 62 characters. */
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#";
const RAW_RE = /^[0-9a-zA-Z!#]{32}$/;
export const ID_LEN = 32;
const GROUPS = [6, 4, 4, 4, 4, 4, 6];

/** Strip the dashes and check the 32 characters; returns the raw form or null. */
export function rawId(text: string): string | null {
  const raw = text.replaceAll("-", "");
  return RAW_RE.test(raw) ? raw : null;
}

/** The 6-4-4-4-4-4-6 dashed form LVM2 writes. */
export function formatId(raw: string): string {
  const parts: string[] = [];
  let pos = 0;
  for (const g of GROUPS) {
    parts.push(raw.slice(pos, pos + g));
    pos += g;
  }
  return parts.join("-");
}

/** Parse an ID as found on disk or in metadata, normalised to the dashed form. */
export function normalizeId(text: string, what: string): string {
  const raw = rawId(text);
  if (raw === null)
    throw corrupt(`${what}: invalid ID "${text.slice(0, 64)}" (expected 32 characters of [0-9a-zA-Z!#])`);
  return formatId(raw);
}

/**
 * Bytes from the kernel's CSPRNG. Read from /dev/urandom: loading node's
 * crypto takes ~3 ms, more than the rest of making an LV's ID; Web Crypto
 * (the same kind of generator) where there is no /dev/urandom.
 */
function randomBytes(n: number): Uint8Array {
  const buf = new Uint8Array(n);
  let fd: number;
  try {
    fd = openSync("/dev/urandom", "r");
  } catch {
    return globalThis.crypto.getRandomValues(buf);
  }
  try {
    for (let done = 0; done < n; ) {
      const got = readSync(fd, buf, done, n - done, null);
      if (got <= 0) throw new Error("/dev/urandom: short read");
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

export function generateId(): string {
  const buf = randomBytes(ID_LEN);
  let raw = "";
  for (const b of buf) raw += ALPHABET[b % 62];
  return formatId(raw);
}
