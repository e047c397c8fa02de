import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import type { Bundle } from './bundle.js';
import { detectLayout, type Layout } from './cgroups/layout.js';
import { killAndRemove } from './cgroups/kill.js';
import { applyResources, cgroupDirs, createCgroups, procsFiles, type Cgroups } from './cgroups/manager.js';
import { applyDevicePolicy, deviceNodes } from './cgroups/devices-bpf.js';
import { generateId } from './container-id.js';
import { ConfigError, SystemError, TsboxError } from './errors.js';
import { runHooks, type HookState } from './hooks.js';
import { helperPath, native, type ExitInfo, type ReceivedRecord } from './native/binding.js';
import { buildPlan } from './plan/build.js';
import { OCI_VERSION } from './oci/default-spec.js';
import { encodePlan } from './plan/encode.js';
import type { LaunchPlan } from './plan/plan.js';

/** Where one of the container's stdin/stdout/stderr goes. */
export type StdioOption = 'pipe' | 'inherit' | 'ignore' | number;

export interface LaunchOptions {
  /** 'pipe' (default) gives streams; 'inherit' passes this process's. */
  stdio?: StdioOption | [StdioOption, StdioOption, StdioOption];
  /** Size of the terminal for process.terminal when the config sets no consoleSize. */
  terminalSize?: { rows: number; cols: number };
  /** The container's id, as hooks see it in the state (default: a generated one). */
  id?: string;
  /** Descriptors of this process the container gets as 3, 4, ... (--preserve-fds). */
  extraFds?: number[];
  /**
   * Stop the init just before it executes the process, until `tsbox start`
   * opens this FIFO (create); without it the process is executed at once.
   */
  startFifo?: string;
}

/** A launched container init: running its process, or (startFifo) ready to. */
export interface Launched {
  pid: number;
  /** Open until the caller closes it; the init is our child. */
  pidfd: number;
  /** The terminal's master, or -1. */
  master: number;
  stdio: Stdio;
  warnings: string[];
  /** The cgroups made for the container (config with cgroupsPath or resources). */
  cgroups?: Cgroups;
}

/** Waits for the process behind a pidfd to exit and reaps it. */
export async function waitFor(pidfd: number): Promise<ExitInfo> {
  for (;;) {
    const r = await native().waitExit(pidfd);
    if (r !== 'again') return r;
  }
}

/** waitFor, then closes the pidfd: for processes nobody signals any more. */
async function reap(pidfd: number): Promise<ExitInfo> {
  try {
    return await waitFor(pidfd);
  } finally {
    native().close(pidfd);
  }
}

async function receive(sock: number): Promise<ReceivedRecord | null> {
  for (;;) {
    const r = await native().recv(sock);
    if (r !== 'again') return r;
  }
}

/** An "error" record from the helper or init, as a one-line error. */
export function setupError(fields: string[]): SystemError {
  const [, step = 'container setup', errnoText = '0', detail = ''] = fields;
  const errno = Number(errnoText);
  const code = errno > 0 ? getSystemErrorName(-errno) : 'EUNKNOWN';
  const description = native().strerror(errno);
  const explanation = detail || `${description.charAt(0).toLowerCase()}${description.slice(1)} (${code})`;
  return new SystemError(step, errno, code, explanation);
}

