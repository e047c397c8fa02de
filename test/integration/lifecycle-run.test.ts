// The lifecycle's other ways in, through bin/tsbox: a terminal sent to
// --console-socket, descriptors passed on with --preserve-fds, and `run`
// (-d, --keep, foreground) as it shows in the state root. Same house rules
// as lifecycle.test.ts: own state root per test, `delete --force` of every
// container after it, and no mount, process or temporary directory left.

import type { StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProbeReport } from '../helpers/containers.js';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { TSBOX, settledProcessesUnder } from '../helpers/cli.js';
import { buildRecvtty, isAlive, lifecycleSession, spawnProc, waitUntil, type Proc, type StateJson } from '../helpers/lifecycle.js';

describe.skipIf(!isRoot)('lifecycle: console socket, preserved descriptors, run', () => {
  const lc = lifecycleSession();

  async function create(id: string, b: TestBundle, flags: string[] = [], stdio?: StdioOptions): Promise<Proc> {
    lc.track(id);
    return lc.create(id, b, { flags, stdio });
  }

  async function start(id: string): Promise<void> {
    await lc.ok(['start', id]);
  }

  async function expectGone(id: string): Promise<void> {
    expect(await lc.cli(['state', id])).toMatchObject({ status: 1, stdout: '', stderr: `tsbox: container "${id}" does not exist\n` });
    expect(fs.existsSync(lc.root) ? fs.readdirSync(lc.root) : []).toEqual([]);
  }

  function report(text: string): ProbeReport {
    try {
      return JSON.parse(text) as ProbeReport;
    } catch {
      throw new Error(`not a probe report: ${JSON.stringify(text)}`);
    }
  }

  describe('--console-socket', () => {
    it('create sends the pty master to the socket; the shell in it answers through the receiver', async () => {
      const recvtty = buildRecvtty();
      const d = lc.scratch();
      const sock = path.join(d, 'console.sock');
      const recv = spawnProc(recvtty, [sock], ['pipe', 'pipe', 'pipe']);
      await recv.stderr.waitFor('listening\n');

      const b = lc.bundle({ args: ['sh'], mutate: (c) => (c.process.terminal = true) });
      await create('tty', b, ['--console-socket', sock]);
      // The receiver has the master before create returns.
      expect(recv.stderr.text).toBe('listening\nreceived /dev/ptmx pty=0\n');
      expect((await lc.state('tty')).status).toBe('created');

      await start('tty');
      recv.child.stdin!.end('echo $((6*7)); tty; exit 3\n');
      // The receiver stops at the end of the terminal: when the shell has exited.
      expect(await recv.exited).toEqual({ status: 0, signal: null });
      const out = await recv.stdout.end;
      expect(out).toMatch(/^42\r?$/m);
      expect(out).toMatch(/^\/dev\/pts\/0\r?$/m);
      expect(await recv.stderr.end).toBe('listening\nreceived /dev/ptmx pty=0\n');
      expect(await lc.waitForStatus('tty', 'stopped')).toMatchObject({ pid: 0 });
    });

    it('process.terminal without --console-socket: create and run -d fail with a clear message, leaving nothing', async () => {
      const b = lc.bundle({ args: ['sh'], mutate: (c) => (c.process.terminal = true) });
      for (const args of [['create', '--bundle', b.dir, 'noconsole'], ['run', '-d', '--bundle', b.dir, 'noconsole']]) {
        lc.track('noconsole');
        const p = lc.spawn(args);
        expect(await p.exited, args.join(' ')).toEqual({ status: 1, signal: null });
        expect(await p.stderr.end).toBe(
          'tsbox: process.terminal needs --console-socket to create a container (the terminal has to go somewhere)\n',
        );
        expect(await p.stdout.end).toBe('');
        await expectGone('noconsole');
      }
      expect(await settledProcessesUnder(b.dir)).toEqual([]);
    });

    /** create with a console socket nobody listens on: exit 1; returns stderr. */
    async function createDeaf(): Promise<{ err: string; sock: string }> {
      const b = lc.bundle({ args: ['sh'], mutate: (c) => (c.process.terminal = true) });
      const sock = path.join(lc.scratch(), 'nobody.sock');
      lc.track('deaf');
      const p = lc.spawn(['create', '--bundle', b.dir, '--console-socket', sock, 'deaf']);
      expect(await p.exited).toEqual({ status: 1, signal: null });
      const err = await p.stderr.end;
      expect(await p.stdout.end).toBe('');
      await expectGone('deaf');
      expect(await settledProcessesUnder(b.dir)).toEqual([]);
      return { err, sock };
    }

    it('a console socket nobody listens on: create fails and leaves nothing', async () => {
      const { err, sock } = await createDeaf();
      expect(err).toContain(`connect to console socket "${sock}"`);
    });

    // A failed system call of the addon is a known failure: one line, in
    // the same words as tsbox's other errors, not an internal error.
    it('a console socket nobody listens on: the error is one line, not an internal error', async () => {
      const { err, sock } = await createDeaf();
      expect(err).toBe(`tsbox: connect to console socket "${sock}": no such file or directory (ENOENT)\n`);
    });
  });

  describe('--preserve-fds', () => {
    /** Runs `tsbox ...args` with a temporary file as its descriptor 3. */
    async function withFd3(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; file: string }> {
      const file = path.join(lc.scratch(), 'extra');
      const fd = fs.openSync(file, 'w+');
      let p: Proc;
      try {
        p = spawnProc(process.execPath, [TSBOX, '--root', lc.root, ...args], ['ignore', 'pipe', 'pipe', fd]);
      } finally {
        fs.closeSync(fd);
      }
      const { status } = await p.exited;
      return { status, stdout: await p.stdout.end, stderr: await p.stderr.end, file };
    }

    it('run --preserve-fds 1 passes descriptor 3 on; without it the container has only 0, 1, 2', async () => {
      const b = lc.bundle();
      const kept = await withFd3(['run', '--preserve-fds', '1', '--bundle', b.dir, lc.track('fds')]);
      expect(kept).toMatchObject({ status: 0, stderr: '' });
      expect(report(kept.stdout).fds).toEqual([0, 1, 2, 3]);

      const plain = await withFd3(['run', '--bundle', b.dir, lc.track('nofds')]);
      expect(plain).toMatchObject({ status: 0, stderr: '' });
      expect(report(plain.stdout).fds).toEqual([0, 1, 2]);
    });

    it('the preserved descriptor is the file tsbox was given', async () => {
      const b = lc.bundle({ args: ['/bin/probe', 'write', '/proc/self/fd/3', 'through fd 3'] });
      const r = await withFd3(['run', '--preserve-fds=1', '--bundle', b.dir, lc.track('fdfile')]);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true });
      expect(fs.readFileSync(r.file, 'utf8')).toBe('through fd 3');
    });

    it('create --preserve-fds 1 passes descriptor 3 on to the process start runs', async () => {
      const b = lc.bundle();
      const file = path.join(lc.scratch(), 'extra');
      const fd = fs.openSync(file, 'w+');
      let p: Proc;
      try {
        p = await create('cfds', b, ['--preserve-fds', '1'], ['ignore', 'pipe', 'pipe', fd]);
      } finally {
        fs.closeSync(fd);
      }
      await start('cfds');
      expect(report(await p.stdout.end).fds).toEqual([0, 1, 2, 3]);
      await lc.waitForStatus('cfds', 'stopped');
    });
  });

  describe('run', () => {
    it('run -d returns at once with the container running; kill and delete end it', async () => {
      const b = lc.bundle({ args: ['/bin/probe', 'signals'] });
      const pidFile = path.join(lc.scratch(), 'pid');
      lc.track('detached');
      const p = lc.spawn(['run', '-d', '--pid-file', pidFile, '--bundle', b.dir, 'detached']);
      expect(await p.exited).toEqual({ status: 0, signal: null });
      const st = await lc.state('detached');
      expect(st).toMatchObject({ id: 'detached', status: 'running', bundle: b.dir });
      expect(fs.readFileSync(pidFile, 'utf8')).toBe(String(st.pid));
      // The container keeps run's stdio.
      await p.stdout.waitFor('ready\n');
      expect(await lc.cli(['kill', 'detached'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
      expect(await p.stdout.end).toBe('ready\nsignal 15\n');
      expect(await p.stderr.end).toBe('');
      expect(await lc.waitForStatus('detached', 'stopped')).toMatchObject({ pid: 0 });
      expect(await lc.cli(['delete', 'detached'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
      await expectGone('detached');
    });

    it('run --detach, then delete --force of the running container', async () => {
      const b = lc.bundle({ args: ['sleep', '100'] });
      lc.track('det2');
      const p = lc.spawn(['run', '--detach', '--bundle', b.dir, 'det2']);
      expect(await p.exited).toEqual({ status: 0, signal: null });
      const { pid, status } = await lc.state('det2');
      expect(status).toBe('running');
      expect(await lc.cli(['delete', '--force', 'det2'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
      expect(isAlive(pid)).toBe(false);
      await expectGone('det2');
      expect(await p.stdout.end).toBe('');
    });

    it('run --keep leaves a stopped state, which delete removes', async () => {
      const b = lc.bundle({ args: ['/bin/probe', 'exit', '3'] });
      const r = await lc.cli(['run', '--keep', '--bundle', b.dir, lc.track('kept')]);
      expect(r).toMatchObject({ status: 3, stdout: '', stderr: '' });
      const st = await lc.state('kept');
      expect(st).toMatchObject({ id: 'kept', pid: 0, status: 'stopped', bundle: b.dir, rootfs: b.rootfs });
      const list = JSON.parse((await lc.cli(['list', '--format', 'json'])).stdout) as StateJson[];
      expect(list).toEqual([st]);
      expect(await lc.cli(['start', 'kept'])).toMatchObject({
        status: 1,
        stderr: 'tsbox: cannot start container "kept": it is stopped, not created\n',
      });
      expect(await lc.cli(['delete', 'kept'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
      await expectGone('kept');
    });

    it('run ID in the foreground is listed while it runs, with its pid, and gone after', async () => {
      // `probe cat` runs until its stdin (tsbox run's) ends.
      const b = lc.bundle({ args: ['/bin/probe', 'cat'] });
      const pidFile = path.join(lc.scratch(), 'pid');
      const p = lc.spawn(['run', '--pid-file', pidFile, '--bundle', b.dir, lc.track('fg')], ['pipe', 'pipe', 'pipe']);
      const pid = Number(await waitUntil('the pid file', () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8')));
      expect(await lc.state('fg')).toMatchObject({ id: 'fg', pid, status: 'running', bundle: b.dir });
      expect(await lc.cli(['list', '-q'])).toMatchObject({ status: 0, stdout: 'fg\n' });
      const listed = JSON.parse((await lc.cli(['list', '--format', 'json'])).stdout) as StateJson[];
      expect(listed.map(({ id, pid: p2, status }) => ({ id, pid: p2, status }))).toEqual([{ id: 'fg', pid, status: 'running' }]);
      const ps = JSON.parse((await lc.cli(['ps', '--format', 'json', 'fg'])).stdout) as number[];
      expect(ps).toEqual([pid]);

      p.child.stdin!.end('echoed\n');
      expect(await p.exited).toEqual({ status: 0, signal: null });
      expect(await p.stdout.end).toBe('echoed\n');
      expect(await p.stderr.end).toBe('');
      await expectGone('fg');
      expect(await lc.cli(['list', '-q'])).toMatchObject({ status: 0, stdout: '' });
      expect(isAlive(pid)).toBe(false);
    });

    it('kill of a foreground run ends it with 128+9, and its state goes with it', async () => {
      const b = lc.bundle({ args: ['/bin/probe', 'cat'] });
      const pidFile = path.join(lc.scratch(), 'pid');
      const p = lc.spawn(['run', '--pid-file', pidFile, '--bundle', b.dir, lc.track('fgkill')], ['pipe', 'pipe', 'pipe']);
      await waitUntil('the pid file', () => fs.existsSync(pidFile));
      expect(await lc.cli(['kill', 'fgkill', 'KILL'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
      expect(await p.exited).toEqual({ status: 137, signal: null });
      await expectGone('fgkill');
    });

    it('run of an id that exists fails and leaves the existing container alone', async () => {
      const b = lc.bundle({ args: ['sleep', '100'] });
      await create('dup', b);
      const before = await lc.state('dup');
      const other = lc.bundle();
      for (const args of [['run', '--bundle', other.dir, 'dup'], ['run', '-d', '--bundle', other.dir, 'dup']]) {
        const p = lc.spawn(args);
        expect(await p.exited, args.join(' ')).toEqual({ status: 1, signal: null });
        expect(await p.stderr.end).toBe('tsbox: container "dup" already exists\n');
        expect(await p.stdout.end).toBe('');
      }
      expect(await lc.state('dup')).toEqual(before);
      expect(await settledProcessesUnder(other.dir)).toEqual([]);
    });
  });
});
