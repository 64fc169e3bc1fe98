import type { DmStateDoc } from "../dm/docs.js";
import type { VgDoc } from "../lib/docs.js";
import { rawId } from "../lvm2/uuid.js";
import type { LvActivity } from "./attrs.js";

/**
 * LV activation as the report shows it (lv_attr's state and open characters,
 * lv_active, lv_suspended, lv_device_open), from a dm state: an LV is active
 * when the device with its uuid (LVM-<vg id><lv id>, no layer suffix) has a
 * live table, as LVM2 decides from the device's info.
 */
export function activityFromDmState(vgs: VgDoc[], state: DmStateDoc): Record<string, LvActivity> {
  const byUuid = new Map(state.devices.filter((d) => d.uuid).map((d) => [d.uuid!, d]));
  const out: Record<string, LvActivity> = {};
  for (const doc of vgs) {
    const vgId = rawId(String(doc.vg.id));
    if (!vgId) continue;
    for (const lv of doc.vg.logical_volumes ?? []) {
      const dev = byUuid.get(`LVM-${vgId}${rawId(String(lv.id))}`);
      if (!dev) continue;
      out[`${doc.vg.name}/${lv.name}`] = {
        active: dev.table !== null,
        open: (dev.open_count ?? 0) > 0,
        suspended: dev.suspended ?? false,
      };
    }
  }
  return out;
}
