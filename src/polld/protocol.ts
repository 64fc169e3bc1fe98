import { escapeDoubleQuotes } from "./config.js";

/**
 * lvmpolld's wire vocabulary (lvmpolld.md §2.3–§2.9) and the two serializers:
 * the daemon's hand-formatted replies (byte for byte as LVM2's) and the lvm
 * client's request format (for our own clients).
 */

export const PROTOCOL = "lvmpolld";
export const PROTOCOL_VERSION = 1;

export const POLL_TYPES = ["pvmove", "convert", "merge", "merge_thin"] as const;
export type PollType = (typeof POLL_TYPES)[number];
export const isPollType = (s: string): s is PollType => (POLL_TYPES as readonly string[]).includes(s);

export const Request = {
  hello: "hello",
  progress: "progress_info",
  dump: "dump",
} as const;

export const Status = {
  ok: "OK",
  failed: "failed",
  invalid: "invalid",
  inProgress: "in_progress",
  finished: "finished",
  notFound: "not_found",
} as const;

export const Reason = {
  notImplemented: "request not implemented",
  missingLvid: "request requires lvid set",
  missingLvname: "request requires lvname set",
  missingVgname: "request requires vgname set",
  pollingFailed: "polling of lvm command failed",
  illegalAbort: "abort only supported with PVMOVE polling operation",
  differentOperation: "Different operation on LV already in progress",
  invalidInterval: "request requires interval set",
  noMemory: "not enough memory",
  retcode: "retcode",
  signal: "signal",
} as const;

export type ReplyField = [key: string, value: string | number | bigint];

/**
 * A "simple" reply: `response = "<status>"` then one line per field, strings
 * quoted but not escaped (LVM2 formats these by hand), each line ending "\n".
 * The framing terminator follows, so the bytes on the wire end "\n\n##\n".
 */
export function simpleReply(status: string, ...fields: ReplyField[]): string {
  let s = `response = "${status}"\n`;
  for (const [k, v] of fields) s += typeof v === "string" ? `${k} = "${v}"\n` : `${k} = ${v}\n`;
  return s;
}

export const helloReply = () => simpleReply(Status.ok, ["protocol", PROTOCOL], ["version", PROTOCOL_VERSION]);

/** The handshake as lvm sends it (built with the simple formatter). */
export const HELLO_REQUEST = 'request = "hello"\n';

export type RequestField = [key: string, value: string | number | bigint];

/**
 * A request as lvm's writer builds it: `key="escaped string"` or `key=<int>`,
 * one per line, no spaces around `=`.
 */
export function formatRequest(fields: RequestField[]): string {
  let s = "";
  for (const [k, v] of fields)
    s += typeof v === "string" ? `${k}="${escapeDoubleQuotes(v)}"\n` : `${k}=${v}\n`;
  return s;
}
