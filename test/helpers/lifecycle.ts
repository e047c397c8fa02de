// Helpers for the lifecycle tests (create, start, state, kill, delete, list,
// ps, run): a per-test state root, tsbox processes whose output is read for
// as long as a container holds their pipes, waiting for conditions, host
// views of a container's processes, and the recvtty fixture.
//
// A created container's init outlives `tsbox create` and is inherited by
// the nearest subreaper (pid 1 here): leaks are looked for with
// processesUnder(bundle dir), not among the test process's children.

import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { makeBundle, type BundleOptions, type TestBundle } from './bundle.js';
import { TSBOX, checkAndClean, hostState, tempDir, tsbox, type CliResult, type HostState } from './cli.js';

// ---- waiting -------------------------------------------------------------------

/**
 * Polls `probe` (every 20 ms) until it returns something other than
 * undefined or false, and returns that; fails after `ms` with `what` and the
 * last value seen by `describe`.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- host views of processes ----------------------------------------------------

/** /proc/<pid>/stat's state letter (R, S, Z...), or undefined when there is no such process. */
export function procState(pid: number): string | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Alive: exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  const s = procState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

export function readProc(pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

export function pidNamespace(pid: number | 'self'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

// ---- processes with output that outlives them ---------------------------------------

/** Text read from one of a process's pipes, for as long as anyone holds the other end. */
export class Output {
  text = '';
  ended = false;
  /** Resolves with all the text once the pipe reaches its end (every writer closed it). */
  readonly end: Promise<string>;
  private readonly listeners = new Set<() => void>();

  constructor(readonly stream: NodeJS.ReadableStream | null) {
    if (!stream) {
      this.ended = true;
      this.end = Promise.resolve('');
      return;
    }
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      this.text += d;
      for (const l of this.listeners) l();
    });
    this.end = new Promise((resolve) => {
      const finish = () => {
        if (this.ended) return;
        this.ended = true;
        for (const l of this.listeners) l();
        resolve(this.text);
      };
      stream.once('end', finish);
      stream.once('close', finish);
      stream.once('error', finish);
    });
  }

  /** Resolves once the text matches (a string: contains it); fails at the end of the pipe or after `ms`. */
  waitFor(match: string | RegExp | ((text: string) => boolean), ms = 10_000): Promise<string> {
    const seen =
      typeof match === 'function' ? match : typeof match === 'string' ? (t: string) => t.includes(match) : (t: string) => match.test(t);
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.listeners.delete(check);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(this.text);
      };
      const check = () => {
        if (seen(this.text)) done();
        else if (this.ended) done(new Error(`output ended without ${String(match)}: ${JSON.stringify(this.text)}`));
      };
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${String(match)} in ${JSON.stringify(this.text)}`)), ms);
      this.listeners.add(check);
      check();
    });
  }
}

export interface Proc {
  child: ChildProcess;
  stdout: Output;
  stderr: Output;
  /** The exit: settles as soon as the process is gone, whoever still holds its pipes. */
  exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

const spawned = new Set<Proc>();

/**
 * Starts a process (default stdio: stdin /dev/null, stdout and stderr
 * pipes). Unlike cli.ts's start(), its output is read until every holder of
 * the pipes has closed them, however long after its exit: that is how a
 * created container writes to `tsbox create`'s stdout. (Not its stdin:
 * Node destroys a child's stdin at its exit; see heldFifo.)
 */
export function spawnProc(command: string, args: readonly string[], stdio: StdioOptions = ['ignore', 'pipe', 'pipe']): Proc {
  const child = spawn(command, args, { stdio });
  const proc: Proc = {
    child,
    stdout: new Output(child.stdout),
    stderr: new Output(child.stderr),
    exited: new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (status, signal) => resolve({ status, signal }));
    }),
  };
  child.stdin?.on('error', () => {}); // EPIPE when the reader is gone
  spawned.add(proc);
  return proc;
}

/** Kills what spawnProc started and is still running, closes our ends of the pipes; returns how many were running. */
export function killSpawned(): number {
  let running = 0;
  for (const p of spawned) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      running++;
      p.child.kill('SIGKILL');
    }
    p.child.stdin?.destroy();
    p.child.stdout?.destroy();
    p.child.stderr?.destroy();
  }
  spawned.clear();
  return running;
}

/**
 * A FIFO opened read-write by the test, to be given as a process's stdin
 * when that stdin must outlive the process: Node destroys a child's stdin
 * pipe when the child exits, so a container created by `tsbox create`
 * with stdin 'pipe' would read end of file as soon as create returned.
 * Write to `fd`; close it (closeSync) when done (the session does not).
 */
export function heldFifo(dir: string, name = 'stdin'): { path: string; fd: number } {
  const p = path.join(dir, name);
  execFileSync('mkfifo', ['-m', '600', p]);
  // O_RDWR: neither end waits for the other to open (Linux).
  return { path: p, fd: fs.openSync(p, 'r+') };
}

// ---- the recvtty and recvpidfd fixtures -----------------------------------------------

const CACHE_DIR = path.join(os.tmpdir(), 'tsbox-test-cache');

/** Compiles test/fixtures/NAME.c for the host (once per source version) and returns the binary's path. */
function buildHostFixture(name: string): string {
  const source = fs.readFileSync(path.resolve(__dirname, '..', 'fixtures', `${name}.c`));
  const out = path.join(CACHE_DIR, `${name}-${crypto.createHash('sha1').update(source).digest('hex')}`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  // Under a private name first: a concurrent worker must never run a half-written binary.
  const tmp = `${out}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-o', tmp, '-x', 'c', '-'], { input: source, stdio: ['pipe', 'pipe', 'pipe'] });
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return out;
}

