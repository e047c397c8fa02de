import { isSystemCallError, TsboxError } from './errors.js';
import type { Binding } from './native/binding.js';
import type { HookState } from './hooks.js';
import { OCI_VERSION } from './oci/default-spec.js';

/**
 * The "container process state" the runtime-spec has a runtime send to a
 * seccomp agent at linux.seccomp.listenerPath, with the listener fd
 * (SCMP_ACT_NOTIFY) attached as the one descriptor `fds` names.
 */
export interface ContainerProcessState {
  ociVersion: string;
  fds: ['seccompFd'];
  /** The process the filter belongs to. */
  pid: number;
  metadata: string;
  state: HookState;
}

export function containerProcessState(pid: number, metadata: string, state: HookState): ContainerProcessState {
  return { ociVersion: OCI_VERSION, fds: ['seccompFd'], pid, metadata, state };
}

/**
 * Hands a seccomp listener fd to the agent at `listener.path`, and lets go
 * of our copy. Fails with a one-line error naming the path and errno; the
 * caller tears the container down.
 */
export function sendSeccompListener(native: Binding, listener: { path: string; metadata: string }, fd: number, pid: number, state: HookState): void {
  try {
    const message = JSON.stringify(containerProcessState(pid, listener.metadata, state));
    native.sendFd(listener.path, fd, message, 'seccomp listener (linux.seccomp.listenerPath)');
  } catch (err) {
    throw isSystemCallError(err) ? new TsboxError(err.message, { cause: err }) : err;
  } finally {
    native.close(fd);
  }
}
