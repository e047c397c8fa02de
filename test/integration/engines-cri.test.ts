// The Kubernetes path: containerd 1.6's CRI plugin driven over its gRPC API
// (as the kubelet drives it) with tsbox as the runc binary of the runtime
// handler `tsbox` (io.containerd.runc.v2, BinaryName bin/tsbox): pod
// sandboxes and their containers are tsbox containers. How the daemon is set
// up is in ../helpers/cri.ts; the sandbox and teardown checks are the other
// engine tests' (../helpers/engines.ts). containerd runs in a network
// namespace of its own: most pods use the node's network (NamespaceMode
// NODE), which is then that namespace; the pod-network test's CNI bridge is
// made there too, so the host's network is never touched. Each test checks
// tsbox ran the pod's containers (its state.json at the root the shim
// passed, the live init); after each, tsbox holds no container, and after
// the file nothing is left on the host (teardown).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EngineSandbox,
  TEST_TIMEOUT,
  expectProcessGone,
  expectRunByTsbox,
  readTsboxRecord,
  skipReason,
  suiteTitle,
  tsboxCgroupDir,
  useEngineSuite,
} from '../helpers/engines.js';
import { HANDLER, POD_GATEWAY, hasCapSysResource, podNetworkSkipReason, startCriContainerd, type Cri } from '../helpers/cri.js';
import { childPids, isRoot } from '../helpers/bundle.js';
import { isAlive, waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['containerd', 'ctr', 'containerd-shim-runc-v2', 'unshare', 'chroot', 'tar']);

/** NamespaceMode per namespace, as the CRI has it. */
type Mode = 'POD' | 'CONTAINER' | 'NODE';

// A pod sandbox asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE:
// without it (as on this project's CI host) containerd must run with
// restrict_oom_score_adj, and the title says so.
const restricted = isRoot && !hasCapSysResource() ? ' (restrict_oom_score_adj on: this root lacks CAP_SYS_RESOURCE)' : '';

