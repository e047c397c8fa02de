// Every way a bundle or its setup can be wrong, through the library (run()
// rejects with a one-line message) and the command line (exit status 1,
// exactly `tsbox: <message>` on stderr, nothing on stdout), each time
// checking that nothing was left behind: no mount on the host, no process,
// no file created or changed in the bundle.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../lib/run.js';
import { isRoot, makeBundle, type TestBundle } from '../helpers/bundle.js';
import { leakSession } from '../helpers/leak-session.js';
import {
  killProcessesUnder,
  killStarted,
  listTree,
  settledHostState,
  settledProcessesUnder,
  tempDir,
  tsbox,
} from '../helpers/cli.js';

const NAMESPACE_TYPES = 'pid, network, mount, ipc, uts, user, cgroup, time';

interface Prepared {
  /** What run() and `tsbox run` are given. */
  target: string;
  /** The directory whose contents must be the same after the failure. */
  watch: string;
  /** The bundle, when the case made one (for the process check). */
  bundle?: TestBundle;
  /** The exact message, or a pattern for it. */
  message: string | RegExp;
}

interface Case {
  name: string;
  prepare(scratch: () => string, bundle: (b: TestBundle) => TestBundle): Prepared;
}

/** A bundle whose config is changed by `mutate`; `message` gets the bundle to name its paths. */
function configCase(
  name: string,
  mutate: (config: any, b: TestBundle) => void,
  message: (b: TestBundle) => string | RegExp,
  extra: Partial<Case> = {},
): Case {
  return {
    name,
    prepare(_scratch, keep) {
      const b = keep(makeBundle());
      mutate(b.config, b);
      b.write();
      return { target: b.dir, watch: b.dir, bundle: b, message: message(b) };
    },
    ...extra,
  };
}

/** Appends a mount to the test config (which has 6 mounts: the new one is mounts[6]). */
function addMount(mount: Record<string, unknown>) {
  return (config: any) => {
    expect(config.mounts).toHaveLength(6);
    config.mounts.push(mount);
  };
}

