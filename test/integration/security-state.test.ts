// Attacks through the state root: hostile container ids given to the CLI,
// and symlinks planted in the state root where a container's directory or
// its state.json should be. State names the processes signals go to and the
// poststop hooks delete runs, so no command may follow such a link: each
// must refuse with a one-line error, and the host must be unchanged. And a
// create that fails at any stage leaves no file of its own beside the
// compiled-seccomp cache, nor a cgroup.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { processStat } from '../../lib/host/proc.js';
import { isRoot } from '../helpers/bundle.js';
import { findCgroupDirs, removeCgroupDirs } from '../helpers/cgroups.js';
import { listTree } from '../helpers/cli.js';
import { isAlive, lifecycleSession, spawnProc } from '../helpers/lifecycle.js';
import { snapshot } from '../helpers/security.js';

const HOSTILE_IDS: [string, string][] = [
  ['../x', '../x'],
  ['a/b', 'a/b'],
  ['/abs', '/abs'],
  ['very long', 'x'.repeat(5000)],
  ['empty', ''],
  ['a control character', 'a\u0001b'],
  ['a newline', 'a\nb'],
  ['an escape sequence', 'a\u001b[2Jb'],
  ['.', '.'],
  ['..', '..'],
];

describe.skipIf(!isRoot)('hostile container ids through the CLI', () => {
  const lc = lifecycleSession();

  for (const [name, id] of HOSTILE_IDS) {
    it(`${name}: every command refuses it with one line, nothing is created under --root or outside it`, async () => {
      const b = lc.bundle({ args: ['/bin/true'] });
      const top = path.dirname(lc.root);
      fs.mkdirSync(lc.root, { recursive: true });
      const before = listTree(top);
      const commands = [
        ['create', '--bundle', b.dir, id],
        ['run', '--bundle', b.dir, id],
        ['start', id],
        ['state', id],
        ['kill', id, 'KILL'],
        ['delete', id],
        ['delete', '--force', id],
        ['exec', id, '/bin/true'],
        ['ps', id],
        ['pause', id],
        ['resume', id],
      ];
      for (const args of commands) {
        const r = await lc.cli(args);
        const what = `tsbox ${args[0]} (${JSON.stringify(id).slice(0, 40)})`;
        expect(r.status, what).toBe(1);
        expect(r.stdout, what).toBe('');
        expect(r.stderr, what).toMatch(/^tsbox: invalid container id "(?:[^"\\\n]|\\.){0,70}": use 1 to 1024 of A-Z a-z 0-9 _ \+ - \. \(not "\." or "\.\."\)\n$/);
      }
      expect(listTree(top), `contents of ${top}`).toEqual(before);
    });
  }
});

describe.skipIf(!isRoot)('symlinks planted in the state root', () => {
  const lc = lifecycleSession();

  /**
   * A victim: a live process of ours, and a host directory holding a forged
   * state.json that names it and carries a poststop hook writing into it.
   */
  function victim() {
    const sleeper = spawnProc('sleep', ['60']);
    const pid = sleeper.child.pid!;
    const dir = lc.scratch();
    const record = {
      id: 'planted', pid, pidStartTime: processStat(pid)!.startTime, bundle: dir, rootfs: dir,
      created: new Date().toISOString(), owner: 'root', annotations: {},
      poststop: [{ path: '/bin/sh', args: ['sh', '-c', `echo pwned > ${dir}/pwned`] }],
    };
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(record));
    const before = snapshot(dir);
    return {
      dir,
      pid,
      unchanged() {
        expect(snapshot(dir), `host directory ${dir}`).toEqual(before);
        expect(isAlive(pid), 'the victim process').toBe(true);
      },
      async stop() {
        sleeper.child.kill('SIGKILL');
        await sleeper.exited;
      },
    };
  }

  const OPERATIONS = [['state'], ['kill', 'KILL'], ['kill', '--all', 'KILL'], ['start'], ['ps'], ['pause'], ['exec', '/bin/true'], ['delete'], ['delete', '--force']];

  async function expectRefusedEverywhere(id: string, message: string): Promise<void> {
    for (const op of OPERATIONS) {
      const args = op[0] === 'kill' || op[0] === 'exec' ? [op[0], ...op.slice(1).filter((a) => a.startsWith('-')), id, ...op.slice(1).filter((a) => !a.startsWith('-'))] : [...op, id];
      const r = await lc.cli(args);
      expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }, `tsbox ${args.join(' ')}`).toEqual({ status: 1, stdout: '', stderr: `tsbox: ${message}\n` });
    }
    const list = await lc.cli(['list', '--format', 'json']);
    expect(list.status).toBe(0);
    expect(JSON.parse(list.stdout || '[]').map((c: { id: string }) => c.id)).not.toContain(id);
  }

  it('the container\'s directory replaced by a symlink to a host directory: no command follows it', async () => {
    const v = victim();
    fs.mkdirSync(lc.root, { recursive: true, mode: 0o700 });
    const link = path.join(lc.root, 'planted');
    fs.symlinkSync(v.dir, link);
    try {
      await expectRefusedEverywhere('planted', `state of container "planted": "${link}" is a symlink; refusing to follow it`);
      // create over it must not write into the host directory either.
      const b = lc.bundle({ args: ['/bin/true'] });
      const r = await lc.cli(['create', '--bundle', b.dir, 'planted']);
      expect(r).toMatchObject({ status: 1, stderr: 'tsbox: container "planted" already exists\n' });
      v.unchanged();
    } finally {
      fs.unlinkSync(link);
      await v.stop();
    }
  });

  it('state.json replaced by a symlink to a forged host file: no command follows it', async () => {
    const v = victim();
    const dir = path.join(lc.root, 'planted');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'state.json');
    fs.symlinkSync(path.join(v.dir, 'state.json'), file);
    try {
      await expectRefusedEverywhere('planted', `state of container "planted": "${file}" is a symlink; refusing to follow it`);
      v.unchanged();
    } finally {
      fs.rmSync(dir, { recursive: true });
      await v.stop();
    }
  });
});

