import { readFileSync } from "node:fs";
import { invalidInput, notFound } from "./errors.js";

/**
 * The JSON config every tool takes with `-c`. Only the wrapper looks for a
 * config in a fixed place; the tools get what they are given.
 */
export interface DvmConfig {
  devices?: {
    /** LVM2-style filter: "a|REGEX|" accepts, "r|REGEX|" rejects; the first match decides. */
    filter?: string[];
    /** Paths to scan instead of every block device the system lists. */
    scan?: string[];
  };
  /** Directory of the VG lock files (LVM2's default /run/lock/lvm). */
  lock_dir?: string;
  dm?: {
    /** "kernel" or "sim". */
    backend?: string;
    /** The sim's state folder. */
    sim_dir?: string;
    /** kernel backend: a command that runs the dmsetup argv given after it (e.g. in a VM). */
    runner?: string[];
  };
}

export function loadConfig(path: string | undefined): DvmConfig {
  if (path === undefined) return {};
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw notFound(`config file ${path} cannot be read`);
  }
  let cfg: unknown;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw invalidInput(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg))
    throw invalidInput(`config file ${path}: expected a JSON object`);
  const c = cfg as DvmConfig;
  const dev = c.devices;
  if (dev !== undefined) {
    if (typeof dev !== "object" || dev === null)
      throw invalidInput(`config ${path}: "devices" must be an object`);
    for (const k of ["filter", "scan"] as const) {
      const v = dev[k];
      if (v !== undefined && (!Array.isArray(v) || !v.every((x) => typeof x === "string")))
        throw invalidInput(`config ${path}: "devices.${k}" must be a list of strings`);
    }
    if (dev.filter) compileFilter(dev.filter);
  }
  if (c.lock_dir !== undefined && typeof c.lock_dir !== "string")
    throw invalidInput(`config ${path}: "lock_dir" must be a string`);
  const dm = c.dm;
  if (dm !== undefined) {
    if (typeof dm !== "object" || dm === null) throw invalidInput(`config ${path}: "dm" must be an object`);
    for (const k of ["backend", "sim_dir"] as const)
      if (dm[k] !== undefined && typeof dm[k] !== "string")
        throw invalidInput(`config ${path}: "dm.${k}" must be a string`);
    if (
      dm.runner !== undefined &&
      (!Array.isArray(dm.runner) || !dm.runner.every((x) => typeof x === "string"))
    )
      throw invalidInput(`config ${path}: "dm.runner" must be a list of strings`);
  }
  return c;
}

export type DeviceFilter = (path: string) => boolean;

/** Compile LVM2-style accept/reject patterns such as "a|^/dev/loop|" and "r|.*|"; unmatched paths are accepted. */
export function compileFilter(patterns: string[]): DeviceFilter {
  const rules = patterns.map((p) => {
    const kind = p[0];
    const delim = p[1];
    if ((kind !== "a" && kind !== "r") || delim === undefined || !p.endsWith(delim) || p.length < 4)
      throw invalidInput(`filter "${p}": expected a|REGEX| or r|REGEX|`);
    let re: RegExp;
    try {
      re = new RegExp(p.slice(2, -1));
    } catch (e) {
      throw invalidInput(`filter "${p}": ${(e as Error).message}`);
    }
    return { accept: kind === "a", re };
  });
  return (path) => {
    for (const r of rules) if (r.re.test(path)) return r.accept;
    return true;
  };
}
