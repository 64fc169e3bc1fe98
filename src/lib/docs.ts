import type { VgText } from "../lvm2/vg.js";

/**
 * The JSON documents the tools pass to each other (design.md, "Documents").
 * Units are in the field names: *_bytes, *_sectors.
 */

export const DOC_VERSION = 1;

/** One metadata area of a PV as discovery found it. */
export interface MdaInfo {
  start_bytes: number;
  size_bytes: number;
  /** ok: holds VG text; empty: no VG text (orphan); ignored: IGNORED flag set; bad: unusable (see error). */
  state: "ok" | "empty" | "ignored" | "bad";
  error?: string;
  vg_name?: string;
  vg_id?: string;
  seqno?: number;
  /** The committed copy's place in the ring (area-relative offset) and size, NUL included. */
  text_offset_bytes?: number;
  text_size_bytes?: number;
  checksum?: number;
}

/** A PV label as decoded from the label sector. */
export interface PvLabelInfo {
  uuid: string;
  label_sector: number;
  device_size_bytes: number;
  data_areas: { offset_bytes: number; size_bytes: number }[];
  metadata_areas: { offset_bytes: number; size_bytes: number }[];
  bootloader_areas: { offset_bytes: number; size_bytes: number }[];
  ext_version: number;
  ext_flags: number;
}

export interface DeviceEntry {
  path: string;
  size_bytes: number;
  /** Present when the device carries a valid LVM2 label. */
  pv?: PvLabelInfo & { mdas: MdaInfo[] };
  /** Why a label-like sector was not accepted. */
  label_problems?: string[];
}

export interface VgSummary {
  name: string;
  id: string;
  seqno: number;
  /** PV UUIDs the newest metadata lists, in metadata order. */
  pv_uuids: string[];
  /** Of those, the ones no scanned device carries. */
  missing_pv_uuids: string[];
}

export interface DevicesDoc {
  kind: "devices";
  version: 1;
  devices: DeviceEntry[];
  vgs: VgSummary[];
}

/** Where dvm-tm found a PV of the VG (absent for missing PVs). */
export interface PvDevice {
  pv_uuid: string;
  path: string;
  size_bytes: number;
  mdas: MdaInfo[];
}

export interface VgDoc extends VgText {
  kind: "vg";
  version: 1;
  pv_devices: PvDevice[];
}
