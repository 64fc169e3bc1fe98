import { crc32 } from "node:zlib";

/** LVM2's CRC seed; its checksum is reflected CRC-32 from this seed with no final inversion. */
export const LVM_CRC_SEED = 0xf597a6cf;

/**
 * LVM2's checksum of `data`, optionally continuing from a previous result
 * (the text of a wrapped metadata copy is checksummed piece by piece).
 * zlib inverts on entry and exit, so feeding it the inverted seed and
 * inverting its result gives LVM's variant.
 */
export function lvmCrc(data: Uint8Array, previous: number = LVM_CRC_SEED): number {
  return (crc32(data, ~previous >>> 0) ^ 0xffffffff) >>> 0;
}
