import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { loadBundle } from '../../bundle.js';
import { native } from '../../native/binding.js';
import { generateId, validateId } from '../../container-id.js';
import type { RunningContainer } from '../../run.js';
import { createOptions } from '../create-options.js';
import { runtimeOf } from '../runtime.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../parse.js';

/** Signals tsbox passes on to the container's process, as runc does. */
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'];

/** Which of runc's and tsbox's forms was used: see the run command's help. */
function bundleAndId(flags: CommandContext['flags'], args: string[]): { bundle: string; id: string } {
  if (args.length > 1) throw new UsageError(`expected one argument, got ${args.length}`, 'run');
  const [arg] = args;
  if (flags.bundle !== undefined) {
    if (arg === undefined) throw new UsageError('a container id is required with --bundle', 'run');
    return { bundle: flags.bundle as string, id: validateId(arg) };
  }
  if (arg === undefined) return { bundle: '.', id: generateId() };
  const looksLikePath = arg.includes('/') || arg === '.' || arg === '..';
  if (looksLikePath || existsSync(path.join(arg, 'config.json'))) return { bundle: arg, id: generateId() };
  return { bundle: '.', id: validateId(arg) };
}

/** Connects the caller's terminal to the container's until the container is done with it. */
function proxyTerminal(c: RunningContainer): () => Promise<void> {
  const terminal = c.terminal!;
  const stdin = process.stdin;
  const stdout = process.stdout;
  // Our own raw mode rather than stdin.setRawMode(): libuv's keeps output
  // processing on, and every newline would reach the screen as \r\r\n.
  const saved = stdin.isTTY ? native().makeRaw(0) : undefined;
  const restore = () => {
    if (saved) native().restoreTerminal(0, saved);
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

export async function command(ctx: CommandContext): Promise<number> {
  const { flags, args, log } = ctx;
  const { bundle: dir, id } = bundleAndId(flags, args);
  const runtime = runtimeOf(ctx);
  const options = createOptions(ctx);
  if (flags.detach) {
    await runtime.create(id, dir, options);
    await runtime.start(id);
    return 0;
  }
  const bundle = loadBundle(dir);
  // process.stdout is created on first use, which costs ~3 ms: only
  // terminal containers need it.
  const stdout = bundle.spec.process?.terminal ? process.stdout : undefined;
  const size = stdout?.isTTY ? { rows: stdout.rows, cols: stdout.columns } : undefined;

  // Listen before the container exists: a signal arriving while it starts
  // would otherwise kill tsbox and leave the container running. Signals
  // that come before it runs are passed on as soon as it does.
  let container: RunningContainer | undefined;
  const early: NodeJS.Signals[] = [];
  const forward = (signal: NodeJS.Signals) => (container ? container.kill(signal) : early.push(signal));
  for (const s of FORWARDED) process.on(s, forward);
  try {
    const c = await runtime.run(id, bundle, {
      stdio: 'inherit',
      ...(size && { terminalSize: size }),
      extraFds: Array.from({ length: options.preserveFds ?? 0 }, (_, i) => 3 + i),
      keep: flags.keep === true,
      ...(options.pidFile !== undefined && { pidFile: options.pidFile }),
    });
    container = c;
    for (const w of c.warnings) log.warn(w);
    for (const s of early) c.kill(s);
    const finishTerminal = c.terminal ? proxyTerminal(c) : undefined;
    const status = await c.exited;
    await finishTerminal?.();
    return status.status;
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
  }
}
