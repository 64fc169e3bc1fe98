/**
 * LVM2's dm device names (device-mapper.md §5.1): `vg-lv[-layer]` with every
 * `-` inside a part doubled, so a single `-` separates the parts.
 */

export interface DmNameParts {
  vg: string;
  lv: string;
  layer: string;
}

/** Split a dm name into VG, LV and layer; undefined if it is not an LVM2-style name. */
export function splitDmName(name: string): DmNameParts | undefined {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < name.length; i++) {
    if (name[i] !== "-") cur += name[i];
    else if (name[i + 1] === "-") {
      cur += "-";
      i++;
    } else {
      parts.push(cur);
      cur = "";
    }
  }
  parts.push(cur);
  if (parts.length < 2 || parts.length > 3 || !parts[0]) return undefined;
  return { vg: parts[0], lv: parts[1]!, layer: parts[2] ?? "" };
}
