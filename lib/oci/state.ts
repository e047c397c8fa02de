import { OCI_VERSION } from './version.js';

/** A container's status as the OCI state names it (runc adds "paused"). */
export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/**
 * The OCI state of a container (runtime-spec, "State"): what hooks read on
 * their stdin, what a seccomp agent is sent, and the core of what
 * `tsbox state` prints.
 */
export interface OciState {
  ociVersion: string;
  id: string;
  status: Status;
  /** Absent where the spec allows (no process yet): tsbox always knows it. */
  pid?: number;
  bundle: string;
  annotations: Record<string, string>;
}

/** The one builder of OciState, from what a record or a bundle knows of the container. */
export function ociState(c: { id: string; pid: number; bundle: string; annotations?: Record<string, string> | null | undefined }, status: Status): OciState {
  return { ociVersion: OCI_VERSION, id: c.id, pid: c.pid, status, bundle: c.bundle, annotations: c.annotations ?? {} };
}
