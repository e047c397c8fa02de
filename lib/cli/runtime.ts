import { runsRootless } from '../host/rootless.js';
import { native } from '../native/binding.js';
import { DEFAULT_ROOT, defaultStateRoot } from '../runtime/root.js';
import type { Runtime } from '../runtime/runtime.js';
import { StateStore } from '../runtime/state.js';
import type { CommandContext } from './context.js';
import { UsageError } from './parse.js';

/**
 * The runtime over the state root given by --root. Children are left to
 * whoever inherits them when tsbox exits (containerd's shim, conmon): they
 * reap them for the exit status.
 */
export function runtimeOf(ctx: CommandContext): Runtime {
  // Loaded here rather than imported: state and list read the store alone
  // (storeOf), and Runtime's modules (cgroups, hooks, resctrl...) would be
  // most of what those calls, which engines make per container, load.
  const { Runtime } = require('../runtime/runtime.js') as typeof import('../runtime/runtime.js');
  return new Runtime({ root: stateRootOf(ctx), reapChildren: false, cgroupDriver: ctx.globals['systemd-cgroup'] === true ? 'systemd' : 'cgroupfs' });
}

/** The state store under --root, for the commands that only read it (state, list), as Runtime's own. */
export function storeOf(ctx: CommandContext): StateStore {
  return new StateStore(stateRootOf(ctx), native());
}

function stateRootOf(ctx: CommandContext): string {
  // --root's default is root's; a rootless caller gets its own (as runc).
  const given = ctx.globals.root as string;
  return given === DEFAULT_ROOT && runsRootless() ? defaultStateRoot() : given;
}

/** The container id argument of commands that take exactly one. */
export function theId(ctx: CommandContext, command: string, more = 0): string {
  const [id] = ctx.args;
  if (id === undefined) throw new UsageError('a container id is required', command);
  if (ctx.args.length > 1 + more) throw new UsageError(`unexpected argument "${ctx.args[1 + more]}"`, command);
  return id;
}
