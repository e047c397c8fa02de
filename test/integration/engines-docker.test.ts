// docker 20.10 (dockerd and its own containerd) running containers with tsbox
// added as a runtime (daemon.json "runtimes", docker run --runtime tsbox):
// run, exec (with and without a terminal), top, stop, restart, rm -f, exit
// codes. dockerd is started for this file and stopped at its end; how (a
// sandbox, a private mount namespace, no networking of its own) is in
// ../helpers/engines.ts. Containers use --network none; the default bridge
// is in engines-docker-network.test.ts.
//
// Each test proves that tsbox ran its container: docker chooses the runtime's
// --root itself (<exec-root>/runtime-runc/moby in 20.10), so the test looks
// for tsbox's state.json for the container id under the exec root; it must
// name the live process docker reports as the container's (expectRunByTsbox).
// After each test no container may be left in tsbox's state; after the file,
// nothing on the host.

import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DOCKER_CLI,
  EngineSandbox,
  TEST_TIMEOUT,
  counterScript,
  expectPauseResume,
  expectProcessGone,
  expectRunByTsbox,
  expectTsboxStateGone,
  memoryLimit,
  skipReason,
  startDockerd,
  suiteTitle,
  useEngineSuite,
  type Docker,
  type TsboxRecord,
} from '../helpers/engines.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['dockerd', DOCKER_CLI, 'containerd', 'containerd-shim-runc-v2', 'unshare', 'script', 'chroot', 'tar']);

