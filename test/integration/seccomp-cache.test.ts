// Compiled seccomp programs cached per profile (lib/seccomp-cache.ts),
// through real containers: a profile is compiled once (per Node process for
// the library, once per state root for the CLI), a changed profile anew, a
// damaged or planted cache file is never loaded but replaced, and the cache
// is not a container.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/native/binding.js';
import { planSeccomp } from '../../lib/plan/seccomp.js';
import {
  cacheFile,
  decodeCacheFile,
  encodeCacheFile,
  fastHash,
  seccompCacheStats,
  seccompKeyText,
} from '../../lib/seccomp-cache.js';
import type { LinuxSeccomp } from '../../lib/oci/types.js';
import { isRoot } from '../helpers/bundle.js';
import { containerSession } from '../helpers/containers.js';
import { lifecycleSession } from '../helpers/lifecycle.js';

const ENOMSG = 42;
const ENOMSG_TEXT = 'No message of desired type';
const EDQUOT = 122;
const EDQUOT_TEXT = 'Disk quota exceeded';

/** mkdir fails with `errno`; a profile no other test file uses (the x32 arch), so this process has not compiled it. */
function mkdirFails(errno: number): LinuxSeccomp {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'],
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: errno }],
  };
}

describe.skipIf(!isRoot)('compiled seccomp programs, library' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const s = containerSession();

  it('the second start of a profile loads the program compiled for the first; a changed profile is compiled anew', async () => {
    const first = s.bundle({ args: ['mkdir', '/tmp/a'], mutate: (c) => (c.linux.seccomp = mkdirFails(ENOMSG)) });
    // The same profile, spelled otherwise: still the same program.
    const again = s.bundle({
      args: ['mkdir', '/tmp/b'],
      mutate: (c) => (c.linux.seccomp = { ...mkdirFails(ENOMSG), listenerMetadata: 'ignored' }),
    });
    const changed = s.bundle({ args: ['mkdir', '/tmp/c'], mutate: (c) => (c.linux.seccomp = mkdirFails(EDQUOT)) });
    const before = { ...seccompCacheStats };
    const r1 = await s.collect(first);
    expect(seccompCacheStats.compiled - before.compiled).toBe(1);
    const r2 = await s.collect(again);
    expect(seccompCacheStats.compiled - before.compiled).toBe(1);
    expect(seccompCacheStats.fromMemory - before.fromMemory).toBe(1);
    const r3 = await s.collect(changed);
    expect(seccompCacheStats.compiled - before.compiled).toBe(2);
    for (const r of [r1, r2]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(ENOMSG_TEXT);
    }
    expect(r3.code).toBe(1);
    expect(r3.stderr).toContain(EDQUOT_TEXT);
    for (const dir of ['a', 'b', 'c']) expect(fs.existsSync(path.join(first.rootfs, 'tmp', dir))).toBe(false);
  });
});

