// OCI hooks with real containers: every kind runs at its point, in order,
// with the state JSON on stdin, its args and env; a failing hook before the
// process runs fails the operation and undoes the setup; poststart and
// poststop failures are warnings. Also: a failing command writes exactly
// one line to a --log-format json log, warnings or not (podman reads it as
// one JSON object).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { settledProcessesUnder } from '../helpers/cli.js';
import { lifecycleSession } from '../helpers/lifecycle.js';

const PHASES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

describe.skipIf(!isRoot)('hooks', () => {
  const lc = lifecycleSession();

  /**
   * A bundle whose hooks append "<phase> <state JSON>" to log.txt in a host
   * directory, which is also bound at the same path inside the container
   * (startContainer runs there, after pivot_root).
   */
  function hooked(args: string[], edit?: (c: any, dir: string) => void): { b: TestBundle; log: string; dir: string } {
    const dir = lc.scratch();
    const log = path.join(dir, 'log.txt');
    fs.writeFileSync(path.join(dir, 'hook.sh'), `#!/bin/sh\nprintf '%s %s %s\\n' "$1" "$HOOK_ENV" "$(cat)" >> ${log}\n`, { mode: 0o755 });
    const b = lc.bundle({
      args,
      mutate: (c) => {
        c.mounts.push({ destination: dir, type: 'bind', source: dir, options: ['rbind'] });
        c.hooks = Object.fromEntries(
          PHASES.map((phase) => [phase, [{ path: path.join(dir, 'hook.sh'), args: ['hook.sh', phase], env: [`HOOK_ENV=${phase}-env`] }]]),
        );
        edit?.(c, dir);
      },
    });
    return { b, log, dir };
  }

  function entries(log: string): Array<{ phase: string; env: string; state: { status: string; id: string; pid?: number; bundle: string } }> {
    return fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const [phase, env, ...json] = line.split(' ');
        return { phase: phase!, env: env!, state: JSON.parse(json.join(' ')) };
      });
  }

  it('run: every hook once, in the spec\'s order, with its args, env and the state on stdin', async () => {
    const { b, log } = hooked(['true']);
    lc.track('h1');
    expect(await lc.cli(['run', '--bundle', b.dir, 'h1'])).toMatchObject({ status: 0 });
    const e = entries(log);
    expect(e.map((x) => x.phase)).toEqual([...PHASES]);
    expect(e.map((x) => x.env)).toEqual(PHASES.map((p) => `${p}-env`));
    expect(e.map((x) => x.state.status)).toEqual(['creating', 'creating', 'creating', 'created', 'running', 'stopped']);
    for (const x of e) expect(x.state).toMatchObject({ id: 'h1', bundle: b.dir });
    const pids = new Set(e.map((x) => x.state.pid));
    expect(pids.size).toBe(1);
    expect([...pids][0]).toBeGreaterThan(1);
  });

  it('create, start and delete: the hooks of each step run in it', async () => {
    const { b, log } = hooked(['sleep', '100']);
    lc.track('h2');
    expect((await lc.cli(['create', '--bundle', b.dir, 'h2'])).status).toBe(0);
    expect(entries(log).map((x) => x.phase)).toEqual(['prestart', 'createRuntime', 'createContainer']);
    expect((await lc.cli(['start', 'h2'])).status).toBe(0);
    expect(entries(log).map((x) => x.phase).slice(3)).toEqual(['startContainer', 'poststart']);
    expect((await lc.cli(['delete', '--force', 'h2'])).status).toBe(0);
    expect(entries(log).map((x) => x.phase).slice(5)).toEqual(['poststop']);
  });

  it('start runs the poststart hooks the container was created with, without reading the bundle again', async () => {
    const { b, log } = hooked(['sleep', '100']);
    lc.track('h2b');
    expect((await lc.cli(['create', '--bundle', b.dir, 'h2b'])).status).toBe(0);
    fs.rmSync(path.join(b.dir, 'config.json'));
    expect(await lc.cli(['start', 'h2b'])).toMatchObject({ status: 0, stderr: '' });
    expect(entries(log).map((x) => x.phase).slice(3)).toEqual(['startContainer', 'poststart']);
    expect((await lc.cli(['delete', '--force', 'h2b'])).status).toBe(0);
    expect(entries(log).map((x) => x.phase).slice(5)).toEqual(['poststop']);
  });

  it('a failing prestart hook fails the run with its status and last words, and leaves nothing', async () => {
    const { b } = hooked(['true'], (c) => {
      c.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', 'echo no good >&2; exit 3'] }] };
      c.process.cwd = '/made-for-this-run';
    });
    lc.track('h3');
    expect(await lc.cli(['run', '--bundle', b.dir, 'h3'])).toMatchObject({
      status: 1,
      stderr: 'tsbox: prestart hook "/bin/sh": exited with status 3: no good\n',
    });
    expect(fs.existsSync(path.join(b.rootfs, 'made-for-this-run'))).toBe(false);
    expect((await lc.cli(['list', '-q'])).stdout).toBe('');
    expect(await settledProcessesUnder(b.dir)).toEqual([]);
  });

  it('a createContainer hook over its timeout is killed and fails the create', async () => {
    const { b } = hooked(['true'], (c) => {
      c.hooks = { createContainer: [{ path: '/bin/sleep', args: ['sleep', '10'], timeout: 1 }] };
    });
    lc.track('h4');
    expect(await lc.cli(['create', '--bundle', b.dir, 'h4'])).toMatchObject({
      status: 1,
      stderr: 'tsbox: createContainer hook "/bin/sleep": timed out after 1 s\n',
    });
    expect((await lc.cli(['list', '-q'])).stdout).toBe('');
    expect(await settledProcessesUnder(b.dir)).toEqual([]);
  });

  it('failing poststart and poststop hooks are warnings: the container runs and is deleted', async () => {
    const { b } = hooked(['sleep', '100'], (c) => {
      const fail = [{ path: '/bin/false', args: ['false'] }];
      c.hooks = { poststart: fail, poststop: fail };
    });
    lc.track('h5');
    expect((await lc.cli(['create', '--bundle', b.dir, 'h5'])).status).toBe(0);
    expect(await lc.cli(['start', 'h5'])).toMatchObject({
      status: 0,
      stderr: 'tsbox: warning: poststart hook "/bin/false": exited with status 1\n',
    });
    expect((await lc.state('h5')).status).toBe('running');
    expect(await lc.cli(['delete', '--force', 'h5'])).toMatchObject({
      status: 0,
      stderr: 'tsbox: warning: poststop hook "/bin/false": exited with status 1\n',
    });
  });

  it('a failing poststart or poststop hook does not skip the ones after it (the spec; runc skips them)', async () => {
    const markers = (dir: string, phase: string) => [1, 3].map((n) => path.join(dir, `${phase}-${n}`));
    const three = (dir: string, phase: string) => [
      { path: '/bin/touch', args: ['touch', path.join(dir, `${phase}-1`)] },
      { path: '/bin/sh', args: ['sh', '-c', `echo ${phase} broke >&2; exit 4`] },
      { path: '/bin/touch', args: ['touch', path.join(dir, `${phase}-3`)] },
    ];
    const { b, dir } = hooked(['sleep', '100'], (c, d) => {
      c.hooks = { poststart: three(d, 'poststart'), poststop: three(d, 'poststop') };
    });
    lc.track('h7');
    expect((await lc.cli(['create', '--bundle', b.dir, 'h7'])).status).toBe(0);
    expect(await lc.cli(['start', 'h7'])).toMatchObject({
      status: 0,
      stderr: 'tsbox: warning: poststart hook "/bin/sh": exited with status 4: poststart broke\n',
    });
    expect(markers(dir, 'poststart').map((f) => fs.existsSync(f))).toEqual([true, true]);
    expect(await lc.cli(['delete', '--force', 'h7'])).toMatchObject({
      status: 0,
      stderr: 'tsbox: warning: poststop hook "/bin/sh": exited with status 4: poststop broke\n',
    });
    expect(markers(dir, 'poststop').map((f) => fs.existsSync(f))).toEqual([true, true]);

    // The same through run, which runs both phases itself.
    const again = hooked(['true'], (c, d) => {
      c.hooks = { poststart: three(d, 'poststart'), poststop: three(d, 'poststop') };
    });
    lc.track('h8');
    const r = await lc.cli(['run', '--bundle', again.b.dir, 'h8']);
    expect(r).toMatchObject({ status: 0 });
    expect(r.stderr.split('\n').filter(Boolean).sort()).toEqual([
      'tsbox: warning: poststart hook "/bin/sh": exited with status 4: poststart broke',
      'tsbox: warning: poststop hook "/bin/sh": exited with status 4: poststop broke',
    ]);
    expect([...markers(again.dir, 'poststart'), ...markers(again.dir, 'poststop')].map((f) => fs.existsSync(f))).toEqual([true, true, true, true]);
  });

  it('--log-format json: a failure after a warning leaves exactly one line, the error', async () => {
    const { b, dir } = hooked(['true'], (c) => {
      c.hooks = { prestart: [{ path: '/bin/false', args: ['false'] }] };
      // Something tsbox warns about.
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
    });
    const logFile = path.join(dir, 'runtime.log');
    lc.track('h6');
    const r = await lc.cli(['--log', logFile, '--log-format', 'json', 'run', '--bundle', b.dir, 'h6']);
    expect(r.status).toBe(1);
    const lines = fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', msg: 'prestart hook "/bin/false": exited with status 1' });
  });
});
