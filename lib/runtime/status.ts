import { TsboxError } from '../errors.js';
import type { Status } from '../oci/state.js';

/** What a caller may do to a container, each allowed in some statuses only (RULES). */
export type Operation = 'start' | 'exec' | 'kill' | 'delete' | 'pause' | 'resume' | 'update' | 'stats' | 'checkpoint';

/** No container with this id. The text is the one engines look for. */
export class NotFound extends TsboxError {
  override name = 'NotFound';
  constructor(readonly id: string) {
    super(`container "${id}" does not exist`);
  }
}

/** An operation the container's status does not allow (see RULES for the texts). */
export class WrongStatus extends TsboxError {
  override name = 'WrongStatus';
  constructor(
    readonly id: string,
    readonly operation: Operation,
    readonly status: Status,
  ) {
    super(RULES[operation].refusal(id, status));
  }
}

const LIVE: readonly Status[] = ['creating', 'created', 'running', 'paused'];

/**
 * Which operation is allowed in which status, and how a refusal reads.
 * delete --force is allowed in any status; kill --all also on a stopped
 * container with processes left in its cgroups (Runtime.kill).
 */
const RULES: Record<Operation, { allowed: readonly Status[]; refusal: (id: string, status: Status) => string }> = {
  start: { allowed: ['created'], refusal: (id, s) => `cannot start container "${id}": it is ${s}, not created` },
  exec: { allowed: ['running'], refusal: (id, s) => `cannot exec in container "${id}": it is ${s}, not running` },
  pause: { allowed: ['running'], refusal: (id, s) => `cannot pause container "${id}": it is ${s}, not running` },
  resume: { allowed: ['paused'], refusal: (id, s) => `cannot resume container "${id}": it is ${s}, not paused` },
  // "container not running": the words containerd's shim looks for.
  kill: { allowed: LIVE, refusal: (id) => `cannot kill container "${id}": container not running` },
  stats: { allowed: LIVE, refusal: (id) => `cannot get stats of container "${id}": container not running` },
  update: { allowed: LIVE, refusal: (id, s) => `cannot update container "${id}": it is ${s}` },
  // CRIU dumps a live process tree: runc checkpoints running (and paused) containers.
  checkpoint: { allowed: ['running', 'paused'], refusal: (id, s) => `cannot checkpoint container "${id}": it is ${s}, not running` },
  delete: { allowed: ['created', 'stopped'], refusal: (id, s) => `cannot delete container "${id}" that is not stopped: it is ${s} (use --force)` },
};

export function allowed(operation: Operation, status: Status): boolean {
  return RULES[operation].allowed.includes(status);
}

/** Throws WrongStatus unless `operation` is allowed in `status`. */
export function checkStatus(operation: Operation, id: string, status: Status): void {
  if (!allowed(operation, status)) throw new WrongStatus(id, operation, status);
}
