import { closeSync, fstatSync, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ReadStream as TtyStream } from 'node:tty';
import { getSystemErrorName } from 'node:util';
import { loadBundle, type Bundle } from './bundle.js';
import { ConfigError, SystemError, TsboxError } from './errors.js';
import { helperPath, native, type ExitInfo, type ReceivedRecord } from './native/binding.js';
import { buildPlan } from './plan/build.js';
import { encodePlan } from './plan/encode.js';

/** Where one of the container's stdin/stdout/stderr goes. */
export type StdioOption = 'pipe' | 'inherit' | 'ignore' | number;

export interface RunOptions {
  /** 'pipe' (default) gives streams on the handle; 'inherit' passes this process's. */
  stdio?: StdioOption | [StdioOption, StdioOption, StdioOption];
  /** Size of the terminal for process.terminal when the config sets no consoleSize. */
  terminalSize?: { rows: number; cols: number };
}

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
  /** Config parts tsbox did not apply; worth showing to a person. */
  readonly warnings: readonly string[];
  /** Sends a signal (default SIGTERM); false if the process is already gone. */
  kill(signal?: NodeJS.Signals | number): boolean;
  /** Sets the size of the container's terminal (no-op without one). */
  resize(rows: number, cols: number): void;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

export function signalNumber(signal: NodeJS.Signals | number): number {
  if (typeof signal === 'number') return signal;
  const n = osConstants.signals[signal];
  if (n === undefined) throw new TsboxError(`unknown signal "${signal}"`);
  return n;
}

function exitStatus(info: ExitInfo): ExitStatus {
  if (info.signal !== null) {
    return { code: null, signal: SIGNAL_NAMES.get(info.signal) ?? null, status: 128 + info.signal };
  }
  return { code: info.code, signal: null, status: info.code ?? 0 };
}

/** Waits for the process behind a pidfd to exit and reaps it. */
async function waitFor(pidfd: number): Promise<ExitInfo> {
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
function setupError(fields: string[]): SystemError {
  const [, step = 'container setup', errnoText = '0', detail = ''] = fields;
  const errno = Number(errnoText);
  const code = errno > 0 ? getSystemErrorName(-errno) : 'EUNKNOWN';
  const description = native().strerror(errno);
  const explanation = detail || `${description.charAt(0).toLowerCase()}${description.slice(1)} (${code})`;
  return new SystemError(step, errno, code, explanation);
}

interface Stdio {
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
function openStdio(option: RunOptions['stdio'], terminal: boolean): Stdio {
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
function pipeStreams(stdio: Stdio): [Writable | null, Readable | null, Readable | null] {
  if (stdio.parentFds.every((fd) => fd < 0)) return [null, null, null];
  // Required here: node:net costs ~4 ms to load, and the CLI never pipes.
  const { Socket } = require('node:net') as typeof import('node:net');
  const stream = (i: number) =>
    stdio.parentFds[i]! < 0 ? null : new Socket({ fd: stdio.parentFds[i]!, readable: i !== 0, writable: i === 0 });
  return [stream(0), stream(1), stream(2)];
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
  let plan;
  try {
    plan = buildPlan({
      spec: bundle.spec,
      bundleDir: bundle.dir,
      rootfs: bundle.rootfs,
      ...(options.terminalSize && { terminalSize: options.terminalSize }),
    });
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(bundle.configPath) : err;
  }
  const encoded = encodePlan(plan);
  const n = native();
  const stdio = openStdio(options.stdio, plan.terminal !== undefined);
  let spawned;
  try {
    spawned = n.spawnHelper(helperPath(), encoded, stdio.childFds);
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
        n.send(spawned.sock, ['go']);
      } else if (kind === 'error') {
        failure = setupError(msg.fields);
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
  return startedContainer(bundle, pid, pidfd, master, stdio, plan.warnings);
}

function startedContainer(
  bundle: Bundle,
  pid: number,
  pidfd: number,
  master: number,
  stdio: Stdio,
  warnings: string[],
): RunningContainer {
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
  const exited = waitFor(pidfd).then((info) => {
    // Together, so that kill() never uses the descriptor after it is closed
    // (its number could by then belong to another container's pidfd).
    alive = false;
    native().close(pidfd);
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
    kill(signal: NodeJS.Signals | number = 'SIGTERM') {
      // The pidfd stays open until the process is reaped, so this can never
      // signal a process that reused the pid.
      return alive && native().signal(pidfd, signalNumber(signal)) === 0;
    },
    resize(rows: number, cols: number) {
      if (terminal && !terminal.destroyed) native().setWindowSize(master, rows, cols);
    },
  };
}
