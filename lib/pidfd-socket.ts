import type { Binding } from './native/binding.js';

/**
 * runc's --pidfd-socket: a pidfd of the container's process (its init for
 * create and run, the new process for exec) sent over a unix socket
 * (SCM_RIGHTS), so that a supervisor can wait for it and signal it with no
 * risk of a reused pid. The message is runc's: "standard" for a container's
 * init, "setns" for an exec'd process. The caller keeps its own pidfd.
 */
export function sendPidfd(native: Binding, socket: string, pidfd: number, kind: 'standard' | 'setns'): void {
  native.sendFd(socket, pidfd, kind, 'pidfd socket');
}
