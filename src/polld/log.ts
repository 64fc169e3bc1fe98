/**
 * lvmpolld's log categories (lvmpolld.md §1.11). They are independent
 * switches, not levels. WARN is on by default so a poller's stderr is never
 * lost; `-l` adds categories. LVM2 sends ERROR and FATAL to syslog only; Node
 * has no syslog client, and under systemd stderr is the journal, so we write
 * them to stderr always.
 */

export const CATEGORIES = ["fatal", "error", "warn", "info", "wire", "debug"] as const;
export type Category = (typeof CATEGORIES)[number];

const PREFIX: Record<Category, string> = {
  fatal: "E: ",
  error: "E: ",
  warn: "W: ",
  info: "I: ",
  wire: "",
  debug: "",
};

export interface Logger {
  enabled(c: Category): boolean;
  log(c: Category, message: string): void;
  /** Text outside the categories (LVM2 prints these with fprintf). */
  raw(text: string): void;
}

export interface LogConfig {
  categories: Set<Category>;
  /** `-l cmd` ([>= 2.03.39]): the poller runs verbose so its debug output lands in our log. */
  cmd: boolean;
}

/** Parse `-l` words (comma-separated); unknown words are ignored as LVM2 does. */
export function parseLogConfig(spec: string | undefined): LogConfig {
  const categories = new Set<Category>(["warn", "error", "fatal"]);
  let cmd = false;
  for (const w of (spec ?? "").split(",")) {
    if (w === "all") for (const c of CATEGORIES) categories.add(c);
    else if ((CATEGORIES as readonly string[]).includes(w)) categories.add(w as Category);
    if (w.includes("cmd")) cmd = true;
  }
  return { categories, cmd };
}

export function stderrLogger(config: LogConfig, write: (s: string) => void): Logger {
  return {
    enabled: (c) => config.categories.has(c),
    log(c, message) {
      if (config.categories.has(c)) write(`${PREFIX[c]}${message}\n`);
    },
    raw: write,
  };
}

/** A logger that keeps every line (tests). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    enabled: () => true,
    log: (c, m) => lines.push(`${PREFIX[c]}${m}`),
    raw: (t) => lines.push(t),
  };
}
