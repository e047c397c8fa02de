// docker 20.10 flows around a container's init and terminal, with tsbox as
// the runtime and then runc under the same dockerd, which must behave the
// same: --init reaping orphans (docker-init is a subreaper as pid 1; a
// plain `sleep` as pid 1 leaves them zombies), `docker logs` of a -t
// container (one stream, the terminal's \r\n), `docker attach` with
// --detach-keys (the client leaves, the container goes on), and `docker
// wait` of a container ended by a signal; and `docker checkpoint create`
// where CRIU cannot run (Debian's CRIU 3.17 on kernel 6.18): one line from
// tsbox naming CRIU's reason, the container running on. How dockerd is set up is in
// ../helpers/engines.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCKER_CLI,
  EngineSandbox,
  expectRunByTsbox,
  shellQuote,
  skipReason,
  startDockerd,
  suiteTitle,
  useEngineSuite,
  type Docker,
} from '../helpers/engines.js';
import { criuCheck } from '../helpers/criu.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['dockerd', DOCKER_CLI, 'containerd', 'containerd-shim-runc-v2', 'docker-init', 'runc', 'script', 'unshare', 'chroot', 'tar']);
const TEST_TIMEOUT = { timeout: 90_000 };
const RUNTIMES = ['tsbox', 'runc'] as const;
const criu = criuCheck();

