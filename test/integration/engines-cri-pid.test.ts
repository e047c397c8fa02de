// Pods whose containers share process namespaces, through containerd 1.6's
// CRI plugin with tsbox beside runc: `shareProcessNamespace: true` (the
// sandbox's pid namespace, PodSandboxConfig pid POD: its pause is pid 1 of
// every container, each sees and may signal the others' processes,
// StopPodSandbox ends them all) and `kubectl debug --target` (a container
// added to a running pod with pid TARGET: it joins one container's pid
// namespace, sees that container's processes, and its stop leaves them
// alone). The daemon is ../helpers/cri.ts's with runc as a second handler;
// what the processes see must be the same under both.

import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TEST_TIMEOUT, expectProcessGone, skipReason, suiteTitle, useEngineSuite, type EngineSandbox } from '../helpers/engines.js';
import { HANDLER, RUNC_HANDLER, startCriContainerd, type Cri } from '../helpers/cri.js';
import { isAlive, waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'unshare', 'nsenter', 'chroot', 'tar']);

type Mode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
type Handler = typeof HANDLER | typeof RUNC_HANDLER;

/** Waits for SIGTERM; `code` is its exit status on SIGUSR1 (another container's signal). */
function waiter(marker: string, code = 0): string[] {
  return ['/bin/sh', '-c', `trap "exit ${code}" USR1; trap "exit 0" TERM; : ${marker}; while :; do sleep 0.1; done`];
}

/** Each process the caller sees, as "pid args", sorted by args (busybox ps reads the caller's /proc), less the waiters' passing sleeps. */
const PS = ['/bin/sh', '-c', 'ps -o pid,args | tail -n +2 | grep -v -e " ps -o" -e "tail -n" -e "grep -v" -e "sort -k2" -e " sleep 0.1$" | sort -k2'];

