import type { DevArea, MirrorTarget, StripedTarget, TargetLine } from "../target.js";
import type { TargetRuntime } from "./store.js";

/** Target behaviour outside the data path: status lines, dynamic state, the device areas they use. */

/** Regions of a mirror: ceil(length / region size) (§4.5). */
export const mirrorRegions = (t: MirrorTarget) => Math.ceil(t.length_sectors / t.log.region_sectors);

/**
 * State of a target as it goes live: a core log starts with nothing in sync
 * (full copy from leg 0), nosync declares everything in sync; stripes start
 * without errors. A recovering mirror's clock starts at its resume and it
 * then comes in sync in the background (resync.ts).
 */
export function initialRuntime(t: TargetLine): TargetRuntime {
  if (t.type === "mirror") {
    const m = t as MirrorTarget;
    return { in_sync_regions: m.log.sync === "nosync" ? mirrorRegions(m) : 0 };
  }
  if (t.type === "striped") return { stripe_errors: (t as StripedTarget).stripes.map(() => 0) };
  return {};
}

/** The INFO status text of one target (what dmsetup status prints after the type). */
export function statusParams(t: TargetLine, rt: TargetRuntime | undefined): string {
  const run = rt ?? initialRuntime(t);
  switch (t.type) {
    case "striped": {
      const s = t as StripedTarget;
      const health = s.stripes.map((_, i) => ((run.stripe_errors?.[i] ?? 0) > 0 ? "D" : "A")).join("");
      return `${s.stripes.length} ${s.stripes.map((a) => a.device).join(" ")} 1 ${health}`;
    }
    case "mirror": {
      // `<#legs> <legs…> <in-sync>/<regions> 1 <health> <log>` (§4.5): in-sync grows as recovery copies
      // regions (resync.ts; DVM_SIM_MIRROR_RATE regions per second), so pollers (pvmove) read progress here.
      const m = t as MirrorTarget;
      const log = m.log.type === "core" ? "1 core" : `3 disk ${m.log.device} A`;
      return `${m.legs.length} ${m.legs.map((l) => `${l.device} `).join("")}${run.in_sync_regions ?? 0}/${mirrorRegions(m)} 1 ${"A".repeat(m.legs.length)} ${log}`;
    }
    default:
      // linear, error, zero: empty status.
      return "";
  }
}

/** `start length type status`: the space after the type is always printed (§3.2). */
export const statusLine = (t: TargetLine, rt: TargetRuntime | undefined) =>
  `${t.start_sectors} ${t.length_sectors} ${t.type} ${statusParams(t, rt)}`;

export interface DeviceArea extends DevArea {
  length_sectors: number;
}

/** The ranges a target maps onto its devices, as the kernel's iterate_devices reports them (no mirror log). */
export function deviceAreas(t: TargetLine): DeviceArea[] {
  switch (t.type) {
    case "linear": {
      const l = t as DevArea & TargetLine;
      return [{ device: l.device, offset_sectors: l.offset_sectors, length_sectors: t.length_sectors }];
    }
    case "striped": {
      const s = t as StripedTarget;
      const width = t.length_sectors / s.stripes.length;
      return s.stripes.map((a) => ({ ...a, length_sectors: width }));
    }
    case "mirror":
      return (t as MirrorTarget).legs.map((a) => ({ ...a, length_sectors: t.length_sectors }));
    default:
      return [];
  }
}
