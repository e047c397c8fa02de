import { appendFileSync, writeSync } from 'node:fs';

export type LogLevel = 'error' | 'warning' | 'debug';

/**
 * Messages for a person on stderr, and for engines in the --log file. With
 * --log-format json each message is one line {"level","msg","time"}, which is
 * what containerd's shim and podman read back. The file is written when
 * the command ends (flush): podman reads a failed command's log as ONE JSON
 * object, so then it holds exactly the error line, and otherwise every
 * message.
 */
export class Logger {
  private readonly pending: Array<{ level: LogLevel; line: string }> = [];

  constructor(
    private readonly file: string | undefined,
    private readonly format: 'text' | 'json',
    private readonly debugging: boolean,
  ) {}

  error(msg: string): void {
    this.write('error', msg);
  }

  warn(msg: string): void {
    this.write('warning', `warning: ${msg}`);
  }

  debug(msg: string): void {
    if (this.debugging) this.write('debug', msg);
  }

  /** Writes the log file: only the errors if there were any, else everything. */
  flush(): void {
    if (!this.file || this.pending.length === 0) return;
    const failed = this.pending.some((p) => p.level === 'error');
    const lines = this.pending.filter((p) => !failed || p.level === 'error').map((p) => `${p.line}\n`);
    this.pending.length = 0;
    try {
      appendFileSync(this.file, lines.join(''));
    } catch {
      // The log file is a copy of what stderr already showed.
    }
  }

  private write(level: LogLevel, msg: string): void {
    // Straight to the descriptor: creating process.stderr costs ~3 ms of
    // start-up, and a message must be out before tsbox exits anyway.
    writeSync(2, `tsbox: ${msg}\n`);
    if (!this.file) return;
    const time = new Date().toISOString();
    const line =
      this.format === 'json' ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    this.pending.push({ level, line });
  }
}
