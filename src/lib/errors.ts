/** Exit codes shared by every tool (design.md, "Exit codes"). */
export const Exit = {
  ok: 0,
  usage: 1,
  invalid: 2,
  notFound: 3,
  incomplete: 4,
  conflict: 5,
  noSpace: 6,
  corrupt: 7,
  dmRolledBack: 8,
  dmStuck: 9,
  internal: 10,
} as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** An error a tool reports to the user: a message and the exit code it maps to. */
export class DvmError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = "DvmError";
  }
}

export const usageError = (msg: string) => new DvmError(Exit.usage, msg);
export const invalidInput = (msg: string) => new DvmError(Exit.invalid, msg);
export const notFound = (msg: string) => new DvmError(Exit.notFound, msg);
export const corrupt = (msg: string) => new DvmError(Exit.corrupt, msg);
