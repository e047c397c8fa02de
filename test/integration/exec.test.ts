// `tsbox exec` into running containers: the new process joins every
// namespace of the container (it sees its hostname, mounts and pid
// namespace), gets the user, env, cwd and capabilities asked for, and its
// exit status comes back. Each test has its own state root; containers are
// removed after it, pass or fail (see test/helpers/lifecycle.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { lifecycleSession, pidNamespace, waitUntil } from '../helpers/lifecycle.js';

describe.skipIf(!isRoot)('tsbox exec', () => {
  const lc = lifecycleSession();

  /** A running container (`run -d`) with hostname exec-box and a tmpfs at /scratch. */
  async function running(id: string, mutate?: (c: any) => void): Promise<{ b: TestBundle; pid: number }> {
    const b = lc.bundle({
      args: ['sleep', '100'],
      mutate: (c) => {
        c.hostname = 'exec-box';
        c.mounts.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
        mutate?.(c);
      },
    });
    lc.track(id);
    const r = await lc.cli(['run', '-d', '--bundle', b.dir, id]);
    expect(r, 'run -d').toMatchObject({ status: 0, stderr: '' });
    return { b, pid: (await lc.state(id)).pid };
  }

  it('joins the container: its hostname, mounts and pid namespace; the exit status comes back', async () => {
    const { pid } = await running('e1');
    const r = await lc.cli(['exec', 'e1', '/bin/probe']);
    expect(r.status).toBe(0);
    const seen = JSON.parse(r.stdout);
    expect(seen.hostname).toBe('exec-box');
    expect(seen.mounts.map((m: { target: string }) => m.target)).toContain('/scratch');
    expect(seen.namespaces.pid).toBe(pidNamespace(pid));
    // A process of the container's pid namespace, not pid 1.
    expect(seen.pid).toBeGreaterThan(1);
    expect(seen.ppid).toBe(0);
    expect(await lc.cli(['exec', 'e1', 'sh', '-c', 'exit 7'])).toMatchObject({ status: 7 });
  });

  it('user, group, extra groups, env, cwd and no_new_privs from the flags', async () => {
    await running('e2');
    const r = await lc.cli(['exec', '-u', '1000:1001', '-g', '20', '-e', 'FOO=bar', '--cwd', '/tmp', '--no-new-privs', 'e2', '/bin/probe']);
    expect(r.status).toBe(0);
    const seen = JSON.parse(r.stdout);
    expect([seen.uid, seen.gid, seen.groups]).toEqual([1000, 1001, [20]]);
    expect(seen.env).toContain('FOO=bar');
    // The container's own environment is the base.
    expect(seen.env.some((e: string) => e.startsWith('PATH='))).toBe(true);
    expect(seen.cwd).toBe('/tmp');
    expect(seen.status.NoNewPrivs).toBe('1');
  });

  it('--process FILE: a whole OCI process', async () => {
    await running('e3');
    const file = path.join(lc.scratch(), 'process.json');
    fs.writeFileSync(file, JSON.stringify({ args: ['/bin/probe'], cwd: '/scratch', env: ['ONLY=this'], user: { uid: 5, gid: 6 } }));
    const r = await lc.cli(['exec', '--process', file, 'e3']);
    expect(r.status).toBe(0);
    const seen = JSON.parse(r.stdout);
    // HOME added as runc adds it: uid 5 has no passwd entry, so "/".
    expect([seen.uid, seen.gid, seen.cwd, seen.env]).toEqual([5, 6, '/scratch', ['ONLY=this', 'HOME=/']]);
  });

  it('-d --pid-file: returns at once; the process runs in the container and shows in ps', async () => {
    await running('e4');
    const pidFile = path.join(lc.scratch(), 'exec.pid');
    const r = await lc.cli(['exec', '-d', '--pid-file', pidFile, 'e4', 'sleep', '50']);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    const ps = JSON.parse((await lc.cli(['ps', '--format', 'json', 'e4'])).stdout) as number[];
    expect(ps).toContain(pid);
  });

  it('errors: a missing executable, a stopped container, a missing container, no command', async () => {
    await running('e5');
    expect(await lc.cli(['exec', 'e5', 'nope'])).toMatchObject({
      status: 1,
      stdout: '',
      stderr: 'tsbox: exec "nope": executable file not found in $PATH\n',
    });
    expect(await lc.cli(['exec', 'missing', 'true'])).toMatchObject({ status: 1, stderr: 'tsbox: container "missing" does not exist\n' });
    expect((await lc.cli(['exec', 'e5'])).stderr).toMatch(/^tsbox: exec: a command to run is required/);
    expect((await lc.cli(['kill', 'e5', 'KILL'])).status).toBe(0);
    await waitUntil('e5 stopped', async () => (await lc.state('e5')).status === 'stopped');
    expect(await lc.cli(['exec', 'e5', 'true'])).toMatchObject({
      status: 1,
      stderr: 'tsbox: cannot exec in container "e5": it is stopped, not running\n',
    });
  });

  it('a capability added with --cap is in the new process\'s sets', async () => {
    await running('e6', (c) => {
      c.process.capabilities = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] };
    });
    const r = await lc.cli(['exec', '--cap', 'CAP_CHOWN', 'e6', '/bin/probe']);
    const seen = JSON.parse(r.stdout);
    // CAP_CHOWN is bit 0, CAP_KILL bit 5.
    expect(seen.status.CapBnd).toBe('0000000000000021');
    expect(seen.status.CapEff).toBe('0000000000000021');
  });
});
