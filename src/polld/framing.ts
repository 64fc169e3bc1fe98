/**
 * libdaemon framing (lvmpolld.md §2.1): a message is its body followed by the
 * 4-byte terminator "\n##\n". Both directions use it.
 *
 * LVM2's reader only checks whether the bytes read so far *end* with the
 * terminator; we split at the first terminator instead, which is the same for
 * real clients (one request, then wait for the reply) and keeps coalesced or
 * pipelined requests apart.
 */

export const TERMINATOR = Buffer.from("\n##\n", "latin1");

/** LVM2 (>= 2.03.40) drops a connection whose message grows past 16 MiB; so do we. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

const COALESCE_BYTES = 4096;

export class MessageTooLarge extends Error {
  constructor(readonly sizeBytes: number) {
    super(`message larger than ${MAX_MESSAGE_BYTES} bytes`);
    this.name = "MessageTooLarge";
  }
}

/** Body + terminator, as every writer sends it. */
export function frame(body: string | Buffer): Buffer {
  const b = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  return Buffer.concat([b, TERMINATOR]);
}

/**
 * Collects stream chunks and hands out complete message bodies (terminator
 * stripped). Chunks are kept in a list and joined only once a terminator is
 * found, so a large message arriving in small pieces costs linear time.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes = MAX_MESSAGE_BYTES) {}

  /** Bytes received that do not yet form a complete message. */
  get pending(): number {
    return this.pendingBytes;
  }

  /** Feed one chunk; returns the bodies it completed. Throws MessageTooLarge past the cap. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let rest = chunk;
    while (rest.length > 0) {
      // The terminator may straddle the previous chunk: search from up to 3 bytes before it.
      const carry = Math.min(TERMINATOR.length - 1, this.pendingBytes);
      const tail = carry > 0 ? this.lastBytes(carry) : Buffer.alloc(0);
      const window = carry > 0 ? Buffer.concat([tail, rest]) : rest;
      const at = window.indexOf(TERMINATOR);
      if (at < 0) {
        // Coalesce small pieces, so a message trickling in byte by byte is not millions of Buffers.
        const last = this.chunks.length - 1;
        if (last >= 0 && this.chunks[last]!.length < COALESCE_BYTES)
          this.chunks[last] = Buffer.concat([this.chunks[last]!, rest]);
        else this.chunks.push(rest);
        this.pendingBytes += rest.length;
        if (this.pendingBytes > this.maxBytes + TERMINATOR.length)
          throw new MessageTooLarge(this.pendingBytes);
        break;
      }
      // `at` counts from the start of the window; the body ends `carry` bytes earlier in chunk terms.
      const bodyInRest = at - carry; // may be negative: the body ends inside the earlier chunks
      const all = Buffer.concat([...this.chunks, rest]);
      const bodyLen = this.pendingBytes + bodyInRest;
      if (bodyLen > this.maxBytes) throw new MessageTooLarge(bodyLen);
      out.push(all.subarray(0, bodyLen));
      rest = all.subarray(bodyLen + TERMINATOR.length);
      this.chunks = [];
      this.pendingBytes = 0;
    }
    return out;
  }

  private lastBytes(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    for (let i = this.chunks.length - 1; i >= 0 && need > 0; i--) {
      const c = this.chunks[i]!;
      const take = Math.min(need, c.length);
      parts.unshift(c.subarray(c.length - take));
      need -= take;
    }
    return Buffer.concat(parts);
  }
}
