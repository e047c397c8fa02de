// The seccomp program cache (lib/seccomp-cache.ts) with a stand-in
// compiler: what makes two profiles the same program, the file format's
// checks, and that a damaged or planted file is never used but replaced.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LinuxSeccomp } from '../../lib/oci/types.js';
import type { CompiledSeccomp, PlannedSeccomp } from '../../lib/plan/plan.js';
import { planSeccomp } from '../../lib/plan/seccomp.js';
import {
  cacheFile,
  clearSeccompMemoryCache,
  compiledSeccomp,
  decodeCacheFile,
  encodeCacheFile,
  fastHash,
  normalizedSeccomp,
  seccompKeyText,
} from '../../lib/seccomp-cache.js';

const base: LinuxSeccomp = {
  defaultAction: 'SCMP_ACT_ERRNO',
  architectures: ['SCMP_ARCH_X86_64'],
  syscalls: [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
    { names: ['kill'], action: 'SCMP_ACT_KILL', args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }] },
  ],
};
const key = (s: LinuxSeccomp) => normalizedSeccomp(planSeccomp(s));

describe('normalizedSeccomp (the cache key)', () => {
  it('ignores what does not change the program: listener, metadata, property order, spelled-out defaults', () => {
    const same: LinuxSeccomp[] = [
      { ...base, listenerPath: '/run/agent.sock', listenerMetadata: 'x' },
      // SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD; an ERRNO default returns EPERM unless told.
      { ...base, defaultErrnoRet: 1, syscalls: [base.syscalls![0]!, { ...base.syscalls![1]!, action: 'SCMP_ACT_KILL_THREAD' }] },
      JSON.parse(JSON.stringify({ syscalls: base.syscalls, architectures: base.architectures, defaultAction: base.defaultAction })),
      // A rule with the default's action changes nothing (it is dropped).
      { ...base, syscalls: [...base.syscalls!, { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] },
    ];
    for (const s of same) expect(key(s), JSON.stringify(s)).toBe(key(base));
  });

  it('tells apart everything that changes the program', () => {
    const other: LinuxSeccomp[] = [
      { ...base, defaultAction: 'SCMP_ACT_KILL_PROCESS' },
      { ...base, defaultErrnoRet: 38 },
      { ...base, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'] },
      { ...base, flags: ['SECCOMP_FILTER_FLAG_LOG'] },
      { ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] },
      { ...base, syscalls: [base.syscalls![0]!, { ...base.syscalls![1]!, args: [{ index: 1, value: 15, op: 'SCMP_CMP_EQ' }] }] },
      { ...base, syscalls: [base.syscalls![0]!, { ...base.syscalls![1]!, errnoRet: 5, action: 'SCMP_ACT_ERRNO' }] },
      { ...base, syscalls: [...base.syscalls!].reverse() },
    ];
    const keys = new Set([key(base), ...other.map(key)]);
    expect(keys.size).toBe(other.length + 1);
  });

  it('the key text starts with the helper identity, which changes when the helper is rebuilt', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-seccache-'));
    try {
      const helper = path.join(dir, 'tsbox-helper');
      fs.writeFileSync(helper, 'one');
      const before = seccompKeyText(planSeccomp(base), helper);
      fs.writeFileSync(helper, 'other build');
      const after = seccompKeyText(planSeccomp(base), helper);
      expect(before).not.toBe(after);
      expect(before.split('\n')[1]).toBe(key(base));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fastHash: 16 hex digits, the same for a string and its Latin-1 bytes', () => {
    expect(fastHash('abc')).toMatch(/^[0-9a-f]{16}$/);
    expect(fastHash('abc')).toBe(fastHash(Buffer.from('abc', 'latin1')));
    expect(fastHash('abc')).not.toBe(fastHash('abd'));
  });
});

const compiled: CompiledSeccomp = {
  program: Buffer.from('06000000000000000600000000000300', 'hex'),
  loadFlags: 2,
  unknown: ['future_call', 'other_call'],
};

describe('the cache file', () => {
  const keyText = 'id\n[1,"x"]';

  it('round-trips and is a whole number of 8-byte words', () => {
    const buf = encodeCacheFile(keyText, compiled);
    expect(buf.length % 8).toBe(0);
    expect(decodeCacheFile(buf, keyText)).toStrictEqual(compiled);
    expect(decodeCacheFile(encodeCacheFile(keyText, { ...compiled, unknown: [] }), keyText)?.unknown).toEqual([]);
  });

  it('is refused for another key (a hash collision), truncated, extended, or with any byte changed', () => {
    const buf = encodeCacheFile(keyText, compiled);
    expect(decodeCacheFile(buf, 'id\n[1,"y"]')).toBeUndefined();
    expect(decodeCacheFile(buf.subarray(0, buf.length - 8), keyText)).toBeUndefined();
    expect(decodeCacheFile(buf.subarray(0, buf.length - 3), keyText)).toBeUndefined();
    expect(decodeCacheFile(Buffer.concat([buf, Buffer.alloc(8)]), keyText)).toBeUndefined();
    for (let i = 0; i < buf.length; i++) {
      const bad = Buffer.from(buf);
      bad[i] = bad[i]! ^ 0x40;
      expect(decodeCacheFile(bad, keyText), `byte ${i} changed`).toBeUndefined();
    }
  });
});

describe('compiledSeccomp', () => {
  let dir: string;
  let helper: string;
  let compiles: PlannedSeccomp[];
  const compile = async (s: PlannedSeccomp) => {
    compiles.push(s);
    return { ...compiled, program: Buffer.from(compiled.program) };
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-seccache-'));
    helper = path.join(dir, 'helper');
    fs.writeFileSync(helper, 'helper');
    compiles = [];
    clearSeccompMemoryCache();
  });
  afterEach(() => {
    clearSeccompMemoryCache();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('compiles a profile once per process without a cache dir, and anew when it changes', async () => {
    const s = planSeccomp(base);
    expect(await compiledSeccomp(s, helper, compile)).toStrictEqual(compiled);
    expect(await compiledSeccomp(planSeccomp({ ...base, listenerPath: '/x' }), helper, compile)).toStrictEqual(compiled);
    expect(compiles).toHaveLength(1);
    await compiledSeccomp(planSeccomp({ ...base, defaultErrnoRet: 38 }), helper, compile);
    expect(compiles).toHaveLength(2);
  });

  it('keeps the program on disk (0600, in a 0700 dir) for the next process', async () => {
    const cache = path.join(dir, '.seccomp');
    const s = planSeccomp(base);
    await compiledSeccomp(s, helper, compile, cache);
    expect(fs.statSync(cache).mode & 0o777).toBe(0o700);
    const file = cacheFile(cache, fastHash(seccompKeyText(s, helper)));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(cache)).toEqual([path.basename(file)]);
    clearSeccompMemoryCache(); // a new process
    expect(await compiledSeccomp(s, helper, compile, cache)).toStrictEqual(compiled);
    expect(compiles).toHaveLength(1);
  });

  it('a damaged, foreign-keyed or symlinked file is not used but replaced; a symlink target is left alone', async () => {
    const cache = path.join(dir, '.seccomp');
    const s = planSeccomp(base);
    await compiledSeccomp(s, helper, compile, cache);
    const file = cacheFile(cache, fastHash(seccompKeyText(s, helper)));
    const good = fs.readFileSync(file);
    const target = path.join(dir, 'target');
    const plants: Array<[string, () => void]> = [
      ['truncated', () => fs.writeFileSync(file, good.subarray(0, good.length - 8))],
      ['odd size', () => fs.writeFileSync(file, Buffer.concat([good, Buffer.from('x')]))],
      ['another key', () => fs.writeFileSync(file, encodeCacheFile('other', compiled))],
      ['empty', () => fs.writeFileSync(file, '')],
      ['a directory', () => (fs.rmSync(file), fs.mkdirSync(file))],
      [
        'a symlink to a valid file',
        () => {
          fs.rmSync(file, { recursive: true, force: true });
          fs.writeFileSync(target, good);
          fs.symlinkSync(target, file);
        },
      ],
    ];
    for (const [what, plant] of plants) {
      plant();
      clearSeccompMemoryCache();
      const before = compiles.length;
      await compiledSeccomp(s, helper, compile, cache);
      expect(compiles.length, what).toBe(before + 1);
      if (what === 'a directory') {
        // rename cannot replace a directory: not stored, compiled each time, never an error.
        fs.rmdirSync(file);
        continue;
      }
      expect(fs.lstatSync(file).isFile(), what).toBe(true);
      expect(fs.readFileSync(file).equals(good), what).toBe(true);
    }
    expect(fs.readFileSync(target).equals(good)).toBe(true);
    expect(fs.readdirSync(cache).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a cache dir that is a symlink is neither read through nor written to', async () => {
    const elsewhere = path.join(dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    const cache = path.join(dir, '.seccomp');
    fs.symlinkSync(elsewhere, cache);
    await compiledSeccomp(planSeccomp(base), helper, compile, cache);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });
});
