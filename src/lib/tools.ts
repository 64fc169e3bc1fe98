import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Another dvm tool's executable beside the running one: dist/NAME.cjs, as scripts/build.mjs lays
 * the tools out (import.meta.url is the running tool's launcher there; the bundle is one file).
 */
export const siblingTool = (name: string): string =>
  join(dirname(fileURLToPath(import.meta.url)), `${name}.cjs`);
