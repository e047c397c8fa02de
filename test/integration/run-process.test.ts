// The container's process through the library's run(): identity, limits,
// capabilities, environment, PATH lookup, exit status and signals, stdio
// pipes and process.terminal.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../lib/run.js';
import { isRoot } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { containerSession, eventually, readAll, sleep, variant } from '../helpers/containers.js';

const EACCES = 13;

function hostStatus(key: string): string {
  const m = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? m[1]!.trim() : '';
}

/** Lines of terminal output, without the \r that the tty adds. */
function lines(text: string): string[] {
  return text.replace(/\r/g, '').split('\n');
}

describe.skipIf(!isRoot)('run(): the container process' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const s = containerSession();

  it('applies rlimits', async () => {
    const b = s.bundle({
      mutate: (c) => {
        c.process.rlimits = [
          { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 },
          { type: 'RLIMIT_CORE', soft: 1048576, hard: 2 ** 64 - 1 },
          { type: 'RLIMIT_NPROC', soft: 0, hard: 0 },
        ];
      },
    });
    const seen = await s.probe(b);
    expect(seen.rlimits.NOFILE).toEqual({ soft: 1024, hard: 2048 });
    expect(seen.rlimits.CORE).toEqual({ soft: 1048576, hard: 'unlimited' });
    // NPROC applies to the user, which is root here: it still runs.
    expect(seen.rlimits.NPROC).toEqual({ soft: 0, hard: 0 });
  });

  it('sets uid, gid, additionalGids and umask', async () => {
    const user = s.bundle({
      mutate: (c) => {
        c.process.user = { uid: 1000, gid: 1000, additionalGids: [10, 20], umask: 0o077 };
      },
    });
    const root = s.bundle();
    const [u, r] = await Promise.all([s.probe(user), s.probe(root)]);
    expect(u).toMatchObject({ uid: 1000, euid: 1000, suid: 1000, gid: 1000, egid: 1000, sgid: 1000, groups: [10, 20], umask: 63 });
    // No capabilities were configured: a non-root user keeps none.
    expect(u.status.CapEff).toBe('0000000000000000');
    expect(u.status.CapPrm).toBe('0000000000000000');
    expect(r).toMatchObject({ uid: 0, gid: 0, groups: [], umask: 0o022 });
  });

  it('starts in cwd, creating it when missing, and refuses one the user cannot enter', async () => {
    const existing = s.bundle({ mutate: (c) => (c.process.cwd = '/tmp') });
    const missing = s.bundle({ mutate: (c) => (c.process.cwd = '/new/work/dir') });
    const denied = s.bundle({
      mutate: (c) => {
        c.process.cwd = '/root';
        c.process.user = { uid: 1000, gid: 1000 };
      },
    });
    const [e, m] = await Promise.all([s.probe(existing), s.probe(missing)]);
    expect(e.cwd).toBe('/tmp');
    expect(m.cwd).toBe('/new/work/dir');
    expect(fs.statSync(path.join(missing.rootfs, 'new/work/dir')).isDirectory()).toBe(true);
    await expect(s.start(denied)).rejects.toThrow(/chdir "\/root".*permission denied/i);
  });

  it('passes env exactly as configured, plus HOME', async () => {
    const env = ['PATH=/bin', 'A=1', 'SPACES=two words', 'EMPTY=', 'EQ=a=b', 'UNICODE=héllo'];
    const b = s.bundle({ mutate: (c) => (c.process.env = env) });
    const noEnv = s.bundle({
      args: ['probe'],
      mutate: (c) => {
        delete c.process.env;
      },
    });
    const [seen, none] = await Promise.all([s.probe(b), s.probe(noEnv)]);
    // HOME from the image's /etc/passwd is the one addition, as runc makes it.
    expect(seen.env).toEqual([...env, 'HOME=/root']);
    // Found through the default PATH, which is not added to the environment.
    expect(none.env).toEqual(['HOME=/root']);
  });

  it('sets capabilities, noNewPrivileges and oomScoreAdj', async () => {
    const caps = ['CAP_CHOWN', 'CAP_KILL'];
    const rootCaps = s.bundle({
      mutate: (c) => {
        c.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
        c.process.noNewPrivileges = true;
        c.process.oomScoreAdj = 500;
      },
    });
    const ambient = s.bundle({
      mutate: (c) => {
        c.process.user = { uid: 1000, gid: 1000 };
        c.process.capabilities = {
          bounding: caps, effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'],
        };
        c.process.noNewPrivileges = false;
      },
    });
    const effect = variant(rootCaps, (spec) => {
      spec.process.args = ['sh', '-c', 'touch /tmp/f && chown 1000:1000 /tmp/f && stat -c %u:%g /tmp/f && hostname other'];
    });
    const unknown = s.bundle({ mutate: (c) => (c.process.capabilities = { bounding: ['CAP_NOPE'] }) });
    const [r, a, e] = await Promise.all([s.probe(rootCaps), s.probe(ambient), s.collect(effect)]);

    expect(r.status).toMatchObject({
      CapBnd: '0000000000000021', CapEff: '0000000000000021', CapPrm: '0000000000000021',
      CapInh: '0000000000000000', CapAmb: '0000000000000000', NoNewPrivs: '1',
    });
    expect(r.oomScoreAdj).toBe(500);

    expect(a.uid).toBe(1000);
    expect(a.status).toMatchObject({
      CapBnd: '0000000000000021', CapEff: '0000000000000020', CapPrm: '0000000000000020',
      CapInh: '0000000000000020', CapAmb: '0000000000000020', NoNewPrivs: '0',
    });
    // Without oomScoreAdj the runtime's own value is inherited.
    expect(a.oomScoreAdj).toBe(Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8')));

    // CAP_CHOWN works, CAP_SYS_ADMIN (sethostname) is gone.
    expect(e.stdout).toBe('1000:1000\n');
    expect(e.stderr).toMatch(/not permitted/i);
    expect(e.status).not.toBe(0);

    await expect(s.start(unknown)).rejects.toThrow(/unknown capability "CAP_NOPE"/);
  });

  it('leaves ambient capabilities that are not also inheritable unraised, with a warning (`runc spec`\'s config has them)', async () => {
    const runcSpec = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    const none = s.bundle({
      mutate: (c) => {
        c.process.user = { uid: 1000, gid: 1000 };
        c.process.capabilities = { bounding: runcSpec, effective: runcSpec, permitted: runcSpec, ambient: runcSpec };
      },
    });
    const partly = variant(none, (spec) => (spec.process.capabilities.inheritable = ['CAP_KILL']));
    const seen = async (b: typeof partly | typeof none) => {
      const c = await s.start(b, { stdio: ['ignore', 'pipe', 'pipe'] });
      const [out, status] = await Promise.all([readAll(c.stdout), c.exited]);
      expect(status.status).toBe(0);
      return { status: JSON.parse(out).status as Record<string, string>, warnings: c.warnings };
    };
    const [n, p] = [await seen(none), await seen(partly)];
    // Not raised: a uid 1000 process then keeps none past execve.
    expect(n.status).toMatchObject({ CapBnd: '0000000020000420', CapInh: '0000000000000000', CapAmb: '0000000000000000', CapPrm: '0000000000000000' });
    expect(n.warnings).toContain(
      'process.capabilities.ambient: CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE not raised: an ambient capability must also be permitted and inheritable',
    );
    // CAP_KILL is inheritable there: raised, and kept by the uid 1000 process.
    expect(p.status).toMatchObject({ CapInh: '0000000000000020', CapAmb: '0000000000000020', CapEff: '0000000000000020' });
    expect(p.warnings).toContain(
      'process.capabilities.ambient: CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE not raised: an ambient capability must also be permitted and inheritable',
    );
  });

  it('keeps the full capability set without process.capabilities', async () => {
    const seen = await s.probe(s.bundle());
    expect(seen.status.CapBnd).toBe(hostStatus('CapBnd'));
    expect(seen.status.CapEff).toBe(hostStatus('CapBnd'));
  });

  it('looks up args[0] in the container\'s PATH, in order', async () => {
    const b = s.bundle({ args: ['tool'] });
    const tool = (dir: string, text: string, mode: number) => {
      fs.mkdirSync(path.join(b.rootfs, dir), { recursive: true });
      fs.writeFileSync(path.join(b.rootfs, dir, 'tool'), `#!/bin/sh\necho ${text}\n`);
      fs.chmodSync(path.join(b.rootfs, dir, 'tool'), mode);
    };
    tool('opt/a', 'a', 0o755);
    tool('opt/b', 'b', 0o755);
    tool('opt/c', 'c', 0o644); // not executable
    const withPath = (PATH: string, args = ['tool'], cwd = '/') =>
      variant(b, (spec) => {
        spec.process.env = [`PATH=${PATH}`];
        spec.process.args = args;
        spec.process.cwd = cwd;
      });
    const [probe, ab, ba, skipNonExec, relative] = await Promise.all([
      s.probe(withPath('/usr/bin:/bin', ['probe'])),
      s.collect(withPath('/opt/a:/opt/b:/bin')),
      s.collect(withPath('/opt/b:/opt/a:/bin')),
      s.collect(withPath('/opt/c:/opt/b:/bin')),
      s.collect(withPath('b:/bin', ['tool'], '/opt')),
    ]);
    expect(probe.argv).toEqual(['probe']);
    expect(ab.stdout).toBe('a\n');
    expect(ba.stdout).toBe('b\n');
    expect(skipNonExec.stdout).toBe('b\n');
    expect(relative.stdout).toBe('b\n');
    await expect(s.start(withPath('/opt/c'))).rejects.toThrow(/exec "tool".*permission denied/i);
    await expect(s.start(withPath('/opt/a:/bin', ['nope']))).rejects.toThrow('executable file not found in $PATH');
    await expect(s.start(withPath('/bin', ['/opt/c/tool']))).rejects.toThrow(/permission denied/i);
  });

  it('passes the exit status through', async () => {
    const b = s.bundle();
    const cmd = (...args: string[]) => variant(b, (spec) => (spec.process.args = args));
    const [seven, zero, max] = await Promise.all([
      s.collect(cmd('/bin/probe', 'exit', '7')),
      s.collect(cmd('/bin/probe', 'exit', '0')),
      s.collect(cmd('/bin/probe', 'exit', '255')),
    ]);
    expect(seven).toMatchObject({ code: 7, signal: null, status: 7, stdout: '' });
    expect(zero).toMatchObject({ code: 0, signal: null, status: 0 });
    expect(max).toMatchObject({ code: 255, signal: null, status: 255 });
  });

  it('reports death by signal', async () => {
    // Without a pid namespace: pid 1 of a namespace cannot kill itself with a
    // signal it has no handler for (the kernel ignores it), see below.
    const b = s.bundle({
      mutate: (c) => {
        c.linux.namespaces = [{ type: 'mount' }];
        delete c.hostname;
      },
    });
    const inPidNs = s.bundle({ args: ['/bin/probe', 'kill', '9'] });
    const cmd = (...args: string[]) => variant(b, (spec) => (spec.process.args = args));
    const [kill9, kill15, init] = await Promise.all([
      s.collect(cmd('/bin/probe', 'kill', '9')),
      s.collect(cmd('/bin/probe', 'kill', '15')),
      s.collect(inPidNs),
    ]);
    expect(kill9).toMatchObject({ code: null, signal: 'SIGKILL', status: 137 });
    expect(kill15).toMatchObject({ code: null, signal: 'SIGTERM', status: 143 });
    // As pid 1 the probe survives its own SIGKILL and returns 1.
    expect(init).toMatchObject({ code: 1, signal: null, status: 1 });
  });

  it('kills the container with kill()', async () => {
    // No pid namespace: the process is not an init, so SIGTERM's default action applies.
    const b = s.bundle({
      args: ['/bin/probe', 'sleep', '30'],
      mutate: (c) => {
        c.linux.namespaces = [{ type: 'mount' }];
        delete c.hostname;
      },
    });
    const c = await s.start(b, { stdio: 'ignore' });
    expect(c.stdin).toBeNull();
    expect(c.kill('SIGTERM')).toBe(true);
    expect(await c.exited).toEqual({ code: null, signal: 'SIGTERM', status: 143 });
    expect(c.kill('SIGTERM')).toBe(false);
    expect(c.kill('SIGKILL')).toBe(false);

    // Default signal, and a signal number.
    const d = await s.start(b, { stdio: 'ignore' });
    expect(d.kill()).toBe(true);
    expect((await d.exited).signal).toBe('SIGTERM');
    const e = await s.start(b, { stdio: 'ignore' });
    expect(e.kill(9)).toBe(true);
    expect(await e.exited).toEqual({ code: null, signal: 'SIGKILL', status: 137 });
  });

  it('delivers signals to pid 1 of a pid namespace only when it handles them (and SIGKILL always)', async () => {
    const sleeper = s.bundle({ args: ['/bin/probe', 'sleep', '30'] });
    const c = await s.start(sleeper, { stdio: 'ignore' });
    expect(c.kill('SIGTERM')).toBe(true);
    await sleep(200);
    expect(fs.existsSync(`/proc/${c.pid}`)).toBe(true);
    expect(c.kill('SIGKILL')).toBe(true);
    expect(await c.exited).toEqual({ code: null, signal: 'SIGKILL', status: 137 });

    const handler = s.bundle({ args: ['/bin/probe', 'signals'] });
    const h = await s.start(handler, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    h.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await eventually(() => expect(out).toBe('ready\n'));
    expect(h.kill('SIGUSR1')).toBe(true);
    await eventually(() => expect(out).toBe('ready\nsignal 10\n'));
    expect(h.kill('SIGTERM')).toBe(true);
    expect(await h.exited).toEqual({ code: 0, signal: null, status: 0 });
    await eventually(() => expect(out).toBe('ready\nsignal 10\nsignal 15\n'));
  });

  it('connects stdio pipes', async () => {
    const b = s.bundle({ args: ['/bin/probe', 'cat'] });
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
    const both = variant(b, (spec) => (spec.process.args = ['sh', '-c', 'echo out; echo err >&2; exit 3']));
    const [small, large, split] = await Promise.all([
      s.collect(b, { input: 'hello\nworld\n' }),
      s.collect(b, { input: big }),
      s.collect(both),
    ]);
    expect(small).toMatchObject({ status: 0, stdout: 'hello\nworld\n', stderr: '' });
    expect(large.status).toBe(0);
    expect(large.stdout.length).toBe(big.length);
    expect(large.stdout === big.toString('latin1')).toBe(true);
    expect(split).toMatchObject({ status: 3, stdout: 'out\n', stderr: 'err\n' });

    // cat ends when stdin ends, not before.
    const c = await s.start(b, { stdio: ['pipe', 'pipe', 'ignore'] });
    const out = readAll(c.stdout);
    c.stdin!.write('first\n');
    await sleep(100);
    expect(fs.existsSync(`/proc/${c.pid}`)).toBe(true);
    c.stdin!.end('second\n');
    expect(await c.exited).toMatchObject({ status: 0 });
    expect(await out).toBe('first\nsecond\n');
  });

  // As runc's fixStdioPermissions: the pipes are the runtime's (root's), and
  // a process of another user could not reopen them through /dev/stdout
  // (/proc/self/fd/1), as images that log to /dev/stdout as a user do.
  it('gives the stdio pipes to process.user\'s uid: it can reopen them through /dev/stdout and /dev/stderr', async () => {
    const b = s.bundle({
      args: ['sh', '-c', 'echo via-stdout > /dev/stdout; echo via-stderr > /dev/stderr; read -r line < /dev/stdin; echo "read $line"; stat -L -c "%u" /proc/self/fd/1'],
      mutate: (c) => (c.process.user = { uid: 1000, gid: 1000 }),
    });
    expect(await s.collect(b, { input: 'line\n' })).toMatchObject({ status: 0, stdout: 'via-stdout\nread line\n1000\n', stderr: 'via-stderr\n' });
  });

  it('leaves a file or the caller\'s terminal given as stdio to its owner (only pipes, sockets and the container\'s terminal change hands)', async () => {
    const dir = s.tempDir();
    const file = path.join(dir, 'out.txt');
    const fd = fs.openSync(file, 'w');
    try {
      const b = s.bundle({ args: ['sh', '-c', 'echo to-file'], mutate: (c) => (c.process.user = { uid: 1000, gid: 1000 }) });
      const c = await s.start(b, { stdio: ['ignore', fd, 'ignore'] });
      expect((await c.exited).status).toBe(0);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('to-file\n');
    expect(fs.statSync(file).uid).toBe(0);
    // Nor the caller's own terminal, given as stdio (no process.terminal): tsbox run under script(1).
    const b = s.bundle({ args: ['sh', '-c', 'stat -L -c %u /proc/self/fd/1'], mutate: (c) => (c.process.user = { uid: 1000, gid: 1000 }) });
    const root = path.join(s.tempDir(), 'state');
    const out = execFileSync('script', ['-qfec', `${process.execPath} ${TSBOX} --root ${root} run --bundle ${b.dir} stdio-tty`, '/dev/null'], { encoding: 'utf8' });
    expect(out.replace(/\r/g, '')).toBe('0\n');
  });

  it('writes stdio to a descriptor given by number', async () => {
    const dir = s.tempDir();
    const file = path.join(dir, 'out.txt');
    const fd = fs.openSync(file, 'w');
    try {
      const b = s.bundle({ args: ['sh', '-c', 'echo to-file; echo to-err >&2'] });
      const c = await s.start(b, { stdio: ['ignore', fd, fd] });
      expect(c.stdout).toBeNull();
      expect(c.stderr).toBeNull();
      expect((await c.exited).status).toBe(0);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('to-file\nto-err\n');
  });

  // The pipe streams are made when run() resolves: one made earlier could
  // reach its end (a quick container with empty output) before the caller
  // listens. Seen with several containers started at once.
  it('does not end the pipe streams before run() resolves', async () => {
    const b = s.bundle({ args: ['/bin/true'] });
    const ended: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const c = await run(b.dir, { stdio: ['ignore', 'pipe', 'pipe'] });
        if (c.stdout!.readableEnded || c.stdout!.destroyed) ended.push(`${i}: stdout`);
        if (c.stderr!.readableEnded || c.stderr!.destroyed) ended.push(`${i}: stderr`);
        c.stdout!.resume();
        c.stderr!.resume();
        await c.exited;
      }),
    );
    expect(ended).toEqual([]);
  });

  describe('process.terminal', () => {
    it('runs an interactive shell on a pty of the container', async () => {
      const b = s.bundle({
        args: ['sh'],
        mutate: (c) => {
          c.process.terminal = true;
          c.process.consoleSize = { height: 24, width: 80 };
        },
      });
      const c = await s.start(b);
      expect(c.terminal).not.toBeNull();
      const out = readAll(c.terminal);
      c.terminal!.write('tty; stty size; echo $((6*7)); exit 4\n');
      const [status, text] = await Promise.all([c.exited, out]);
      const seen = lines(text);
      expect(seen.some((l) => /^\/dev\/(pts\/0|console)$/.test(l))).toBe(true);
      expect(seen).toContain('24 80');
      expect(seen).toContain('42');
      expect(status).toEqual({ code: 4, signal: null, status: 4 });
    });

    // With a terminal the init replaces fds 0-2 with the pty: no pipes are
    // made, and the handle's stdio streams are null.
    it('gives the terminal to process.user\'s uid (group tty kept): it can open it by its path', async () => {
      const b = s.bundle({
        args: ['sh', '-c', 'stat -c "%u %g %a" $(tty); echo by-path > $(tty); exit 0'],
        mutate: (c) => {
          c.process.terminal = true;
          c.process.user = { uid: 1000, gid: 1000 };
        },
      });
      const c = await s.start(b);
      const [status, text] = await Promise.all([c.exited, readAll(c.terminal)]);
      expect(lines(text)).toEqual(['1000 5 620', 'by-path', '']);
      expect(status).toMatchObject({ status: 0 });
    });

    it('gives no stdio streams with a terminal', async () => {
      const b = s.bundle({ args: ['/bin/true'], mutate: (c) => (c.process.terminal = true) });
      const c = await s.start(b);
      const done = Promise.all([c.exited, readAll(c.terminal), readAll(c.stdout), readAll(c.stderr)]);
      c.stdin?.on('error', () => {});
      try {
        expect(c.terminal).not.toBeNull();
        expect(c.stdin).toBeNull();
        expect(c.stdout).toBeNull();
        expect(c.stderr).toBeNull();
      } finally {
        await done;
      }
    });

    it('makes the pty the process\'s stdio and /dev/console', async () => {
      const b = s.bundle({
        mutate: (c) => {
          c.process.terminal = true;
        },
      });
      const consoleStat = variant(b, (spec) => (spec.process.args = ['stat', '-c', '%t:%T %F', '/dev/console']));
      const collect = async (source: Parameters<typeof s.start>[0]) => {
        const c = await s.start(source);
        const [status, text] = await Promise.all([c.exited, readAll(c.terminal)]);
        return { status, text: text.replace(/\r/g, '') };
      };
      const [probe, stat] = await Promise.all([collect(b), collect(consoleStat)]);
      expect(probe.status.status).toBe(0);
      const seen = JSON.parse(probe.text);
      expect(seen.tty).toBe(true);
      expect(seen.ttyname).toBe('/dev/pts/0');
      expect(seen.fds).toEqual([0, 1, 2]);
      expect(stat.status.status).toBe(0);
      // Major 136 (0x88): a Unix98 pty slave.
      expect(stat.text).toMatch(/^88:[0-9a-f]+ character special file\n$/);
    });

    it('sizes the terminal from terminalSize when consoleSize is not set, and resizes it', async () => {
      const b = s.bundle({
        args: ['sh'],
        mutate: (c) => {
          c.process.terminal = true;
        },
      });
      const c = await s.start(b, { terminalSize: { rows: 30, cols: 100 } });
      let text = '';
      c.terminal!.setEncoding('utf8');
      c.terminal!.on('data', (d: string) => (text += d));
      const closed = new Promise((resolve) => c.terminal!.on('close', resolve));
      c.terminal!.write('stty size; read x; stty size; exit 0\n');
      await eventually(() => expect(lines(text)).toContain('30 100'));
      c.resize(40, 120);
      c.terminal!.write('\n');
      expect((await c.exited).status).toBe(0);
      await closed;
      expect(lines(text)).toContain('40 120');
    });
  });
});