const CASES: Case[] = [
  {
    name: 'the bundle directory does not exist',
    prepare(scratch) {
      const top = scratch();
      const target = path.join(top, 'no-such-bundle');
      return { target, watch: top, message: `bundle "${target}": no such directory` };
    },
  },
  {
    name: 'the bundle path is a file',
    prepare(scratch) {
      const top = scratch();
      const target = path.join(top, 'a-file');
      fs.writeFileSync(target, '{}\n');
      return { target, watch: top, message: `bundle "${target}": not a directory` };
    },
  },
  {
    name: 'config.json is missing',
    prepare(_scratch, keep) {
      const b = keep(makeBundle());
      fs.rmSync(b.configPath);
      return { target: b.dir, watch: b.dir, bundle: b, message: `read "${b.configPath}": no such file` };
    },
  },
  {
    name: 'config.json is not valid JSON (broken at a known place)',
    prepare(_scratch, keep) {
      const b = keep(makeBundle());
      // `"cwd": "/",` becomes `"cwd": /,`: the error is at that slash.
      const lines = JSON.stringify(b.config, null, 2).split('\n');
      const index = lines.findIndex((l) => l.trim() === '"cwd": "/",');
      expect(index).toBeGreaterThan(0);
      lines[index] = lines[index]!.replace('"/"', '/');
      fs.writeFileSync(b.configPath, lines.join('\n'));
      const line = index + 1;
      const column = lines[index]!.indexOf('/') + 1;
      expect(column).toBe('    "cwd": /'.length);
      return {
        target: b.dir,
        watch: b.dir,
        bundle: b,
        message: `${b.configPath}: invalid JSON at line ${line}, column ${column}`,
      };
    },
  },
  {
    name: 'config.json ends in the middle of the document',
    prepare(_scratch, keep) {
      const b = keep(makeBundle());
      // Cut after `"terminal": ` on line 4: the end of the text is the error.
      const text = '{\n  "ociVersion": "1.2.0",\n  "process": {\n    "terminal": ';
      fs.writeFileSync(b.configPath, text);
      return { target: b.dir, watch: b.dir, bundle: b, message: `${b.configPath}: invalid JSON at line 4, column 17` };
    },
  },
  configCase(
    'process.args is empty',
    (c) => {
      c.process.args = [];
    },
    (b) => `${b.configPath}: process.args: must be a non-empty array, got []`,
  ),
  configCase(
    'process.cwd is relative',
    (c) => {
      c.process.cwd = 'tmp';
    },
    (b) => `${b.configPath}: process.cwd: must be an absolute path, got "tmp"`,
  ),
  configCase(
    'a namespace has an unknown type',
    (c) => {
      expect(c.linux.namespaces).toHaveLength(5);
      c.linux.namespaces.splice(2, 0, { type: 'bogus' });
    },
    (b) => `${b.configPath}: linux.namespaces[2].type: unknown namespace type "bogus" (expected one of: ${NAMESPACE_TYPES})`,
  ),
  configCase(
    'the rootfs directory is missing',
    (_c, b) => {
      fs.rmSync(b.rootfs, { recursive: true });
    },
    (b) => `${b.configPath}: root.path: rootfs "${b.rootfs}" does not exist`,
  ),
  configCase(
    'root.path is a file',
    (c, b) => {
      fs.writeFileSync(path.join(b.dir, 'not-a-dir'), '');
      c.root.path = 'not-a-dir';
    },
    (b) => `${b.configPath}: root.path: rootfs "${path.join(b.dir, 'not-a-dir')}" is not a directory`,
  ),
  configCase(
    'a tmpfs mount has an unknown option',
    addMount({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'foo=bar'] }),
    (b) => `${b.configPath}: mounts[6].options[1]: unknown option "foo=bar" for a tmpfs mount`,
  ),
  configCase(
    'a bind mount source does not exist',
    (c) => {
      expect(fs.existsSync('/nonexistent')).toBe(false);
      addMount({ destination: '/mnt', type: 'bind', source: '/nonexistent', options: ['rbind'] })(c);
    },
    () => 'mount "/nonexistent" on "/mnt": no such file or directory (ENOENT)',
  ),
  configCase(
    'the executable is not found in $PATH',
    (c) => {
      c.process.args = ['nope'];
    },
    () => 'exec "nope": executable file not found in $PATH',
  ),
  configCase(
    'the executable path does not exist',
    (c) => {
      c.process.args = ['/bin/nope'];
    },
    () => 'exec "/bin/nope": no such file or directory (ENOENT)',
  ),
  configCase(
    'the executable path exists but is not executable',
    (c) => {
      c.process.args = ['/etc/passwd'];
    },
    () => 'exec "/etc/passwd": permission denied (EACCES)',
  ),
  configCase(
    'the executable found in $PATH is not executable',
    (c, b) => {
      fs.writeFileSync(path.join(b.rootfs, 'bin', 'not-executable'), '#!/bin/sh\n', { mode: 0o644 });
      c.process.args = ['not-executable'];
    },
    () => 'exec "not-executable": permission denied (EACCES)',
  ),
  configCase(
    'process.cwd is a file',
    (c) => {
      c.process.cwd = '/etc/passwd';
    },
    () => 'create directory "/etc/passwd": not a directory (ENOTDIR)',
  ),
  configCase(
    'a mount of an unknown filesystem type (on an existing directory)',
    addMount({ destination: '/tmp', type: 'nosuchfs', source: 'none' }),
    () => 'mount "nosuchfs" on "/tmp": no such device (ENODEV)',
  ),
  configCase(
    'a mount of an unknown filesystem type (on a new directory)',
    addMount({ destination: '/x', type: 'nosuchfs', source: 'none' }),
    // The mount point /x is created for the mount and removed again when
    // the mount fails.
    () => 'mount "nosuchfs" on "/x": no such device (ENODEV)',
  ),
  configCase(
    'a setup failure after a new mount point was made',
    (c) => {
      addMount({ destination: '/new-mount-point', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] })(c);
      c.process.args = ['nope'];
    },
    // The mount succeeds, the exec fails: the mount is detached and the
    // directory made for it removed.
    () => 'exec "nope": executable file not found in $PATH',
  ),
  configCase(
    'a setup failure after a missing cwd was made',
    (c) => {
      c.process.cwd = '/new/cwd';
      c.process.args = ['nope'];
    },
    // The cwd is created for the run, and removed when the run fails.
    () => 'exec "nope": executable file not found in $PATH',
  ),
  configCase(
    'a setup failure after pivot_root, with a read-only root',
    (c) => {
      c.root.readonly = true;
      c.process.cwd = '/new/cwd';
      c.process.args = ['nope'];
    },
    // The root is made writable again for the removal of the cwd.
    () => 'exec "nope": executable file not found in $PATH',
  ),
  configCase(
    'an rlimit above the hard limit this process may set',
    (c) => {
      // Above fs.nr_open (and without CAP_SYS_RESOURCE, above our hard limit).
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2 ** 30, hard: 2 ** 30 }];
    },
    () => 'setrlimit RLIMIT_NOFILE: operation not permitted (EPERM)',
  ),
  configCase(
    'a hostname without a uts namespace',
    (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'uts');
    },
    (b) => `${b.configPath}: hostname: needs a uts namespace in linux.namespaces (it would rename the host)`,
  ),
];

