import type { LvModel, PvModel, VgModel } from "./model.js";

/**
 * LVM2's attribute strings (pv_attr, vg_attr, lv_attr), and the LV type
 * tests they share with the field table.
 */

/** Device-mapper state of an LV, when known (dvm-report given a dm-state). */
export interface LvActivity {
  active: boolean;
  open?: boolean;
  suspended?: boolean;
}

export function pvAttr(pv: PvModel): string {
  const exported = pv.status.includes("EXPORTED") || (pv.vg?.meta.status ?? []).includes("EXPORTED");
  // 'u': labelled as used (PV_EXT_USED) but in no VG that was read.
  const a = pv.status.includes("ALLOCATABLE") ? "a" : pv.vg === null && pv.inUse ? "u" : "-";
  return `${a}${exported ? "x" : "-"}${pv.missing ? "m" : "-"}`;
}

/** Allocation policy letters (vg_attr's fifth, lv_attr's third character). */
const ALLOC: Record<string, string> = {
  normal: "n",
  contiguous: "c",
  cling: "l",
  cling_by_tags: "l",
  anywhere: "a",
  inherit: "i",
};

/** vg_attr; the orphan pseudo-VG of an orphan PV reads "r-----". */
export function vgAttr(vg: VgModel | null): string {
  if (vg === null) return "r-----";
  const st = vg.meta.status;
  const lockType = typeof vg.meta.lock_type === "string" ? vg.meta.lock_type : "";
  const policy = typeof vg.meta.allocation_policy === "string" ? vg.meta.allocation_policy : "normal";
  return [
    st.includes("WRITE") ? "w" : "r",
    st.includes("RESIZEABLE") ? "z" : "-",
    st.includes("EXPORTED") ? "x" : "-",
    vg.missingPvs > 0 || st.includes("PARTIAL") ? "p" : "-",
    ALLOC[policy] ?? "-",
    st.includes("CLUSTERED") ? "c" : lockType === "sanlock" || lockType === "dlm" ? "s" : "-",
  ].join("");
}

/** Whether the LV has a segment of one of these base types. */
const hasSeg = (lv: LvModel, a: string, b?: string) =>
  lv.segTypes.includes(a) || (b !== undefined && lv.segTypes.includes(b));
/** Whether the LV has a segment whose base type starts with `prefix` ("raid"). */
function hasSegPrefix(lv: LvModel, prefix: string): boolean {
  for (let i = 0; i < lv.segTypes.length; i++) if (lv.segTypes[i]!.startsWith(prefix)) return true;
  return false;
}

/** A string key of the LV's first segment (pool and origin names live there). */
export function firstSegKey(lv: LvModel, key: string): string {
  const v = lv.segs[0]?.meta[key];
  return typeof v === "string" ? v : "";
}

export const isPool = (lv: LvModel) => hasSeg(lv, "thin-pool", "cache-pool") || hasSeg(lv, "vdo-pool");
const isRaid = (lv: LvModel) =>
  hasSegPrefix(lv, "raid") || lv.role === "raid-image" || lv.role === "raid-meta";

/** The thin pool LV of a thin volume, or the pool itself. */
function thinPoolOf(lv: LvModel): LvModel | undefined {
  if (hasSeg(lv, "thin-pool")) return lv;
  const name = firstSegKey(lv, "thin_pool");
  return name ? lv.vg.lvByName.get(name) : undefined;
}

/** Volume type, lv_attr's first character. */
function lvTypeChar(lv: LvModel): string {
  const notSynced = lv.status.includes("NOTSYNCED");
  if (lv.status.includes("PVMOVE")) return "p";
  if (lv.cowOf !== null) return "s";
  if (lv.isOrigin) return "o";
  if (hasSeg(lv, "thin-pool")) return "t";
  if (hasSeg(lv, "thin")) return "V";
  if (hasSeg(lv, "cache", "cache-pool")) return "C";
  if (hasSeg(lv, "vdo-pool")) return "d";
  if (hasSeg(lv, "vdo")) return "v";
  if (hasSegPrefix(lv, "raid")) return notSynced ? "R" : "r";
  if (hasSeg(lv, "mirror")) return notSynced ? "M" : "m";
  if (hasSeg(lv, "zero", "error")) return "v";
  switch (lv.role) {
    // Without sync status from device-mapper an image counts as out of sync.
    case "mirror-image":
    case "raid-image":
      return "I";
    case "mirror-log":
      return "l";
    case "raid-meta":
    case "thin-meta":
    case "pool-spare":
      return "e";
    case "thin-data":
      return "T";
    default:
      return "-";
  }
}

/** Target type, lv_attr's seventh character. */
function lvTargetChar(lv: LvModel): string {
  if (hasSeg(lv, "thin-pool", "thin")) return "t";
  if (hasSeg(lv, "cache", "cache-pool")) return "C";
  if (isRaid(lv)) return "r";
  if (
    hasSeg(lv, "mirror") ||
    lv.status.includes("PVMOVE") ||
    lv.role === "mirror-image" ||
    lv.role === "mirror-log"
  )
    return "m";
  if (lv.cowOf !== null || lv.isOrigin) return "s";
  if (hasSeg(lv, "vdo", "vdo-pool")) return "d";
  if (hasSeg(lv, "zero", "error")) return "v";
  return "-";
}

/**
 * lv_attr. Without device-mapper state (activity undefined) LVM prints 'X'
 * for the state and open characters, as it does with activation disabled;
 * the health character then only knows about missing PVs ('p').
 */
export function lvAttr(lv: LvModel, activity: LvActivity | null | undefined): string {
  const policy = typeof lv.meta.allocation_policy === "string" ? lv.meta.allocation_policy : "inherit";
  let alloc = ALLOC[policy] ?? "-";
  if (lv.status.includes("LOCKED")) alloc = alloc.toUpperCase();
  let state = "X";
  let open = "X";
  if (activity !== undefined) {
    state = activity?.suspended ? "s" : activity?.active ? "a" : "-";
    open = activity?.active && activity.open ? "o" : "-";
  }
  // Thin volumes show their pool's zeroing.
  const zero = thinPoolOf(lv)?.segs.some((s) => s.meta.zero_new_blocks === 1) ?? false;
  // RAID health comes from its dm status; LVM shows 'X' when it has none.
  const health = lv.partial ? "p" : isRaid(lv) && activity === undefined ? "X" : "-";
  return (
    lvTypeChar(lv) +
    // LVM2 shows no permission for a pvmove layer (2.03.16, checked against its lvs).
    (lv.status.includes("PVMOVE") ? "-" : lv.status.includes("WRITE") ? "w" : "r") +
    alloc +
    (lv.status.includes("FIXED_MINOR") ? "m" : "-") +
    state +
    open +
    lvTargetChar(lv) +
    (zero ? "z" : "-") +
    health +
    (lv.flags.includes("ACTIVATION_SKIP") ? "k" : "-")
  );
}
