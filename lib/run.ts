import type { Readable, Writable } from 'node:stream';
import type { ReadStream as TtyStream } from 'node:tty';
import { loadBundle, type Bundle } from './bundle.js';
import type { Cgroups } from './cgroups/manager.js';
import type { ResctrlGroup } from './resctrl.js';
import { generateId } from './container-id.js';
import { destroy } from './destroy.js';
import { runHooksWarning } from './hooks.js';
import { launch, pipeStreams, waitFor, type Launched, type LaunchOptions } from './launch.js';
import { native, type Binding, type ExitInfo } from './native/binding.js';
import { ociState } from './oci/state.js';
import { sendPidfd } from './pidfd-socket.js';
import { signalName, signalNumber } from './signals.js';

export type { StdioOption } from './launch.js';

export type RunOptions = Pick<LaunchOptions, 'stdio' | 'terminalSize' | 'extraFds' | 'extraEnv' | 'id' | 'seccompCacheDir' | 'cgroupDriver' | 'noPivot' | 'noNewKeyring' | 'resctrlRoot'> & {
  /** The native layer (default: the addon); tests give a fake (test/helpers/fake-native.ts). */
  native?: Binding;
  /** A unix socket to send a pidfd of the container's process to (runc's --pidfd-socket). */
  pidfdSocket?: string;
};

export interface ExitStatus {
  /** Exit code, or null when the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** As a shell reports it: the code, or 128 + the signal number. */
  status: number;
}

/** A container whose process is running. */
export interface RunningContainer {
  /** Host pid of the container's process. */
  readonly pid: number;
  readonly bundle: Bundle;
  /** Streams for stdio given as 'pipe' (null otherwise, and with a terminal: see `terminal`). */
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** The pty master when process.terminal is set: write to type, read to see. */
  readonly terminal: TtyStream | null;
  /** Settles when the container's process has exited (and been reaped). */
  readonly exited: Promise<ExitStatus>;
  /** Config parts tsbox did not apply, and failed poststart/poststop hooks; worth showing to a person. */
  readonly warnings: string[];
  /** The container's cgroup directories, when its config asks for cgroups (cgroupsPath or resources). */
  readonly cgroups: Cgroups | undefined;
  /** What linux.intelRdt made in resctrl (removed when the process exits). */
  readonly intelRdt?: ResctrlGroup;
  /** Sends a signal (default SIGTERM); false if the process is already gone. */
  kill(signal?: NodeJS.Signals | number): boolean;
  /** Sets the size of the container's terminal (no-op without one). */
  resize(rows: number, cols: number): void;
}

/** An exit as a shell reports it (128 + the signal for a killed process). */
export function exitStatus(info: ExitInfo): ExitStatus {
  if (info.signal !== null) return { code: null, signal: signalName(info.signal), status: 128 + info.signal };
  return { code: info.code, signal: null, status: info.code ?? 0 };
}

/**
 * Runs the container described by a bundle, in this process: no runtime
 * process is started per container, only the container's own init (a child
 * of this process). Resolves once the container's process has been
 * executed; fails with a one-line TsboxError if anything in the bundle or the
 * setup is wrong, leaving no process, mount or file behind.
 */
export async function run(source: string | Bundle, options: RunOptions = {}): Promise<RunningContainer> {
  const bundle = typeof source === 'string' ? loadBundle(source) : source;
  const { native: given, pidfdSocket, ...launchOptions } = options;
  const binding = given ?? native();
  const id = options.id ?? generateId();
  const launched = await launch(binding, bundle, { ...launchOptions, id });
  if (pidfdSocket !== undefined) await handOverPidfd(binding, pidfdSocket, launched);
  const c = started(binding, bundle, launched);
  // poststart and poststop failures are warnings, as the OCI spec says: the
  // process runs (and has run) either way; so is a cgroup that will not go.
  const warn = (err: unknown) => c.warnings.push((err as Error).message);
  const hooks = bundle.spec.hooks;
  const container = { id, pid: c.pid, bundle: bundle.dir, annotations: bundle.spec.annotations };
  if (hooks?.poststart) c.warnings.push(...(await runHooksWarning(hooks, 'poststart', ociState(container, 'running'))));
  const { cgroups, intelRdt } = launched;
  if (!cgroups && !intelRdt && !hooks?.poststop) return c;
  const exited = c.exited.then(async (status) => {
    // The container's cgroups go with it, and so does what is left in
    // them (processes that outlived an init without a pid namespace), as runc.
    if (cgroups || intelRdt) await destroy(binding, { cgroups, intelRdt }).catch(warn);
    if (hooks?.poststop) c.warnings.push(...(await runHooksWarning(hooks, 'poststop', ociState(container, 'stopped'))));
    return status;
  });
  return { ...c, exited };
}

/** sendPidfd for a launched init; if it cannot be sent, the container is undone (nothing stays behind). */
async function handOverPidfd(native: Binding, socket: string, launched: Launched): Promise<void> {
  try {
    sendPidfd(native, socket, launched.pidfd, 'standard');
  } catch (err) {
    if (launched.master >= 0) native.close(launched.master);
    for (const fd of launched.stdio.parentFds) if (fd >= 0) native.close(fd);
    await destroy(native, { init: launched.pidfd, cgroups: launched.cgroups, intelRdt: launched.intelRdt }).catch(() => undefined);
    native.close(launched.pidfd);
    throw err;
  }
}

/** The handle for a launched process: the container's first, or one exec'd into it. */
export function started(native: Binding, bundle: Bundle, { pid, pidfd, master, stdio, warnings, cgroups, intelRdt }: Launched): RunningContainer {
  let alive = true;
  const [stdin, stdout, stderr] = pipeStreams(stdio);
  const terminal = master >= 0 ? new (require('node:tty') as typeof import('node:tty')).ReadStream(master) : null;
  if (terminal) {
    // Reading the master fails with EIO once the last slave is closed: that
    // is the terminal's end of file, not an error.
    terminal.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EIO') throw err;
    });
  }
  const exited = waitFor(native, pidfd).then((info) => {
    // Together, so that kill() never uses the descriptor after it is closed
    // (its number could by then belong to another container's pidfd).
    alive = false;
    native.close(pidfd);
    // Nobody reads the container's stdin any more (child_process does the
    // same); stdout and stderr stay readable until drained.
    stdin?.destroy();
    return exitStatus(info);
  });
  return {
    pid,
    bundle,
    stdin,
    stdout,
    stderr,
    terminal,
    exited,
    warnings,
    cgroups,
    ...(intelRdt && { intelRdt }),
    kill(signal: NodeJS.Signals | number = 'SIGTERM') {
      // The pidfd stays open until the process is reaped, so this can never
      // signal a process that reused the pid.
      return alive && native.signal(pidfd, signalNumber(signal)) === 0;
    },
    resize(rows: number, cols: number) {
      if (terminal && !terminal.destroyed) native.setWindowSize(master, rows, cols);
    },
  };
}
