import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  writeSync,
} from "node:fs";
import { DvmError, Exit, notFound } from "./errors.js";
import { type Bytes, bytes, SECTOR_SIZE } from "./units.js";

/**
 * Positioned I/O on a block device or an image file. Everything that touches
 * a disk goes through this interface, so tests can inject faults.
 */
export interface BlockIO {
  readonly path: string;
  readonly size: Bytes;
  read(offset: Bytes, length: number): Uint8Array;
  write(offset: Bytes, data: Uint8Array): void;
  /** Make the writes so far durable. */
  flush(): void;
  close(): void;
}

/** Size of a block device from sysfs (fstat reports 0 for block devices). */
function blockDeviceSize(rdev: number, path: string): Bytes {
  // Linux encodes major/minor in st_rdev this way (glibc's gnu_dev_major/minor).
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  try {
    const s = readFileSync(`/sys/dev/block/${major}:${minor}/size`, "latin1");
    return bytes(Number.parseInt(s, 10) * SECTOR_SIZE);
  } catch {
    throw new DvmError(Exit.notFound, `${path}: cannot tell the device size`);
  }
}

export interface OpenOptions {
  write?: boolean;
}

export function openDevice(path: string, opts: OpenOptions = {}): BlockIO {
  let fd: number;
  try {
    fd = openSync(path, opts.write ? constants.O_RDWR : constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENXIO" || code === "ENODEV") throw notFound(`${path}: no such device`);
    throw new DvmError(Exit.notFound, `${path}: cannot open: ${code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    let size: Bytes;
    if (st.isBlockDevice()) size = blockDeviceSize(st.rdev, path);
    else if (st.isFile()) size = bytes(st.size);
    else throw notFound(`${path}: not a block device or regular file`);
    const io = new FdIO(path, fd, size);
    return process.env.DVM_FAULT ? withFaults(io, process.env.DVM_FAULT) : io;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

class FdIO implements BlockIO {
  constructor(
    readonly path: string,
    private fd: number,
    readonly size: Bytes,
  ) {}

  read(offset: Bytes, length: number): Uint8Array {
    if (offset < 0 || offset + length > this.size)
      throw new DvmError(
        Exit.corrupt,
        `${this.path}: read of ${length} bytes at ${offset} lies beyond the device end (${this.size})`,
      );
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw new DvmError(Exit.corrupt, `${this.path}: short read at ${offset + done}`);
      done += n;
    }
    return buf;
  }

  write(offset: Bytes, data: Uint8Array): void {
    if (offset < 0 || offset + data.length > this.size)
      throw new DvmError(Exit.invalid, `${this.path}: write at ${offset} lies beyond the device end`);
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  flush(): void {
    // fsync flushes the page cache and asks the device to flush its write cache.
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A device backed by a buffer in memory, for tests and for planning writes. */
export function memoryDevice(path: string, data: Uint8Array): BlockIO {
  return {
    path,
    size: bytes(data.length),
    read(offset, length) {
      if (offset < 0 || offset + length > data.length)
        throw new DvmError(
          Exit.corrupt,
          `${path}: read of ${length} bytes at ${offset} lies beyond the device end`,
        );
      return data.slice(offset, offset + length);
    },
    write(offset, buf) {
      if (offset < 0 || offset + buf.length > data.length)
        throw new DvmError(Exit.invalid, `${path}: write at ${offset} lies beyond the device end`);
      data.set(buf, offset);
    },
    flush() {},
    close() {},
  };
}

/**
 * Fault injection for crash-safety tests, set by DVM_FAULT (counted over
 * every device the process writes):
 *   crash:N  the process dies (SIGKILL) right after its Nth write;
 *   torn:N   the Nth write lands half: only the first 256 bytes of its
 *            first sector reach the disk, then the process dies;
 *   eio:N    the Nth write fails with an I/O error and changes nothing
 *            (the process goes on: error paths are tested with it).
 */
let faultWrites = 0;

function withFaults(io: BlockIO, spec: string): BlockIO {
  const m = /^(crash|torn|eio):(\d+)$/.exec(spec);
  if (!m) throw new DvmError(Exit.invalid, `DVM_FAULT: expected crash:N, torn:N or eio:N, got "${spec}"`);
  const kind = m[1];
  const n = Number(m[2]);
  const die = () => process.kill(process.pid, "SIGKILL");
  return {
    path: io.path,
    size: io.size,
    read: (o, l) => io.read(o, l),
    write(offset, data) {
      faultWrites++;
      if (kind === "eio" && faultWrites === n)
        throw new DvmError(
          Exit.corrupt,
          `${io.path}: write of ${data.length} bytes at ${offset}: I/O error (DVM_FAULT)`,
        );
      if (kind === "torn" && faultWrites === n) {
        io.write(offset, data.subarray(0, Math.min(256, data.length)));
        io.flush();
        die();
      }
      io.write(offset, data);
      if (kind === "crash" && faultWrites === n) {
        io.flush();
        die();
      }
    },
    flush: () => io.flush(),
    close: () => io.close(),
  };
}
