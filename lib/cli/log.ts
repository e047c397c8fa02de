import { appendFileSync, writeSync } from 'node:fs';

export type LogLevel = 'error' | 'warning' | 'debug';

/**
 * Messages for a person on stderr, and for engines in the --log file. With
 * --log-format json each message is one line {"level","msg","time"}, which is
 * what containerd's shim and podman read back.
 */
export class Logger {
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

  private write(level: LogLevel, msg: string): void {
    // Straight to the descriptor: creating process.stderr costs ~3 ms of
    // start-up, and a message must be out before tsbox exits anyway.
    writeSync(2, `tsbox: ${msg}\n`);
    if (!this.file) return;
    const time = new Date().toISOString();
    const line =
      this.format === 'json'
        ? JSON.stringify({ level: level === 'warning' ? 'warning' : level, msg, time })
        : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    try {
      appendFileSync(this.file, `${line}\n`);
    } catch {
      // The log file is a copy of what stderr already shows.
    }
  }
}