describe.skipIf(!isRoot)('compiled seccomp programs under the state root (CLI)', () => {
  const lc = lifecycleSession();
  const cacheDir = () => path.join(lc.root, '.seccomp');
  const fileOf = (profile: LinuxSeccomp) => {
    const keyText = seccompKeyText(planSeccomp(profile), native().helperPath);
    return { keyText, file: cacheFile(cacheDir(), fastHash(keyText)) };
  };

  /** `tsbox run` of mkdir under `profile`: the errno text it printed. */
  async function runMkdir(id: string, profile: LinuxSeccomp): Promise<string> {
    const b = lc.bundle({ args: ['mkdir', '/tmp/made'], mutate: (c) => (c.linux.seccomp = profile) });
    lc.track(id);
    const r = await lc.cli(['run', '--bundle', b.dir, id]);
    expect(r.status, r.stderr).toBe(1);
    expect(fs.existsSync(path.join(b.rootfs, 'tmp', 'made'))).toBe(false);
    return r.stderr;
  }

  it('the first run stores the program (0600), later runs and exec load it without compiling; list shows no cache', async () => {
    const profile = mkdirFails(ENOMSG);
    const { file, keyText } = fileOf(profile);
    expect(await runMkdir('c1', profile)).toContain(ENOMSG_TEXT);
    expect(fs.readdirSync(cacheDir())).toEqual([path.basename(file)]);
    const st = fs.lstatSync(file);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(fs.statSync(cacheDir()).mode & 0o777).toBe(0o700);
    expect(decodeCacheFile(fs.readFileSync(file), keyText)?.program.length).toBeGreaterThan(0);

    // Not compiled again: the same file (a compile would rename a new one into place).
    expect(await runMkdir('c2', profile)).toContain(ENOMSG_TEXT);
    const b = lc.bundle({ args: ['sleep', '100'], mutate: (c) => (c.linux.seccomp = profile) });
    lc.track('c3');
    expect(await lc.cli(['run', '-d', '--bundle', b.dir, 'c3'])).toMatchObject({ status: 0, stderr: '' });
    const mk = await lc.cli(['exec', 'c3', 'mkdir', '/tmp/x']);
    expect(mk.status).toBe(1);
    expect(mk.stderr).toContain(ENOMSG_TEXT);
    const after = fs.lstatSync(file);
    expect([after.ino, after.mtimeMs]).toEqual([st.ino, st.mtimeMs]);
    expect(fs.readdirSync(cacheDir())).toEqual([path.basename(file)]);

    const list = await lc.cli(['list', '--quiet']);
    expect(list).toMatchObject({ status: 0, stderr: '' });
    expect(list.stdout.split('\n').filter(Boolean)).toEqual(['c3']);
    const reserved = await lc.cli(['run', '--bundle', b.dir, '.seccomp']);
    expect(reserved.status).toBe(1);
    expect(reserved.stderr).toBe(`tsbox: invalid container id ".seccomp": the name is reserved for tsbox's own files in the state root\n`);
  });

  it('a changed profile is compiled anew, into a file of its own', async () => {
    expect(await runMkdir('d1', mkdirFails(ENOMSG))).toContain(ENOMSG_TEXT);
    expect(await runMkdir('d2', mkdirFails(EDQUOT))).toContain(EDQUOT_TEXT);
    expect(fs.readdirSync(cacheDir()).sort()).toEqual(
      [fileOf(mkdirFails(ENOMSG)).file, fileOf(mkdirFails(EDQUOT)).file].map((f) => path.basename(f)).sort(),
    );
  });

  it('a damaged file (wrong size) or a planted symlink is not loaded but replaced by a good file', async () => {
    const profile = mkdirFails(ENOMSG);
    const other = mkdirFails(EDQUOT);
    const { file, keyText } = fileOf(profile);
    await runMkdir('e1', profile);
    await runMkdir('e2', other);
    const good = fs.readFileSync(file);

    for (const damaged of [good.subarray(0, good.length - 8), Buffer.concat([good, Buffer.from('xyz')])]) {
      fs.writeFileSync(file, damaged);
      const ino = fs.lstatSync(file).ino;
      expect(await runMkdir(`e3-${damaged.length}`, profile)).toContain(ENOMSG_TEXT);
      expect(fs.lstatSync(file).ino).not.toBe(ino);
      expect(fs.readFileSync(file).equals(good)).toBe(true);
    }

    // A symlink to a well-formed entry for this very profile, but holding
    // the other profile's program: followed, it would make mkdir fail with
    // EDQUOT. It must be neither read nor written through.
    const otherProgram = decodeCacheFile(fs.readFileSync(fileOf(other).file), fileOf(other).keyText)!;
    const target = path.join(lc.scratch(), 'planted.bpf');
    const planted = encodeCacheFile(keyText, otherProgram);
    fs.writeFileSync(target, planted);
    fs.rmSync(file);
    fs.symlinkSync(target, file);
    expect(await runMkdir('e4', profile)).toContain(ENOMSG_TEXT);
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(fs.readFileSync(file).equals(good)).toBe(true);
    expect(fs.readFileSync(target).equals(planted)).toBe(true);
    expect(fs.readdirSync(cacheDir()).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
