/**
 * Quantities carry their unit in the type, so bytes, 512-byte sectors and
 * extents cannot be mixed by accident. Construct them with the helpers below.
 */
export type Bytes = number & { readonly __unit: "bytes" };
export type Sectors = number & { readonly __unit: "sectors" };
export type Extents = number & { readonly __unit: "extents" };

export const SECTOR_SIZE = 512;

export const bytes = (n: number) => n as Bytes;
export const sectors = (n: number) => n as Sectors;
export const extents = (n: number) => n as Extents;

export const sectorsToBytes = (s: Sectors): Bytes => bytes(s * SECTOR_SIZE);
/** Whole sectors in a byte count (rounded down). */
export const bytesToSectors = (b: Bytes): Sectors => sectors(Math.floor(b / SECTOR_SIZE));

export const roundUp = (n: number, align: number) => Math.ceil(n / align) * align;
export const roundDown = (n: number, align: number) => Math.floor(n / align) * align;
