// A corpus of malformed and hostile configs. Each goes through the library's
// run() and through `tsbox run` (with --root under a temp dir), and must
// fail with one line naming the file and the JSON path (or the step that
// failed), leaving nothing behind: no process, no mount, no state
// directory, no file created or changed in the bundle.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../lib/run.js';
import { isRoot, makeBundle, type TestBundle } from '../helpers/bundle.js';
import { findCgroupDirs, removeCgroupDirs } from '../helpers/cgroups.js';
import { listTree, settledProcessesUnder, testStateRoot, tsbox } from '../helpers/cli.js';
import { leakSession } from '../helpers/leak-session.js';

interface Case {
  name: string;
  /** Changes the parsed test config (which has 6 mounts and 5 namespaces). */
  mutate?: (c: any, b: TestBundle) => void;
  /** Or: the whole text of config.json. */
  text?: (c: any, b: TestBundle) => string;
  /** The message after "<config.json>: " (file: true) or the whole message. */
  message: string | RegExp;
  file?: boolean;
}

const c = (name: string, mutate: (c: any, b: TestBundle) => void, message: string | RegExp): Case => ({ name, mutate, message, file: true });
/** A config whose text is the test config with `"MARK"` replaced by raw JSON (numbers JSON.stringify cannot write). */
const raw = (name: string, mutate: (c: any) => void, json: string, message: string): Case => ({
  name,
  text: (config) => {
    mutate(config);
    return JSON.stringify(config).replace('"MARK"', json);
  },
  message,
  file: true,
});
const mount = (m: Record<string, unknown>) => (cfg: any) => void cfg.mounts.push(m);

