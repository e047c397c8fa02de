// Attacks by a hostile bundle on the host: symlinks planted in the rootfs
// where the runtime mounts, masks or binds the console, a cwd through a
// leaked descriptor, descriptors leaked into the container, and /proc
// writes redirected by what the config mounts. Each test runs a real
// container (the library's run(), or the CLI), then checks what the
// container saw and that the host is unchanged: the host directories the
// symlinks point at, the host's mount table and this process's children
// (the session's checks after every test).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../lib/run.js';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { containerSession, readAll } from '../helpers/containers.js';
import { tsbox } from '../helpers/cli.js';
import { lifecycleSession } from '../helpers/lifecycle.js';
import { snapshot } from '../helpers/security.js';

/** The test config without the /dev tmpfs and the mounts inside it: the rootfs's own /dev is used. */
function withoutDevMounts(c: any): void {
  c.mounts = c.mounts.filter((m: { destination: string }) => !m.destination.startsWith('/dev'));
}

/** A path from the rootfs that climbs out with "..", to `target`. */
function climbing(target: string): string {
  return '../'.repeat(12) + target.replace(/^\//, '');
}

describe.skipIf(!isRoot)('attacks by a hostile rootfs or config', () => {
  const s = containerSession();

  /** A host directory with one file; returns it and a check that it is unchanged. */
  function hostDir(): { dir: string; unchanged(): void } {
    const dir = s.tempDir('tsbox-victim-');
    fs.writeFileSync(path.join(dir, 'canary'), 'host\n');
    const before = snapshot(dir);
    return { dir, unchanged: () => expect(snapshot(dir), `host directory ${dir}`).toEqual(before) };
  }

  async function sh(b: TestBundle, script: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
    b.config.process.args = ['sh', '-c', script];
    b.write();
    return s.collect(b);
  }

  describe('a mount destination that is a symlink to a host directory (CVE-2021-30465 class)', () => {
    for (const form of ['absolute', 'climbing ../']) {
      it(`${form}: the mount lands on the link's target inside the rootfs, the host directory is unchanged`, async () => {
        const victim = hostDir();
        const source = hostDir();
        const b = s.bundle();
        const link = form === 'absolute' ? victim.dir : climbing(victim.dir);
        fs.symlinkSync(link, path.join(b.rootfs, 'evil-tmpfs'));
        fs.symlinkSync(link, path.join(b.rootfs, 'evil-bind'));
        // The target as the container resolves the link: inside its root.
        fs.mkdirSync(path.join(b.rootfs, victim.dir), { recursive: true });
        b.config.mounts.push({ destination: '/evil-tmpfs', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
        b.config.mounts.push({ destination: '/evil-bind', type: 'bind', source: source.dir, options: ['rbind'] });
        const r = await sh(b, `echo pwned > /evil-bind/y; ls /evil-bind; grep -c " ${victim.dir} " /proc/self/mountinfo`);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        // Both mounts are on the link's target as resolved inside the rootfs
        // (the bind on top, so the tmpfs under it is not seen).
        expect(r.stdout).toBe('canary\ny\n2\n');
        victim.unchanged();
        expect(fs.readFileSync(path.join(source.dir, 'y'), 'utf8')).toBe('pwned\n');
      });

      it(`${form}, dangling inside the rootfs: the mount fails clearly, nothing is made on the host`, async () => {
        const victim = hostDir();
        const b = s.bundle();
        fs.symlinkSync(form === 'absolute' ? victim.dir : climbing(victim.dir), path.join(b.rootfs, 'evil'));
        b.config.mounts.push({ destination: '/evil', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
        b.write();
        await expect(run(b.dir, { stdio: 'ignore' })).rejects.toThrow('mount "tmpfs" on "/evil": no such file or directory (ENOENT)');
        victim.unchanged();
        expect(fs.existsSync(path.join(b.rootfs, victim.dir))).toBe(false);
      });
    }
  });

  describe('/dev/null swapped in the rootfs before masking', () => {
    const swaps: [string, (devNull: string, victim: string) => void][] = [
      ['a symlink to a host file', (devNull, victim) => fs.symlinkSync(path.join(victim, 'canary'), devNull)],
      ['a regular file', (devNull) => fs.writeFileSync(devNull, 'not null\n')],
      ['another device (1:5, zero)', (devNull) => {
        const r = require('node:child_process').spawnSync('mknod', [devNull, 'c', '1', '5']);
        expect(r.status).toBe(0);
      }],
    ];
    for (const [name, swap] of swaps) {
      it(`${name}: masking binds the real null device (1:3); nothing on the host is masked`, async () => {
        const victim = hostDir();
        const b = s.bundle();
        withoutDevMounts(b.config);
        fs.mkdirSync(path.join(b.rootfs, 'dev'), { recursive: true });
        swap(path.join(b.rootfs, 'dev', 'null'), victim.dir);
        fs.writeFileSync(path.join(b.rootfs, 'etc', 'secret'), 'secret\n');
        fs.symlinkSync(path.join(victim.dir, 'canary'), path.join(b.rootfs, 'etc', 'secret-link'));
        b.config.linux.maskedPaths = ['/etc/secret', '/etc/secret-link', '/proc/version'];
        const r = await sh(b, 'stat -L -c "%n %F %t:%T" /etc/secret /proc/version; cat /etc/secret');
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe('/etc/secret character special file 1:3\n/proc/version character special file 1:3\n');
        victim.unchanged();
      });
    }
  });

  it('/dev/console a symlink to a host file, with a terminal: bound inside the rootfs or refused, the host file untouched', async () => {
    const victim = hostDir();
    const b = s.bundle({ args: ['sh', '-c', 'echo on-the-console > /dev/console; exit 0'] });
    withoutDevMounts(b.config);
    b.config.mounts.push({ destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['newinstance', 'ptmxmode=0666'] });
    b.config.process.terminal = true;
    fs.mkdirSync(path.join(b.rootfs, 'dev'), { recursive: true });
    fs.symlinkSync('pts/ptmx', path.join(b.rootfs, 'dev', 'ptmx'));
    fs.symlinkSync(path.join(victim.dir, 'canary'), path.join(b.rootfs, 'dev', 'console'));
    b.write();
    const outcome = await run(b.dir, { stdio: 'ignore' }).then(
      async (c) => {
        const text = readAll(c.terminal);
        const { status } = await c.exited;
        return { status, text: await text };
      },
      (err: Error) => ({ error: err.message }),
    );
    // The link resolves inside the rootfs, where its target does not exist.
    expect(outcome).toEqual({ error: `mount pty on "/dev/console": no such file or directory (ENOENT)` });
    victim.unchanged();
  });

  it('process.cwd through /proc/self/fd/N (CVE-2024-21626): refused for N = 3..20 (library and CLI run), never a host directory', async () => {
    const refused = (n: number) =>
      new RegExp(`^(create directory|chdir) "/proc/self/fd/${n}": (too many levels of symbolic links \\(ELOOP\\)|no such file or directory \\(ENOENT\\)|not a directory \\(ENOTDIR\\)|working directory is outside the container)$`);
    for (let n = 3; n <= 20; n++) {
      const b = s.bundle({ args: ['/bin/probe'] });
      b.config.process.cwd = `/proc/self/fd/${n}`;
      b.write();
      const error = await run(b.dir, { stdio: 'ignore' }).then(
        async (c) => {
          await c.exited;
          return 'started';
        },
        (err: Error) => err.message,
      );
      expect(error).toMatch(refused(n));
      // The CLI's run is create + start: the init also listens on its start socket.
      const cli = await tsbox(['run', b.dir]);
      expect(cli.stdout).toBe('');
      expect(cli.stderr.slice('tsbox: '.length, -1)).toMatch(refused(n));
    }
  });

  it('the container process gets only 0, 1, 2 and the preserved descriptors (library run with extraFds)', async () => {
    const b = s.bundle({ args: ['/bin/probe'] });
    const extra = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r')];
    try {
      const r = await s.probe(b, { run: { extraFds: extra } });
      expect(r.fds).toEqual([0, 1, 2, 3, 4]);
    } finally {
      for (const fd of extra) fs.closeSync(fd);
    }
  });

  describe('/proc writes redirected by the config (CVE-2025-52881 class)', () => {
    const SYSCTL = 'kernel.shm_rmid_forced';

    async function expectRefused(b: TestBundle, message: string): Promise<void> {
      b.config.linux.sysctl = { [SYSCTL]: '1' };
      b.write();
      await expect(run(b.dir, { stdio: 'ignore' })).rejects.toThrow(message);
      const cli = await tsbox(['run', b.dir]);
      expect(cli.stderr).toBe(`tsbox: ${message}\n`);
      expect(cli.status).toBe(1);
    }

    it('a tmpfs over /proc/sys: the sysctl write is refused', async () => {
      const b = s.bundle();
      b.config.mounts.push({ destination: '/proc/sys', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
      await expectRefused(b, `write sysctl "${SYSCTL}": "/proc/sys/kernel/shm_rmid_forced" is not procfs (something is mounted or linked over it)`);
    });

    it('a host file bound over the sysctl\'s file: refused, the host file unchanged', async () => {
      const victim = hostDir();
      const b = s.bundle();
      b.config.mounts.push({ destination: '/proc/sys/kernel/shm_rmid_forced', type: 'bind', source: path.join(victim.dir, 'canary'), options: ['bind'] });
      await expectRefused(b, `write sysctl "${SYSCTL}": "/proc/sys/kernel/shm_rmid_forced" is not procfs (something is mounted or linked over it)`);
      victim.unchanged();
    });

    it('no proc mount and a /proc planted in the rootfs: refused, the planted file unchanged', async () => {
      const b = s.bundle();
      b.config.mounts = b.config.mounts.filter((m: { type: string }) => m.type !== 'proc');
      const planted = path.join(b.rootfs, 'proc', 'sys', 'kernel');
      fs.mkdirSync(planted, { recursive: true });
      fs.writeFileSync(path.join(planted, 'shm_rmid_forced'), 'planted\n');
      await expectRefused(b, `write sysctl "${SYSCTL}": "/proc" is not procfs`);
      expect(fs.readFileSync(path.join(planted, 'shm_rmid_forced'), 'utf8')).toBe('planted\n');
    });

    it('without the redirection the sysctl is written (the check is not in the way)', async () => {
      const b = s.bundle({ args: ['cat', `/proc/sys/kernel/shm_rmid_forced`] });
      b.config.linux.sysctl = { [SYSCTL]: '1' };
      b.write();
      const r = await s.collect(b);
      expect(r).toMatchObject({ status: 0, stdout: '1\n', stderr: '' });
    });
  });
});

describe.skipIf(!isRoot)('attacks through exec', () => {
  const lc = lifecycleSession();

  async function running(id: string, mutate?: (c: any) => void): Promise<TestBundle> {
    const b = lc.bundle({ args: ['sleep', '100'], ...(mutate && { mutate }) });
    lc.track(id);
    expect(await lc.cli(['run', '-d', '--bundle', b.dir, id])).toMatchObject({ status: 0, stderr: '' });
    return b;
  }

  it('exec --cwd /proc/self/fd/N (CVE-2024-21626): refused for N = 3..20, never a host directory', async () => {
    await running('cwd');
    for (let n = 3; n <= 20; n++) {
      const r = await lc.cli(['exec', '--cwd', `/proc/self/fd/${n}`, 'cwd', '/bin/probe']);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^tsbox: chdir "/proc/self/fd/${n}": (no such file or directory \\(ENOENT\\)|not a directory \\(ENOTDIR\\)|working directory is outside the container)\\n$`));
      expect(r.status).toBe(1);
    }
  });

  it('an exec\'d process gets only 0, 1, 2 (CLI), and the preserved descriptors with --preserve-fds', async () => {
    await running('fds');
    const plain = await lc.cli(['exec', 'fds', '/bin/probe']);
    expect(plain.status).toBe(0);
    expect(JSON.parse(plain.stdout).fds).toEqual([0, 1, 2]);
    const p = lc.spawn(['exec', '--preserve-fds', '2', 'fds', '/bin/probe'], ['ignore', 'pipe', 'pipe', 'ignore', 'ignore']);
    const [exit, out] = await Promise.all([p.exited, p.stdout.end]);
    expect(exit.status).toBe(0);
    expect(JSON.parse(out).fds).toEqual([0, 1, 2, 3, 4]);
  });

  it('oom_score_adj of an exec, with a tmpfs over the container\'s /proc: written through the host\'s /proc all the same', async () => {
    await running('oom', (c) => {
      c.mounts.push({ destination: '/proc', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
    });
    // The helper writes its own before it joins the container (and the
    // process inherits it): the container's /proc never comes into it.
    const scratch = lc.scratch();
    const processFile = path.join(scratch, 'process.json');
    fs.writeFileSync(processFile, JSON.stringify({ args: ['/bin/sleep', '10'], cwd: '/', user: { uid: 0, gid: 0 }, oomScoreAdj: 100 }));
    const r = await lc.cli(['exec', '--detach', '--pid-file', path.join(scratch, 'exec.pid'), '--process', processFile, 'oom']);
    expect(r).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const pid = Number(fs.readFileSync(path.join(scratch, 'exec.pid'), 'utf8'));
    expect(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8')).toBe('100\n');
    process.kill(pid, 'SIGKILL');
  });
});
