import { appendFileSync, writeSync } from 'node:fs';
import { utcTimestamp } from '../utc-timestamp.js';

export type LogLevel = 'error' | 'warning' | 'debug';

/**
 * Messages for a person on stderr, or, with --log, for engines in that file:
 * warnings and debug there only (under an engine, stderr of `create` is the
 * container's log pipe: a warning there would show in `docker logs`), the
 * error in the file and on stderr too, as runc 1.1 does. containerd's shim
 * matches a failed kill's stderr (not the log) on "container not running" to
 * know the container is gone: without it, the CRI's exit handling retries
 * its kill forever and StopContainer times out. stderr may be a read-only
 * /dev/null (the shim starts a pod sandbox so): see toStderr. With
 * --log-format json each message is one line {"level","msg","time"}, which
 * is what containerd's shim and podman read back. The file is written when
 * the command ends (flush): podman reads a failed command's log as ONE JSON
 * object, so then it holds exactly the error line, and otherwise every
 * message.
 */
export class Logger {
  private readonly pending: Array<{ level: LogLevel; line: string; text: string }> = [];

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

  /**
   * Writes the log file: only the errors if there were any, else
   * everything. Where the file cannot be written, stderr gets the messages
   * instead: the last place left to tell.
   */
  flush(): void {
    if (!this.file || this.pending.length === 0) return;
    const failed = this.pending.some((p) => p.level === 'error');
    const kept = this.pending.filter((p) => !failed || p.level === 'error');
    this.pending.length = 0;
    try {
      appendFileSync(this.file, kept.map((p) => `${p.line}\n`).join(''));
    } catch {
      for (const p of kept) if (p.level !== 'error') toStderr(p.text);
    }
  }

  private write(level: LogLevel, msg: string): void {
    const text = `tsbox: ${msg}\n`;
    if (!this.file || level === 'error') toStderr(text);
    if (!this.file) return;
    const time = utcTimestamp();
    const line =
      this.format === 'json' ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    this.pending.push({ level, line, text });
  }
}

/**
 * Straight to the descriptor: creating process.stderr costs ~3 ms of
 * start-up, and a message must be out before tsbox exits anyway. A stderr
 * that cannot be written (closed, read-only: EBADF; a full non-blocking
 * pipe; a reader gone) loses the message but never fails the command.
 */
function toStderr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // Nowhere else to say it.
  }
}