/** test/fixtures/recvtty.c, built: the other end of --console-socket. */
export function buildRecvtty(): string {
  return buildHostFixture('recvtty');
}

/** test/fixtures/recvpidfd.c, built: the other end of --pidfd-socket. */
export function buildRecvpidfd(): string {
  return buildHostFixture('recvpidfd');
}

// ---- parsing tsbox's output ------------------------------------------------------------

export interface StateJson {
  ociVersion: string;
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
}

/** The rows of a table as tsbox prints them (columns separated by 3+ spaces), header first. */
export function parseTable(text: string): string[][] {
  expect(text.endsWith('\n'), `table ends with a newline: ${JSON.stringify(text)}`).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => line.split(/ {3,}/));
}

// ---- the per-test session ------------------------------------------------------------------

export interface Lifecycle {
  /** This test's state root (a fresh directory's "state"; it may not exist yet). */
  readonly root: string;
  /** A bundle removed after the test. */
  bundle(opts?: BundleOptions): TestBundle;
  /** A temporary directory removed after the test. */
  scratch(): string;
  /** Remembers an id, so that `tsbox delete --force` removes it after the test, pass or fail. */
  track(id: string): string;
  /** `tsbox --root ROOT ...args`, to completion (for commands whose stdio no container keeps). */
  cli(args: readonly string[]): Promise<CliResult>;
  /** `tsbox --root ROOT ...args` through spawnProc: for create and run -d, whose stdio the container keeps. */
  spawn(args: readonly string[], stdio?: StdioOptions): Proc;
  /**
   * `tsbox create --bundle DIR [...flags] ID`, which must succeed and print
   * nothing (or exactly the line `tsbox: warning: WARNING`); the returned
   * process's pipes are the container's stdio. The id is not tracked.
   */
  create(id: string, b: TestBundle, opts?: { flags?: string[]; stdio?: StdioOptions; warning?: string }): Promise<Proc>;
  /** `tsbox ARGS`, which must succeed and print nothing. */
  ok(args: readonly string[]): Promise<void>;
  /** `tsbox state ID`, which must succeed, parsed. */
  state(id: string): Promise<StateJson>;
  /** The status from `tsbox state`, polled until it is `status`. */
  waitForStatus(id: string, status: StateJson['status'], ms?: number): Promise<StateJson>;
  /** Init pids this test expects to stay behind as zombie children of the test process. */
  tolerateZombieChild(pid: number): void;
  /** heldFifo() in a scratch directory; its descriptor is closed after the test if the test has not. */
  stdinFifo(): { fd: number; write(text: string): void; close(): void };
}

/**
 * Registers the hooks of a lifecycle test file and returns the per-test
 * session. After each test, pass or fail: every tracked container is
 * removed with `tsbox --root ROOT delete --force ID`; the state root must
 * then hold no container; then cli.ts's checkAndClean kills and reports
 * processes left inside bundles, removes bundles and temp dirs, and
 * compares the host's mount table and the test process's children with
 * those before the first test.
 */
