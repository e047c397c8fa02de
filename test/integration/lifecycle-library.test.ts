// The lifecycle through the library: new Runtime({ root }) from the test
// process, its containers seen by the CLI over the same root (and the other
// way round). Same house rules as lifecycle.test.ts.
//
// Created in this process, a container's init is this process's child
// (the helper clones it with CLONE_PARENT), not pid 1's: see the last test.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { finished } from 'node:stream/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TsboxError } from '../../lib/errors.js';
import { run } from '../../lib/run.js';
import { Runtime } from '../../lib/runtime/runtime.js';
import { NotFound, WrongStatus } from '../../lib/runtime/status.js';
import { childPids, isRoot } from '../helpers/bundle.js';
import { settledProcessesUnder } from '../helpers/cli.js';
import { isAlive, lifecycleSession, procState, waitUntil } from '../helpers/lifecycle.js';

describe.skipIf(!isRoot)('lifecycle through the library (Runtime)', () => {
  const lc = lifecycleSession();

  /** A file for the container's stdout and stderr, open as a descriptor only while create runs. */
  function outputFile(): { file: string; withFd<T>(fn: (fd: number) => Promise<T>): Promise<T> } {
    const file = path.join(lc.scratch(), 'out');
    return {
      file,
      async withFd(fn) {
        const fd = fs.openSync(file, 'a');
        try {
          return await fn(fd);
        } finally {
          fs.closeSync(fd);
        }
      },
    };
  }

  async function fileHas(file: string, text: string): Promise<void> {
    await waitUntil(`${JSON.stringify(text)} in ${file}`, () => fs.readFileSync(file, 'utf8').includes(text));
  }

  it('create / start / state / list / pids / kill / delete round trip', async () => {
    const rt = new Runtime({ root: lc.root });
    const b = lc.bundle({ args: ['/bin/probe', 'signals'] });
    const out = outputFile();
    const pidFile = path.join(lc.scratch(), 'pid');
    const id = lc.track('lib');

    const { warnings, ...created } = await out.withFd((fd) => rt.create(id, b.dir, { stdio: ['ignore', fd, fd], pidFile }));
    expect(warnings).toEqual([]);
    lc.tolerateZombieChild(created.pid);
    expect(created).toMatchObject({ id, status: 'created', bundle: b.dir, rootfs: b.rootfs, owner: 'root', annotations: {} });
    expect(fs.readFileSync(pidFile, 'utf8')).toBe(String(created.pid));
    expect(isAlive(created.pid)).toBe(true);
    expect(rt.state(id)).toEqual(created);
    expect(rt.list()).toEqual([created]);
    expect(rt.pids(id)).toEqual([created.pid]);
    // The CLI reads the same root.
    expect(await lc.state(id)).toEqual(created);
    expect(fs.readFileSync(out.file, 'utf8')).toBe('');

    await rt.start(id);
    const running = rt.state(id);
    expect(running).toEqual({ ...created, status: 'running' });
    await fileHas(out.file, 'ready\n');
    expect(rt.pids(id)).toEqual([created.pid]);
    await expect(rt.start(id)).rejects.toThrow(`cannot start container "${id}": it is running, not created`);
    await expect(rt.delete(id)).rejects.toThrow('not stopped');
    // Callers tell the refusals apart by type, not by text.
    await expect(rt.delete(id)).rejects.toBeInstanceOf(WrongStatus);
    await expect(rt.start(id)).rejects.toMatchObject({ operation: 'start', status: 'running' });

    await rt.kill(id, 'SIGUSR1');
    await fileHas(out.file, 'signal 10\n');
    await rt.kill(id, 10);
    await waitUntil('a second report', () => fs.readFileSync(out.file, 'utf8').split('signal 10\n').length === 3);
    // Rejects, as an async function does, rather than throwing at the call.
    const unknown = rt.kill(id, 'NOPE');
    await expect(unknown).rejects.toThrow('unknown signal "NOPE"');
    await rt.kill(id); // SIGTERM
    await fileHas(out.file, 'signal 15\n');
    await waitUntil('the container to stop', () => rt.state(id).status === 'stopped');
    expect(fs.readFileSync(out.file, 'utf8')).toBe('ready\nsignal 10\nsignal 10\nsignal 15\n');
    expect(rt.state(id)).toEqual({ ...created, status: 'stopped', pid: 0 });
    expect(rt.list()).toEqual([{ ...created, status: 'stopped', pid: 0 }]);
    expect(rt.pids(id)).toEqual([]);
    await expect(rt.kill(id)).rejects.toThrow(`cannot kill container "${id}": container not running`);
    await expect(rt.kill(id)).rejects.toThrow(TsboxError);
    await expect(rt.kill(id)).rejects.toThrow(WrongStatus);

    await rt.delete(id);
    expect(() => rt.state(id)).toThrow(`container "${id}" does not exist`);
    expect(rt.list()).toEqual([]);
    expect(fs.readdirSync(lc.root)).toEqual([]);
    await rt.delete(id, { force: true });
    await expect(rt.delete(id)).rejects.toThrow(`container "${id}" does not exist`);
    await expect(rt.delete(id)).rejects.toBeInstanceOf(NotFound);
    expect(() => rt.state(id)).toThrow(NotFound);
  });

  it('errors: an existing id, an invalid id, terminal without a console socket', async () => {
    const rt = new Runtime({ root: lc.root });
    const b = lc.bundle({ args: ['sleep', '100'] });
    const id = lc.track('one');
    const { warnings: _, ...st } = await rt.create(id, b.dir, { stdio: 'ignore' });
    lc.tolerateZombieChild(st.pid);
    await expect(rt.create(id, b.dir, { stdio: 'ignore' })).rejects.toThrow(`container "${id}" already exists`);
    for (const bad of ['../x', 'a/b']) {
      await expect(rt.create(bad, b.dir, { stdio: 'ignore' })).rejects.toThrow(`invalid container id "${bad}"`);
      expect(() => rt.state(bad)).toThrow(`invalid container id "${bad}"`);
    }
    const tty = lc.bundle({ args: ['sh'], mutate: (c) => (c.process.terminal = true) });
    await expect(rt.create(lc.track('tty'), tty.dir, { stdio: 'ignore' })).rejects.toThrow('process.terminal needs --console-socket');
    expect(rt.list().map((s) => s.id)).toEqual([id]);
    expect(rt.state(id)).toEqual(st);
    expect(await settledProcessesUnder(tty.dir)).toEqual([]);
  });

  it('a container created by the CLI is started, killed and deleted by the library', async () => {
    const b = lc.bundle({ args: ['sleep', '100'] });
    const id = lc.track('cross');
    const p = lc.spawn(['create', '--bundle', b.dir, id]);
    expect(await p.exited).toEqual({ status: 0, signal: null });
    const rt = new Runtime({ root: lc.root });
    const { pid } = rt.state(id);
    expect(rt.state(id).status).toBe('created');
    await rt.start(id);
    expect((await lc.state(id)).status).toBe('running');
    await rt.kill(id, 'KILL');
    await waitUntil('the container to stop', () => rt.state(id).status === 'stopped');
    await rt.delete(id);
    expect(isAlive(pid)).toBe(false);
    expect(await lc.cli(['state', id])).toMatchObject({ status: 1, stderr: `tsbox: container "${id}" does not exist\n` });
  });

  it('delete({ force: true }) kills and removes a running container', async () => {
    const rt = new Runtime({ root: lc.root });
    const b = lc.bundle({ args: ['sleep', '100'] });
    const id = lc.track('forced');
    const { pid } = await rt.create(id, b.dir, { stdio: 'ignore' });
    lc.tolerateZombieChild(pid);
    await rt.start(id);
    await rt.delete(id, { force: true });
    expect(isAlive(pid)).toBe(false);
    expect(rt.list()).toEqual([]);
    expect(await settledProcessesUnder(b.dir)).toEqual([]);
  });

  it('exec(): a whole process, or one made from the container\'s own process', async () => {
    const rt = new Runtime({ root: lc.root });
    const b = lc.bundle({ args: ['sleep', '100'], mutate: (c) => c.process.env.push('FROM_CONFIG=yes') });
    const id = lc.track('exec');
    const { pid } = await rt.create(id, b.dir, { stdio: 'ignore' });
    lc.tolerateZombieChild(pid);
    await rt.start(id);
    const output = async (c: Awaited<ReturnType<Runtime['exec']>>) => {
      let text = '';
      c.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
      const status = await c.exited;
      // finished() also resolves for a stream that closed already (while
      // exited was awaited): a 'close' listener added now would never fire.
      await finished(c.stdout!.resume());
      return { status, text };
    };
    let seen: unknown;
    const made = await rt.exec(
      id,
      (base) => {
        seen = base;
        return { ...base, args: ['sh', '-c', 'echo "$FROM_CONFIG $FLAG"'], env: [...(base.env ?? []), 'FLAG=added'] };
      },
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect(seen).toEqual(JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')).process);
    expect(made.bundle.dir).toBe(b.dir);
    expect(await output(made)).toEqual({ status: { code: 0, signal: null, status: 0 }, text: 'yes added\n' });
    const whole = await rt.exec(id, { args: ['sh', '-c', 'echo "[$FROM_CONFIG]"'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: ['ignore', 'pipe', 'ignore'] });
    expect(await output(whole)).toEqual({ status: { code: 0, signal: null, status: 0 }, text: '[]\n' });
    // The function runs only for a running container.
    await rt.delete(id, { force: true });
    await expect(rt.exec(id, () => expect.unreachable())).rejects.toThrow(`container "${id}" does not exist`);
  });

  // In-process, the init is this process's child (CLONE_PARENT from the
  // helper): delete() reaps it, so a long-lived library user collects no
  // zombies.
  it('a create that fails after its helper started (cgroupsPath in systemd form) leaves no child: the helper, given no plan, is reaped before create rejects', async () => {
    const rt = new Runtime({ root: lc.root });
    const b = lc.bundle({ args: ['true'], mutate: (c) => (c.linux.cgroupsPath = 'system.slice:tsbox:x') });
    const id = lc.track('unplanned');
    for (let i = 0; i < 5; i++) {
      const before = childPids();
      const err = (await rt.create(id, b.dir, { stdio: 'ignore' }).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/^linux\.cgroupsPath "system\.slice:tsbox:x" is in the systemd form/);
      // At once, not eventually: the rejection waits for the helper's exit.
      expect(childPids()).toEqual(before);
    }
    expect(rt.list().map((c) => c.id)).not.toContain(id);
  });

  it('run() does not wait for libuv\'s pool: with all its threads held (FIFO opens without a writer), a container still starts and exits', async () => {
    const dir = lc.scratch();
    const held = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    const fifos = Array.from({ length: held }, (_, i) => path.join(dir, `fifo${i}`));
    for (const f of fifos) execFileSync('mkfifo', [f]);
    const reads = fifos.map((f) => fs.promises.readFile(f));
    try {
      const b = lc.bundle({ args: ['true'] });
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('run() did not settle within 10 s')), 10_000));
      const status = await Promise.race([run(b.dir, { stdio: 'ignore' }).then((c) => c.exited), timeout]);
      expect(status).toEqual({ code: 0, signal: null, status: 0 });
    } finally {
      // A writer lets each blocked open go on; its close ends the read.
      for (const f of fifos) fs.closeSync(fs.openSync(f, 'w'));
      await Promise.all(reads);
    }
  });

  it('delete() of a container created in this process leaves no zombie child behind', async () => {
    const rt = new Runtime({ root: lc.root });
    const b = lc.bundle({ args: ['sleep', '100'] });
    const id = lc.track('reaped');
    const { pid } = await rt.create(id, b.dir, { stdio: 'ignore' });
    lc.tolerateZombieChild(pid);
    expect(childPids()).toContain(pid);
    await rt.start(id);
    await rt.delete(id, { force: true });
    await waitUntil(`pid ${pid} to be reaped`, () => procState(pid) === undefined, 2000).catch(() => undefined);
    expect({ state: procState(pid), child: childPids().includes(pid) }).toEqual({ state: undefined, child: false });
  });
});
