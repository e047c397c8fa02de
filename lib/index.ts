/**
 * tsbox as a library: load and validate OCI bundles, plan containers, and
 * run them in this process.
 */
export { loadBundle, parseSpec, type Bundle } from './bundle.js';
export { ConfigError, SystemError, TsboxError } from './errors.js';
export { defaultSpec, OCI_VERSION } from './oci/default-spec.js';
export type * from './oci/types.js';
export { validateProcess, validateSpec } from './oci/validate.js';
export { buildPlan, type PlanInput } from './plan/build.js';
export type { LaunchPlan } from './plan/plan.js';
export type { ContainerProcessState } from './seccomp-listener.js';
export { prestartHelper, run, stopHelper } from './helper-server.js';
export { type ExitStatus, type RunningContainer, type RunOptions, type StdioOption } from './run.js';
export { Runtime, DEFAULT_ROOT, type Created, type CreateOptions, type ExecOptions, type ExecProcess, type RuntimeOptions } from './runtime/runtime.js';
export type { ContainerState, StateStore, Status } from './runtime/state.js';
export { NotFound, WrongStatus, type Operation } from './runtime/status.js';
export type { OciState } from './oci/state.js';
export type { Cgroups } from './cgroups/manager.js';
export type { CheckpointOptions, CriuSharedOptions, RestoreOptions } from './criu/options.js';
export type { RestoreStdio } from './criu/restore.js';
export { signalNumber } from './signals.js';
export type { BlkioEntry, ContainerEvent, Counter, MemoryEntry, Stats } from './cgroups/stats.js';
