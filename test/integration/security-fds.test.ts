// Attacks on what a container's process inherits from the runtime, from
// inside real containers:
// - host descriptors open while the process is executed (CVE-2024-21626
//   class): an entry point, an exec'd command or a cwd reached through
//   /proc/self/fd/N/../.. would walk from a descriptor of the runtime (a
//   cgroup directory, the host's /proc) onto the host. The attack's target
//   is a host binary (the escape fixture's "marker" mode) that, if it ever
//   runs, says so and appends to its own file on the host, as the reported
//   attack did;
// - the caller's session and process group: `kill -9 0` from inside must
//   not reach the runtime that started the container nor its process
//   group, and TIOCSTI must not type into the caller's terminal.
// The host side is checked after each attack: the marker file unchanged and
// never run, the caller and a sibling of its process group alive.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Bundle } from '../../lib/bundle.js';
import { run } from '../../lib/run.js';
import { Runtime } from '../../lib/runtime/runtime.js';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { readAll, variant } from '../helpers/containers.js';
import { isAlive, lifecycleSession, spawnProc } from '../helpers/lifecycle.js';
import { cgroupSession } from '../helpers/cgroups.js';
import { buildFixture, installFixture } from '../helpers/security.js';

/** The descriptors tried: every one a runtime could plausibly leave open. */
const FDS = Array.from({ length: 62 }, (_, i) => i + 3);

/**
 * Paths from descriptor n to `target` on the host: climbing from a
 * directory of the host's mount tree (a cgroup directory), and through
 * the host's pid 1 from a procfs of the host (whose mount pivot_root
 * detached: ".." stays at its root there).
 */
