// podman 4.3 (with conmon) running containers with tsbox as its OCI runtime,
// the way a user would: podman run/exec/top/kill/stop/rm, with and without a
// terminal. How podman is set up (state in a sandbox, a private mount
// namespace, runtime_supports_json) is in ../helpers/engines.ts.
//
// Each test proves that tsbox ran its container (expectRunByTsbox: tsbox's
// state.json for the container id, in tsbox's layout, names the live process
// podman reports as the container's). Containers that would end at once wait
// for a line on their stdin instead, until the test has seen them running
// under tsbox. After each test no container may be left in tsbox's state;
// after the file, nothing on the host (see TeardownReport).

import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  EngineSandbox,
  TEST_TIMEOUT,
  counterScript,
  expectPauseResume,
  expectProcessGone,
  expectRunByTsbox,
  expectTsboxStateGone,
  memoryLimit,
  skipReason,
  startPodman,
  suiteTitle,
  useEngineSuite,
  waitForTsboxContainer,
  type Podman,
} from '../helpers/engines.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['podman', ['conmon', '/usr/libexec/podman/conmon', '/usr/lib/podman/conmon'], 'unshare', 'nsenter', 'script', 'chroot', 'tar']);

describe.skipIf(reason !== undefined)(suiteTitle('podman with tsbox as its runtime', reason), () => {
  let sb: EngineSandbox;
  let pm: Podman;

  useEngineSuite('podman', async (sandbox) => {
    sb = sandbox;
    // cgroupfs: containers go under /libpod_parent, conmon into /libpod_parent/conmon; podman never removes them.
    return (pm = await startPodman(sb));
  }, 'podman rm --all');

  /** `podman run -d` of a long-running container; returns its id and the pid podman reports, checked against tsbox. */
  async function runDetached(script: string): Promise<{ name: string; id: string; pid: number }> {
    const name = sb!.unique('pd');
    const r = await pm.run(['run', '-d', '--name', name, ...pm.runFlags, pm.image, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const id = r.stdout.trim();
    const inspect = await pm.run(['inspect', '--format', '{{.State.Pid}} {{.OCIRuntime}}', name]);
    const [pid, runtime] = inspect.stdout.trim().split(' ');
    expect(runtime).toBe('tsbox');
    await expectRunByTsbox(sb!, pm.tsboxRoot, id, Number(pid));
    return { name, id, pid: Number(pid) };
  }

  /** A container script that only ends on SIGTERM (then with 0): pid 1 ignores signals it has no handler for. */
  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';

  it('run --rm: the output comes back and the container is removed', TEST_TIMEOUT, async () => {
    const cidfile = sb!.path(`${sb!.unique('cid')}`);
    const s = pm.spawn(['run', '--rm', '-i', '--cidfile', cidfile, ...pm.runFlags, pm.image, 'sh', '-c', 'read -r line; echo "got $line"']);
    const rec = await waitForTsboxContainer(pm.tsboxRoot, s);
    expect(rec.id).toBe(fs.readFileSync(cidfile, 'utf8').trim());
    await expectRunByTsbox(sb!, pm.tsboxRoot, rec.id);
    s.child.stdin!.end('hello\n');
    const r = await s.done;
    expect(r).toMatchObject({ status: 0, stdout: 'got hello\n', stderr: '' });
    await expectTsboxStateGone(pm.tsboxRoot, rec.id);
    await expectProcessGone(rec.pid);
    // And the plain form, which ends at once (same flags, so the same runtime).
    expect(await pm.run(['run', '--rm', ...pm.runFlags, pm.image, 'echo', 'ok'])).toMatchObject({ status: 0, stdout: 'ok\n', stderr: '' });
  });

  it('run: the exit code passes through', TEST_TIMEOUT, async () => {
    const s = pm.spawn(['run', '--rm', '-i', ...pm.runFlags, pm.image, 'sh', '-c', 'read -r _; exit 7']);
    const rec = await waitForTsboxContainer(pm.tsboxRoot, s);
    await expectRunByTsbox(sb!, pm.tsboxRoot, rec.id);
    s.child.stdin!.end('\n');
    expect(await s.done).toMatchObject({ status: 7, stdout: '', stderr: '' });
  });

  it('run: a missing command exits 127, with the error tsbox reported', TEST_TIMEOUT, async () => {
    const r = await pm.run(['run', '--rm', ...pm.runFlags, pm.image, 'nope']);
    expect(r.status).toBe(127);
    // tsbox's wording (runc says `exec: "nope": ...`, crun `executable file `nope` not found`),
    // read back by podman from the --log file it gave tsbox.
    expect(r.stderr).toContain('exec "nope": executable file not found in $PATH');
    expect(EngineSandbox.stateEntries(pm.tsboxRoot)).toEqual([]);
  });

  // The test process is not pinned: its list is every CPU it may use.
  const allCpus = /^Cpus_allowed_list:\s*(.*)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];

  it.skipIf(allCpus === '0')('taskset -c 0 podman run: conmon and tsbox are pinned, the container gets every CPU (as with runc)', TEST_TIMEOUT, async () => {
    const argv = pm.argv(['run', '--rm', ...pm.runFlags, pm.image, 'sh', '-c', 'grep Cpus_allowed_list /proc/self/status']);
    const r = await sb!.run('taskset', ['-c', '0', ...argv], pm.env);
    expect(r).toMatchObject({ status: 0, stdout: `Cpus_allowed_list:\t${allCpus}\n`, stderr: '' });
  });

  it('run -d, then exec: output and exit status', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    expect(await pm.run(['exec', c.name, 'sh', '-c', 'echo "in $(hostname)"; exit 3'])).toMatchObject({
      status: 3,
      stdout: `in ${c.id.slice(0, 12)}\n`,
      stderr: '',
    });
    // The exec'd process joined the container: its pid namespace has the init as 1.
    expect(await pm.run(['exec', c.name, 'cat', '/proc/1/cmdline'])).toMatchObject({
      status: 0,
      stdout: `sh\0-c\0${UNTIL_TERM}\0`,
    });
  });

  it('exec -t: the process gets a terminal', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const r = await pm.runInTerminal(['exec', '-t', c.name, 'sh', '-c', 'tty; exit 4']);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r*\n/);
    expect(r.status).toBe(4);
  });

  it('top lists the container processes', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const r = await pm.run(['top', c.name, 'pid', 'args']);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    // In the container's pid namespace: the init is 1.
    expect(r.stdout).toMatch(/^1\s+sh -c trap "exit 0" TERM; while :; do sleep 0\.1; done\s*$/m);
  });

  it('kill -s USR1 reaches the container init', TEST_TIMEOUT, async () => {
    const c = await runDetached('trap "echo got USR1; exit 0" USR1; echo ready; while :; do sleep 0.1; done');
    await waitUntil('the container to print ready', async () => (await pm.run(['logs', c.name])).stdout.includes('ready'), 10_000);
    expect(await pm.run(['kill', '--signal', 'USR1', c.name])).toMatchObject({ status: 0 });
    expect(await pm.run(['wait', c.name])).toMatchObject({ status: 0, stdout: '0\n' });
    expect((await pm.run(['logs', c.name])).stdout).toBe('ready\ngot USR1\n');
    await expectTsboxStateGone(pm.tsboxRoot, c.id);
    await expectProcessGone(c.pid);
  });

  it('stop: SIGTERM ends the container and tsbox forgets it', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const t0 = Date.now();
    expect(await pm.run(['stop', '--time', '20', c.name])).toMatchObject({ status: 0 });
    // The trap ran: podman did not wait for its timeout and kill it.
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await pm.run(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', c.name])).toMatchObject({
      stdout: 'exited 0\n',
    });
    await expectTsboxStateGone(pm.tsboxRoot, c.id);
    await expectProcessGone(c.pid);
  });

  it('rm -f removes a running container', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    expect(await pm.run(['rm', '-f', c.name])).toMatchObject({ status: 0 });
    expect((await pm.run(['ps', '--all', '--quiet'])).stdout).toBe('');
    await expectTsboxStateGone(pm.tsboxRoot, c.id);
    await expectProcessGone(c.pid);
  });

  it('run -t: the container gets a terminal and its exit code passes through', TEST_TIMEOUT, async () => {
    // Detached with -t first, so the test can look at it before letting it
    // end (it waits for /tmp/go); then the usual form from a real terminal.
    const name = sb!.unique('pt');
    const script = 'tty; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 5';
    const r = await pm.run(['run', '-d', '-t', '--name', name, ...pm.runFlags, pm.image, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const id = r.stdout.trim();
    await expectRunByTsbox(sb!, pm.tsboxRoot, id);
    expect(await pm.run(['exec', name, 'touch', '/tmp/go'])).toMatchObject({ status: 0 });
    expect(await pm.run(['wait', name])).toMatchObject({ status: 0, stdout: '5\n' });
    expect((await pm.run(['logs', name])).stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
    const t = await pm.runInTerminal(['run', '--rm', '-t', ...pm.runFlags, pm.image, 'sh', '-c', 'tty; exit 6']);
    expect(t.stdout).toMatch(/^\/dev\/pts\/\d+\r*\n/);
    expect(t.status).toBe(6);
  });

  it('pause / unpause (runtime pause / resume): the container freezes and thaws', TEST_TIMEOUT, async () => {
    const c = await runDetached(counterScript('/tmp/n'));
    await expectPauseResume(sb!, pm.tsboxRoot, c.id, c.pid, '/tmp/n', () => pm.run(['pause', c.name]), () => pm.run(['unpause', c.name]));
    expect(await pm.run(['inspect', '--format', '{{.State.Status}}', c.name])).toMatchObject({ stdout: 'running\n' });
  });

  it('update --memory (runtime update --resources -): the cgroup gets the new limit', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const before = memoryLimit(pm.tsboxRoot, c.id);
    expect(before).not.toBe(64 * 1024 * 1024);
    const r = await pm.run(['update', '--memory', '64m', c.name]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    expect(memoryLimit(pm.tsboxRoot, c.id)).toBe(64 * 1024 * 1024);
  });
});
