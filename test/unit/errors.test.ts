// Wrapped errors keep the facts of the system call that failed (code,
// errno, syscall, path) and the error they wrap (cause): callers test the
// errno, not the message. Without root: real system calls that fail for
// any user, and the fake native layer for the addon's.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadBundle } from '../../lib/bundle.js';
import { isSystemCallError, SystemError, systemCallFacts, TsboxError } from '../../lib/errors.js';
import { runHooks } from '../../lib/hooks.js';
import { defaultSpec } from '../../lib/oci/default-spec.js';
import { Runtime } from '../../lib/runtime/runtime.js';
import { FakeNative } from '../helpers/fake-native.js';

let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-errors-'));
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('it did not throw');
}

describe('TsboxError', () => {
  it("keeps a Node error's code, errno (positive), syscall and path, and the error as cause", () => {
    const nodeError = caught(() => fs.readFileSync(path.join(tmp, 'missing'))) as NodeJS.ErrnoException;
    const err = new TsboxError(`read config: ${nodeError.message}`, { cause: nodeError });
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'open', path: path.join(tmp, 'missing') });
    expect(err.cause).toBe(nodeError);
    expect(err.message).toBe(`read config: ${nodeError.message}`);
    expect(isSystemCallError(err)).toBe(true);
  });

  it('facts given win over the cause\'s', () => {
    const err = new TsboxError('x', { cause: Object.assign(new Error('y'), { code: 'EPERM', errno: 1 }), code: 'EACCES', errno: 13 });
    expect(systemCallFacts(err)).toStrictEqual({ code: 'EACCES', errno: 13 });
  });

  it('an error without facts has no such properties (`"code" in err` stays false)', () => {
    const plain = new TsboxError('no facts');
    expect('code' in plain || 'errno' in plain || 'syscall' in plain || 'path' in plain).toBe(false);
    expect(plain.cause).toBeUndefined();
    const wrapped = new TsboxError('wraps a plain error', { cause: new Error('plain') });
    expect('code' in wrapped).toBe(false);
    expect(isSystemCallError(wrapped)).toBe(false);
  });

  it('SystemError (a step of the helper or init) carries its errno like the others', () => {
    const err = new SystemError('mount "proc" on "/proc"', 1, 'EPERM', 'operation not permitted (EPERM)');
    expect(err).toBeInstanceOf(TsboxError);
    expect(systemCallFacts(err)).toStrictEqual({ code: 'EPERM', errno: 1 });
    expect(err.step).toBe('mount "proc" on "/proc"');
  });
});

describe('wrapped errors on the way up keep errno and cause', () => {
  it('loadBundle: a config.json that is a directory', () => {
    fs.mkdirSync(path.join(tmp, 'config.json'));
    const err = caught(() => loadBundle(tmp)) as TsboxError;
    expect(err).toBeInstanceOf(TsboxError);
    expect(err.message).toBe(`read "${path.join(tmp, 'config.json')}": is a directory`);
    expect(err).toMatchObject({ code: 'EISDIR', errno: 21, syscall: 'read' });
    expect((err.cause as NodeJS.ErrnoException).code).toBe('EISDIR');
  });

  it('loadBundle: a bundle that is not there', () => {
    const err = caught(() => loadBundle(path.join(tmp, 'gone'))) as TsboxError;
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'stat', path: path.join(tmp, 'gone') });
  });

  it('a hook that cannot be executed', async () => {
    const state = { ociVersion: '1.2.0', id: 'x', status: 'creating' as const, bundle: tmp, annotations: {} };
    const err = (await runHooks({ prestart: [{ path: path.join(tmp, 'no-hook') }] }, 'prestart', state).catch((e: unknown) => e)) as TsboxError;
    expect(err).toBeInstanceOf(TsboxError);
    expect(err.message).toBe(`prestart hook "${path.join(tmp, 'no-hook')}": ENOENT`);
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, path: path.join(tmp, 'no-hook') });
    expect(err.syscall).toMatch(/^spawn/);
  });

  describe('through the native layer (fake)', () => {
    let fake: FakeNative;
    let runtime: Runtime;
    let bundle: string;

    beforeEach(() => {
      fake = new FakeNative();
      runtime = new Runtime({ root: path.join(tmp, 'state'), native: fake });
      bundle = path.join(tmp, 'bundle');
      fs.mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
      const spec = defaultSpec({ rootless: process.geteuid?.() !== 0, args: ['/bin/sh', '-c', 'exec sleep 100'] });
      spec.process!.terminal = false;
      delete spec.linux!.resources;
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    });

    afterEach(async () => {
      await fake.killAll();
    });

    it('the helper cannot be started: the addon\'s errno and syscall come through create, and nothing is left', async () => {
      fake.spawnErrno = 13;
      const err = (await runtime.create('c', bundle, { stdio: 'ignore' }).catch((e: unknown) => e)) as TsboxError;
      expect(err).toBeInstanceOf(TsboxError);
      expect(err.message).toBe('spawn "/fake/tsbox-helper": permission denied (EACCES)');
      expect(err).toMatchObject({ code: 'EACCES', errno: 13, syscall: 'spawn "/fake/tsbox-helper"' });
      expect((err.cause as Error).message).toBe(err.message);
      expect(runtime.store.ids()).toStrictEqual([]);
      expect(fake.openFds()).toStrictEqual([]);
    });

    it('a create that fails after the helper was started (while planning) gives it no plan: it exits, is reaped, nothing stays open', async () => {
      const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
      spec.linux.cgroupsPath = 'system.slice:tsbox:x';
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
      const err = (await runtime.create('c', bundle, { stdio: 'ignore' }).catch((e: unknown) => e)) as TsboxError;
      expect(err.message).toMatch(/^linux\.cgroupsPath "system\.slice:tsbox:x" is in the systemd form/);
      expect(fake.runs).toStrictEqual([]);
      expect(fake.openFds()).toStrictEqual([]);
      expect(runtime.store.ids()).toStrictEqual([]);
    });

    it('a signal the kernel refuses: kill names the errno', async () => {
      await runtime.create('k', bundle, { stdio: 'ignore' });
      const signal = fake.signal;
      fake.signal = () => 1;
      const err = (await runtime.kill('k', 'TERM').then(
        () => new Error('it did not reject'),
        (e: unknown) => e,
      )) as TsboxError;
      fake.signal = signal;
      expect(err.message).toBe('kill container "k": operation not permitted');
      expect(err).toMatchObject({ code: 'EPERM', errno: 1, syscall: 'pidfd_send_signal' });
      await runtime.delete('k', { force: true });
    });
  });
});