function through(n: number, target: string): string[] {
  const rel = target.replace(/^\//, '');
  return [`/proc/self/fd/${n}/${'../'.repeat(40)}${rel}`, `/proc/self/fd/${n}/1/root/${rel}`];
}

/** Every (descriptor, path) pair tried. */
function attacks(target: string): { n: number; path: string }[] {
  return FDS.flatMap((n) => through(n, target).map((p) => ({ n, path: p })));
}

/** Runs `fn` over `items`, `width` at a time (the CLI forms cost a few processes each). */
async function pool<T, R>(items: T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return out;
}

const MARKER_RAN = 'host marker ran';

/** An exec, create or start that failed to run the path, in one line: never the host binary. */
const refusedExec = (file: string) =>
  new RegExp(`^exec "${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}": (no such file or directory \\(ENOENT\\)|not a directory \\(ENOTDIR\\))$`);

describe.skipIf(!isRoot)('host descriptors while the container\'s process is executed (CVE-2024-21626 class)', () => {
  // With cgroups: the cgroup2 directory the helper opens is one of the
  // descriptors an attack looks for.
  const cg = cgroupSession();
  const lc = cg.lc;
  // One unique name per test (the session looks for what is left of it
  // after the test), one cgroup per container under it.
  let token = '';
  let serial = 0;
  beforeEach(() => {
    token = cg.name();
    serial = 0;
  });
  const cgroupsPath = () => `${token}-${serial++}`;

  /** The host binary an attack aims at: the escape fixture in a host directory. */
  function hostMarker(): { file: string; unchanged(): void } {
    const file = path.join(lc.scratch(), 'marker');
    fs.copyFileSync(buildFixture('escape'), file);
    fs.chmodSync(file, 0o755);
    const before = fs.readFileSync(file);
    return {
      file,
      unchanged: () => expect(fs.readFileSync(file).equals(before), `host file ${file} unchanged`).toBe(true),
    };
  }

  function escapeBundle(args: string[] = ['/bin/escape', 'fds'], mutate?: (c: any) => void): TestBundle {
    const b = lc.bundle({
      args,
      mutate: (c) => {
        c.linux.cgroupsPath = cgroupsPath();
        mutate?.(c);
      },
    });
    installFixture(b.rootfs, 'escape');
    return b;
  }

  /** A library run's variant of a bundle, in cgroups of its own. */
  function libraryVariant(b: TestBundle, mutate: (spec: any) => void): Bundle {
    return variant(b, (spec) => {
      spec.linux.cgroupsPath = cgroupsPath();
      mutate(spec);
    });
  }

  /** A bundle directory for the CLI: a variant of b's config, in cgroups of its own, on b's rootfs. */
  function cliVariant(b: TestBundle, mutate: (c: any) => void): string {
    const dir = lc.scratch();
    const config = structuredClone(b.config);
    config.root.path = b.rootfs;
    config.linux.cgroupsPath = cgroupsPath();
    mutate(config);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  }

  /** The library's run to the end: its output, or the error it was refused with. */
  async function libraryRun(bundle: Bundle | string): Promise<string> {
    try {
      const c = await run(bundle, { stdio: ['ignore', 'pipe', 'pipe'] });
      const [out, err, status] = await Promise.all([readAll(c.stdout), readAll(c.stderr), c.exited]);
      return `ran (status ${status.status}): ${out}${err}`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /**
   * `tsbox run`, or create then start, to the end and removed (many run at
   * once: the session's removal one by one after the test would take too
   * long; it still removes and reports whatever is left): stdout and the
   * error line without "tsbox: ".
   */
  async function cliRun(form: 'run' | 'create+start', dir: string, id: string): Promise<string> {
    if (form === 'run') {
      const r = await lc.cli(['run', '--bundle', dir, id]);
      return r.status === 0 ? `ran: ${r.stdout}` : `${r.stdout}${r.stderr.replace(/^tsbox: /, '').trimEnd()}`;
    }
    const create = lc.spawn(['create', '--bundle', dir, id]);
    const created = await create.exited;
    if (created.status !== 0) return (await create.stderr.end).replace(/^tsbox: /, '').trimEnd();
    const start = await lc.cli(['start', id]);
    expect(await lc.cli(['delete', '--force', id])).toMatchObject({ status: 0, stderr: '' });
    const out = await create.stdout.end;
    return start.status === 0 ? `ran: ${out}` : `${out}${start.stderr.replace(/^tsbox: /, '').trimEnd()}`;
  }

  it('the entry point a symlink through /proc/self/fd/N (N = 3..64), library run: refused, the host binary never runs', async () => {
    const marker = hostMarker();
    const b = escapeBundle(['/sh', 'marker']);
    const outcomes: string[] = [];
    for (const a of attacks(marker.file)) {
      fs.rmSync(path.join(b.rootfs, 'sh'), { force: true });
      fs.symlinkSync(a.path, path.join(b.rootfs, 'sh'));
      outcomes.push(await libraryRun(libraryVariant(b, () => {})));
    }
    expect(outcomes.filter((o) => o.includes(MARKER_RAN))).toEqual([]);
    for (const o of outcomes) expect(o).toMatch(refusedExec('/sh'));
    marker.unchanged();
  }, 120_000);

  for (const form of ['run', 'create+start'] as const) {
    it(`the entry point through /proc/self/fd/N (N = 3..64), CLI ${form}: refused, the host binary never runs`, async () => {
      const marker = hostMarker();
      const b = escapeBundle();
      const outcomes = await pool(attacks(marker.file), 4, async (a, i) => {
        const dir = cliVariant(b, (c) => (c.process.args = [a.path, 'marker']));
        return { n: a.n, outcome: await cliRun(form, dir, `entry-${i}`), entry: a.path };
      });
      expect(outcomes.filter((o) => o.outcome.includes(MARKER_RAN))).toEqual([]);
      for (const o of outcomes) expect(o.outcome).toMatch(refusedExec(o.entry));
      marker.unchanged();
    }, 300_000);
  }

  it('a startContainer hook through /proc/self/fd/N (N = 3..64), library run and CLI create+start: refused, the host binary never runs', async () => {
    // Run by the init inside the container just before the process, after
    // `start` has connected: its path is resolved there too.
    const marker = hostMarker();
    const b = escapeBundle();
    const withHook = (c: any, hook: string) => (c.hooks = { startContainer: [{ path: hook, args: ['marker', 'marker'] }] });
    const refusedHook = (hook: string) => new RegExp(`^startContainer hook "${hook.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}": could not be executed$`);
    const tried = attacks(marker.file);
    const library: string[] = [];
    for (const a of tried) library.push(await libraryRun(libraryVariant(b, (spec) => withHook(spec, a.path))));
    const cli = await pool(tried, 4, (a, i) => cliRun('create+start', cliVariant(b, (c) => withHook(c, a.path)), `hook-${i}`));
    marker.unchanged();
    for (const [i, o] of library.entries()) expect(o, 'library run').toMatch(refusedHook(tried[i]!.path));
    for (const [i, o] of cli.entries()) expect(o, 'create+start').toMatch(refusedHook(tried[i]!.path));
  }, 300_000);

  it('an exec\'d command through /proc/self/fd/N (N = 3..64), `tsbox exec` and Runtime.exec: refused, the host binary never runs', async () => {
    const marker = hostMarker();
    const b = escapeBundle(['sleep', '100']);
    cg.track('target');
    expect(await lc.cli(['run', '-d', '--bundle', b.dir, 'target'])).toMatchObject({ status: 0, stderr: '' });
    const rt = new Runtime({ root: lc.root });
    const cli: string[] = [];
    const library: string[] = [];
    const tried = attacks(marker.file);
    for (const { path: command } of tried) {
      const r = await lc.cli(['exec', 'target', command, 'marker']);
      cli.push(`${r.stdout}${r.stderr.replace(/^tsbox: /, '').trimEnd()}`);
      library.push(
        await rt.exec('target', (p) => ({ ...p, args: [command, 'marker'] }), { stdio: ['ignore', 'pipe', 'pipe'] }).then(
          async (c) => `ran (status ${(await c.exited).status}): ${await readAll(c.stdout)}`,
          (err: Error) => err.message,
        ),
      );
    }
    for (const [i, o] of cli.entries()) expect(o, 'tsbox exec').toMatch(refusedExec(tried[i]!.path));
    for (const [i, o] of library.entries()) expect(o, 'Runtime.exec').toMatch(refusedExec(tried[i]!.path));
    marker.unchanged();
  }, 300_000);

  it('process.cwd through /proc/self/fd/N (N = 3..64), library and CLI run, create+start, exec: refused or inside the container, nothing written on the host', async () => {
    const marker = hostMarker();
    const hostDir = path.dirname(marker.file);
    const script = 'echo pwned >> marker; pwd';
    const tried = attacks(hostDir);
    // A cwd the config names is made in the rootfs, resolved there
    // (RESOLVE_IN_ROOT: ".." stops at its root, and /proc is not mounted
    // yet): the climbing form then is a directory of the container's, and
    // the process runs there. exec --cwd is taken as a path and normalized
    // (no ".." is left to climb). Anything else is refused.
    const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const allowed = (cwd: string) =>
      new RegExp(
        `^((create directory|chdir) "(${escaped(cwd)}|${escaped(path.posix.normalize(cwd))})": (no such file or directory \\(ENOENT\\)|not a directory \\(ENOTDIR\\)|too many levels of symbolic links \\(ELOOP\\)|working directory is outside the container)|(ran( \\(status 0\\))?: )?${escaped(hostDir)})$`,
      );
    const b = escapeBundle(['sh', '-c', script]);
    const outcomes: { cwd: string; how: string; outcome: string }[] = [];
    for (const { path: cwd } of tried) {
      outcomes.push({ cwd, how: 'library run', outcome: await libraryRun(libraryVariant(b, (spec) => (spec.process.cwd = cwd))) });
    }
    for (const form of ['run', 'create+start'] as const) {
      outcomes.push(
        ...(await pool(tried, 4, async ({ path: cwd }, i) => {
          const dir = cliVariant(b, (c) => (c.process.cwd = cwd));
          return { cwd, how: form, outcome: await cliRun(form, dir, `cwd-${form === 'run' ? 'r' : 'c'}-${i}`) };
        })),
      );
    }
    cg.track('target');
    expect(await lc.cli(['run', '-d', '--bundle', escapeBundle(['sleep', '100']).dir, 'target'])).toMatchObject({ status: 0, stderr: '' });
    for (const { path: cwd } of tried) {
      const r = await lc.cli(['exec', '--cwd', cwd, 'target', 'sh', '-c', script]);
      outcomes.push({ cwd, how: 'exec', outcome: `${r.stdout}${r.stderr.replace(/^tsbox: /, '')}` });
    }
    marker.unchanged();
    expect(fs.readdirSync(hostDir)).toEqual(['marker']);
    for (const o of outcomes) expect(o.outcome.trimEnd(), `${o.how}, cwd ${o.cwd}`).toMatch(allowed(o.cwd));
    // Those that ran wrote inside the container.
    const ran = outcomes.filter((o) => !/^(create directory|chdir) /.test(o.outcome)).length;
    const inside = path.join(b.rootfs, hostDir, 'marker');
    expect(ran === 0 ? '' : fs.readFileSync(inside, 'utf8')).toBe('pwned\n'.repeat(ran));
  }, 300_000);

  it('an executable named by path is looked up (after the descriptors are closed) before the init waits: `create` reports a missing one in one line and leaves nothing', async () => {
    const b = escapeBundle(['/bin/nope']);
    const create = lc.spawn(['create', '--bundle', b.dir, 'nope']);
    expect(await create.exited).toEqual({ status: 1, signal: null });
    expect(await create.stderr.end).toBe('tsbox: exec "/bin/nope": no such file or directory (ENOENT)\n');
    expect(fs.existsSync(path.join(lc.root, 'nope'))).toBe(false);
  });

  /** What the escape fixture's "fds" mode saw. */
  interface FdReport {
    pid: number;
    sid: number;
    pgid: number;
    fds: { fd: number; target: string }[];
  }

  function expectOnly(report: FdReport, preserved: number[], what: string): void {
    expect(report.fds.map((f) => f.fd), `${what}: ${JSON.stringify(report.fds)}`).toEqual([0, 1, 2, ...preserved]);
  }

  it('from inside: the process has only 0, 1, 2 and the preserved descriptors (library run, CLI run, create+start, `tsbox exec`, Runtime.exec)', async () => {
    const b = escapeBundle();
    const extra = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r')];
    try {
      const c = await run(b.dir, { stdio: ['ignore', 'pipe', 'pipe'], extraFds: extra });
      const [out] = await Promise.all([readAll(c.stdout), c.exited]);
      expectOnly(JSON.parse(out) as FdReport, [3, 4], 'library run with two extra descriptors');
    } finally {
      for (const fd of extra) fs.closeSync(fd);
    }
    cg.track('cli-run');
    const r = await lc.cli(['run', '--bundle', b.dir, 'cli-run']);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expectOnly(JSON.parse(r.stdout) as FdReport, [], 'CLI run');

    cg.track('created');
    const create = lc.spawn(['create', '--preserve-fds', '1', '--bundle', b.dir, 'created'], ['ignore', 'pipe', 'pipe', 'ignore']);
    expect(await create.exited).toEqual({ status: 0, signal: null });
    await lc.ok(['start', 'created']);
    expectOnly(JSON.parse(await create.stdout.end) as FdReport, [3], 'create --preserve-fds 1 + start');

    const sleeper = escapeBundle(['sleep', '100']);
    cg.track('target');
    expect(await lc.cli(['run', '-d', '--bundle', sleeper.dir, 'target'])).toMatchObject({ status: 0, stderr: '' });
    const e = await lc.cli(['exec', 'target', '/bin/escape', 'fds']);
    expect(e).toMatchObject({ status: 0, stderr: '' });
    expectOnly(JSON.parse(e.stdout) as FdReport, [], 'tsbox exec');
    const preserved = lc.spawn(['exec', '--preserve-fds', '2', 'target', '/bin/escape', 'fds'], ['ignore', 'pipe', 'pipe', 'ignore', 'ignore']);
    expect(await preserved.exited).toEqual({ status: 0, signal: null });
    expectOnly(JSON.parse(await preserved.stdout.end) as FdReport, [3, 4], 'tsbox exec --preserve-fds 2');
    const rt = new Runtime({ root: lc.root });
    const lib = await rt.exec('target', (p) => ({ ...p, args: ['/bin/escape', 'fds'] }), { stdio: ['ignore', 'pipe', 'pipe'] });
    const [libOut] = await Promise.all([readAll(lib.stdout), lib.exited]);
    expectOnly(JSON.parse(libOut) as FdReport, [], 'Runtime.exec');
  });
});

describe.skipIf(!isRoot)('the container\'s own session', () => {
  const lc = lifecycleSession();

  function escapeBundle(args: string[], mutate?: (c: any) => void): TestBundle {
    const b = lc.bundle({ args, ...(mutate && { mutate }) });
    installFixture(b.rootfs, 'escape');
    return b;
  }

  const sharedPidNamespace = (c: any) => {
    c.linux.namespaces = c.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'pid');
  };

  const tsboxCommand = () => `'${process.execPath}' '${TSBOX}' --root '${lc.root}'`;

  /**
   * Runs `script` as the caller: a shell leading a process group of its own
   * (setsid), with a sibling (sleep) in that group. The script's last word
   * is "survived" if the shell lived through it. Returns the output and
   * whether the sibling is still alive (then stopped, by its pid).
   */
  async function asCaller(script: string): Promise<{ status: number | null; stdout: string; sibling: boolean; callerPid: number }> {
    const p = spawnProc('setsid', ['sh', '-c', `sleep 60 & echo "sibling=$!"; ${script}; echo "survived"; exec sleep 60`]);
    const callerPid = p.child.pid!;
    const text = await Promise.race([
      p.stdout.waitFor('survived', 20_000).catch(() => p.stdout.text),
      p.exited.then(() => p.stdout.end),
    ]);
    const siblingPid = Number(/sibling=(\d+)/.exec(text)?.[1]);
    const sibling = siblingPid > 0 && isAlive(siblingPid);
    const alive = isAlive(callerPid);
    if (sibling) process.kill(siblingPid, 'SIGKILL');
    if (alive) process.kill(callerPid, 'SIGKILL');
    const status = (await p.exited).status;
    return { status, stdout: text, sibling, callerPid: alive ? callerPid : -1 };
  }

  /** The fixture's session line: the process leads a session and a process group of its own. */
  function expectOwnSession(stdout: string, pid: number | 'any'): void {
    const m = /session sid=(-?\d+) pgid=(-?\d+)/.exec(stdout);
    expect(m, stdout).not.toBeNull();
    expect(Number(m![1]), `session of ${stdout}`).toBe(Number(m![2]));
    if (pid !== 'any') expect(Number(m![1])).toBe(pid);
    // getsid of a session led outside its pid namespace reads 0.
    expect(Number(m![1])).toBeGreaterThan(0);
  }

  for (const [name, mutate] of [
    ['own pid namespace', undefined],
    ['the host\'s pid namespace', sharedPidNamespace],
  ] as const) {
    it(`kill -9 0 from inside (${name}): foreground run, run -d, create+start; the caller and its process group survive`, async () => {
      const b = escapeBundle(['/bin/escape', 'kill', '0'], mutate);
      const fg = await asCaller(`${tsboxCommand()} run --bundle '${b.dir}' fg; echo "run=$?"`);
      lc.track('fg');
      // Alone in its process group, the container's process kills only
      // itself; as the init of its own pid namespace even that is ignored.
      expect(fg.stdout).toMatch(mutate ? /run=137\nsurvived\n/ : /run=0\nsurvived\n/);
      expect(fg.sibling).toBe(true);
      expectOwnSession(fg.stdout, mutate ? 'any' : 1);

      lc.track('bg');
      const bg = await asCaller(`${tsboxCommand()} run -d --bundle '${b.dir}' bg; until ${tsboxCommand()} state bg | grep -q '"stopped"'; do sleep 0.05; done`);
      expect(bg.stdout).toMatch(/survived\n$/);
      expect(bg.sibling).toBe(true);
      expectOwnSession(bg.stdout, mutate ? 'any' : 1);

      lc.track('cs');
      const cs = await asCaller(
        `${tsboxCommand()} create --bundle '${b.dir}' cs && ${tsboxCommand()} start cs; until ${tsboxCommand()} state cs | grep -q '"stopped"'; do sleep 0.05; done`,
      );
      expect(cs.stdout).toMatch(/survived\n$/);
      expect(cs.sibling).toBe(true);
      expectOwnSession(cs.stdout, mutate ? 'any' : 1);
    });

    it(`kill -9 0 from an exec'd process (${name}): \`tsbox exec\` and its process group survive`, async () => {
      const b = escapeBundle(['sleep', '100'], mutate);
      lc.track('target');
      expect(await lc.cli(['run', '-d', '--bundle', b.dir, 'target'])).toMatchObject({ status: 0, stderr: '' });
      const r = await asCaller(`${tsboxCommand()} exec target /bin/escape kill 0; echo "exec=$?"`);
      expect(r.stdout).toMatch(/exec=137\nsurvived\n/);
      expect(r.sibling).toBe(true);
      expectOwnSession(r.stdout, 'any');
      expect((await lc.state('target')).status).toBe('running');
    });
  }

  it('kill -9 -1 from inside its own pid namespace: reaches only the container, the caller and its group survive', async () => {
    // (In the host's pid namespace, root's kill -1 reaches every process of
    // the host whatever the session: not something to try on a shared machine.)
    // The sleep shows that the kill reached what it could: the container's processes.
    const b = escapeBundle(['sh', '-c', 'sleep 100 & /bin/escape kill -1; wait $!; echo "sleep=$?"']);
    lc.track('all');
    const r = await asCaller(`${tsboxCommand()} run --bundle '${b.dir}' all; echo "run=$?"`);
    expect(r.stdout).toMatch(/sleep=137\nrun=0\nsurvived\n/);
    expect(r.sibling).toBe(true);
  });

  it('TIOCSTI from a container without a terminal, run on the caller\'s terminal: refused, nothing typed into the caller\'s shell', async () => {
    const legacy = fs.readFileSync('/proc/sys/dev/tty/legacy_tiocsti', 'utf8').trim();
    const b = escapeBundle(['/bin/escape', 'tiocsti', 'echo INJECTED\n'], (c) => {
      // Docker's default set: without CAP_SYS_ADMIN, which may push input into any terminal.
      const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    });
    lc.track('sti');
    // The caller: a shell on a new terminal (its session leader), which
    // reads one line from the terminal after tsbox returns.
    const shell = `${tsboxCommand()} run --bundle '${b.dir}' sti; echo "run=$?"; read -t 1 line; echo "after:[$line]"`;
    const py = [
      'import os, pty, sys',
      'pid, fd = pty.fork()',
      'if pid == 0:',
      '    os.execvp("bash", ["bash", "-c", sys.argv[1]])',
      'out = b""',
      'while True:',
      '    try:',
      '        chunk = os.read(fd, 4096)',
      '    except OSError:',
      '        break',
      '    if not chunk:',
      '        break',
      '    out += chunk',
      'os.waitpid(pid, 0)',
      'sys.stdout.write(out.decode("utf-8", "replace"))',
    ].join('\n');
    const child = spawn('python3', ['-c', py, shell], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [out, err] = await Promise.all([readAll(child.stdout), readAll(child.stderr)]);
    await new Promise((r) => child.once('close', r));
    const text = out.replace(/\r/g, '');
    expect(err).toBe('');
    expect(text).toMatch(/run=0\n/);
    // With dev.tty.legacy_tiocsti=0 the kernel refuses it to everyone
    // without CAP_SYS_ADMIN (EIO); otherwise only the session check stops it (EPERM).
    expect(text).toMatch(legacy === '0' ? /tiocsti fd0 EIO\n/ : /tiocsti fd0 EPERM\n/);
    expect(text).not.toMatch(/tiocsti tty OK/);
    expect(text).toMatch(/after:\[\]\n/);
    expect(text).not.toContain('INJECTED');
    expectOwnSession(text, 1);
  });

  it('the library\'s run and Runtime.exec: the process leads its own session and process group', async () => {
    // Seen from inside only: a kill -9 0 through the library would reach
    // the test process itself if it failed.
    const b = escapeBundle(['/bin/escape', 'fds'], sharedPidNamespace);
    const c = await run(b.dir, { stdio: ['ignore', 'pipe', 'pipe'] });
    const [out] = await Promise.all([readAll(c.stdout), c.exited]);
    const report = JSON.parse(out) as { pid: number; sid: number; pgid: number };
    expect(report).toMatchObject({ pid: c.pid, sid: c.pid, pgid: c.pid });
    lc.track('target');
    expect(await lc.cli(['run', '-d', '--bundle', escapeBundle(['sleep', '100'], sharedPidNamespace).dir, 'target'])).toMatchObject({ status: 0, stderr: '' });
    const rt = new Runtime({ root: lc.root });
    const e = await rt.exec('target', (p) => ({ ...p, args: ['/bin/escape', 'fds'] }), { stdio: ['ignore', 'pipe', 'pipe'] });
    const [execOut] = await Promise.all([readAll(e.stdout), e.exited]);
    expect(JSON.parse(execOut)).toMatchObject({ pid: e.pid, sid: e.pid, pgid: e.pid });
  });
});
