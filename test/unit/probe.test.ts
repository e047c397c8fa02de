// Checks the test fixtures themselves: the probe program run directly on the
// host (no container), and the bundle builder.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProbe, childPids, hostMounts, isRoot, makeBundle, processesUnder } from '../helpers/bundle.js';

let probe: string;

beforeAll(() => {
  probe = buildProbe();
});

function runProbe(args: string[] = [], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): any {
  const out = execFileSync(probe, args, { encoding: 'utf8', ...opts });
  return JSON.parse(out);
}

describe('probe', () => {
  it('is built once and cached', () => {
    expect(buildProbe()).toBe(probe);
    expect(fs.statSync(probe).mode & 0o111).not.toBe(0);
  });

  it('reports identity, cwd, hostname and env matching the host', () => {
    const cwd = fs.realpathSync(os.tmpdir());
    const r = runProbe([], { cwd, env: { ...process.env, PROBE_MARK: 'a "quoted"\\ value\t!' } });
    expect(r.pid).toBeGreaterThan(1);
    expect(r.ppid).toBe(process.pid);
    expect(r.uid).toBe(process.getuid!());
    expect(r.gid).toBe(process.getgid!());
    expect(r.euid).toBe(process.geteuid!());
    expect(r.suid).toBe(process.getuid!());
    expect(r.sgid).toBe(process.getgid!());
    expect(Array.isArray(r.groups)).toBe(true);
    expect(r.cwd).toBe(cwd);
    expect(r.hostname).toBe(os.hostname());
    expect(typeof r.domainname).toBe('string');
    expect(r.argv).toEqual([probe]);
    expect(r.env).toContain('PROBE_MARK=a "quoted"\\ value\t!');
    expect(typeof r.umask).toBe('number');
  });

  it('passes argv through and escapes control characters', () => {
    const r = runProbe(['probe', 'x\ny', '\u0001']);
    expect(r.argv).toEqual([probe, 'probe', 'x\ny', '\u0001']);
  });

  it('reports rlimits with "unlimited" for RLIM_INFINITY', () => {
    const r = runProbe();
    const names = ['NOFILE', 'NPROC', 'CORE', 'STACK', 'AS', 'CPU', 'DATA', 'FSIZE', 'LOCKS',
      'MEMLOCK', 'MSGQUEUE', 'NICE', 'RSS', 'RTPRIO', 'RTTIME', 'SIGPENDING'];
    expect(Object.keys(r.rlimits).sort()).toEqual([...names].sort());
    for (const n of names) {
      for (const v of [r.rlimits[n].soft, r.rlimits[n].hard]) {
        expect(v === 'unlimited' || (typeof v === 'number' && v >= 0)).toBe(true);
      }
    }
    expect(r.rlimits.NOFILE.soft).toBeTypeOf('number');
  });

  it('reports fds, mounts, status, namespaces and tty', () => {
    const r = runProbe();
    expect(r.fds).toEqual(expect.arrayContaining([0, 1, 2]));
    expect(r.mounts.length).toBe(hostMounts().length);
    expect(r.mounts.map((m: any) => m.target)).toEqual(hostMounts());
    const root = r.mounts.find((m: any) => m.target === '/');
    expect(root).toBeDefined();
    for (const m of r.mounts) {
      expect(m).toEqual({
        id: expect.any(Number), parent: expect.any(Number), root: expect.any(String),
        target: expect.any(String), fstype: expect.any(String), source: expect.any(String),
        options: expect.any(String), superOptions: expect.any(String), propagation: expect.any(String),
      });
      expect(m.options).toMatch(/^r[ow]/);
    }
    const proc = r.mounts.find((m: any) => m.target === '/proc');
    expect(proc?.fstype).toBe('proc');

    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(r.status[k]).toMatch(/^[0-9a-f]{16}$/);
    expect(r.status.NoNewPrivs).toBe('0');
    expect(r.status.Seccomp).toMatch(/^\d$/);
    expect(r.sigmask).toMatch(/^[0-9a-f]{16}$/);
    expect(r.sigignore).toMatch(/^[0-9a-f]{16}$/);
    expect(Number.isInteger(r.oomScoreAdj)).toBe(true);

    expect(r.namespaces.pid).toBe(fs.readlinkSync('/proc/self/ns/pid'));
    expect(r.namespaces.mnt).toBe(fs.readlinkSync('/proc/self/ns/mnt'));
    expect(Object.keys(r.namespaces).sort()).toEqual(
      ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts']);
    expect(r.tty).toBe(false); // execFileSync gives a pipe on stdin
    expect(r.ttyname).toBeNull();
  });

  it('sleep N prints the report afterwards', () => {
    const r = runProbe(['sleep', '0']);
    expect(r.argv).toEqual([probe, 'sleep', '0']);
  });

  it('exit N exits with N and prints nothing', () => {
    const res = spawnSync(probe, ['exit', '7'], { encoding: 'utf8' });
    expect(res.status).toBe(7);
    expect(res.stdout).toBe('');
  });

  it('kill SIG dies by that signal', () => {
    const res = spawnSync(probe, ['kill', '15'], { encoding: 'utf8' });
    expect(res.signal).toBe('SIGTERM');
  });

  it('cat echoes stdin', () => {
    const input = 'hello\nworld\u0000\n'.repeat(10000);
    expect(execFileSync(probe, ['cat'], { input, encoding: 'utf8' })).toBe(input);
  });

  it('write and open report success and errno', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-probe-'));
    try {
      const file = path.join(dir, 'f.txt');
      expect(runProbe(['write', file, 'some text'])).toEqual({ ok: true });
      expect(fs.readFileSync(file, 'utf8')).toBe('some text');
      expect(runProbe(['open', file, 'r'])).toEqual({ ok: true });
      expect(runProbe(['open', file, 'rw'])).toEqual({ ok: true });
      const missing = runProbe(['write', path.join(dir, 'nope', 'f'), 'x']);
      expect(missing).toEqual({ ok: false, errno: os.constants.errno.ENOENT, error: expect.any(String) });
      expect(runProbe(['open', path.join(dir, 'nope'), 'w']).errno).toBe(os.constants.errno.ENOENT);
      expect(runProbe(['open', file, 'bogus']).errno).toBe(os.constants.errno.EINVAL);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('signals reports each signal and exits 0 on TERM', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(probe, ['signals'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let wake = () => {};
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); wake(); });
    const waitFor = async (text: string) => {
      while (!out.includes(text)) await new Promise<void>((resolve) => { wake = resolve; });
    };
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('ready\n');
    expect(childPids()).toContain(child.pid);
    child.kill('SIGUSR1');
    await waitFor('signal 10\n');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toBe('ready\nsignal 10\nsignal 15\n');
  });

  it('rejects unknown commands', () => {
    const res = spawnSync(probe, ['frobnicate'], { encoding: 'utf8' });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/unknown/);
  });
});

