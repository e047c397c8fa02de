import type { Binding } from '../native/binding.js';
import type { RunningContainer } from '../run.js';
import type { Logger } from './log.js';

/** Signals tsbox passes on to the container's process, as runc does. */
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'];

/** What supervise stays with: a started container or process, or a restored init. */
export type Supervised = Pick<RunningContainer, 'warnings' | 'terminal' | 'exited' | 'kill' | 'resize'>;

/** Connects the caller's terminal to the container's until the container is done with it. */
function proxyTerminal(native: Binding, c: Supervised): () => Promise<void> {
  const terminal = c.terminal!;
  const stdin = process.stdin;
  const stdout = process.stdout;
  // Our own raw mode rather than stdin.setRawMode(): libuv's keeps output
  // processing on, and every newline would reach the screen as \r\r\n.
  const saved = stdin.isTTY ? native.makeRaw(0) : undefined;
  const restore = () => {
    if (saved) native.restoreTerminal(0, saved);
  };
  process.once('exit', restore);
  // {end: false}: the end of our input must not close the master, which
  // would hang up the container's session.
  stdin.pipe(terminal, { end: false });
  terminal.pipe(stdout, { end: false });
  const resize = () => c.resize(stdout.rows, stdout.columns);
  if (stdout.isTTY) stdout.on('resize', resize);
  const closed = new Promise<void>((resolve) => terminal.once('close', () => resolve()));
  return async () => {
    // The container's last output is still in the pty: read it to the end
    // (EIO once the container's side is closed) before restoring ours.
    await closed;
    stdout.off('resize', resize);
    stdin.unpipe(terminal);
    restore();
    process.off('exit', restore);
    stdin.pause();
  };
}

/** The caller's terminal size, for a process that gets a terminal. */
export function callerTerminalSize(wantsTerminal: boolean): { rows: number; cols: number } | undefined {
  // process.stdout is created on first use, which costs ~3 ms: only
  // terminal processes need it.
  const stdout = wantsTerminal ? process.stdout : undefined;
  return stdout?.isTTY ? { rows: stdout.rows, cols: stdout.columns } : undefined;
}

/**
 * Starts a process with `start` and stays with it until it exits: signals
 * sent to tsbox are passed on, and its terminal (if any) is connected to
 * ours. Returns its exit status as a shell reports it.
 */
export async function supervise(native: Binding, start: () => Promise<Supervised>, log: Logger): Promise<number> {
  // Listen before the process exists: a signal arriving while it starts
  // would otherwise kill tsbox and leave the process running. Signals that
  // come before it runs are passed on as soon as it does.
  let container: Supervised | undefined;
  const early: NodeJS.Signals[] = [];
  const forward = (signal: NodeJS.Signals) => (container ? container.kill(signal) : early.push(signal));
  for (const s of FORWARDED) process.on(s, forward);
  try {
    const c = await start();
    container = c;
    for (const w of c.warnings) log.warn(w);
    for (const s of early) c.kill(s);
    const finishTerminal = c.terminal ? proxyTerminal(native, c) : undefined;
    const shown = c.warnings.length;
    const status = await c.exited;
    await finishTerminal?.();
    // Warnings that came with the exit (failed poststop hooks).
    for (const w of c.warnings.slice(shown)) log.warn(w);
    return status.status;
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
  }
}
