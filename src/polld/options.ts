import { usageError } from "../lib/errors.js";

/**
 * dvm-polld's command line, parsed as lvmpolld's getopt_long parses its own
 * (short options clustered or with attached values, `--name=value`, unique
 * long-option prefixes), so every lvmpolld invocation works unchanged.
 */

interface OptSpec {
  long: string;
  short?: string;
  arg: boolean;
  /** Starts the daemon (vs. `--dump`, the client action); mixing both is an error. */
  server?: boolean;
}

const SPECS: OptSpec[] = [
  { long: "foreground", short: "f", arg: false, server: true },
  { long: "help", short: "h", arg: false },
  { long: "version", short: "V", arg: false },
  { long: "log", short: "l", arg: true, server: true },
  { long: "pidfile", short: "p", arg: true, server: true },
  { long: "socket", short: "s", arg: true },
  { long: "binary", short: "B", arg: true, server: true },
  { long: "timeout", short: "t", arg: true, server: true },
  { long: "dump", arg: false },
  // dvm's own additions.
  { long: "poller", arg: true, server: true },
  { long: "config", short: "c", arg: true, server: true },
  { long: "kill-on-abort", arg: false, server: true },
  { long: "silence-timeout", arg: true, server: true },
];

export interface PolldArgs {
  /** Last value per option (flags: "" when given); `dump` counts. */
  values: Map<string, string>;
  dumpCount: number;
  server: boolean;
  /** After `--`: passed to every dvm-poll. */
  extra: string[];
}

export function parsePolldArgs(argv: string[]): PolldArgs {
  const values = new Map<string, string>();
  let dumpCount = 0;
  let server = false;
  const extra: string[] = [];
  const take = (spec: OptSpec, value: string) => {
    if (spec.long === "dump") dumpCount++;
    if (spec.server) server = true;
    values.set(spec.long, value);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      extra.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const exact = SPECS.find((s) => s.long === name);
      const prefixed = SPECS.filter((s) => s.long.startsWith(name));
      const spec = exact ?? (prefixed.length === 1 ? prefixed[0] : undefined);
      if (!spec)
        throw usageError(
          prefixed.length > 1
            ? `option '${a}' is ambiguous`
            : `unrecognized option '${a.slice(0, eq < 0 ? undefined : eq)}'`,
        );
      if (!spec.arg) {
        if (eq >= 0) throw usageError(`option '--${spec.long}' doesn't allow an argument`);
        take(spec, "");
      } else if (eq >= 0) take(spec, a.slice(eq + 1));
      else {
        if (i + 1 >= argv.length) throw usageError(`option '--${spec.long}' requires an argument`);
        take(spec, argv[++i]!);
      }
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const spec = SPECS.find((s) => s.short === a[j]);
        if (!spec) throw usageError(`invalid option -- '${a[j]}'`);
        if (!spec.arg) {
          take(spec, "");
          continue;
        }
        if (j + 1 < a.length) take(spec, a.slice(j + 1));
        else {
          if (i + 1 >= argv.length) throw usageError(`option requires an argument -- '${a[j]}'`);
          take(spec, argv[++i]!);
        }
        break;
      }
      continue;
    }
    throw usageError(`unexpected argument "${a}"`);
  }
  if (extra.length) server = true;
  return { values, dumpCount, server, extra };
}

/**
 * lvmpolld's `-t` check: strtoul base 10 over the whole string, below
 * UINT_MAX (2.03.16 rejects UINT_MAX itself). undefined = invalid.
 */
export function parseTimeoutSeconds(s: string): number | undefined {
  if (s === "") return 0; // strtoul consumes nothing and stops at the end: accepted as 0
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(s);
  if (!m) return undefined;
  const v = BigInt(m[2]!);
  // strtoul negates a "-N" (wrapping) and saturates on overflow: both land >= UINT_MAX unless N is 0.
  if (m[1] === "-" && v !== 0n) return undefined;
  return v >= 0xffffffffn ? undefined : Number(v);
}
