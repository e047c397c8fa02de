import { native as addon, type Binding } from './native/binding.js';

/**
 * For a process that runs many containers: starts tsbox-helper once, ahead
 * of them, and each container's helper is then a fork of it rather than a
 * new execution (native/helper/spawner.cc): glibc's start-up, which every
 * execution of the static helper runs, costs ~0.6 ms of CPU in a virtual
 * machine, about a seventh of a whole container run. The forked helper is
 * this process's child with the same descriptors, signal state and
 * read-only image as an executed one. What a helper inherits from this
 * process (credentials, cgroup, namespaces, rlimits, environment: none) it
 * now inherits from the moment of this call: a process that changes those
 * later should stop and pre-start it again. The pre-started helper stays a
 * child of this process until stopHelper() (or this process's exit, when
 * it ends by itself). Calling it again keeps the running one. Returns its pid.
 */
export function prestartHelper(native: Binding = addon()): number {
  return native.startHelperServer(native.helperPath);
}

/** Ends the pre-started helper: containers' helpers are executed again. */
export function stopHelper(native: Binding = addon()): void {
  native.stopHelperServer();
}
