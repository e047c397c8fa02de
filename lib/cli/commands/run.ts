import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { loadBundle } from '../../bundle.js';
import { generateId, validateId } from '../../container-id.js';
import { TsboxError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { createOptions } from '../create-options.js';
import { UsageError } from '../parse.js';
import { passedFds } from '../../runtime/runtime.js';
import { runtimeOf } from '../runtime.js';
import { callerTerminalSize, supervise } from '../supervise.js';

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

export async function command(ctx: CommandContext): Promise<number> {
  const { flags, args, log } = ctx;
  const { bundle: dir, id } = bundleAndId(flags, args);
  const runtime = runtimeOf(ctx);
  const options = createOptions(ctx);
  if (flags.detach) {
    for (const w of (await runtime.create(id, dir, options)).warnings) log.warn(w);
    for (const w of await runtime.start(id, options.notifySocket !== undefined ? { notifySocket: options.notifySocket } : {})) log.warn(w);
    return 0;
  }
  const bundle = loadBundle(dir);
  const wantsTerminal = bundle.spec.process?.terminal === true;
  // Our stdin is what would be typed into the container's terminal: without
  // a terminal there, an interactive process waits for input that never
  // comes (runc, too, refuses to run without one).
  // node:tty is required only here: loading it loads node:net and the
  // stream modules, ~3 ms that a run without a terminal does not need.
  if (wantsTerminal && !(require('node:tty') as typeof import('node:tty')).isatty(0)) {
    throw new TsboxError(
      'process.terminal is true but stdin is not a terminal: run from a terminal, set process.terminal to false in config.json, or use --detach with --console-socket',
    );
  }
  const size = callerTerminalSize(wantsTerminal);
  return supervise(
    runtime.native,
    () =>
      runtime.run(id, bundle, {
        stdio: 'inherit',
        ...(size && { terminalSize: size }),
        ...passedFds(options),
        keep: flags.keep === true,
        ...(options.notifySocket !== undefined && { notifySocket: options.notifySocket }),
        ...(options.pidFile !== undefined && { pidFile: options.pidFile }),
        ...(options.pidfdSocket !== undefined && { pidfdSocket: options.pidfdSocket }),
        ...(options.noPivot && { noPivot: true }),
        ...(options.noNewKeyring && { noNewKeyring: true }),
      }),
    log,
  );
}
