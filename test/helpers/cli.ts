// Helpers for tests of the command line: starting bin/tsbox, collecting its
// output, and the before/after views used to check that nothing was left
// behind (mounts, child processes, files).

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect } from 'vitest';
import { childPids, hostMounts, processesUnder, type TestBundle } from './bundle.js';

export const TSBOX = path.resolve(__dirname, '..', '..', 'bin', 'tsbox');

export interface CliResult {
  /** Exit code, or null when tsbox itself was killed by a signal. */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** Written to tsbox's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  /** Kill tsbox (SIGKILL) after this long; the test then fails on its status. */
  timeoutMs?: number;
}

/** A running tsbox (or any) process with its output collected as text. */
export interface Started {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once `text` has appeared on stdout (rejects if the process ends first). */
  waitForStdout(text: string | RegExp): Promise<void>;
  /** Resolves when the process has exited (its output may still be coming). */
  exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the process has exited and its output is complete. */
  done: Promise<CliResult>;
}

/** Processes started through start(): killed by killStarted() if a test leaves one running. */
const started = new Set<ChildProcess>();

/** Starts `command args` with pipes, collecting stdout and stderr. */
export function start(command: string, args: readonly string[], options: SpawnOptions & { timeoutMs?: number } = {}): Started {
  const { timeoutMs = 20_000, ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...spawnOptions });
  started.add(child);
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    const finish = () => {
      clearTimeout(timer);
      started.delete(child);
      for (const l of listeners) l();
      resolve({ status: child.exitCode, signal: child.signalCode, stdout, stderr });
    };
    // 'close': exited and both pipes drained.
    child.once('close', finish);
    // A process it left behind (a container whose runtime died) may keep the
    // pipes open: then give up on the rest of the output soon after the exit.
    child.once('exit', () => {
      setTimeout(() => {
        if (child.stdout!.readableEnded && child.stderr!.readableEnded) return;
        child.stdout!.destroy();
        child.stderr!.destroy();
        finish();
      }, 2000).unref();
    });
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const exitedPromise = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (status, signal) => resolve({ status, signal }));
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    waitForStdout(text) {
      const seen = () => (typeof text === 'string' ? stdout.includes(text) : text.test(stdout));
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (seen()) {
            listeners.delete(check);
            resolve();
          } else if (exited() && (child.stdout!.readableEnded || child.stdout!.destroyed)) {
            listeners.delete(check);
            reject(new Error(`process ended before printing ${String(text)}; stdout: ${JSON.stringify(stdout)}, stderr: ${JSON.stringify(stderr)}`));
          }
        };
        listeners.add(check);
        child.stdout!.once('end', check);
        check();
      });
    },
    exited: exitedPromise,
    done,
  };
}

/**
 * The state root of the CLI tests of this test file, under a temp dir:
 * commands that take the default (/run/tsbox) would otherwise leave their
 * traces in the host's /run. Removed after the file's tests (vitest ends
 * its workers without running their 'exit' handlers).
 */
let stateRoot: string | undefined;
export function testStateRoot(): string {
  if (!stateRoot) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-cli-root-'));
    stateRoot = path.join(dir, 'state');
  }
  return stateRoot;
}

afterAll(() => {
  if (stateRoot !== undefined) fs.rmSync(path.dirname(stateRoot), { recursive: true, force: true });
  stateRoot = undefined;
});

/** Starts bin/tsbox with `args`, with the tests' own --root unless args give one. */
export function startTsbox(args: readonly string[], options: CliOptions = {}): Started {
  const root = args.includes('--root') ? [] : ['--root', testStateRoot()];
  const s = start(process.execPath, [TSBOX, ...root, ...args], {
    ...(options.cwd && { cwd: options.cwd }),
    ...(options.timeoutMs && { timeoutMs: options.timeoutMs }),
  });
  if (options.input !== undefined) s.child.stdin!.end(options.input);
  return s;
}

/** Runs bin/tsbox with `args` to completion. stdin is empty unless `input` is given. */
export function tsbox(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const s = startTsbox(args, options);
  if (options.input === undefined) s.child.stdin!.end();
  return s.done;
}

/** SIGKILLs whatever start() began and is still running; returns how many. */
export function killStarted(): number {
  const n = started.size;
  for (const child of started) child.kill('SIGKILL');
  return n;
}

// ---- temporary directories ---------------------------------------------------

/** A fresh empty directory under the system's temp dir. */
export function tempDir(prefix = 'tsbox-cli-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// ---- leftovers -----------------------------------------------------------------

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns what `expected` is (deep-equal through JSON)
 * or the deadline passes; returns the last value. For state that settles
 * asynchronously, like a helper process reaped just after run() returned.
 */
export async function settle<T>(probe: () => T, expected: T, ms = 2000): Promise<T> {
  const want = JSON.stringify(expected);
  const deadline = Date.now() + ms;
  let value = probe();
  while (JSON.stringify(value) !== want && Date.now() < deadline) {
    await sleep(20);
    value = probe();
  }
  return value;
}

/** What the test process looks like from outside: the baseline for leak checks. */
export interface HostState {
  mounts: string[];
  children: number[];
}

export function hostState(): HostState {
  return { mounts: hostMounts(), children: childPids() };
}

/** Waits (briefly) for children to go and returns the state to compare with a baseline. */
export async function settledHostState(baseline: HostState): Promise<HostState> {
  return { mounts: hostMounts(), children: await settle(() => childPids(), baseline.children) };
}

/** Processes whose root or cwd is inside dir, after waiting briefly for them to go. */
export function settledProcessesUnder(dir: string): Promise<number[]> {
  return settle(() => processesUnder(dir), []);
}

/** SIGKILLs processes left inside dir by a failed test, so later tests and cleanup are not affected. */
export function killProcessesUnder(dir: string): void {
  for (const pid of processesUnder(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Every entry under dir, recursively, sorted: relative path, type, and for
 * files mode and size, for symlinks the target. Compared before and after a
 * failed run to see that nothing was created, removed or changed.
 */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(dir, rel);
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(dir, r));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`${r}/ d ${mode}`);
        walk(r);
      } else if (st.isSymbolicLink()) {
        out.push(`${r} -> ${fs.readlinkSync(path.join(dir, r))}`);
      } else {
        out.push(`${r} ${st.isFile() ? 'f' : 'other'} ${mode} ${st.size}`);
      }
    }
  };
  walk('');
  return out;
}

/**
 * The end of every CLI test: ends what the test left running (then reports
 * it as a leak), removes its bundles and scratch directories, and checks
 * that the host is as it was (mounts, children) and nothing remains.
 */
export async function checkAndClean(bundles: TestBundle[], dirs: string[], baseline: HostState): Promise<void> {
  const leftRunning = killStarted();
  const leftover: Record<string, number[]> = {};
  for (const b of bundles) {
    const pids = await settledProcessesUnder(b.dir);
    if (pids.length > 0) {
      leftover[b.dir] = pids;
      killProcessesUnder(b.dir);
    }
  }
  const state = await settledHostState(baseline);
  const errors: string[] = [];
  for (const b of bundles) {
    try {
      b.cleanup();
    } catch (err) {
      errors.push(String(err));
    }
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  const remaining = dirs.filter((d) => fs.existsSync(d));
  expect(errors).toEqual([]);
  expect(leftRunning, 'processes started by the test still running at its end').toBe(0);
  expect(leftover, 'processes left inside bundle directories').toEqual({});
  expect(state.mounts, 'host mount table').toEqual(baseline.mounts);
  expect(state.children, 'child processes of the test process').toEqual(baseline.children);
  expect(remaining, 'temporary directories').toEqual([]);
}