describe.skipIf(reason !== undefined)(suiteTitle('docker with tsbox as a runtime', reason), () => {
  let sb: EngineSandbox;
  let dk: Docker;

  useEngineSuite('docker', async (sandbox) => {
    sb = sandbox;
    return (dk = await startDockerd(sb));
  }, 'docker rm --force');

  const RUN = ['run', '--runtime', 'tsbox', '--network', 'none'];

  async function inspect(name: string): Promise<{ Id: string; State: { Pid: number; Running: boolean; ExitCode: number; Status: string }; HostConfig: { Runtime: string } }> {
    const r = await dk.docker(['inspect', name]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    return (JSON.parse(r.stdout) as any[])[0];
  }

  /** The running container `name` checked against tsbox's state (see the top of the file). */
  async function expectTsbox(name: string): Promise<TsboxRecord & { root: string }> {
    const info = await inspect(name);
    expect(info.HostConfig.Runtime).toBe('tsbox');
    expect(info.State.Running).toBe(true);
    const root = dk.tsboxRootOf(info.Id);
    return { ...(await expectRunByTsbox(sb!, root, info.Id, info.State.Pid)), root };
  }

  async function runDetached(script: string): Promise<{ name: string; id: string; pid: number; root: string }> {
    const name = sb!.unique('dk');
    const r = await dk.docker([...RUN, '-d', '--name', name, dk.image, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const rec = await expectTsbox(name);
    expect(rec.id).toBe(r.stdout.trim());
    return { name, id: rec.id, pid: rec.pid, root: rec.root };
  }

  /** Waits for a one-shot container started with `-i` to run, checks it, then writes `line` to let it go on. */
  async function gated(args: string[], line: string) {
    const cidfile = sb!.path(sb!.unique('cid'));
    const s = dk.spawnDocker([...RUN, '--rm', '-i', '--cidfile', cidfile, ...args]);
    const id = await waitUntil('the cid file', () => {
      try {
        return fs.readFileSync(cidfile, 'utf8').trim() || false;
      } catch {
        return false;
      }
    }, 20_000);
    const rec = await waitUntil('the container to run', async () => (await inspect(id)).State.Running && expectTsbox(id), 20_000);
    s.child.stdin!.end(line);
    return { result: await s.done, id, rec };
  }

  /** pid 1 ignores signals it has no handler for: this one ends on SIGTERM, with 0. */
  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';

  it('run --rm: the output comes back and the container is removed', TEST_TIMEOUT, async () => {
    const { result, id, rec } = await gated([dk.image, 'sh', '-c', 'read -r line; echo "got $line"'], 'hello\n');
    expect(result).toMatchObject({ status: 0, stdout: 'got hello\n', stderr: '' });
    await expectTsboxStateGone(rec.root, id);
    await expectProcessGone(rec.pid);
    expect((await dk.docker(['ps', '--all', '--quiet'])).stdout).toBe('');
    // And the plain form, which ends at once (same flags, so the same runtime).
    expect(await dk.docker([...RUN, '--rm', dk.image, 'echo', 'ok'])).toMatchObject({ status: 0, stdout: 'ok\n', stderr: '' });
  });

  it('run --user 1000: a process of a non-root user starts (the exec FIFO is opened after the change of uid)', TEST_TIMEOUT, async () => {
    expect(await dk.docker([...RUN, '--rm', '--user', '1000:1000', dk.image, 'id', '-u'])).toMatchObject({ status: 0, stdout: '1000\n', stderr: '' });
  });

  it('run: the exit code passes through', TEST_TIMEOUT, async () => {
    const { result } = await gated([dk.image, 'sh', '-c', 'read -r _; exit 7'], '\n');
    expect(result).toMatchObject({ status: 7, stdout: '', stderr: '' });
  });

  it('run: a missing command exits 127, with the error tsbox reported', TEST_TIMEOUT, async () => {
    const r = await dk.docker([...RUN, '--rm', dk.image, 'nope']);
    expect(r.status).toBe(127);
    // tsbox's wording (runc says `exec: "nope": ...`), passed on by the shim from tsbox's --log.
    expect(r.stderr).toContain('exec "nope": executable file not found in $PATH');
  });

  it('run -d, then exec: output and exit status', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    expect(await dk.docker(['exec', c.name, 'sh', '-c', 'echo "in $(hostname)"; echo err >&2; exit 3'])).toMatchObject({
      status: 3,
      stdout: `in ${c.id.slice(0, 12)}\n`,
      stderr: 'err\n',
    });
    // The exec'd process joined the container: its pid namespace has the init as 1.
    expect(await dk.docker(['exec', c.name, 'cat', '/proc/1/cmdline'])).toMatchObject({ status: 0, stdout: `sh\0-c\0${UNTIL_TERM}\0` });
  });

  it('exec -t: the process gets a terminal', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const r = await dk.runInTerminal(['exec', '-t', c.name, 'sh', '-c', 'tty; exit 4']);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r*\n/);
    expect(r.status).toBe(4);
  });

  it('top lists the container processes (host pids)', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const r = await dk.docker(['top', c.name]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const init = r.stdout.split('\n').find((l) => l.split(/\s+/)[1] === String(c.pid));
    expect(init, r.stdout).toMatch(/sh -c trap "exit 0" TERM; while :; do sleep 0\.1; done\s*$/);
  });

  it('stop: SIGTERM ends the container and tsbox forgets it', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const t0 = Date.now();
    expect(await dk.docker(['stop', '--time', '20', c.name])).toMatchObject({ status: 0 });
    // The trap ran: docker did not wait for its timeout and kill it.
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await inspect(c.name)).State).toMatchObject({ Running: false, ExitCode: 0, Status: 'exited' });
    await expectTsboxStateGone(c.root, c.id);
    await expectProcessGone(c.pid);
  });

  it('restart: a new init, run by tsbox again', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    expect(await dk.docker(['restart', '--time', '20', c.name])).toMatchObject({ status: 0 });
    await expectProcessGone(c.pid);
    const again = await expectTsbox(c.name);
    expect(again.pid).not.toBe(c.pid);
    expect(again.id).toBe(c.id);
  });

  it('rm -f removes a running container', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    expect(await dk.docker(['rm', '-f', c.name])).toMatchObject({ status: 0 });
    expect((await dk.docker(['ps', '--all', '--quiet'])).stdout).toBe('');
    await expectTsboxStateGone(c.root, c.id);
    await expectProcessGone(c.pid);
  });

  it('pause / unpause (runtime pause / resume): the container freezes and thaws', TEST_TIMEOUT, async () => {
    const c = await runDetached(counterScript('/tmp/n'));
    await expectPauseResume(sb!, c.root, c.id, c.pid, '/tmp/n', () => dk.docker(['pause', c.name]), () => dk.docker(['unpause', c.name]));
    expect((await inspect(c.name)).State.Status).toBe('running');
  });

  // docker 20.10 sends every linux.resources field it knows, the unset
  // ones as 0 (cpu.period 0, cpu.quota 0, ...): tsbox skips zeros, as runc.
  it('update --memory (runtime update --resources -): the cgroup gets the new limit', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    expect(memoryLimit(c.root, c.id)).not.toBe(64 * 1024 * 1024);
    const r = await dk.docker(['update', '--memory', '64m', '--memory-swap', '-1', c.name]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    expect(memoryLimit(c.root, c.id)).toBe(64 * 1024 * 1024);
  });
});
