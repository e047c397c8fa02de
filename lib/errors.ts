/**
 * The facts of a failed system call, as Node's errors and the addon's
 * (native/addon.cc) carry them.
 */
export interface SystemCallFacts {
  /** errno name, e.g. `EPERM`. */
  code?: string;
  /** errno value, positive as in C (Node's own errors carry it negated). */
  errno?: number;
  syscall?: string;
  path?: string;
}

export interface TsboxErrorOptions extends SystemCallFacts {
  /** The error this one wraps: its system call facts come along unless given here. */
  cause?: unknown;
}

/** The system call facts an error carries (none for other values). */
export function systemCallFacts(err: unknown): SystemCallFacts {
  if (!(err instanceof Error)) return {};
  const e = err as Error & Record<string, unknown>;
  return {
    ...(typeof e.code === 'string' && { code: e.code }),
    ...(typeof e.errno === 'number' && { errno: Math.abs(e.errno) }),
    ...(typeof e.syscall === 'string' && { syscall: e.syscall }),
    ...(typeof e.path === 'string' && { path: e.path }),
  };
}

/** Whether err is a failed system call's (Node's or the addon's: it has an errno name). */
export function isSystemCallError(err: unknown): err is Error & SystemCallFacts {
  return systemCallFacts(err).code !== undefined;
}

/**
 * Errors tsbox expects to happen (bad input, a failed system call, a missing
 * container). The CLI prints these as one line and exits 1; anything else is
 * a bug and keeps its stack. One that wraps another (`cause`) keeps what it
 * says of the failed system call: callers test `code`, never the message.
 */
export class TsboxError extends Error {
  override name = 'TsboxError';
  declare readonly code?: string;
  declare readonly errno?: number;
  declare readonly syscall?: string;
  declare readonly path?: string;

  constructor(message: string, options: TsboxErrorOptions = {}) {
    const { cause, ...given } = options;
    super(message, cause === undefined ? undefined : { cause });
    // Only the facts there are: an error without them has no such properties.
    Object.assign(this, systemCallFacts(cause), given);
  }
}

/** A config.json (or process.json) that does not satisfy the OCI spec. */
export class ConfigError extends TsboxError {
  override name = 'ConfigError';
  /** JSON path of the offending value, e.g. `process.args` or `mounts[2].options[0]`. */
  readonly jsonPath: string;
  /** What is wrong with it, e.g. `must be a non-empty array`. */
  readonly problem: string;
  /** The file the value came from, when known. */
  readonly file: string | undefined;
  constructor(jsonPath: string, problem: string, file?: string) {
    super([file, jsonPath, problem].filter(Boolean).join(': '));
    this.jsonPath = jsonPath;
    this.problem = problem;
    this.file = file;
  }

  /** The same error, naming the file it came from. */
  inFile(file: string): ConfigError {
    return new ConfigError(this.jsonPath, this.problem, file);
  }
}

/**
 * A system call that failed, in the runtime or in the container's init while
 * it was being set up. `step` names what was being done, in the words of the
 * one-line message: `mount "proc" on "/proc"`, `exec "nope"`.
 */
export class SystemError extends TsboxError {
  override name = 'SystemError';
  readonly step: string;
  declare readonly code: string;
  declare readonly errno: number;
  /**
   * @param explanation what went wrong, in words; defaults to the errno's
   *   description followed by its name, e.g. `operation not permitted (EPERM)`.
   */
  constructor(step: string, errno: number, code: string, explanation: string) {
    super(`${step}: ${explanation}`, { errno, code });
    this.step = step;
  }
}
