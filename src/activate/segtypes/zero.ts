import type { SegTypeModule } from "./types.js";

/** LVM2's `zero` segment type (lvcreate --type zero): reads zeros, writes are dropped. No areas. */
export const zero: SegTypeModule = {
  targets: (_seg, ctx) => [
    { start_sectors: ctx.start_sectors, length_sectors: ctx.length_sectors, type: "zero" },
  ],
};
