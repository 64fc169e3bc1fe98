import { DvmError, Exit } from "../lib/errors.js";
import type { DmBackend } from "./backend.js";
import { KernelBackend, localRunner } from "./kernel.js";
import { SimBackend } from "./sim/index.js";

/**
 * Choosing a device-mapper backend: --dm-backend, then the config's
 * dm.backend; the sim when a sim folder is given (--sim-dir, DVM_SIM_DIR),
 * else the kernel.
 */

export type BackendKind = "kernel" | "sim";

export interface BackendChoice {
  kind?: string;
  simDir?: string;
  /** kernel: a prefix command the dmsetup argv is passed to (e.g. a VM agent client). */
  runner?: string[];
}

export function backendKind(c: BackendChoice): BackendKind {
  const kind = c.kind ?? (c.simDir ? "sim" : "kernel");
  if (kind !== "kernel" && kind !== "sim")
    throw new DvmError(Exit.usage, `--dm-backend must be kernel or sim (got "${kind}")`);
  return kind;
}

export function openBackend(c: BackendChoice): DmBackend {
  if (backendKind(c) === "sim") {
    if (!c.simDir) throw new DvmError(Exit.usage, "the sim backend needs --sim-dir DIR (or DVM_SIM_DIR)");
    return new SimBackend(c.simDir);
  }
  return new KernelBackend({ runner: localRunner(c.runner ?? []) });
}