/** Host pids of the children of `pid` that are zombies (state Z). */
function zombieChildren(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' && Number(ppid) === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe.skipIf(reason !== undefined)(suiteTitle('docker --init, logs of a tty, attach --detach-keys, wait: tsbox as runc', reason), () => {
  let sb: EngineSandbox;
  let dk: Docker;

  useEngineSuite('docker-tty', async (sandbox) => {
    sb = sandbox;
    // --experimental: docker checkpoint.
    return (dk = await startDockerd(sb, { flags: ['--experimental'] }));
  }, 'docker rm --force');

  async function inspect(name: string): Promise<{ Id: string; State: { Pid: number; Running: boolean; ExitCode: number } }> {
    const r = await dk.docker(['inspect', name]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    return (JSON.parse(r.stdout) as any[])[0];
  }

  /** `docker run -d` under `runtime`; for tsbox, checked to be tsbox's. Its name and init pid. */
  async function runDetached(runtime: string, flags: string[], argv: string[]): Promise<{ name: string; pid: number }> {
    const name = sb.unique(`tty-${runtime}`);
    const r = await dk.docker(['run', '--runtime', runtime, '--network', 'none', '-d', '--name', name, ...flags, dk.image, ...argv]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const info = await inspect(name);
    if (runtime === 'tsbox') await expectRunByTsbox(sb, dk.tsboxRootOf(info.Id), info.Id, info.State.Pid);
    return { name, pid: info.State.Pid };
  }

  it('--init: docker-init reaps an orphan that exits; without it a sleep as pid 1 keeps it a zombie (tsbox and runc)', TEST_TIMEOUT, async () => {
    // The subshell starts `sleep 0.3` and ends at once: the sleep is an
    // orphan, reparented to the container's pid 1, before it exits.
    const orphan = ['sh', '-c', '(sleep 0.3 &); exec sleep 100'];
    const seen: Record<string, { withInit: number[]; without: number }> = {};
    for (const runtime of RUNTIMES) {
      const withInit = await runDetached(runtime, ['--init'], orphan);
      const without = await runDetached(runtime, [], orphan);
      expect(fs.readFileSync(`/proc/${withInit.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/sbin/docker-init');
      expect(fs.readFileSync(`/proc/${without.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sleep');
      // The orphan ends after 0.3 s: a zombie under the plain sleep, reaped by docker-init.
      await waitUntil(`a zombie under ${runtime}'s sleep as pid 1`, () => zombieChildren(without.pid).length === 1, 10_000);
      seen[runtime] = { withInit: zombieChildren(withInit.pid), without: zombieChildren(without.pid).length };
      // Inside: the container's own ps sees the zombie as a child of pid 1.
      const ps = await dk.docker(['exec', without.name, 'ps', '-o', 'pid,stat,comm']);
      expect(ps.stdout).toMatch(/^\s*\d+\s+Z\s+sleep$/m);
      expect(await dk.docker(['rm', '--force', withInit.name, without.name])).toMatchObject({ status: 0 });
    }
    expect(seen).toEqual({ tsbox: { withInit: [], without: 1 }, runc: { withInit: [], without: 1 } });
  });

  it('logs of a -t container: stdout and stderr as one stream with \\r\\n, as with runc; wait of one ended by SIGKILL says 137', TEST_TIMEOUT, async () => {
    const logs: Record<string, string> = {};
    for (const runtime of RUNTIMES) {
      const c = await runDetached(runtime, ['-t'], ['sh', '-c', 'echo out; echo err >&2; [ -t 1 ] && echo tty; exec sleep 100']);
      logs[runtime] = await waitUntil(`${runtime}'s -t container's output in docker logs`, async () => {
        const r = await dk.docker(['logs', c.name]);
        return r.stdout.includes('tty') && JSON.stringify({ stdout: r.stdout, stderr: r.stderr });
      }, 10_000);
      const waiting = dk.docker(['wait', c.name]);
      expect(await dk.docker(['kill', c.name])).toMatchObject({ status: 0 });
      expect(await waiting).toMatchObject({ status: 0, stdout: '137\n' });
    }
    expect(logs).toEqual({
      tsbox: JSON.stringify({ stdout: 'out\r\nerr\r\ntty\r\n', stderr: '' }),
      runc: JSON.stringify({ stdout: 'out\r\nerr\r\ntty\r\n', stderr: '' }),
    });
  });

  it('attach --detach-keys ctrl-x to a -it container: what is typed reaches its shell, ctrl-x detaches, the container goes on (tsbox and runc)', TEST_TIMEOUT, async () => {
    const seen: Record<string, unknown> = {};
    for (const runtime of RUNTIMES) {
      const c = await runDetached(runtime, ['-i', '-t'], ['sh']);
      const attach = sb.spawn('script', ['-qfec', shellQuote([DOCKER_CLI, '-H', `unix://${path.join(path.dirname(dk.execRoot), 'docker.sock')}`, 'attach', '--detach-keys', 'ctrl-x', c.name]), '/dev/null'], { DOCKER_CONFIG: sb.mkdir('docker', 'client-config') }, 30_000);
      // The shell echoes what it reads: type until its answer shows (attach needs a moment to connect).
      await waitUntil(`${runtime}'s shell to answer through attach`, async () => {
        attach.child.stdin!.write('echo mark-$((6*7))\n');
        await new Promise((r) => setTimeout(r, 200));
        return attach.stdout.includes('mark-42');
      }, 15_000);
      attach.child.stdin!.write('\x18');
      const ended = await attach.done;
      const info = await inspect(c.name);
      seen[runtime] = { status: ended.status, detached: /read escape sequence/.test(ended.stdout + ended.stderr), running: info.State.Running, samePid: info.State.Pid === c.pid };
    }
    expect(seen).toEqual({
      tsbox: { status: 1, detached: true, running: true, samePid: true },
      runc: { status: 1, detached: true, running: true, samePid: true },
    });
  });

  it.skipIf(criu.ok)('checkpoint create where CRIU cannot run: fails with tsbox\'s one line naming CRIU\'s reason (runc fails too), the container runs on; no checkpoint is listed', TEST_TIMEOUT, async () => {
    const seen: Record<string, unknown> = {};
    for (const runtime of RUNTIMES) {
      const c = await runDetached(runtime, [], ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.05; done']);
      const id = (await inspect(c.name)).Id;
      const r = await dk.docker(['checkpoint', 'create', c.name, 'cp1'], { timeoutMs: 60_000 });
      if (runtime === 'tsbox') {
        expect(r.stderr).toMatch(new RegExp(`^Error response from daemon: Cannot checkpoint container ${c.name}: \\S+/tsbox did not terminate successfully: exit status 1: tsbox: checkpoint container "${id}": criu check failed: [^\\n]+: unknown\\n$`));
      }
      const count = async () => Number((await dk.docker(['exec', c.name, 'cat', '/count'])).stdout);
      const before = await count();
      await waitUntil(`${runtime}'s counter to go on after the failed checkpoint`, async () => (await count()) > before, 5000);
      const info = await inspect(c.name);
      seen[runtime] = {
        status: r.status,
        failed: /did not terminate successfully: exit status 1/.test(r.stderr),
        running: info.State.Running,
        samePid: info.State.Pid === c.pid,
        listed: (await dk.docker(['checkpoint', 'ls', c.name])).stdout,
      };
    }
    const expected = { status: 1, failed: true, running: true, samePid: true, listed: 'CHECKPOINT NAME\n' };
    expect(seen).toEqual({ tsbox: expected, runc: expected });
  });
});

