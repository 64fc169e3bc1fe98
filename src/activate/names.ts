import { invalidInput } from "../lib/errors.js";
import { rawId } from "../lvm2/uuid.js";

/**
 * LVM2's dm device names and uuids (device-mapper.md §5.1, §5.2). Names are
 * cosmetic (devices are found by uuid), but they must match LVM2's so that
 * /dev/mapper looks the same whichever tool activated the VG.
 */

/** libdm refuses names of 128 bytes or more (DM_NAME_LEN, NUL included). */
export const DM_NAME_MAX_BYTES = 127;
/** The kernel truncates longer uuids silently; refuse them instead. */
export const DM_UUID_MAX_BYTES = 128;

/** Double every "-", so a single "-" can separate VG, LV and layer. */
export const escapeDmPart = (part: string) => part.replaceAll("-", "--");

/** `esc(vg)-esc(lv)[-layer]`. */
export function dmName(vg: string, lv: string, layer?: string): string {
  const name = `${escapeDmPart(vg)}-${escapeDmPart(lv)}${layer ? `-${layer}` : ""}`;
  if (Buffer.byteLength(name) > DM_NAME_MAX_BYTES)
    throw invalidInput(`dm name "${name}" is longer than ${DM_NAME_MAX_BYTES} bytes`);
  return name;
}

function raw(id: string, what: string): string {
  const r = rawId(id);
  if (r === null) throw invalidInput(`${what}: "${id}" is not an LVM2 ID (32 characters of [0-9a-zA-Z!#])`);
  return r;
}

/** `LVM-<vg id>`: the prefix every dm uuid of the VG starts with; the scope of every activation. */
export const vgUuidPrefix = (vgId: string) => `LVM-${raw(vgId, "VG id")}`;

/** `LVM-<vg id><lv id>[-layer]`, ids without dashes. */
export function dmUuid(vgId: string, lvId: string, layer?: string): string {
  const uuid = `${vgUuidPrefix(vgId)}${raw(lvId, "LV id")}${layer ? `-${layer}` : ""}`;
  if (uuid.length > DM_UUID_MAX_BYTES)
    throw invalidInput(`dm uuid "${uuid}" is longer than ${DM_UUID_MAX_BYTES} bytes`);
  return uuid;
}

/** The /dev/mapper node of a dm device, as desired tables reference other dm devices. */
export const mapperPath = (name: string) => `/dev/mapper/${name}`;
export const MAPPER_DIR = "/dev/mapper/";
