import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { loadBundle } from '../../bundle.js';
import { generateId, validateId } from '../../container-id.js';
import { run, type RunningContainer } from '../../run.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../parse.js';

/** Signals tsbox passes on to the container's process, as runc does. */
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'];

/** Which of runc's and tsbox's forms was used: see the run command's help. */
function bundleAndId(flags: CommandContext['flags'], args: string[]): { bundle: string; id: string } {
  if (args.length > 1) throw new UsageError(`tsbox run: expected one argument, got ${args.length}`);
  const [arg] = args;
  if (flags.bundle !== undefined) {
    if (arg === undefined) throw new UsageError('tsbox run: a container id is required with --bundle');
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
  if (stdin.isTTY) stdin.setRawMode(true);
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
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
  };
}

export async function command({ flags, args, log }: CommandContext): Promise<number> {
  const { bundle: dir } = bundleAndId(flags, args);
  const bundle = loadBundle(dir);
  // process.stdout is created on first use, which costs ~3 ms: only
  // terminal containers need it.
  const stdout = bundle.spec.process?.terminal ? process.stdout : undefined;
  const size = stdout?.isTTY ? { rows: stdout.rows, cols: stdout.columns } : undefined;
  const c = await run(bundle, { stdio: 'inherit', ...(size && { terminalSize: size }) });
  for (const w of c.warnings) log.warn(w);

  const forward = (signal: NodeJS.Signals) => c.kill(signal);
  for (const s of FORWARDED) process.on(s, forward);
  const finishTerminal = c.terminal ? proxyTerminal(c) : undefined;
  try {
    const status = await c.exited;
    await finishTerminal?.();
    return status.status;
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
  }
}