describe.skipIf(!isRoot)('a create that fails leaves nothing under the state root but the seccomp cache', () => {
  const lc = lifecycleSession();
  /** Every profile here is the same one, so its compiled program is cached once. */
  const PROFILE = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
  const CACHE_ENTRY = /^\.seccomp\/ d 700$|^\.seccomp\/[0-9a-f]{16}\.bpf f 600 \d+$/;

  const FAILURES: [string, (c: any, scratch: string) => void, RegExp][] = [
    ['a missing executable', (c) => (c.process.args = ['/no/such/program']), /"\/no\/such\/program"/],
    ['a bind mount whose source is missing', (c, scratch) => c.mounts.push({ destination: '/mnt', type: 'bind', source: path.join(scratch, 'gone'), options: ['rbind'] }), /mounts\[\d+\]|gone/],
    ['a failing createRuntime hook', (c) => (c.hooks = { createRuntime: [{ path: '/bin/false' }] }), /hooks\.createRuntime\[0\]|createRuntime/],
    ['a failing createContainer hook', (c) => (c.hooks = { createContainer: [{ path: '/bin/false' }] }), /createContainer/],
    ['a seccomp profile the helper cannot load (an architecture libseccomp lacks)', (c) => (c.linux.seccomp = { ...PROFILE, architectures: ['SCMP_ARCH_M68K'] }), /SCMP_ARCH_M68K/],
    ['a seccomp listener that is not there', (c, scratch) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: path.join(scratch, 'nobody.sock'), syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_NOTIFY' }] }), /listenerPath/],
  ];

  it('each failure (create and run): one line, then only .seccomp and its programs remain (the start socket too is gone)', async () => {
    // A good container first, so the cache exists with a program in it.
    const good = lc.bundle({ args: ['/bin/true'], mutate: (c) => (c.linux.seccomp = PROFILE) });
    expect(await lc.cli(['run', '--bundle', good.dir, 'good'])).toMatchObject({ status: 0, stderr: '' });
    const cached = listTree(lc.root);
    expect(cached.length).toBe(2);
    for (const entry of cached) expect(entry).toMatch(CACHE_ENTRY);

    const token = `tsbox-test-failed-${process.pid}-${Date.now()}`;
    try {
      await failEach(token);
    } finally {
      const left = findCgroupDirs(token);
      await removeCgroupDirs(left);
      expect(left, 'cgroups of the failed creates').toEqual([]);
    }
  }, 60_000);

  async function failEach(token: string): Promise<void> {
    for (const [what, mutate, message] of FAILURES) {
      const scratch = lc.scratch();
      const b = lc.bundle({ args: ['/bin/true'], mutate: (c) => {
        c.linux.seccomp = PROFILE;
        c.linux.cgroupsPath = token;
        mutate(c, scratch);
      } });
      for (const command of [['create', '--bundle', b.dir, 'bad'], ['run', '--bundle', b.dir, 'bad']]) {
        const r = await lc.cli(command);
        expect(r.status, `${command[0]}, ${what}: ${r.stderr}`).toBe(1);
        expect(r.stderr, `${command[0]}, ${what}`).toMatch(/^tsbox: [^\n]+\n$/);
        expect(r.stderr, `${command[0]}, ${what}`).toMatch(message);
        const left = listTree(lc.root).filter((entry) => !CACHE_ENTRY.test(entry));
        expect(left, `${command[0]}, ${what}: under the state root`).toEqual([]);
      }
    }
  }
});
