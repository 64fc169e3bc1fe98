import { readFileSync } from "node:fs";
import type { DmBackend } from "../dm/backend.js";
import { type BackendChoice, backendKind, openBackend } from "../dm/backends.js";
import { loadConfig } from "../lib/config.js";
import { DvmError, Exit } from "../lib/errors.js";
import { type Options, type Parsed, str } from "./common.js";

/** The options that choose a device-mapper backend, shared by the tools that drive one. */
export const BACKEND_OPTIONS: Options = {
  "dm-backend": { type: "string" },
  "sim-dir": { type: "string" },
};

export function backendChoice(p: Parsed): BackendChoice {
  const dm = loadConfig(str(p, "config")).dm ?? {};
  return {
    kind: str(p, "dm-backend") ?? dm.backend,
    simDir: str(p, "sim-dir") ?? process.env.DVM_SIM_DIR ?? dm.sim_dir,
    runner: dm.runner,
  };
}

export const backendFromArgs = (p: Parsed): DmBackend => openBackend(backendChoice(p));

/**
 * The backend the wrapper keeps in step, if there is one: the sim when it is
 * chosen, the kernel when this system has device-mapper. Without one no LV
 * can be active, and metadata changes need no device-mapper work.
 */
export function availableBackend(p: Parsed): DmBackend | undefined {
  const c = backendChoice(p);
  if (backendKind(c) === "kernel" && !c.runner && !kernelHasDm()) return undefined;
  return openBackend(c);
}

/** The kernel's device-mapper is loaded (its misc device is registered); /dev/mapper/control alone says nothing. */
function kernelHasDm(): boolean {
  try {
    return /\bdevice-mapper\b/.test(readFileSync("/proc/misc", "utf8"));
  } catch {
    return false;
  }
}

/** The backend for commands that need one (activate, dmsim): a clear error when there is none. */
export function requiredBackend(p: Parsed, what: string): DmBackend {
  const b = availableBackend(p);
  if (!b)
    throw new DvmError(
      Exit.notFound,
      `${what} needs device-mapper, and this kernel has none loaded (no device-mapper in /proc/misc); ` +
        "try the sim: --dm-backend sim --sim-dir DIR",
    );
  return b;
}
