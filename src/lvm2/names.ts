/** LVM2's rules for VG and LV names and tags (lvm2-on-disk-format.md §13). */

const NAME_RE = /^[A-Za-z0-9+_.-]+$/;
const TAG_RE = /^[A-Za-z0-9._\-+/=!:&#]+$/;
export const NAME_MAX = 127;

const RESERVED_LV_SUBSTRINGS = [
  "_cdata",
  "_cmeta",
  "_corig",
  "_cpool",
  "_cvol",
  "_wcorig",
  "_mimage",
  "_mlog",
  "_rimage",
  "_rmeta",
  "_tdata",
  "_tmeta",
  "_vdata",
  "_imeta",
  "_iorig",
  "_pmspare",
  "_vorigin",
];

/** Why `name` is not a valid VG/LV name as stored in metadata, or null if it is. */
export function nameProblem(name: string): string | null {
  if (name.length === 0) return "name is empty";
  if (name.length > NAME_MAX) return `name is longer than ${NAME_MAX} characters`;
  if (!NAME_RE.test(name)) return "name may contain only A-Z a-z 0-9 + _ . -";
  if (name.startsWith("-")) return 'name may not start with "-"';
  if (name === "." || name === "..") return `name "${name}" is reserved`;
  return null;
}

/** Stricter rules for an LV name a user chooses (LVM2 reserves names it uses internally). */
export function userLvNameProblem(name: string): string | null {
  const p = nameProblem(name);
  if (p) return p;
  if (name.startsWith("snapshot") || name.startsWith("pvmove"))
    return 'names starting with "snapshot" or "pvmove" are reserved';
  const bad = RESERVED_LV_SUBSTRINGS.find((s) => name.includes(s));
  if (bad) return `names containing "${bad}" are reserved`;
  return null;
}

export function tagProblem(tag: string): string | null {
  if (tag.length === 0) return "tag is empty";
  if (tag.length > 1024) return "tag is longer than 1024 characters";
  if (!TAG_RE.test(tag)) return "tag may contain only A-Z a-z 0-9 . _ - + / = ! : & #";
  return null;
}
