import { native as addon, type Binding } from './native/binding.js';
import { run as runInProcess, type RunningContainer, type RunOptions } from './run.js';
import type { Bundle } from './bundle.js';

/**
 * The pre-started helper: tsbox-helper started once, and each container's
 * helper then a fork of it rather than a new execution
 * (native/helper/spawner.cc): glibc's start-up, which every execution of
 * the static helper runs, costs ~0.6 ms of CPU in a virtual machine, about
 * a seventh of a whole container run. The forked helper is this process's
 * child with the same descriptors, signal state and read-only image as an
 * executed one, and the spawner never sees a plan: what one container's
 * helper reads or does stays in that fork.
 *
 * The library's run() uses it by default (started at its first container;
 * the command line executes its one helper). It holds one descriptor
 * here and no handle of Node's event loop; it ends when this process does
 * (the end of its control socket), on stopHelper(), and is replaced when
 * it has died or this process's credentials have changed (the addon
 * checks at each fork). What else a helper inherits from this process
 * (cgroup, namespaces, rlimits: none of which Node's API changes) it
 * inherits from the moment the spawner started: a process that changes
 * those should call prestartHelper() again after stopHelper().
 */
let automatic = true;

/**
 * Starts the pre-started helper now (rather than at the first run()), or
 * keeps the running one, and has run() use it again after stopHelper().
 * Returns its pid.
 */
export function prestartHelper(native: Binding = addon()): number {
  automatic = true;
  return native.startHelperServer(native.helperPath);
}

/** Ends the pre-started helper: from now on (until prestartHelper()) each container's helper is executed. */
export function stopHelper(native: Binding = addon()): void {
  automatic = false;
  native.stopHelperServer();
}

/**
 * The library's run() (lib/run.ts), through the pre-started helper unless
 * stopHelper() said not to or the caller gives its own native layer. If
 * the helper cannot be pre-started, the run executes it, as without (and
 * fails as that would).
 */
export function run(source: string | Bundle, options: RunOptions = {}): Promise<RunningContainer> {
  if (automatic && options.native === undefined) {
    try {
      const native = addon();
      native.startHelperServer(native.helperPath);
    } catch {
      // runInProcess executes the helper instead.
    }
  }
  return runInProcess(source, options);
}
