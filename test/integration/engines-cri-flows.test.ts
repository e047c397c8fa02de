// Kubernetes flows through containerd 1.6's CRI plugin with tsbox as the
// runtime handler, as the kubelet and kubectl drive them: `kubectl cp` /
// `crictl exec -i` (a tar through an exec's stdin, over the CRI streaming
// server; 8 MiB of it), `kubectl attach` to a container started with stdin
// (and with a terminal, attached again after the first client left), init
// containers (each runs to completion, then the next, in one pod sandbox)
// and lifecycle hooks (postStart: an exec right after StartContainer;
// preStop: an exec before StopContainer). The daemon and the sandbox are
// ../helpers/cri.ts's (with runc as a second handler where installed: the
// streams are compared with runc's); the streaming client is
// ../helpers/cri-stream.ts.

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EngineSandbox, TEST_TIMEOUT, expectProcessGone, expectRunByTsbox, findExecutable, skipReason, suiteTitle, useEngineSuite } from '../helpers/engines.js';
import { HANDLER, RUNC_HANDLER, startCriContainerd, type Cri } from '../helpers/cri.js';
import { openStream } from '../helpers/cri-stream.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['containerd', 'ctr', 'containerd-shim-runc-v2', 'unshare', 'nsenter', 'chroot', 'tar']);
/** The streams are compared with runc's (a second handler) where runc is installed. */
const hasRunc = findExecutable('runc') !== undefined;
const HANDLERS = hasRunc ? [HANDLER, RUNC_HANDLER] : [HANDLER];

