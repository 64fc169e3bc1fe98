import type * as ChildProcessModule from "node:child_process";
import { createRequire } from "node:module";
import type * as NetModule from "node:net";
import type * as TtyModule from "node:tty";

/**
 * Node modules that take milliseconds to load (child_process and net ~4 ms, tty ~3 ms), loaded on
 * first use: most commands spawn nothing, open no socket and never ask whether stdin is a terminal,
 * and a tool's every run pays for what its bundle loads at start-up.
 */
const load = createRequire(import.meta.url);

export const childProcess = (): typeof ChildProcessModule => load("node:child_process");
export const net = (): typeof NetModule => load("node:net");
export const isatty = (fd: number): boolean => (load("node:tty") as typeof TtyModule).isatty(fd);