describe.skipIf(reason !== undefined)(suiteTitle(`containerd CRI (gRPC) with tsbox as the runtime handler${restricted}`, reason), () => {
  let sb: EngineSandbox;
  let cri: Cri;
  let pods = 0;

  useEngineSuite('cri', async (sandbox) => {
    sb = sandbox;
    return (cri = await startCriContainerd(sb));
  }, 'RemovePodSandbox');

  function podConfig(name: string, pid: Mode = 'CONTAINER', extra: Record<string, unknown> = {}, network: Mode = 'NODE'): Record<string, unknown> {
    pods += 1;
    return {
      metadata: { name, uid: `uid-${name}-${pods}`, namespace: 'tsbox-test', attempt: 0 },
      hostname: network === 'NODE' ? '' : name,
      linux: {
        cgroup_parent: cri.cgroupParent,
        security_context: { namespace_options: { network, pid, ipc: 'POD' } },
        ...extra,
      },
    };
  }

  async function runPod(config: Record<string, unknown>): Promise<string> {
    const r = await cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: HANDLER });
    const rec = await expectRunByTsbox(sb!, cri.tsboxRoot, r.pod_sandbox_id);
    sb!.noteContainer(r.pod_sandbox_id, rec.pid);
    return r.pod_sandbox_id;
  }

  async function createContainer(
    pod: string,
    sandboxConfig: Record<string, unknown>,
    name: string,
    command: string[],
    pid: Mode = 'CONTAINER',
    extra: { mounts?: object[]; capabilities?: string[]; network?: Mode } = {},
  ): Promise<string> {
    const r = await cri.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: sandboxConfig,
      config: {
        metadata: { name, attempt: 0 },
        image: { image: cri.image },
        command,
        mounts: extra.mounts ?? [],
        linux: {
          security_context: {
            namespace_options: { network: extra.network ?? 'NODE', pid, ipc: 'POD' },
            capabilities: { add_capabilities: extra.capabilities ?? [], drop_capabilities: [] },
          },
        },
      },
    });
    return r.container_id;
  }

  /** StartContainer, then tsbox's proof that it runs it; returns the init's host pid. */
  async function startContainer(id: string): Promise<number> {
    await cri.call('StartContainer', { container_id: id });
    return (await expectRunByTsbox(sb!, cri.tsboxRoot, id)).pid;
  }

  async function execSync(id: string, cmd: string[]): Promise<{ stdout: string; stderr: string; exit_code: number }> {
    const r = await cri.call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: id, cmd, timeout: 20 });
    return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exit_code: r.exit_code };
  }

  async function containerState(id: string): Promise<{ state: string; exit_code: number; reason: string; message: string }> {
    const r = await cri.call<{ status: { state: string; exit_code: number; reason: string; message: string } }>('ContainerStatus', { container_id: id });
    return r.status;
  }

  const UNTIL_TERM = ['/bin/sh', '-c', 'trap "exit 0" TERM; echo started > /tmp/started; while :; do sleep 0.1; done'];

  it('a pod with two containers: each runs under tsbox, ExecSync, ContainerStats, StopContainer, RemovePodSandbox', TEST_TIMEOUT, async () => {
    const config = podConfig('two');
    const pod = await runPod(config);
    const ids = [await createContainer(pod, config, 'one', UNTIL_TERM), await createContainer(pod, config, 'two', ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done'])];
    const pids = [await startContainer(ids[0]!), await startContainer(ids[1]!)];
    for (const id of ids) expect((await containerState(id)).state).toBe('CONTAINER_RUNNING');

    // ExecSync: output and status pass through, and the process joined its container (its own pid namespace: the init is 1).
    expect(await execSync(ids[0]!, ['/bin/sh', '-c', 'echo out; echo err >&2; exit 5'])).toEqual({ stdout: 'out\n', stderr: 'err\n', exit_code: 5 });
    expect(await execSync(ids[0]!, ['/bin/cat', '/proc/1/cmdline'])).toMatchObject({ stdout: `${UNTIL_TERM.join('\0')}\0`, exit_code: 0 });
    expect((await execSync(ids[1]!, ['/bin/cat', '/tmp/started'])).exit_code, 'the two containers have separate root filesystems').toBe(1);
    // The pod's IPC namespace is the sandbox's; the mount namespaces are each container's own.
    const sandboxPid = readTsboxRecord(cri.tsboxRoot, pod)!.pid;
    // The kubelet's -998 for the sandbox, or containerd's own value when restricted.
    const ownAdj = fs.readFileSync(`/proc/${cri.pid}/oom_score_adj`, 'utf8');
    expect(fs.readFileSync(`/proc/${sandboxPid}/oom_score_adj`, 'utf8')).toBe(cri.restrictOomScoreAdj ? ownAdj : '-998\n');
    for (const pid of pids) {
      expect(fs.readlinkSync(`/proc/${pid}/ns/ipc`)).toBe(fs.readlinkSync(`/proc/${sandboxPid}/ns/ipc`));
      expect(fs.readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(fs.readlinkSync(`/proc/${sandboxPid}/ns/mnt`));
    }

    // ContainerStats: the shim reads the cgroup tsbox made, under the pod's parent.
    const memoryDir = tsboxCgroupDir(cri.tsboxRoot, ids[0]!, 'memory');
    expect(memoryDir).toContain(`/${cri.cgroupParent}/`);
    expect(fs.readFileSync(path.join(memoryDir, 'cgroup.procs'), 'utf8')).toContain(String(pids[0]));
    const stats = await cri.call<{ stats: { attributes: { id: string }; cpu: { usage_core_nano_seconds: { value: number } }; memory: { usage_bytes: { value: number } } } }>('ContainerStats', { container_id: ids[0] });
    expect(stats.stats.attributes.id).toBe(ids[0]);
    expect(stats.stats.cpu.usage_core_nano_seconds.value).toBeGreaterThan(0);
    expect(stats.stats.memory.usage_bytes.value).toBeGreaterThan(0);

    // StopContainer: SIGTERM reaches the init, which exits 0.
    for (const [i, id] of ids.entries()) {
      await cri.call('StopContainer', { container_id: id, timeout: 10 });
      expect(await containerState(id)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 0 });
      await expectProcessGone(pids[i]!);
    }
    await cri.call('StopPodSandbox', { pod_sandbox_id: pod });
    await cri.call('RemovePodSandbox', { pod_sandbox_id: pod });
    await expectProcessGone(sandboxPid);
    expect(EngineSandbox.stateEntries(cri.tsboxRoot)).toEqual([]);
  });

  const noPodNetwork = podNetworkSkipReason();
  it.skipIf(noPodNetwork !== undefined)(suiteTitle('a pod network (CNI bridge in containerd\'s network namespace): the pod\'s own namespace, an address, the gateway answers', noPodNetwork), TEST_TIMEOUT, async () => {
    const config = podConfig('networked', 'CONTAINER', {}, 'POD');
    const pod = await runPod(config);
    const id = await createContainer(pod, config, 'pinger', UNTIL_TERM, 'CONTAINER', { network: 'POD' });
    const pid = await startContainer(id);
    const sandboxPid = readTsboxRecord(cri.tsboxRoot, pod)!.pid;
    expect(fs.readlinkSync(`/proc/${pid}/ns/net`), 'the container joins the pod\'s network namespace').toBe(fs.readlinkSync(`/proc/${sandboxPid}/ns/net`));
    expect(fs.readlinkSync(`/proc/${pid}/ns/net`)).not.toBe(fs.readlinkSync(`/proc/${cri.pid}/ns/net`));
    const addr = await execSync(id, ['/bin/ip', '-4', '-o', 'addr', 'show', 'eth0']);
    expect(addr.stdout).toMatch(/inet 10\.231\.0\.\d+\/24/);
    expect(await execSync(id, ['/bin/hostname'])).toMatchObject({ stdout: 'networked\n', exit_code: 0 });
    const ping = await execSync(id, ['/bin/ping', '-c', '1', '-W', '5', POD_GATEWAY]);
    expect(ping, ping.stdout + ping.stderr).toMatchObject({ exit_code: 0 });
  });

  it('a container that fails at create: tsbox\'s error is in StartContainer\'s response, and nothing of it is left', TEST_TIMEOUT, async () => {
    const config = podConfig('failing-container');
    const pod = await runPod(config);
    const id = await createContainer(pod, config, 'broken', ['no-such-program']);
    const err = await cri.call('StartContainer', { container_id: id }).then(() => undefined, (e: Error) => e.message);
    expect(err).toContain('exec "no-such-program": executable file not found in $PATH');
    expect((await containerState(id)).state).not.toBe('CONTAINER_RUNNING');
    expect(EngineSandbox.stateEntries(cri.tsboxRoot), 'only the sandbox is left in tsbox\'s state').toEqual([pod]);
  });

  it('a pod sandbox that fails at create: tsbox\'s error is in RunPodSandbox\'s response, and nothing of it is left', TEST_TIMEOUT, async () => {
    const config = podConfig('failing-sandbox', 'CONTAINER', { sysctls: { 'fs.mqueue.tsbox_no_such_sysctl': '1' } });
    const err = await cri.call('RunPodSandbox', { config, runtime_handler: HANDLER }).then(() => undefined, (e: Error) => e.message);
    expect(err).toContain('write sysctl "fs.mqueue.tsbox_no_such_sysctl": no such file or directory (ENOENT)');
    expect(EngineSandbox.stateEntries(cri.tsboxRoot)).toEqual([]);
  });

  // The shim's kill --all comes after the container's init exited: tsbox
  // still signals what is left in its cgroup (as runc 1.2). Before that, the
  // sleeps lived on and the stop took ~2.3 s.
  it('a shared-pid pod (pid POD): the container sees the sandbox\'s init as 1, and StopContainer ends its leftover children promptly', TEST_TIMEOUT, async () => {
    const config = podConfig('shared-pid', 'POD');
    const pod = await runPod(config);
    const id = await createContainer(pod, config, 'forks', ['/bin/sh', '-c', 'sleep 1000 & sleep 1000 & trap "exit 0" TERM; while :; do sleep 0.1; done'], 'POD');
    const pid = await startContainer(id);
    expect(await execSync(id, ['/bin/cat', '/proc/1/cmdline'])).toMatchObject({ stdout: '/bin/sh\0/pause\0', exit_code: 0 });
    const sandboxPid = readTsboxRecord(cri.tsboxRoot, pod)!.pid;
    expect(fs.readlinkSync(`/proc/${pid}/ns/pid`)).toBe(fs.readlinkSync(`/proc/${sandboxPid}/ns/pid`));
    const children = await waitUntil('the two sleeps', () => {
      const c = childPids(pid).filter((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\0'));
      return c.length >= 2 && c;
    });
    const t0 = performance.now();
    await cri.call('StopContainer', { container_id: id, timeout: 10 });
    const stopMs = performance.now() - t0;
    expect(await containerState(id)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 0 });
    for (const p of [pid, ...children]) await expectProcessGone(p, 2000);
    expect(stopMs, 'StopContainer of a container in the pod\'s pid namespace (ms)').toBeLessThan(1000);
    expect(isAlive(sandboxPid), 'the pod\'s init lives on').toBe(true);
  });

  // Before rootfsPropagation was applied (tsbox made / a slave whatever the
  // config said), the mount stayed in the container.
  it('mountPropagation Bidirectional: a mount the container makes in the volume reaches the host side (containerd\'s namespace)', TEST_TIMEOUT, async () => {
    const shared = await cri.sharedDir('bidirectional');
    try {
      const config = podConfig('bidirectional');
      const pod = await runPod(config);
      const id = await createContainer(pod, config, 'mounter', UNTIL_TERM, 'CONTAINER', {
        mounts: [{ container_path: '/volume', host_path: shared.dir, propagation: 'PROPAGATION_BIDIRECTIONAL' }],
        capabilities: ['SYS_ADMIN'],
      });
      await startContainer(id);
      const r = await execSync(id, ['/bin/sh', '-c', 'mkdir -p /volume/inner && mount -t tmpfs -o size=64k made-inside /volume/inner && echo hi > /volume/inner/file']);
      expect(r, r.stderr).toMatchObject({ exit_code: 0 });
      expect(shared.mountsBelow(), 'mounts below the volume on the host side').toEqual([path.join(shared.dir, 'inner')]);
      expect(fs.readFileSync(`/proc/${cri.pid}/root${shared.dir}/inner/file`, 'utf8')).toBe('hi\n');
    } finally {
      await cri.removeAll();
      await shared.release();
    }
  });
});
