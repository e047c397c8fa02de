// The lifecycle (create, start, state, kill, delete, run, exec) and its
// failure paths over the fake native layer (test/helpers/fake-native.ts):
// the runtime's side of the helper protocol and its teardown, without root.
// The container's process is a real one on the host (the fake isolates
// nothing), so what it does is seen from outside.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadBundle } from '../../lib/bundle.js';
import { SystemError, TsboxError } from '../../lib/errors.js';
import { defaultSpec } from '../../lib/oci/default-spec.js';
import type { Spec } from '../../lib/oci/types.js';
import { Runtime } from '../../lib/runtime/runtime.js';
import { FakeNative } from '../helpers/fake-native.js';

const rootless = process.geteuid?.() !== 0;

let tmp: string;
let fake: FakeNative;
let runtime: Runtime;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-fake-'));
  fake = new FakeNative();
  runtime = new Runtime({ root: path.join(tmp, 'state'), native: fake });
});

afterEach(async () => {
  await fake.killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A bundle whose process is `sh -c script` (run on the host by the fake), without cgroups. */
function bundle(script: string, edit: (spec: Spec) => void = () => undefined): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'bundle-'));
  fs.mkdirSync(path.join(dir, 'rootfs'));
  const spec = defaultSpec({ rootless, args: ['/bin/sh', '-c', script] });
  spec.process!.terminal = false;
  delete spec.linux!.resources;
  edit(spec);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

const create = (id: string, dir: string) => runtime.create(id, dir, { stdio: 'ignore' });

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Nothing left: no state, no process, no descriptor of the fake's. */
function expectNothingLeft(): void {
  expect(runtime.store.ids()).toStrictEqual([]);
  expect(fake.livePids()).toStrictEqual([]);
  expect(fake.openFds()).toStrictEqual([]);
}