const CASES: Case[] = [
  // ---- wrong types
  c('ociVersion a number', (x) => (x.ociVersion = 1), 'ociVersion: must be a string, got 1'),
  c('config an array', () => {}, ''),
  c('process a string', (x) => (x.process = 'sh'), 'process: must be an object, got "sh"'),
  c('process.args a string', (x) => (x.process.args = 'sh'), 'process.args: must be a non-empty array, got "sh"'),
  c('process.args[0] a number', (x) => (x.process.args = [5]), 'process.args[0]: must be a string, got 5'),
  c('process.env an object', (x) => (x.process.env = {}), 'process.env: must be an array, got an object'),
  c('process.env[1] null', (x) => (x.process.env[1] = null), 'process.env[1]: must be a string, got null'),
  c('process.cwd a number', (x) => (x.process.cwd = 7), 'process.cwd: must be a string, got 7'),
  c('process.terminal a string', (x) => (x.process.terminal = 'yes'), 'process.terminal: must be a boolean, got "yes"'),
  c('process.user an array', (x) => (x.process.user = []), 'process.user: must be an object, got []'),
  c('process.user.uid a string', (x) => (x.process.user.uid = '0'), 'process.user.uid: must be an integer from 0 to 4294967295, got "0"'),
  c('process.user.gid a fraction', (x) => (x.process.user.gid = 1.5), 'process.user.gid: must be an integer from 0 to 4294967295, got 1.5'),
  c('process.capabilities.bounding a string', (x) => (x.process.capabilities = { bounding: 'CAP_KILL' }), 'process.capabilities.bounding: must be an array, got "CAP_KILL"'),
  c('process.rlimits an object', (x) => (x.process.rlimits = {}), 'process.rlimits: must be an array, got an object'),
  c('process.rlimits[0].soft a string', (x) => (x.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: '1024', hard: 1024 }]), 'process.rlimits[0].soft: must be an integer from 0 to 18446744073709551615, got "1024"'),
  c('process.noNewPrivileges a number', (x) => (x.process.noNewPrivileges = 1), 'process.noNewPrivileges: must be a boolean, got 1'),
  c('root a string', (x) => (x.root = 'rootfs'), 'root: must be an object, got "rootfs"'),
  c('root.path empty', (x) => (x.root.path = ''), 'root.path: must be a non-empty string, got ""'),
  c('root.readonly a string', (x) => (x.root.readonly = 'true'), 'root.readonly: must be a boolean, got "true"'),
  c('hostname a number', (x) => (x.hostname = 42), 'hostname: must be a string, got 42'),
  c('mounts an object', (x) => (x.mounts = {}), 'mounts: must be an array, got an object'),
  c('mounts[6] a string', mount('tmpfs' as any), 'mounts[6]: must be an object, got "tmpfs"'),
  c('mounts[6].options a string', mount({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: 'ro' }), 'mounts[6].options: must be an array, got "ro"'),
  c('linux an array', (x) => (x.linux = []), 'linux: must be an object, got []'),
  c('linux.namespaces an object', (x) => (x.linux.namespaces = {}), 'linux.namespaces: must be an array, got an object'),
  c('linux.namespaces[0].type a number', (x) => (x.linux.namespaces[0].type = 3), 'linux.namespaces[0].type: must be a string, got 3'),
  c('linux.readonlyPaths a string', (x) => (x.linux.readonlyPaths = '/proc'), 'linux.readonlyPaths: must be an array, got "/proc"'),
  c('linux.sysctl value a number', (x) => (x.linux.sysctl = { 'kernel.shm_rmid_forced': 1 }), 'linux.sysctl.kernel.shm_rmid_forced: must be a string, got 1'),
  c('linux.resources.memory.limit a string', (x) => (x.linux.resources = { memory: { limit: '1g' } }), /^linux\.resources\.memory\.limit: must be an integer from -?\d+ to \d+, got "1g"$/),
  c('annotations value a number', (x) => (x.annotations = { a: 1 }), 'annotations.a: must be a string, got 1'),
  c('hooks.prestart an object', (x) => (x.hooks = { prestart: {} }), 'hooks.prestart: must be an array, got an object'),
  // ---- impossible values
  c('negative uid', (x) => (x.process.user.uid = -1), 'process.user.uid: must be an integer from 0 to 4294967295, got -1'),
  c('uid 2^32', (x) => (x.process.user.uid = 2 ** 32), 'process.user.uid: must be an integer from 0 to 4294967295, got 4294967296'),
  c('negative additional gid', (x) => (x.process.user.additionalGids = [-1]), 'process.user.additionalGids[0]: must be an integer from 0 to 4294967295, got -1'),
  c('"NaN" as a uid', (x) => (x.process.user.uid = 'NaN'), 'process.user.uid: must be an integer from 0 to 4294967295, got "NaN"'),
  c('"Infinity" as an rlimit', (x) => (x.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 'Infinity', hard: 1 }]), 'process.rlimits[0].soft: must be an integer from 0 to 18446744073709551615, got "Infinity"'),
  c('rlimit soft above hard', (x) => (x.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }]), 'process.rlimits[0].soft: must not be greater than hard (2048 > 1024)'),
  raw('rlimit beyond 2^64', (x) => (x.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 'MARK' }]), '36893488147419103232', 'process.rlimits[0].hard: must be an integer from 0 to 18446744073709551615, got 36893488147419103000'),
  raw('oomScoreAdj 1e400 (infinite once parsed)', (x) => (x.process.oomScoreAdj = 'MARK'), '1e400', 'process.oomScoreAdj: must be an integer from -1000 to 1000, got Infinity'),
  c('oomScoreAdj out of range', (x) => (x.process.oomScoreAdj = 5000), 'process.oomScoreAdj: must be an integer from -1000 to 1000, got 5000'),
  c('hostname longer than 64 bytes', (x) => (x.hostname = 'h'.repeat(65)), 'hostname: must be at most 64 bytes long, got 65'),
  c('uid mapping of size 0', (x) => (x.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 0 }]), 'linux.uidMappings[0].size: must be an integer from 1 to 4294967295, got 0'),
  c('hook timeout 0', (x) => (x.hooks = { prestart: [{ path: '/bin/true', timeout: 0 }] }), 'hooks.prestart[0].timeout: must be an integer from 1 to 2147483647, got 0'),
  c('a NUL in an argument', (x) => (x.process.args = ['/bin/true\u0000--evil']), 'process.args[0]: must not contain a NUL byte'),
  c('a NUL in an env entry', (x) => (x.process.env.push('A=1\u0000B=2')), 'process.env[2]: must not contain a NUL byte'),
  c('an env entry without "="', (x) => (x.process.env.push('JUSTKEY')), 'process.env[2]: must be of the form KEY=value, got "JUSTKEY"'),
  c('a mount option with a comma', mount({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['ro,nosuid'] }), 'mounts[6].options[0]: must not contain a comma, got "ro,nosuid"'),
  // ---- unknown names in strict places
  c('an unknown capability', (x) => (x.process.capabilities = { bounding: ['CAP_KILL', 'CAP_BOGUS'] }), 'process.capabilities.bounding[1]: unknown capability "CAP_BOGUS"'),
  c('a lower-case capability', (x) => (x.process.capabilities = { effective: ['cap_kill'] }), 'process.capabilities.effective[0]: must be a capability name like CAP_KILL, got "cap_kill"'),
  c('an unknown namespace type', (x) => (x.linux.namespaces[0].type = 'Network'), /^linux\.namespaces\[0\]\.type: unknown namespace type "Network" \(expected one of: /),
  c('an unknown rlimit type', (x) => (x.process.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]), /^process\.rlimits\[0\]\.type: unknown rlimit type "RLIMIT_BOGUS" \(expected one of: /),
  c('an unknown bind mount option', mount({ destination: '/x', type: 'bind', source: '/tmp', options: ['rbind', 'bogus'] }), /^mounts\[6\]\.options\[1\]: unknown option "bogus"/),
  c('an unknown propagation', mount({ destination: '/x', type: 'bind', source: '/tmp', options: ['rbind', 'rprivatex'] }), /^mounts\[6\]\.options\[1\]: unknown option "rprivatex"/),
  c('an unknown rootfs propagation', (x) => (x.linux.rootfsPropagation = 'weird'), /^linux\.rootfsPropagation: unknown rootfs propagation "weird" \(expected one of: /),
  c('an unknown scheduler policy', (x) => (x.process.scheduler = { policy: 'SCHED_FAST' }), /^process\.scheduler\.policy: unknown scheduler policy "SCHED_FAST"/),
  c('an unknown device type', (x) => (x.linux.devices = [{ type: 'x', path: '/dev/x', major: 1, minor: 1 }]), /^linux\.devices\[0\]\.type: unknown device type "x"/),
  c('a duplicate namespace', (x) => x.linux.namespaces.push({ type: 'pid' }), 'linux.namespaces[5].type: duplicate namespace type "pid"'),
  c('a duplicate rlimit', (x) => (x.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }]), 'process.rlimits[1].type: duplicate rlimit type "RLIMIT_NOFILE"'),
  c('a sysctl key that climbs out of /proc/sys', (x) => (x.linux.sysctl = { '../../../etc/passwd': 'x' }), 'linux.sysctl.../../../etc/passwd: must be a sysctl name like "net.ipv4.ip_forward", got "../../../etc/passwd"'),
  c('a sysctl key with an empty component', (x) => (x.linux.sysctl = { 'kernel..x': '1' }), 'linux.sysctl.kernel..x: must be a sysctl name like "net.ipv4.ip_forward", got "kernel..x"'),
  // ---- relative where absolute is required
  c('a relative cwd', (x) => (x.process.cwd = 'tmp'), 'process.cwd: must be an absolute path, got "tmp"'),
  c('an empty mount destination', mount({ destination: '', type: 'tmpfs', source: 'tmpfs' }), 'mounts[6].destination: must be a non-empty string, got ""'),
  c('a relative namespace path', (x) => (x.linux.namespaces[0].path = 'proc/1/ns/pid'), 'linux.namespaces[0].path: must be an absolute path, got "proc/1/ns/pid"'),
  c('a relative masked path', (x) => (x.linux.maskedPaths = ['proc/kcore']), 'linux.maskedPaths[0]: must be an absolute path, got "proc/kcore"'),
  c('a relative hook path', (x) => (x.hooks = { poststart: [{ path: 'bin/true' }] }), 'hooks.poststart[0].path: must be an absolute path, got "bin/true"'),
  c('a relative device path', (x) => (x.linux.devices = [{ type: 'c', path: 'dev/x', major: 1, minor: 3 }]), 'linux.devices[0].path: must be an absolute path, got "dev/x"'),
  // ---- root.path leaving the bundle
  c('root.path a symlink to a directory outside the bundle', (x, b) => {
    fs.symlinkSync(path.dirname(b.dir), path.join(b.dir, 'escape'));
    x.root.path = 'escape';
  }, ''),
  c('root.path climbing out with .. to the host\'s root', (x) => (x.root.path = '../../../../../../..'), ''),
  // ---- huge inputs
  c('a 10 MB argument', (x) => (x.process.args = ['/bin/true', 'a'.repeat(10 * 1024 * 1024)]), 'process.args[1]: must be at most 1048576 characters long, got 10485760'),
  c('100k env entries, the last one malformed', (x) => {
    x.process.env = Array.from({ length: 99_999 }, (_, i) => `K${i}=v`);
    x.process.env.push('BROKEN');
  }, 'process.env[99999]: must be of the form KEY=value, got "BROKEN"'),
  c('more than 100k env entries', (x) => (x.process.env = Array.from({ length: 100_001 }, (_, i) => `K${i}=v`)), 'process.env: must have at most 100000 entries, got 100001'),
  c('10k mounts, the last with an empty destination', (x) => {
    for (let i = 0; i < 9_993; i++) x.mounts.push({ destination: `/m${i}`, type: 'tmpfs', source: 'tmpfs' });
    x.mounts.push({ destination: '', type: 'tmpfs', source: 'tmpfs' });
  }, 'mounts[9999].destination: must be a non-empty string, got ""'),
  raw('deeply nested JSON (100k levels) where a string belongs', (x) => (x.annotations = { deep: 'MARK' }), '['.repeat(100_000) + ']'.repeat(100_000), 'annotations.deep: must be a string, got an array'),
  raw('deeply nested JSON (100k levels) in an unknown field', (x) => {
    x.extension = 'MARK';
    x.process.cwd = 'relative';
  }, '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000), 'process.cwd: must be an absolute path, got "relative"'),
];