describe('makeBundle', () => {
  it('creates a busybox rootfs with probe and a parseable config', () => {
    const b = makeBundle({ mutate: (c) => { c.hostname = 'mutated'; } });
    try {
      expect(fs.lstatSync(path.join(b.rootfs, 'bin', 'sh')).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(path.join(b.rootfs, 'bin', 'sh'))).toBe('busybox');
      expect(fs.statSync(path.join(b.rootfs, 'bin', 'busybox')).isFile()).toBe(true);
      expect(fs.statSync(path.join(b.rootfs, 'bin', 'probe')).mode & 0o111).not.toBe(0);
      expect(fs.statSync(path.join(b.rootfs, 'root')).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(b.rootfs, 'tmp')).mode & 0o7777).toBe(0o1777);
      for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp']) {
        expect(fs.statSync(path.join(b.rootfs, d)).isDirectory()).toBe(true);
      }
      expect(fs.readFileSync(path.join(b.rootfs, 'etc', 'passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
      expect(fs.readFileSync(path.join(b.rootfs, 'etc', 'group'), 'utf8')).toMatch(/^tty:x:5:$/m);

      const cfg = JSON.parse(fs.readFileSync(b.configPath, 'utf8'));
      expect(cfg).toEqual(b.config);
      expect(cfg.hostname).toBe('mutated');
      expect(cfg.process.args).toEqual(['/bin/probe']);
      expect(cfg.root).toEqual({ path: 'rootfs', readonly: false });
      expect(cfg.mounts.map((m: any) => m.destination)).toEqual(
        ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']);

      b.config.process.args = ['/bin/sh'];
      b.write();
      expect(JSON.parse(fs.readFileSync(b.configPath, 'utf8')).process.args).toEqual(['/bin/sh']);
    } finally {
      b.cleanup();
    }
    expect(fs.existsSync(b.dir)).toBe(false);
    b.cleanup(); // idempotent
  });

  it('honours args and withProbe: false', () => {
    const b = makeBundle({ args: ['/bin/true'], withProbe: false });
    try {
      expect(b.config.process.args).toEqual(['/bin/true']);
      expect(fs.existsSync(path.join(b.rootfs, 'bin', 'probe'))).toBe(false);
      expect(fs.existsSync(path.join(b.rootfs, 'bin', 'true'))).toBe(true);
    } finally {
      b.cleanup();
    }
  });

  it('bundles are independent: writing a file does not leak into the next', () => {
    const a = makeBundle();
    const b = makeBundle();
    try {
      fs.writeFileSync(path.join(a.rootfs, 'etc', 'passwd'), 'changed\n');
      expect(fs.readFileSync(path.join(b.rootfs, 'etc', 'passwd'), 'utf8')).toMatch(/^root:/);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it('finds processes whose cwd is under the bundle', async () => {
    const b = makeBundle();
    const { spawn } = await import('node:child_process');
    const child = spawn(path.join(b.rootfs, 'bin', 'probe'), ['signals'], { cwd: b.rootfs, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => child.stdout.once('data', r));
      expect(processesUnder(b.dir)).toEqual([child.pid]);
    } finally {
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      await exited;
      b.cleanup();
    }
    expect(processesUnder(b.dir)).toEqual([]);
  });

  it.skipIf(!isRoot)('cleanup refuses to delete through a live mount', () => {
    const b = makeBundle();
    const target = path.join(b.rootfs, 'tmp');
    execFileSync('mount', ['-t', 'tmpfs', 'tsbox-test', target]);
    try {
      fs.writeFileSync(path.join(target, 'precious'), 'x');
      expect(hostMounts()).toContain(fs.realpathSync(target));
      expect(() => b.cleanup()).toThrow(/mounts still present/);
      expect(fs.existsSync(path.join(target, 'precious'))).toBe(true);
    } finally {
      execFileSync('umount', [target]);
    }
    b.cleanup();
    expect(fs.existsSync(b.dir)).toBe(false);
  });

  it('is fast (timing logged, not asserted)', () => {
    makeBundle().cleanup(); // warm the template and probe caches
    const n = 50;
    const bundles = [];
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) bundles.push(makeBundle());
    const t1 = process.hrtime.bigint();
    for (const b of bundles) b.cleanup();
    const t2 = process.hrtime.bigint();
    console.log(`makeBundle: ${(Number(t1 - t0) / 1e6 / n).toFixed(2)} ms/bundle, ` +
      `cleanup: ${(Number(t2 - t1) / 1e6 / n).toFixed(2)} ms/bundle`);
  });
});
