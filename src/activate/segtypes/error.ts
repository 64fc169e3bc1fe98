import type { SegTypeModule } from "./types.js";

/** LVM2's `error` segment type (lvcreate --type error): every I/O fails. No areas. */
export const error: SegTypeModule = {
  targets: (_seg, ctx) => [
    { start_sectors: ctx.start_sectors, length_sectors: ctx.length_sectors, type: "error" },
  ],
};