describe.skipIf(reason !== undefined)(suiteTitle('Kubernetes flows through containerd\'s CRI with tsbox as the runtime handler', reason), () => {
  let sb: EngineSandbox;
  let cri: Cri;
  let pods = 0;

  useEngineSuite('cri-flows', async (sandbox) => {
    sb = sandbox;
    return (cri = await startCriContainerd(sb, { runc: hasRunc }));
  }, 'RemovePodSandbox');

  function podConfig(name: string): Record<string, unknown> {
    pods += 1;
    return {
      metadata: { name, uid: `uid-${name}-${pods}`, namespace: 'tsbox-test', attempt: 0 },
      linux: { cgroup_parent: cri.cgroupParent, security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
  }

  async function runPod(config: Record<string, unknown>, handler = HANDLER): Promise<string> {
    const r = await cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: handler });
    if (handler === HANDLER) await expectRunByTsbox(sb, cri.tsboxRoot, r.pod_sandbox_id);
    return r.pod_sandbox_id;
  }

  /** StartContainer; under tsbox, its proof that it runs the container. */
  async function start(handler: string, id: string): Promise<void> {
    await cri.call('StartContainer', { container_id: id });
    if (handler === HANDLER) await expectRunByTsbox(sb, cri.tsboxRoot, id);
  }

  async function createContainer(pod: string, sandboxConfig: Record<string, unknown>, name: string, command: string[], extra: Record<string, unknown> = {}, attempt = 0): Promise<string> {
    const r = await cri.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: sandboxConfig,
      config: {
        metadata: { name, attempt },
        image: { image: cri.image },
        command,
        linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
        ...extra,
      },
    });
    return r.container_id;
  }

  async function execSync(id: string, cmd: string[]): Promise<{ stdout: string; stderr: string; exit_code: number }> {
    const r = await cri.call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: id, cmd, timeout: 20 });
    return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exit_code: r.exit_code };
  }

  async function containerState(id: string): Promise<{ state: string; exit_code: number }> {
    return (await cri.call<{ status: { state: string; exit_code: number } }>('ContainerStatus', { container_id: id })).status;
  }

  async function exited(id: string): Promise<number> {
    const s = await waitUntil(`${id} to exit`, async () => {
      const st = await containerState(id);
      return st.state === 'CONTAINER_EXITED' && st;
    }, 10_000);
    return s.exit_code;
  }

  /** A directory of the sandbox as a pod volume (an emptyDir's host side). */
  function volume(name: string): { dir: string; mount: object } {
    const dir = sb.mkdir(sb.unique(name));
    return { dir, mount: { container_path: '/shared', host_path: dir } };
  }

  const UNTIL_TERM = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done'];

  /** Runs `flow` under each handler and expects the same from tsbox as from runc. */
  async function sameUnderEachHandler<T>(flow: (handler: string) => Promise<T>): Promise<T> {
    const seen = new Map<string, T>();
    for (const handler of HANDLERS) seen.set(handler, await flow(handler));
    if (hasRunc) expect(seen.get(HANDLER), 'tsbox vs runc').toEqual(seen.get(RUNC_HANDLER));
    return seen.get(HANDLER)!;
  }

  it('exec -i (kubectl cp): a tar through stdin is unpacked in the container; output and exit code come back; closing the stream ends stdin (as under runc)', TEST_TIMEOUT, async () => {
    // What kubectl cp sends: a tar of the files.
    const src = sb.mkdir(sb.unique('cp-src'));
    fs.writeFileSync(path.join(src, 'a.txt'), 'first file\n');
    fs.mkdirSync(path.join(src, 'sub'));
    fs.writeFileSync(path.join(src, 'sub', 'b.bin'), Buffer.alloc(100_000, 7));
    const tar = execFileSync('tar', ['-C', src, '-cf', '-', 'a.txt', 'sub']);

    const r = await sameUnderEachHandler(async (handler) => {
      const config = podConfig(`cp-${handler}`);
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'target', UNTIL_TERM);
      await start(handler, id);

      // head -c: the command ends by itself, so its output and status come back on the open stream.
      const { url } = await cri.call<{ url: string }>('Exec', {
        container_id: id,
        cmd: ['/bin/sh', '-c', `mkdir -p /tmp/dst && head -c ${tar.length} | tar -xf - -C /tmp/dst && find /tmp/dst | sort; echo to-stderr >&2; exit 3`],
        stdin: true,
        stdout: true,
        stderr: true,
      });
      const s = await openStream(url, cri.pid);
      s.write(tar);
      const unpacked = await s.done;
      const files = await execSync(id, ['/bin/sh', '-c', 'cat /tmp/dst/a.txt; wc -c < /tmp/dst/sub/b.bin']);

      // cat until the end of its input: only the closed stream ends it.
      const { url: url2 } = await cri.call<{ url: string }>('Exec', {
        container_id: id,
        cmd: ['/bin/sh', '-c', 'cat > /tmp/all; echo done > /tmp/eof'],
        stdin: true,
        stdout: true,
        stderr: true,
      });
      const s2 = await openStream(url2, cri.pid);
      s2.write('through the stream\n');
      await waitUntil('the exec to write its input', async () => (await execSync(id, ['/bin/cat', '/tmp/all'])).stdout === 'through the stream\n', 10_000);
      const eofEarly = (await execSync(id, ['/bin/ls', '/tmp/eof'])).exit_code === 0;
      // The cat processes in the container (grep -x reads each process's comm; it is not cat itself).
      const cats = async () => (await execSync(id, ['/bin/sh', '-c', 'grep -lx cat /proc/[0-9]*/comm 2>/dev/null; true'])).stdout;
      const catWhileOpen = (await cats()) !== '';
      s2.close();
      await s2.done;
      await waitUntil('the exec to see the end of its stdin', async () => (await execSync(id, ['/bin/cat', '/tmp/eof'])).stdout === 'done\n', 10_000);
      await waitUntil('the exec to be gone', async () => (await cats()) === '', 10_000).catch(() => undefined);
      return { unpacked, files: files.stdout, eofEarly, catWhileOpen, catsLeft: await cats() };
    });
    expect(r).toEqual({
      unpacked: { stdout: '/tmp/dst\n/tmp/dst/a.txt\n/tmp/dst/sub\n/tmp/dst/sub/b.bin\n', stderr: 'to-stderr\n', status: expect.anything(), exitCode: 3 },
      files: 'first file\n100000\n',
      eofEarly: false,
      catWhileOpen: true,
      catsLeft: '',
    });
  });

  it('exec -it (kubectl exec -it): the process gets a terminal of its own, sized as the stream says (as under runc)', TEST_TIMEOUT, async () => {
    const r = await sameUnderEachHandler(async (handler) => {
      const config = podConfig(`tty-${handler}`);
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'shell', UNTIL_TERM);
      await start(handler, id);
      const { url } = await cri.call<{ url: string }>('Exec', { container_id: id, cmd: ['/bin/sh', '-c', 'read -r x; tty; until s=$(stty size 2>/dev/null) && [ -n "$s" ] && [ "$s" != "0 0" ]; do sleep 0.05; done; echo "$s"; exit 2'], tty: true, stdin: true, stdout: true });
      const s = await openStream(url, cri.pid);
      // containerd applies a resize on a channel of its own: the input can
      // reach the shell first (CI saw stty find the size still 0 x 0, busybox
      // then failing with a stale errno but exit status 0), so the shell
      // waits until stty prints a size that is not 0 x 0.
      s.resize(123, 45);
      s.write('go\r');
      const done = await s.done;
      return { exitCode: done.exitCode, stdout: done.stdout.replace(/\/dev\/pts\/\d+/, '/dev/pts/N') };
    });
    // The terminal echoes the input; then the command's lines, with a terminal's line endings.
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toMatch(/\/dev\/pts\/N\r\n45 123\r\n$/);
  });

  it('attach -it, detach, attach again (kubectl attach -it; the first client goes away): the container runs on and its terminal answers the second client; its exit code (as under runc)', TEST_TIMEOUT, async () => {
    const r = await sameUnderEachHandler(async (handler) => {
      const config = podConfig(`reattach-${handler}`);
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'shell', ['/bin/sh', '-c', 'while read -r line; do echo "got $line on $(tty)"; [ "$line" = quit ] && exit 5; done; exit 9'], { stdin: true, tty: true });
      await start(handler, id);
      const attach = async (line: string) => {
        const { url } = await cri.call<{ url: string }>('Attach', { container_id: id, stdin: true, stdout: true, tty: true });
        const s = await openStream(url, cri.pid);
        s.write(`${line}\r`);
        await waitUntil(`${handler}: the answer to ${line}`, () => s.stdout.includes(`got ${line} on`), 10_000);
        return s;
      };
      const first = await attach('one');
      first.close();
      await first.done;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const afterDetach = (await containerState(id)).state;
      const second = await attach('two');
      second.write('quit\r');
      const done = await second.done;
      const code = await exited(id);
      const answers = [...(first.stdout + done.stdout).matchAll(/got (\w+) on \/dev\/pts\/\d+\r\n/g)].map((m) => m[1]);
      return { afterDetach, answers, code };
    });
    expect(r).toEqual({ afterDetach: 'CONTAINER_RUNNING', answers: ['one', 'two', 'quit'], code: 5 });
  });

  it('exec -i with a large stdin (8 MiB in 64 KiB messages): every byte arrives, in order (as under runc)', TEST_TIMEOUT, async () => {
    const data = crypto.randomBytes(8 * 1024 * 1024);
    const md5 = crypto.createHash('md5').update(data).digest('hex');
    const r = await sameUnderEachHandler(async (handler) => {
      const config = podConfig(`big-stdin-${handler}`);
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'sink', UNTIL_TERM);
      await start(handler, id);
      const { url } = await cri.call<{ url: string }>('Exec', { container_id: id, cmd: ['/bin/sh', '-c', `head -c ${data.length} | md5sum`], stdin: true, stdout: true, stderr: true });
      const s = await openStream(url, cri.pid);
      for (let off = 0; off < data.length; off += 65536) s.write(data.subarray(off, off + 65536));
      return s.done;
    });
    expect(r).toMatchObject({ stdout: `${md5}  -\n`, stderr: '', exitCode: 0 });
  });

  it('attach (kubectl attach -i): a container started with stdin reads what the stream sends; its output and exit code (as under runc)', TEST_TIMEOUT, async () => {
    const r = await sameUnderEachHandler(async (handler) => {
      const config = podConfig(`attach-${handler}`);
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'reader', ['/bin/sh', '-c', 'echo ready; read -r line; echo "got $line"; exit 6'], { stdin: true, stdin_once: true });
      await cri.call('StartContainer', { container_id: id });
      const pid = handler === HANDLER ? (await expectRunByTsbox(sb, cri.tsboxRoot, id)).pid : undefined;
      const { url } = await cri.call<{ url: string }>('Attach', { container_id: id, stdin: true, stdout: true, stderr: true });
      const s = await openStream(url, cri.pid);
      s.write('hello\n');
      const done = await s.done;
      const code = await exited(id);
      if (pid !== undefined) await expectProcessGone(pid);
      return { gotHello: done.stdout.includes('got hello\n'), code };
    });
    expect(r).toEqual({ gotHello: true, code: 6 });
  });

  it('init containers: each runs to completion in turn (a failed one again, as attempt 1), then the app sees what they left in the pod\'s volume', TEST_TIMEOUT, async () => {
    const config = podConfig('init');
    const pod = await runPod(config);
    const vol = volume('init-vol');
    const step = async (name: string, script: string, attempt = 0) => {
      const id = await createContainer(pod, config, name, ['/bin/sh', '-c', script], { mounts: [vol.mount] }, attempt);
      await cri.call('StartContainer', { container_id: id });
      return { id, code: await exited(id) };
    };
    expect((await step('init-1', 'echo one >> /shared/log')).code).toBe(0);
    // The second fails once (no marker yet), then succeeds as the kubelet's retry.
    const flaky = 'if [ -e /shared/tried ]; then echo two >> /shared/log; else touch /shared/tried; exit 3; fi';
    expect((await step('init-2', flaky)).code).toBe(3);
    expect((await step('init-2', flaky, 1)).code).toBe(0);
    const app = await createContainer(pod, config, 'app', ['/bin/sh', '-c', `cat /shared/log > /tmp/seen; ${UNTIL_TERM[2]}`], { mounts: [vol.mount] });
    await cri.call('StartContainer', { container_id: app });
    await expectRunByTsbox(sb, cri.tsboxRoot, app);
    expect(await execSync(app, ['/bin/cat', '/tmp/seen'])).toMatchObject({ stdout: 'one\ntwo\n', exit_code: 0 });
    // The finished init containers are no longer in tsbox's state (the shim deleted them); the pod and app are.
    expect(EngineSandbox.stateEntries(cri.tsboxRoot).sort()).toEqual([pod, app].sort());
    expect(fs.readFileSync(path.join(vol.dir, 'log'), 'utf8')).toBe('one\ntwo\n');
  });

  it('postStart and preStop hooks: an exec right after StartContainer and one before StopContainer, in order with the init (5 times)', TEST_TIMEOUT, async () => {
    const config = podConfig('hooks');
    const pod = await runPod(config);
    for (let i = 0; i < 5; i++) {
      const vol = volume(`hooks-${i}`);
      const id = await createContainer(pod, config, `hooked-${i}`, ['/bin/sh', '-c', 'trap "echo term >> /shared/log; exit 0" TERM; echo started >> /shared/log; while :; do sleep 0.1; done'], { mounts: [vol.mount] });
      await cri.call('StartContainer', { container_id: id });
      // postStart: at once, racing the init's first steps.
      expect(await execSync(id, ['/bin/sh', '-c', 'echo poststart >> /shared/log'])).toMatchObject({ exit_code: 0 });
      const pid = (await expectRunByTsbox(sb, cri.tsboxRoot, id)).pid;
      await waitUntil('the init to start', () => fs.readFileSync(path.join(vol.dir, 'log'), 'utf8').includes('started'), 5000);
      // preStop, then the stop.
      expect(await execSync(id, ['/bin/sh', '-c', 'echo prestop >> /shared/log'])).toMatchObject({ exit_code: 0 });
      await cri.call('StopContainer', { container_id: id, timeout: 10 });
      expect(await containerState(id)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 0 });
      await expectProcessGone(pid);
      const log = fs.readFileSync(path.join(vol.dir, 'log'), 'utf8').trim().split('\n');
      expect([...log].sort()).toEqual(['poststart', 'prestop', 'started', 'term']);
      expect(log.slice(2)).toEqual(['prestop', 'term']);
      await cri.call('RemoveContainer', { container_id: id });
    }
  });
});