describe.skipIf(reason !== undefined)(suiteTitle('containerd CRI (gRPC): shared and target pid namespaces, tsbox beside runc', reason), () => {
  let sb: EngineSandbox;
  let cri: Cri;
  let pods = 0;

  useEngineSuite('cri-pid', async (sandbox) => {
    sb = sandbox;
    return (cri = await startCriContainerd(sb, { runc: true }));
  }, 'RemovePodSandbox');

  function podConfig(name: string, pid: Mode): Record<string, unknown> {
    pods += 1;
    return {
      metadata: { name, uid: `uid-${name}-${pods}`, namespace: 'tsbox-test', attempt: 0 },
      linux: { cgroup_parent: cri.cgroupParent, security_context: { namespace_options: { network: 'NODE', pid, ipc: 'POD' } } },
    };
  }

  async function runPod(config: Record<string, unknown>, handler: Handler): Promise<string> {
    const r = await cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: handler });
    return r.pod_sandbox_id;
  }

  async function createContainer(pod: string, podCfg: Record<string, unknown>, name: string, command: string[], pid: Mode, targetId = ''): Promise<string> {
    const r = await cri.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: podCfg,
      config: {
        metadata: { name, attempt: 0 },
        image: { image: cri.image },
        command,
        linux: { security_context: { namespace_options: { network: 'NODE', pid, ipc: 'POD', target_id: targetId } } },
      },
    });
    return r.container_id;
  }

  async function start(handler: Handler, id: string): Promise<number> {
    await cri.call('StartContainer', { container_id: id });
    return cri.hostPid(handler, id);
  }

  async function execSync(id: string, cmd: string[]): Promise<{ stdout: string; stderr: string; exit_code: number }> {
    const r = await cri.call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: id, cmd, timeout: 20 });
    return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exit_code: r.exit_code };
  }

  async function status(id: string): Promise<{ state: string; exit_code: number; reason: string }> {
    return (await cri.call<{ status: { state: string; exit_code: number; reason: string } }>('ContainerStatus', { container_id: id })).status;
  }

  async function exited(id: string): Promise<{ state: string; exit_code: number; reason: string }> {
    return waitUntil(`${id} to exit`, async () => {
      const s = await status(id);
      return s.state === 'CONTAINER_EXITED' && s;
    }, 15_000);
  }

  /** The pid a host process has in its own (innermost) pid namespace. */
  function nsPid(hostPidOf: number): number {
    const line = fs.readFileSync(`/proc/${hostPidOf}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'))!;
    return Number(line.split(/\s+/).at(-1));
  }

  /** The host pids of `pid`'s children running `sleep 1000` (not the passing `sleep 0.1`s). */
  function sleepChildren(pid: number): number[] {
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((p) => p).map(Number);
    return children.filter((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x001000\x00');
  }

  /** Each process's args as `ps` shows them, with the pids left out (sorted). */
  function argsOf(ps: string): string[] {
    return ps.trim().split('\n').map((l) => l.trim().replace(/^\d+\s+/, '')).sort();
  }

  it('shareProcessNamespace (pid POD): pause is pid 1 of each container, each sees and signals the other\'s processes, StopPodSandbox ends them all: as under runc', TEST_TIMEOUT, async () => {
    const seen: Record<string, unknown> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`shared-${handler}`, 'POD');
      const pod = await runPod(config, handler);
      const podPid = await cri.hostPid(handler, pod);
      const a = await createContainer(pod, config, 'a', ['/bin/sh', '-c', 'sleep 1000 & trap "exit 0" TERM; : a-marker; while :; do sleep 0.1; done'], 'POD');
      const b = await createContainer(pod, config, 'b', waiter('b-marker', 42), 'POD');
      const aPid = await start(handler, a);
      const bPid = await start(handler, b);
      for (const p of [aPid, bPid]) expect(fs.readlinkSync(`/proc/${p}/ns/pid`), handler).toBe(fs.readlinkSync(`/proc/${podPid}/ns/pid`));
      const first = await execSync(a, ['/bin/cat', '/proc/1/cmdline']);
      const psA = await execSync(a, PS);
      const psB = await execSync(b, PS);
      expect(psA.stdout, `${handler}: what a sees is what b sees`).toBe(psB.stdout);
      // Signals across containers: a sends b's init SIGUSR1, which b's trap turns into exit 42.
      const kill = await execSync(a, ['/bin/kill', '-USR1', String(nsPid(bPid))]);
      expect(kill, `${handler}: ${kill.stderr}`).toMatchObject({ exit_code: 0 });
      const bExit = await exited(b);
      await expectProcessGone(bPid);
      // a's leftover child (its sleep) and the pause end with the pod.
      const aChildren = sleepChildren(aPid);
      expect(aChildren.length, `${handler}: a's sleep`).toBe(1);
      await cri.call('StopPodSandbox', { pod_sandbox_id: pod });
      for (const p of [podPid, aPid, ...aChildren]) await expectProcessGone(p);
      expect(await status(a), handler).toMatchObject({ state: 'CONTAINER_EXITED' });
      seen[handler] = { first: first.stdout, ps: argsOf(psA.stdout), bExit: [bExit.exit_code, bExit.reason] };
      await cri.removeAll();
    }
    expect(seen[HANDLER]).toMatchObject({ first: '/bin/sh\0/pause\0', bExit: [42, 'Error'] });
    expect((seen[HANDLER] as { ps: string[] }).ps).toEqual(expect.arrayContaining(['{pause} /bin/sh /pause', 'sleep 1000', expect.stringContaining('a-marker'), expect.stringContaining('b-marker')]));
    expect(seen[HANDLER]).toEqual(seen[RUNC_HANDLER]);
  });

  it('kubectl debug --target (pid TARGET): a container added to a running pod sees the target\'s processes only; its stop leaves the target running; the target\'s stop ends it: as under runc', TEST_TIMEOUT, async () => {
    const seen: Record<string, unknown> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`target-${handler}`, 'CONTAINER');
      const pod = await runPod(config, handler);
      const app = await createContainer(pod, config, 'app', ['/bin/sh', '-c', 'sleep 1000 & trap "exit 0" TERM; : app-marker; while :; do sleep 0.1; done'], 'CONTAINER');
      const other = await createContainer(pod, config, 'other', waiter('other-marker'), 'CONTAINER');
      const appPid = await start(handler, app);
      await start(handler, other);
      const debug = await createContainer(pod, config, 'debugger', waiter('debug-marker', 43), 'TARGET', app);
      const debugPid = await start(handler, debug);
      expect(fs.readlinkSync(`/proc/${debugPid}/ns/pid`), handler).toBe(fs.readlinkSync(`/proc/${appPid}/ns/pid`));
      const first = await execSync(debug, ['/bin/cat', '/proc/1/cmdline']);
      const ps = await execSync(debug, PS);
      // The target signalled from the debugger: it sees the target's init as 1.
      const signalled = await execSync(debug, ['/bin/kill', '-0', '1']);
      expect(signalled, `${handler}: ${signalled.stderr}`).toMatchObject({ exit_code: 0 });
      const appSleep = sleepChildren(appPid);
      expect(appSleep.length, `${handler}: the target's sleep`).toBe(1);
      // Stopping the debugger (the shim's kill --all in a pid namespace it shares) leaves the target's processes alone.
      await cri.call('StopContainer', { container_id: debug, timeout: 5 });
      const debugStop = await status(debug);
      await expectProcessGone(debugPid);
      expect(isAlive(appPid), `${handler}: the target's init after the debugger's stop`).toBe(true);
      for (const p of appSleep) expect(isAlive(p), `${handler}: the target's sleep after the debugger's stop`).toBe(true);
      expect((await status(app)).state).toBe('CONTAINER_RUNNING');

      // A second debugger, then the target stops: the kernel ends every process of its pid namespace.
      const debug2 = await createContainer(pod, config, 'debugger-2', waiter('debug-2-marker'), 'TARGET', app);
      const debug2Pid = await start(handler, debug2);
      await cri.call('StopContainer', { container_id: app, timeout: 5 });
      const debug2Exit = await exited(debug2);
      await expectProcessGone(debug2Pid);
      seen[handler] = { first: first.stdout, ps: argsOf(ps.stdout), debugStop: [debugStop.exit_code, debugStop.reason], debug2Exit: [debug2Exit.exit_code, debug2Exit.reason] };
      await cri.removeAll();
    }
    expect(seen[HANDLER]).toMatchObject({ first: expect.stringContaining('app-marker'), debugStop: [0, 'Completed'], debug2Exit: [137, 'Error'] });
    const ps = (seen[HANDLER] as { ps: string[] }).ps;
    expect(ps.some((l) => l.includes('other-marker') || l.includes('/pause')), 'the pod\'s other container and the pause are not seen').toBe(false);
    expect(ps).toEqual(expect.arrayContaining(['sleep 1000', expect.stringContaining('app-marker'), expect.stringContaining('debug-marker')]));
    expect(seen[HANDLER]).toEqual(seen[RUNC_HANDLER]);
  });
});
