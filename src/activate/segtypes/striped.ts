import type { TargetLine } from "../../dm/target.js";
import type { SegTypeModule } from "./types.js";

/**
 * LVM2's `striped` segments (linear LVs are striped with one area):
 * device-mapper.md §5.3. One area maps to `linear`, as LVM2 does with its
 * default activation/use_linear_target = 1; N areas to `striped N chunk ...`,
 * each area holding extent_count / N extents.
 */
export const striped: SegTypeModule = {
  targets(seg, ctx): TargetLine[] {
    const areas = ctx.areas("stripes");
    const n = areas.length;
    if (n === 0) throw ctx.fail("has no stripes");
    if (seg.stripe_count !== undefined && seg.stripe_count !== n)
      throw ctx.fail(`stripe_count ${seg.stripe_count} but ${n} area(s) in stripes`);
    if (seg.extent_count % n !== 0)
      throw ctx.fail(`extent_count ${seg.extent_count} is not a multiple of the ${n} stripes`);
    const areaExtents = seg.extent_count / n;
    const devs = areas.map((a, i) => ctx.resolve(a, i, areaExtents));
    const base = { start_sectors: ctx.start_sectors, length_sectors: ctx.length_sectors };
    if (n === 1) return [{ ...base, type: "linear", ...devs[0]! }];
    const chunk = seg.stripe_size;
    if (typeof chunk !== "number" || !Number.isSafeInteger(chunk) || chunk < 1)
      throw ctx.fail(`stripe_size ${JSON.stringify(chunk)} is not a positive number of sectors`);
    return [{ ...base, type: "striped", chunk_sectors: chunk, stripes: devs }];
  },
};