export interface Stdio {
  /** Descriptors the container gets as 0, 1, 2. */
  childFds: [number, number, number];
  /** Descriptors to close once the helper has them. */
  closeAfterSpawn: number[];
  /** Our ends of 'pipe' stdio, made into streams only once the container runs. */
  parentFds: [number, number, number];
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * The container's stdio. With a terminal the init replaces all three with
 * the pty, so no pipes are made for it.
 */
function openStdio(option: LaunchOptions['stdio'], terminal: boolean): Stdio {
  const options = Array.isArray(option) ? option : [option ?? 'pipe', option ?? 'pipe', option ?? 'pipe'];
  const stdio: Stdio = { childFds: [-1, -1, -1], closeAfterSpawn: [], parentFds: [-1, -1, -1] };
  const devNull = (i: number) => {
    const fd = openSync('/dev/null', i === 0 ? 'r' : 'w');
    stdio.closeAfterSpawn.push(fd);
    return fd;
  };
  options.forEach((o, i) => {
    if (o === 'pipe' && !terminal) {
      const [r, w] = native().pipe();
      stdio.parentFds[i] = i === 0 ? w : r;
      stdio.childFds[i] = i === 0 ? r : w;
      stdio.closeAfterSpawn.push(stdio.childFds[i]!);
    } else if (o === 'inherit') {
      // A caller started with a closed stdio descriptor gets /dev/null there.
      stdio.childFds[i] = isOpen(i) ? i : devNull(i);
    } else if (o === 'ignore' || o === 'pipe') {
      stdio.childFds[i] = devNull(i);
    } else {
      stdio.childFds[i] = o;
    }
  });
  return stdio;
}

function closeParentFds(stdio: Stdio): void {
  for (const fd of stdio.parentFds) if (fd >= 0) native().close(fd);
}

/**
 * Streams over our ends of the pipes. Made only when run() resolves: a
 * stream starts reading at once, and one made earlier could reach its end
 * (a container that exits at once) before the caller can listen to it.
 */
export function pipeStreams(stdio: Stdio): [Writable | null, Readable | null, Readable | null] {
  if (stdio.parentFds.every((fd) => fd < 0)) return [null, null, null];
  // Required here: node:net costs ~4 ms to load, and the CLI never pipes.
  const { Socket } = require('node:net') as typeof import('node:net');
  const stream = (i: number) =>
    stdio.parentFds[i]! < 0 ? null : new Socket({ fd: stdio.parentFds[i]!, readable: i !== 0, writable: i === 0 });
  return [stream(0), stream(1), stream(2)];
}

/**
 * Creates a container's init from a bundle and follows the sync protocol
 * (native/helper/main.cc) until the process has been executed, or with
 * `startFifo` until the init is ready and waits for `tsbox start`. Fails
 * with a one-line TsboxError, leaving no process, mount or file behind.
 */
export async function launch(bundle: Bundle, options: LaunchOptions = {}): Promise<Launched> {
  const id = options.id ?? generateId();
  let plan;
  try {
    plan = buildPlan({
      spec: bundle.spec,
      bundleDir: bundle.dir,
      rootfs: bundle.rootfs,
      ...(options.terminalSize && { terminalSize: options.terminalSize }),
      ...(options.startFifo !== undefined && { startFifo: options.startFifo }),
    });
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(bundle.configPath) : err;
  }
  // The container's cgroups, made and limited before its init exists: the
  // helper puts itself in them before it clones the init, so the init is
  // born there and nothing of the runtime is ever charged to them.
  const linux = bundle.spec.linux;
  let cgroups: Cgroups | undefined;
  if (linux?.cgroupsPath !== undefined || linux?.resources !== undefined) {
    const layout = hostLayout();
    cgroups = createCgroups(layout, cgroupDirs(layout, linux.cgroupsPath, id));
    try {
      const nodes = deviceNodes(linux.devices);
      applyResources(layout, cgroups, linux.resources ?? {}, nodes, { fresh: true });
      const warning = applyDevicePolicy(layout, cgroups, linux.resources ?? {}, nodes, false);
      if (warning) plan.warnings.push(warning);
    } catch (err) {
      await killAndRemove(cgroups);
      throw err;
    }
    plan.cgroupProcs = procsFiles(cgroups);
  }
  // At the init's stop before pivot_root: the runtime's hooks, then the
  // state for the init's own (createContainer, startContainer).
  const beforePivot = async (pid: number): Promise<[string, string]> => {
    const state = hookState(bundle, id, pid);
    await runHooks(bundle.spec.hooks, 'prestart', { ...state, status: 'creating' });
    await runHooks(bundle.spec.hooks, 'createRuntime', { ...state, status: 'creating' });
    return [JSON.stringify({ ...state, status: 'creating' }), JSON.stringify({ ...state, status: 'created' })];
  };
  try {
    const launched = await launchPlan(plan, { ...options, beforePivot });
    return cgroups ? { ...launched, cgroups } : launched;
  } catch (err) {
    if (cgroups) await killAndRemove(cgroups);
    throw err;
  }
}

/** The host's cgroup layout, from this process's mount table and cgroups. */
export function hostLayout(): Layout {
  return detectLayout(readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'));
}

/** The OCI state of a container as its hooks read it (status to be filled in). */
export function hookState(bundle: Bundle, id: string, pid: number): Omit<HookState, 'status'> {
  return { ociVersion: OCI_VERSION, id, pid, bundle: bundle.dir, annotations: bundle.spec.annotations ?? {} };
}

/** launch() for a plan made already (exec's, from buildExecPlan). */
export async function launchPlan(
  plan: LaunchPlan,
  options: Omit<LaunchOptions, 'startFifo' | 'terminalSize' | 'id'> & {
    beforePivot?: (pid: number) => Promise<[creating: string, created: string]>;
  } = {},
): Promise<Launched> {
  const encoded = encodePlan(plan);
  const n = native();
  const stdio = openStdio(options.stdio, plan.terminal !== undefined);
  let spawned;
  try {
    spawned = n.spawnHelper(helperPath(), encoded, stdio.childFds, options.extraFds ?? []);
  } catch (err) {
    closeParentFds(stdio);
    throw err instanceof Error && 'code' in err ? new TsboxError(err.message) : err;
  } finally {
    for (const fd of stdio.closeAfterSpawn) closeSync(fd);
  }
  // The helper exits as soon as it has cloned the init.
  void reap(spawned.pidfd);

  let pid = 0;
  let pidfd = -1;
  let master = -1;
  let failure: Error | undefined;
  try {
    for (;;) {
      const msg = await receive(spawned.sock);
      if (msg === null) break; // the init executed the process: success
      const [kind = ''] = msg.fields;
      if (kind === 'spawned') {
        pid = Number(msg.fields[1]);
        pidfd = msg.fd;
      } else if (kind === 'pty') {
        master = msg.fd;
      } else if (kind === 'ready') {
        // With a start FIFO the init now waits for `tsbox start`.
        if (plan.startFifo !== undefined) break;
        n.send(spawned.sock, ['go']);
      } else if (kind === 'hooks') {
        try {
          const [creating, created] = await options.beforePivot!(pid);
          n.send(spawned.sock, ['go', creating, created]);
        } catch (err) {
          failure = err as Error;
          n.send(spawned.sock, ['abort']);
        }
      } else if (kind === 'error') {
        // The first failure is the one to report (after a failed hook, the
        // init's own "stopped by the runtime" follows).
        failure ??= setupError(msg.fields);
        // The sender exits right after an error; wait for the end of stream.
      } else {
        failure = new TsboxError(`container setup: unexpected message "${kind}" from the init`);
        break;
      }
    }
    if (!failure && pidfd < 0) failure = new TsboxError('container setup: the helper exited without starting the init');
  } finally {
    n.close(spawned.sock);
  }

  if (failure) {
    if (master >= 0) n.close(master);
    closeParentFds(stdio);
    if (pidfd >= 0) {
      n.signal(pidfd, osConstants.signals.SIGKILL);
      await reap(pidfd);
    }
    throw failure;
  }
  return { pid, pidfd, master, stdio, warnings: plan.warnings };
}
