import type { Socket } from "node:net";
import { net } from "../lib/lazy.js";
import { findInt, findString, parseConfig } from "./config.js";
import { FrameReader, frame } from "./framing.js";
import { formatRequest, HELLO_REQUEST, PROTOCOL, PROTOCOL_VERSION, type RequestField } from "./protocol.js";

/**
 * A client of lvmpolld's protocol: one connection, strictly request then
 * reply, as lvm's client library talks. Used by `dvm-polld --dump` and the
 * tests, and meant for dvm's own commands (pvmove, merge).
 */
export class PolldClient {
  private readonly reader = new FrameReader();
  private readonly replies: Buffer[] = [];
  private waiting?: { resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private failure?: Error;

  private constructor(private readonly sock: Socket) {
    sock.on("data", (c: Buffer) => {
      for (const m of this.reader.push(c)) this.replies.push(m);
      this.deliver();
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      this.deliver();
    };
    sock.on("error", fail);
    sock.on("close", () => fail(new Error("connection closed by lvmpolld")));
  }

  static connect(path: string): Promise<PolldClient> {
    return new Promise((resolve, reject) => {
      const s = net().connect(path);
      s.once("connect", () => {
        s.off("error", reject);
        resolve(new PolldClient(s));
      });
      s.once("error", reject);
    });
  }

  private deliver() {
    if (!this.waiting) return;
    const w = this.waiting;
    const r = this.replies.shift();
    if (r) {
      this.waiting = undefined;
      w.resolve(r);
    } else if (this.failure) {
      this.waiting = undefined;
      w.reject(this.failure);
    }
  }

  /** Send a raw body (framed here) and return the raw reply body. */
  requestRaw(body: string | Buffer): Promise<Buffer> {
    if (this.waiting) return Promise.reject(new Error("a request is already in flight"));
    const p = new Promise<Buffer>((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
    this.sock.write(frame(body));
    this.deliver();
    return p;
  }

  request(fields: RequestField[]): Promise<Buffer> {
    return this.requestRaw(formatRequest(fields));
  }

  /** The handshake lvm performs; throws when the daemon is not lvmpolld protocol 1. */
  async hello(): Promise<void> {
    const tree = parseConfig(await this.requestRaw(HELLO_REQUEST));
    const response = findString(tree, "response");
    if (response !== "OK") throw new Error(`daemon returned error ${response ?? "<none>"}`);
    const protocol = findString(tree, "protocol");
    if (protocol !== PROTOCOL) throw new Error(`requested protocol ${PROTOCOL} != ${protocol ?? "<none>"}`);
    const version = findInt(tree, "version", 0n);
    if (version !== BigInt(PROTOCOL_VERSION))
      throw new Error(`requested protocol version ${PROTOCOL_VERSION} != ${version}`);
  }

  close() {
    this.sock.destroy();
  }
}
