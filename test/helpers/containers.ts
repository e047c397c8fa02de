// Helpers for integration tests that run real containers through the library:
// a per-file session that tracks every bundle, container and host resource a
// test creates, removes them afterwards (pass or fail), and checks that the
// host's mount table and this process's children are as they were.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { loadBundle, parseSpec, type Bundle } from '../../lib/bundle.js';
import { run, type ExitStatus, type RunOptions, type RunningContainer } from '../../lib/run.js';
import { childPids, hostMounts, makeBundle, type BundleOptions, type TestBundle } from './bundle.js';

export interface Collected extends ExitStatus {
  stdout: string;
  stderr: string;
}

/** What the probe prints (the parts the tests look at). */
export interface ProbeMount {
  id: number;
  parent: number;
  root: string;
  target: string;
  fstype: string;
  source: string;
  options: string;
  superOptions: string;
  propagation: string;
}

export interface ProbeReport {
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  suid: number;
  sgid: number;
  groups: number[];
  umask: number;
  cwd: string | null;
  hostname: string;
  domainname: string;
  argv: string[];
  env: string[];
  rlimits: Record<string, { soft: number | 'unlimited'; hard: number | 'unlimited' }>;
  fds: number[];
  mounts: ProbeMount[];
  status: Record<string, string>;
  sigmask: string | null;
  sigignore: string | null;
  oomScoreAdj: number;
  namespaces: Record<string, string | null>;
  tty: boolean;
  ttyname: string | null;
}

/**
 * Reads a stream to its end. stream.finished() also settles for a stream
 * that ended before we got it (tsbox creates the pipe streams before run()
 * resolves, so an empty one may already have emitted 'end' and 'close').
 */
export async function readAll(stream: Readable | null): Promise<string> {
  if (!stream) return '';
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => (text += d));
  await finished(stream).catch(() => undefined);
  return text;
}

/** Polls until check() stops throwing or the deadline passes (then throws its error). */
export async function eventually(check: () => void, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The same bundle with a changed config (validated again), sharing the rootfs. */
export function variant(source: TestBundle | Bundle, mutate: (spec: any) => void): Bundle {
  const base = 'configPath' in source && 'spec' in source ? source : loadBundle(source.dir);
  const spec = structuredClone(base.spec) as any;
  mutate(spec);
  return { ...base, spec: parseSpec(JSON.stringify(spec), base.configPath) };
}

export interface CollectOptions {
  /** Written to the container's stdin, then closed; stdin is /dev/null without it. */
  input?: string | Buffer;
  run?: RunOptions;
}

export interface Session {
  /** A bundle removed after the test. */
  bundle(opts?: BundleOptions): TestBundle;
  /** A host temp dir removed after the test. */
  tempDir(prefix?: string): string;
  /** Registers a cleanup step run after the test (before the leak checks). */
  onCleanup(fn: () => void | Promise<void>): void;
  /** run(), tracking the container so that it is killed if the test leaves it running. */
  start(source: string | Bundle | TestBundle, options?: RunOptions): Promise<RunningContainer>;
  /** Runs to completion with piped stdio; returns the exit status and all output. */
  collect(source: string | Bundle | TestBundle, opts?: CollectOptions): Promise<Collected>;
  /** collect(), then the probe's JSON report (fails with the output unless it exited 0 with JSON). */
  probe(source: string | Bundle | TestBundle, opts?: CollectOptions): Promise<ProbeReport>;
}

function sourceOf(source: string | Bundle | TestBundle): string | Bundle {
  if (typeof source === 'string') return source;
  return 'spec' in source ? source : source.dir;
}

/**
 * Registers the hooks of a test file: call once at the top of a describe.
 * After each test: containers still running are killed and reaped, bundles
 * and temp dirs removed, then the host mount table must equal the one seen
 * before the file's first test, and this process must have the children it
 * had before the test.
 */
export function containerSession(): Session {
  const bundles: TestBundle[] = [];
  const cleanups: (() => void | Promise<void>)[] = [];
  const live = new Set<RunningContainer>();
  let mountsBefore: string[] = [];
  let childrenBefore: number[] = [];

  beforeAll(() => {
    mountsBefore = hostMounts();
  });
  beforeEach(() => {
    childrenBefore = childPids();
  });
  afterEach(async () => {
    const errors: unknown[] = [];
    for (const c of live) c.kill('SIGKILL');
    await Promise.all([...live].map((c) => c.exited.catch(() => undefined)));
    live.clear();
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    for (const b of bundles.splice(0)) {
      try {
        b.cleanup();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
    expect(hostMounts()).toEqual(mountsBefore);
    // The helper process is reaped asynchronously: give it a moment.
    await eventually(() => expect(childPids()).toEqual(childrenBefore));
  });
  afterAll(() => {
    expect(hostMounts()).toEqual(mountsBefore);
  });

  const session: Session = {
    bundle(opts) {
      const b = makeBundle(opts);
      bundles.push(b);
      return b;
    },
    tempDir(prefix = 'tsbox-host-') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      cleanups.push(() => {
        const real = fs.realpathSync(dir);
        const mounted = hostMounts().filter((m) => m === real || m.startsWith(real + '/'));
        if (mounted.length > 0) throw new Error(`refusing to remove ${dir}: mounts present: ${mounted.join(', ')}`);
        fs.rmSync(dir, { recursive: true, force: true });
      });
      return dir;
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
    async start(source, options) {
      const c = await run(sourceOf(source), options);
      live.add(c);
      void c.exited.then(
        () => live.delete(c),
        () => live.delete(c),
      );
      return c;
    },
    async collect(source, opts = {}) {
      const piped = opts.input !== undefined;
      const c = await session.start(source, { stdio: [piped ? 'pipe' : 'ignore', 'pipe', 'pipe'], ...opts.run });
      const out = readAll(c.stdout);
      const err = readAll(c.stderr);
      if (piped) {
        c.stdin!.on('error', () => {}); // EPIPE if the process does not read it all
        c.stdin!.end(opts.input);
      }
      const [status, stdout, stderr] = await Promise.all([c.exited, out, err]);
      return { ...status, stdout, stderr };
    },
    async probe(source, opts) {
      const r = await session.collect(source, opts);
      let report: ProbeReport | undefined;
      try {
        report = JSON.parse(r.stdout) as ProbeReport;
      } catch {
        // reported below
      }
      if (!report || r.status !== 0) {
        throw new Error(`probe failed (status ${r.status}): stdout ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`);
      }
      return report;
    },
  };
  return session;
}

/** This process's namespace of a kind, as /proc/self/ns/<kind> reads. */
export function hostNamespace(kind: string): string {
  return fs.readlinkSync(`/proc/self/ns/${kind}`);
}

/** The mount at a target in a probe report (the last one, i.e. the one on top). */
export function mountAt(report: ProbeReport, target: string): ProbeMount | undefined {
  return report.mounts.filter((m) => m.target === target).pop();
}
