/**
 * Errors tsbox expects to happen (bad input, a failed system call, a missing
 * container). The CLI prints these as one line and exits 1; anything else is
 * a bug and keeps its stack.
 */
export class TsboxError extends Error {
  override name = 'TsboxError';
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
  /** errno name, e.g. `EPERM`. */
  readonly code: string;
  readonly errno: number;
  /**
   * @param explanation what went wrong, in words; defaults to the errno's
   *   description followed by its name, e.g. `operation not permitted (EPERM)`.
   */
  constructor(step: string, errno: number, code: string, explanation: string) {
    super(`${step}: ${explanation}`);
    this.step = step;
    this.errno = errno;
    this.code = code;
  }
}