describe.skipIf(!isRoot)('errors leave nothing behind', () => {
  const leaks = leakSession();

  function prepare(c: Case): Prepared & { before: string[] } {
    const scratch = () => leaks.scratch(tempDir('tsbox-errors-'));
    const p = c.prepare(scratch, leaks.keep);
    return { ...p, before: listTree(p.watch) };
  }

  async function expectNoProcessLeft(p: Prepared): Promise<void> {
    if (p.bundle) expect(await settledProcessesUnder(p.bundle.dir), 'processes inside the bundle').toEqual([]);
  }

  function expectTreeUnchanged(p: Prepared & { before: string[] }): void {
    expect(listTree(p.watch), `contents of ${p.watch}`).toEqual(p.before);
  }

  /** run() on the case; returns the error it rejected with. */
  async function runLibrary(p: Prepared): Promise<Error> {
    const error = await run(p.target, { stdio: 'pipe' }).then(
      async (container) => {
        container.kill('SIGKILL');
        await container.exited;
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error, 'run() should have failed').toBeInstanceOf(Error);
    return error as Error;
  }

  for (const c of CASES) {
    describe(c.name, () => {
      it('library: run() rejects with the message', async () => {
        const p = prepare(c);
        const { message } = await runLibrary(p);
        if (typeof p.message === 'string') expect(message).toBe(p.message);
        else expect(message).toMatch(p.message);
        expect(message).not.toContain('\n');
        await expectNoProcessLeft(p);
        expectTreeUnchanged(p);
      });

      it('CLI: exit 1, one line `tsbox: <message>` on stderr, nothing on stdout', async () => {
        const p = prepare(c);
        const r = await tsbox(['run', p.target]);
        if (typeof p.message === 'string') expect(r.stderr).toBe(`tsbox: ${p.message}\n`);
        else {
          expect(r.stderr).toMatch(/^tsbox: [^\n]*\n$/);
          expect(r.stderr.slice('tsbox: '.length, -1)).toMatch(p.message);
        }
        expect(r.stdout).toBe('');
        expect(r.status).toBe(1);
        await expectNoProcessLeft(p);
        expectTreeUnchanged(p);
      });

    });
  }

  it('a successful run creates a missing cwd, and only that', async () => {
    const b = makeBundle({
      args: ['/bin/probe'],
      mutate: (c) => {
        c.process.cwd = '/work/dir';
      },
    });
    leaks.keep(b);
    const before = listTree(b.dir);
    const r = await tsbox(['run', b.dir]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).cwd).toBe('/work/dir');
    const after = listTree(b.dir);
    expect(after.filter((e) => !before.includes(e))).toEqual(['rootfs/work/ d 755', 'rootfs/work/dir/ d 755']);
    expect(before.filter((e) => !after.includes(e))).toEqual([]);
  });
});
