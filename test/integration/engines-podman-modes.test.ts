// podman 4.3 with tsbox as its runtime: the host's namespaces (--pid host,
// --uts host, --ipc host) beside a private network (--network none), and a
// stop that must then find the container's processes without a pid
// namespace to end them; a terminal typed into (run --rm -it, exec -it
// --detach-keys, which leaves the exec'd process running); restarts
// (podman restart, --restart on-failure, which podman's cleanup drives
// through tsbox after the container exits). What the container sees is
// compared with runc's under the same podman. How podman is set up is in
// ../helpers/engines.ts.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  TEST_TIMEOUT,
  expectProcessGone,
  expectRunByTsbox,
  expectTsboxStateGone,
  findExecutable,
  shellQuote,
  skipReason,
  startPodman,
  suiteTitle,
  useEngineSuite,
  type EngineSandbox,
  type Podman,
} from '../helpers/engines.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['podman', ['conmon', '/usr/libexec/podman/conmon', '/usr/lib/podman/conmon'], 'unshare', 'nsenter', 'chroot', 'tar', 'script']);
const RUNC = findExecutable('runc');

/** `key=value` lines printed by a container script, as an object. */
function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.replace(/\r/g, '').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function ns(pid: number | 'self', type: string): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${type}`);
}

/** Host pids of the processes whose parent is `pid`. */
function childPids(pid: number): number[] {
  const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return children ? children.split(' ').map(Number) : [];
}

describe.skipIf(reason !== undefined)(suiteTitle('podman namespace modes, terminals and restarts with tsbox as the runtime', reason), () => {
  let sb: EngineSandbox;
  let pm: Podman;

  useEngineSuite('podman-modes', async (sandbox) => {
    sb = sandbox;
    return (pm = await startPodman(sb));
  }, 'podman rm --all');

  /** podman's argv for `args`, with `runtime` (tsbox, or runc's path) as its runtime. */
  const argvWith = (runtime: string, args: readonly string[]) => pm.argv(args).map((a, i, all) => (all[i - 1] === '--runtime' ? runtime : a));

  async function ok(args: readonly string[]): Promise<string> {
    const r = await pm.run(args);
    expect(r, `podman ${args.join(' ')}: ${r.stderr}`).toMatchObject({ status: 0 });
    return r.stdout;
  }

  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';

  async function runDetached(flags: string[], script: string): Promise<{ name: string; id: string; pid: number }> {
    const name = sb.unique('pm');
    await ok(['run', '-d', '--name', name, ...pm.runFlags, ...flags, pm.image, 'sh', '-c', script]);
    const [id, pid] = (await ok(['inspect', '--format', '{{.Id}} {{.State.Pid}}', name])).trim().split(' ');
    await expectRunByTsbox(sb, pm.tsboxRoot, id!, Number(pid));
    return { name, id: id!, pid: Number(pid) };
  }

  it('--pid host --uts host --ipc host --network none: the host\'s pid, uts and ipc namespaces, a network of its own with only lo; the same as under runc', TEST_TIMEOUT, async () => {
    const probe = [
      'for t in pid uts ipc net; do echo "$t=$(readlink /proc/self/ns/$t)"; done',
      'echo "hostname=$(hostname)"',
      'echo "links=$(ls /sys/class/net | tr "\\n" " ")"',
      `echo "seesTest=$(test -d /proc/${process.pid} && echo yes)"`,
      'echo "init=$(tr "\\0" " " </proc/1/cmdline)"',
    ].join('; ');
    const flags = ['--pid', 'host', '--uts', 'host', '--ipc', 'host'];
    const seen: Record<string, Record<string, string>> = {};
    for (const runtime of RUNC ? ['tsbox', RUNC] : ['tsbox']) {
      const argv = argvWith(runtime, ['run', '--rm', ...pm.runFlags, ...flags, pm.image, 'sh', '-c', probe]);
      const r = await sb.run(argv[0]!, argv.slice(1), pm.env);
      expect(r, `${runtime}: ${r.stderr}`).toMatchObject({ status: 0 });
      seen[runtime] = fields(r.stdout);
    }
    const f = seen.tsbox!;
    expect(f).toMatchObject({
      pid: ns('self', 'pid'), uts: ns('self', 'uts'), ipc: ns('self', 'ipc'), hostname: os.hostname(), links: 'lo ', seesTest: 'yes',
      init: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0').join(' '),
    });
    expect(f.net).not.toBe(ns('self', 'net'));
    // runc's network namespace is another one: every other answer the same.
    if (RUNC) expect({ ...seen[RUNC], net: '' }).toEqual({ ...f, net: '' });
  });

  it('--pid host: stop ends the init and its children (no pid namespace to end them), and tsbox forgets the container', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--pid', 'host'], `sleep 1001 & sleep 1002 & ${UNTIL_TERM}`);
    await waitUntil('two children', async () => childPids(c.pid).length >= 2, 5000);
    const children = childPids(c.pid);
    const start = Date.now();
    await ok(['stop', '--time', '5', c.name]);
    expect(Date.now() - start).toBeLessThan(4000);
    for (const pid of [c.pid, ...children]) await expectProcessGone(pid);
    await expectTsboxStateGone(pm.tsboxRoot, c.id);
  });

  it('run --rm -it: a line typed on the terminal reaches the shell, its answer and exit code come back', TEST_TIMEOUT, async () => {
    const argv = pm.argv(['run', '--rm', '-it', ...pm.runFlags, pm.image, 'sh', '-c', 'echo ready; read -r line; echo "got [$line] on $(tty)"; exit 9']);
    const s = sb.spawn('script', ['-qfec', shellQuote(argv), '/dev/null'], pm.env);
    await s.waitForStdout('ready');
    s.child.stdin!.write('typed words\r');
    const r = await s.done;
    s.child.stdin!.destroy();
    expect(r.stdout).toMatch(/got \[typed words\] on \/dev\/pts\/\d+\r\n/);
    expect(r.status).toBe(9);
  });

  // podman 4.3 then waits for the exec session's exit file, which only
  // comes when the process ends, and fails after 5 s (status 255) with
  // runc as with tsbox: the process runs on all the same.
  it('exec -it --detach-keys ctrl-x: the keys detach podman, the exec\'d process runs on in the container; as under runc', TEST_TIMEOUT, async () => {
    for (const runtime of RUNC ? ['tsbox', RUNC] : ['tsbox']) {
      const name = sb.unique('dk');
      const run = argvWith(runtime, ['run', '-d', '--name', name, ...pm.runFlags, pm.image, 'sh', '-c', UNTIL_TERM]);
      expect(await sb.run(run[0]!, run.slice(1), pm.env), runtime).toMatchObject({ status: 0 });
      const argv = argvWith(runtime, ['exec', '-it', '--detach-keys', 'ctrl-x', name, 'sh', '-c', 'echo ready; exec sleep 1003']);
      const s = sb.spawn('script', ['-qfec', shellQuote(argv), '/dev/null'], pm.env);
      await s.waitForStdout('ready');
      s.child.stdin!.write('\x18');
      const r = await s.done;
      s.child.stdin!.destroy();
      expect(r.stdout, runtime).toMatch(/exec session [0-9a-f]{64} error: detached from container/);
      expect(await ok(['exec', name, 'sh', '-c', 'ps -o args | grep -c "^sleep 1003"']), runtime).toBe('1\n');
    }
  });

  it('restart runs the container again under tsbox; --restart on-failure:2 restarts a failing one twice, through podman\'s cleanup', TEST_TIMEOUT, async () => {
    const c = await runDetached([], `echo run >> /tmp/runs; ${UNTIL_TERM}`);
    await ok(['restart', '--time', '5', c.name]);
    const [id, pid] = (await ok(['inspect', '--format', '{{.Id}} {{.State.Pid}}', c.name])).trim().split(' ');
    await expectRunByTsbox(sb, pm.tsboxRoot, id!, Number(pid));
    expect(Number(pid)).not.toBe(c.pid);
    await expectProcessGone(c.pid);
    expect(await ok(['exec', c.name, 'cat', '/tmp/runs'])).toBe('run\nrun\n');
    const f = sb.unique('fail');
    await ok(['run', '-d', '--name', f, ...pm.runFlags, '--restart', 'on-failure:2', pm.image, 'sh', '-c', 'echo run; sleep 0.5; exit 5']);
    const state = async () => (await ok(['inspect', '--format', '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}', f])).trim();
    await waitUntil('two restarts, then exited', async () => (await state()) === '2 exited 5', 20_000);
    expect((await ok(['logs', f]))).toBe('run\nrun\nrun\n');
    const fid = (await ok(['inspect', '--format', '{{.Id}}', f])).trim();
    await expectTsboxStateGone(pm.tsboxRoot, fid);
  });
});