// Cases whose message depends on the bundle.
function expected(k: Case, b: TestBundle): string | RegExp {
  if (k.name === 'config an array') return `${b.configPath}: config must be a JSON object`;
  if (k.name.startsWith('root.path a symlink')) {
    return `${b.configPath}: root.path: "escape" leads out of the bundle through a symlink, to "${path.dirname(b.dir)}"`;
  }
  if (k.name.startsWith('root.path climbing')) {
    return `${b.configPath}: root.path: rootfs "/" is the host's root directory`;
  }
  if (typeof k.message !== 'string') return new RegExp(`^${escape(b.configPath)}: ${k.message.source.replace(/^\^/, '')}`);
  return k.file ? `${b.configPath}: ${k.message}` : k.message;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const MB = 1024 * 1024;

describe.skipIf(!isRoot)('a corpus of hostile configs: one-line errors, nothing left behind', () => {
  const leaks = leakSession();

  it('has at least 50 cases', () => {
    expect(CASES.length + 1).toBeGreaterThanOrEqual(50);
  });

  function prepare(k: Case): { b: TestBundle; message: string | RegExp; before: string[] } {
    const b = makeBundle({ args: ['/bin/true'] });
    leaks.keep(b);
    if (k.name === 'config an array') {
      fs.writeFileSync(b.configPath, '[]');
    } else if (k.text) {
      fs.writeFileSync(b.configPath, k.text(b.config, b));
    } else {
      k.mutate!(b.config, b);
      // Written compactly: the huge cases stay small enough to be quick.
      fs.writeFileSync(b.configPath, JSON.stringify(b.config));
    }
    return { b, message: expected(k, b), before: listTree(b.dir) };
  }

  async function expectNothingLeft(b: TestBundle, before: string[]): Promise<void> {
    expect(await settledProcessesUnder(b.dir), 'processes inside the bundle').toEqual([]);
    expect(listTree(b.dir), 'the bundle').toEqual(before);
  }

  function expectMessage(actual: string, message: string | RegExp): void {
    expect(actual).not.toContain('\n');
    if (typeof message === 'string') expect(actual).toBe(message);
    else expect(actual).toMatch(message);
  }

  for (const k of CASES) {
    it(`${k.name}: library and CLI`, async () => {
      const { b, message, before } = prepare(k);
      const error = await run(b.dir, { stdio: 'ignore' }).then(
        async (container) => {
          container.kill('SIGKILL');
          await container.exited;
          return new Error('run() succeeded');
        },
        (err: Error) => err,
      );
      expectMessage(error.message, message);
      await expectNothingLeft(b, before);

      const root = testStateRoot();
      const stateBefore = fs.existsSync(root) ? fs.readdirSync(root) : [];
      const r = await tsbox(['run', b.dir]);
      expect(r.stdout).toBe('');
      expect(r.status).toBe(1);
      expect(r.stderr.startsWith('tsbox: ') && r.stderr.endsWith('\n')).toBe(true);
      expectMessage(r.stderr.slice('tsbox: '.length, -1), message);
      expect(fs.existsSync(root) ? fs.readdirSync(root) : [], 'state directories').toEqual(stateBefore);
      await expectNothingLeft(b, before);
    }, 60_000);
  }

  it('a hostile config that fails after its cgroups were made (an unknown setrlimit): no cgroup is left', async () => {
    const b = makeBundle({ args: ['/bin/true'] });
    leaks.keep(b);
    const token = `tsbox-hostile-${process.pid}-${Date.now()}`;
    b.config.linux.cgroupsPath = `/${token}`;
    b.config.linux.resources = { pids: { limit: 10 } };
    // Valid JSON, accepted by the validator, refused by the kernel in the init.
    b.config.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2 ** 30, hard: 2 ** 30 }];
    b.write();
    try {
      await expect(run(b.dir, { stdio: 'ignore' })).rejects.toThrow('setrlimit RLIMIT_NOFILE: operation not permitted (EPERM)');
      expect(findCgroupDirs(token), 'cgroups after run()').toEqual([]);
      const r = await tsbox(['run', b.dir]);
      expect(r).toMatchObject({ status: 1, stdout: '', stderr: 'tsbox: setrlimit RLIMIT_NOFILE: operation not permitted (EPERM)\n' });
      expect(findCgroupDirs(token), 'cgroups after tsbox run').toEqual([]);
    } finally {
      await removeCgroupDirs(findCgroupDirs(token));
    }
  });

  it('a 100 MB config.json: refused before it is read, by size', async () => {
    const b = makeBundle({ args: ['/bin/true'] });
    leaks.keep(b);
    const text = JSON.stringify(b.config);
    // Valid JSON, padded with whitespace to 100 MB (a sparse-free file, written in chunks).
    const fd = fs.openSync(b.configPath, 'w');
    fs.writeSync(fd, text);
    const pad = Buffer.alloc(MB, 0x20);
    for (let i = 0; i < 100; i++) fs.writeSync(fd, pad);
    fs.closeSync(fd);
    const message = `read "${b.configPath}": ${fs.statSync(b.configPath).size} bytes is more than the limit of 67108864 (64 MiB)`;
    await expect(run(b.dir, { stdio: 'ignore' })).rejects.toThrow(message);
    const r = await tsbox(['run', b.dir]);
    expect(r).toMatchObject({ status: 1, stdout: '', stderr: `tsbox: ${message}\n` });
  });
});

