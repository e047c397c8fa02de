import { runsRootless } from '../host/rootless.js';
import { DEFAULT_ROOT, defaultStateRoot } from '../runtime/root.js';
import { Runtime } from '../runtime/runtime.js';
import type { CommandContext } from './context.js';
import { UsageError } from './parse.js';

/**
 * The runtime over the state root given by --root. Children are left to
 * whoever inherits them when tsbox exits (containerd's shim, conmon): they
 * reap them for the exit status.
 */
export function runtimeOf(ctx: CommandContext): Runtime {
  // --root's default is root's; a rootless caller gets its own (as runc).
  const given = ctx.globals.root as string;
  const root = given === DEFAULT_ROOT && runsRootless() ? defaultStateRoot() : given;
  return new Runtime({ root, reapChildren: false, cgroupDriver: ctx.globals['systemd-cgroup'] === true ? 'systemd' : 'cgroupfs' });
}

/** The container id argument of commands that take exactly one. */
export function theId(ctx: CommandContext, command: string, more = 0): string {
  const [id] = ctx.args;
  if (id === undefined) throw new UsageError('a container id is required', command);
  if (ctx.args.length > 1 + more) throw new UsageError(`unexpected argument "${ctx.args[1 + more]}"`, command);
  return id;
}