describe('the lifecycle over the fake native layer', () => {
  it('create, start, state, kill and delete, with the effects of the process seen outside', async () => {
    const out = path.join(tmp, 'out');
    const created = await create('c1', bundle(`echo started > ${out}; exec sleep 100`));
    expect(created.status).toBe('created');
    expect(created.pid).toBe(fake.runs[0]!.initPid);
    // The plan asked the init to wait on the start socket, and it does: the process has not run.
    expect(fake.runs[0]!.plan).toContainEqual(['start-socket', path.join(runtime.store.root, 'c1', 'start.sock')]);
    expect(fs.existsSync(out)).toBe(false);
    expect(fake.openFds()).toStrictEqual([]); // create let go of the init's pidfd and the socket

    expect(await runtime.start('c1')).toStrictEqual([]);
    await until('the process to run', () => fs.existsSync(out));
    expect(fs.readFileSync(out, 'utf8')).toBe('started\n');
    expect(runtime.state('c1')).toMatchObject({ id: 'c1', status: 'running', pid: created.pid });
    expect(runtime.list().map((s) => s.id)).toStrictEqual(['c1']);

    await expect(runtime.delete('c1')).rejects.toThrow('cannot delete container "c1" that is not stopped: it is running (use --force)');
    await runtime.kill('c1', 'KILL');
    await until('the container to stop', () => runtime.state('c1').status === 'stopped');
    expect(runtime.state('c1').pid).toBe(0);
    // Refused at once, as engines expect.
    await expect(runtime.kill('c1')).rejects.toThrow('container not running');

    expect(await runtime.delete('c1')).toStrictEqual([]);
    expect(() => runtime.state('c1')).toThrow('container "c1" does not exist');
    expectNothingLeft();
  });

  it('delete --force of a created container kills its init', async () => {
    const { pid } = await create('c2', bundle('exit 0'));
    await runtime.delete('c2', { force: true });
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    expectNothingLeft();
  });

  it('run: the exit status comes through, and the record goes with the process', async () => {
    const c = await runtime.run('r1', loadBundle(bundle('exit 3')), { stdio: 'ignore' });
    expect(runtime.state('r1').status).not.toBe('created');
    expect(await c.exited).toStrictEqual({ code: 3, signal: null, status: 3 });
    await until('the record to go', () => runtime.store.ids().length === 0);
    expectNothingLeft();
  });

  it('exec: a second process, with an exec plan, whose exit status comes through', async () => {
    await create('e1', bundle('exec sleep 100'));
    await runtime.start('e1');
    const p = await runtime.exec('e1', { ...defaultSpec().process!, terminal: false, args: ['/bin/sh', '-c', 'exit 7'] }, { stdio: 'ignore' });
    const plan = fake.runs[1]!.plan;
    expect(plan[0]).toStrictEqual(['exec']);
    expect(plan.some((r) => r[0] === 'rootfs' || r[0] === 'start-socket')).toBe(false);
    expect(plan).toContainEqual(['args', '/bin/sh', '-c', 'exit 7']);
    expect(await p.exited).toMatchObject({ code: 7 });
    expect(runtime.state('e1').status).toBe('running');
    await runtime.delete('e1', { force: true });
    expectNothingLeft();
  });

  it('exec into a container that is not running is refused before anything starts', async () => {
    await create('e2', bundle('exit 0'));
    await expect(runtime.exec('e2', (p) => p)).rejects.toThrow('cannot exec in container "e2": it is created, not running');
    expect(fake.runs).toHaveLength(1);
    await runtime.delete('e2', { force: true });
  });

  it('hooks: the runtime answers "hooks" with the states, after running prestart', async () => {
    const marker = path.join(tmp, 'prestart');
    const dir = bundle('exit 0', (s) => {
      s.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${marker}`] }] };
    });
    await create('h1', dir);
    const go = fake.runs[0]!.replies[0]!;
    expect(go[0]).toBe('go');
    expect(JSON.parse(go[1]!)).toMatchObject({ id: 'h1', status: 'creating', pid: fake.runs[0]!.initPid });
    expect(JSON.parse(go[2]!)).toMatchObject({ id: 'h1', status: 'created' });
    expect(JSON.parse(fs.readFileSync(marker, 'utf8'))).toMatchObject({ id: 'h1', status: 'creating' });
    await runtime.delete('h1', { force: true });
    expectNothingLeft();
  });
});

describe('failures over the fake native layer leave nothing behind', () => {
  it('the helper fails before it clones the init', async () => {
    fake.failAt = { at: 'spawned', step: 'join net namespace', errno: 1 };
    const err = await create('f1', bundle('exit 0')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SystemError);
    expect(err).toMatchObject({ step: 'join net namespace', code: 'EPERM', errno: 1, message: 'join net namespace: operation not permitted (EPERM)' });
    expectNothingLeft();
  });

  it('the init fails during set-up: it is killed and reaped', async () => {
    fake.failAt = { at: 'ready', step: 'mount "proc" on "/proc"', errno: 13 };
    await expect(create('f2', bundle('exit 0'))).rejects.toThrow('mount "proc" on "/proc": permission denied (EACCES)');
    expect(() => process.kill(fake.runs[0]!.initPid!, 0)).toThrow(/ESRCH/);
    expectNothingLeft();
  });

  it('a failing prestart hook aborts the init', async () => {
    const dir = bundle('exit 0', (s) => {
      s.hooks = { prestart: [{ path: '/bin/false' }] };
    });
    await expect(create('f3', dir)).rejects.toThrow(/prestart/);
    expect(fake.runs[0]!.replies).toStrictEqual([['abort']]);
    expectNothingLeft();
  });

  it('the process cannot be executed: start reports the init\'s error through the start socket', async () => {
    fake.failAt = { at: 'exec', step: 'exec "nope"', errno: 2, detail: 'executable file not found in $PATH' };
    await create('f4', bundle('exit 0'));
    await expect(runtime.start('f4')).rejects.toThrow('exec "nope": executable file not found in $PATH');
    await until('the init to exit', () => runtime.state('f4').status === 'stopped');
    await runtime.delete('f4');
    expectNothingLeft();
  });

  it('run: the init fails before the process runs', async () => {
    fake.failAt = { at: 'exec', step: 'exec "nope"', errno: 2 };
    await expect(runtime.run('f5', loadBundle(bundle('exit 0')), { stdio: 'ignore' })).rejects.toThrow(
      'exec "nope": no such file or directory (ENOENT)',
    );
    expectNothingLeft();
  });

  it('a message the runtime does not expect ends the launch, naming it', async () => {
    fake.strayMessage = ['seccomp-program', '0', '00'];
    await expect(create('f6', bundle('exit 0'))).rejects.toThrow('container setup: unexpected message "seccomp-program" from the init');
    expectNothingLeft();
  });

  it('an exec that fails leaves the container running and nothing of the exec behind', async () => {
    await create('f7', bundle('exec sleep 100'));
    await runtime.start('f7');
    fake.failAt = { at: 'exec', step: 'exec "nope"', errno: 2, detail: 'executable file not found in $PATH' };
    await expect(runtime.exec('f7', (p) => ({ ...p, args: ['nope'] }), { stdio: 'ignore' })).rejects.toThrow('exec "nope": executable file not found in $PATH');
    expect(runtime.state('f7').status).toBe('running');
    expect(fake.livePids()).toStrictEqual([runtime.state('f7').pid]);
    expect(fake.openFds()).toStrictEqual([]);
    await runtime.delete('f7', { force: true });
    expectNothingLeft();
  });

  it('a container id that exists already is refused without starting anything', async () => {
    await create('d1', bundle('exit 0'));
    await expect(create('d1', bundle('exit 0'))).rejects.toThrow(TsboxError);
    expect(fake.runs).toHaveLength(1);
    await runtime.delete('d1', { force: true });
    expectNothingLeft();
  });
});