export function lifecycleSession(): Lifecycle {
  let baseline: HostState;
  let bundles: TestBundle[] = [];
  let dirs: string[] = [];
  let ids: string[] = [];
  let root = '';
  const zombies = new Set<number>();
  let fds: number[] = [];

  beforeAll(() => {
    // Warm-up, so the first test does not pay for the probe and the rootfs template.
    makeBundle().cleanup();
    baseline = hostState();
  });

  beforeEach(() => {
    const d = tempDir('tsbox-lifecycle-');
    dirs.push(d);
    root = path.join(d, 'state');
  });

  afterEach(async () => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
    const deleted: Record<string, CliResult> = {};
    for (const id of ids) {
      const r = await tsbox(['--root', root, 'delete', '--force', id]);
      if (r.status !== 0) deleted[id] = r;
    }
    let left: string[] = [];
    try {
      // .seccomp is tsbox's cache of compiled seccomp programs, not a container.
      left = fs.readdirSync(root).filter((n) => n !== '.seccomp');
    } catch {
      // never created
    }
    for (const id of left) {
      // Not tracked by the test: removed all the same, and reported.
      await tsbox(['--root', root, 'delete', '--force', id]);
    }
    const stillRunning = killSpawned();
    const [b, d] = [bundles, dirs];
    bundles = [];
    dirs = [];
    ids = [];
    // The children to expect: the baseline's, plus the zombie inits the
    // test was told to expect (those still there).
    const tolerated = [...zombies].filter((pid) => procState(pid) === 'Z');
    const expected = { ...baseline, children: [...new Set([...baseline.children, ...tolerated])].sort((x, y) => x - y) };
    await checkAndClean(b, d, expected);
    expect(deleted, '`delete --force` of the test\'s containers').toEqual({});
    expect(left, 'containers left under the state root after deleting the tracked ones').toEqual([]);
    expect(stillRunning, 'processes spawned by the test still running at its end').toBe(0);
  });

  afterAll(() => {
    expect(hostState().mounts).toEqual(baseline.mounts);
  });

  const lc: Lifecycle = {
    get root() {
      return root;
    },
    bundle(opts = {}) {
      const b = makeBundle(opts);
      bundles.push(b);
      dirs.push(b.dir);
      return b;
    },
    scratch() {
      const d = tempDir('tsbox-lifecycle-');
      dirs.push(d);
      return d;
    },
    track(id) {
      if (!ids.includes(id)) ids.push(id);
      return id;
    },
    cli(args) {
      return tsbox(['--root', root, ...args]);
    },
    spawn(args, stdio) {
      return spawnProc(process.execPath, [TSBOX, '--root', root, ...args], stdio);
    },
    async create(id, b, { flags = [], stdio, warning } = {}) {
      const p = lc.spawn(['create', '--bundle', b.dir, ...flags, id], stdio);
      const exit = await p.exited;
      if (exit.status !== 0) await Promise.race([p.stderr.end, new Promise((r) => setTimeout(r, 2000))]);
      // The init keeps create's stderr (the container's), so it never ends:
      // wait for the warning's line instead.
      if (warning !== undefined) await waitUntil('the warning', () => p.stderr.text.includes('\n'));
      const stderr = warning === undefined ? '' : `tsbox: warning: ${warning}\n`;
      expect({ ...exit, stderr: p.stderr.text }, `tsbox create ${id}`).toEqual({ status: 0, signal: null, stderr });
      return p;
    },
    async ok(args) {
      expect(await lc.cli(args), `tsbox ${args.join(' ')}`).toMatchObject({ status: 0, stdout: '', stderr: '' });
    },
    async state(id) {
      const r = await lc.cli(['state', id]);
      expect(r, `tsbox state ${id}`).toMatchObject({ status: 0, stderr: '' });
      return JSON.parse(r.stdout) as StateJson;
    },
    async waitForStatus(id, status, ms = 5000) {
      let last: StateJson | undefined;
      try {
        return await waitUntil(`container "${id}" to be ${status}`, async () => {
          last = await lc.state(id);
          return last.status === status && last;
        }, ms);
      } catch (err) {
        throw new Error(`${(err as Error).message}; last state: ${JSON.stringify(last)}`);
      }
    },
    tolerateZombieChild(pid) {
      zombies.add(pid);
    },
    stdinFifo() {
      const { fd } = heldFifo(lc.scratch());
      fds.push(fd);
      return {
        fd,
        write: (text) => void fs.writeSync(fd, text),
        close() {
          const i = fds.indexOf(fd);
          if (i >= 0) {
            fds.splice(i, 1);
            fs.closeSync(fd);
          }
        },
      };
    },
  };
  return lc;
}
