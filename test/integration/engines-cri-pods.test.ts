// What a kubelet feeds tsbox through containerd 1.6's CRI plugin for real pod
// specs: securityContext (users and groups, a read-only root, capabilities,
// privileged, seccomp, no_new_privs), pod sysctls, the node's namespaces,
// volumes, resources and their update, a container restarted in its
// sandbox, ExecSync's timeout and a missing binary, exit codes and
// OOMKilled, log reopening and ListContainerStats. The daemon is the one of
// ../helpers/cri.ts with runc as a second handler: where a pod spec's effect
// is the runtime's doing, the same pod runs under both and what the
// processes see must be the same. engines-cri.test.ts covers the basic pod
// lifecycle, a pod network, failures at create and Bidirectional mounts.

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
  useEngineSuite,
} from '../helpers/engines.js';
import { CRI_NAMESPACE, HANDLER, RUNC_HANDLER, podNetworkSkipReason, startCriContainerd, type Cri } from '../helpers/cri.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'unshare', 'chroot', 'tar']);

type Mode = 'POD' | 'CONTAINER' | 'NODE';
type Handler = typeof HANDLER | typeof RUNC_HANDLER;

interface Status {
  state: string;
  exit_code: number;
  reason: string;
  message: string;
  log_path: string;
}

/** An init that only waits for SIGTERM, writing nothing (some roots here are read-only). */
const WAIT = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done'];

/** What a process sees of its credentials and confinement, and whether it may write the root. */
const PROBE = [
  '/bin/sh',
  '-c',
  'id; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; (touch /probe-rootfs && echo rootfs=rw) 2>/dev/null || echo rootfs=ro',
];

describe.skipIf(reason !== undefined)(suiteTitle('containerd CRI (gRPC): pod specs as the kubelet makes them, tsbox beside runc', reason), () => {
  let sb: EngineSandbox;
  let cri: Cri;
  let pods = 0;

  useEngineSuite('cri-pods', async (sandbox) => {
    sb = sandbox;
    return (cri = await startCriContainerd(sb, { runc: true }));
  }, 'RemovePodSandbox');

  function podConfig(name: string, linux: Record<string, unknown> = {}, ns: { network?: Mode; pid?: Mode; ipc?: Mode } = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
    pods += 1;
    const { security_context: sc = {}, ...rest } = linux as { security_context?: Record<string, unknown> };
    const network = ns.network ?? 'NODE';
    return {
      metadata: { name, uid: `uid-${name}-${pods}`, namespace: 'tsbox-test', attempt: 0 },
      hostname: network === 'NODE' ? '' : name,
      linux: {
        cgroup_parent: cri.cgroupParent,
        security_context: { namespace_options: { network, pid: ns.pid ?? 'CONTAINER', ipc: ns.ipc ?? 'POD' }, ...sc },
        ...rest,
      },
      ...extra,
    };
  }

  async function runPod(config: Record<string, unknown>, handler: Handler = HANDLER): Promise<string> {
    const r = await cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: handler });
    if (handler === HANDLER) await expectRunByTsbox(sb, cri.tsboxRoot, r.pod_sandbox_id);
    return r.pod_sandbox_id;
  }

  /** The container's config as the kubelet builds it; `linux.security_context` is merged over the pod's namespace options. */
  async function createContainer(pod: string, podCfg: Record<string, unknown>, name: string, command: string[], extra: Record<string, unknown> = {}, attempt = 0): Promise<string> {
    const { linux = {}, ...rest } = extra as { linux?: { security_context?: Record<string, unknown>; resources?: unknown } };
    const podNs = (podCfg.linux as { security_context: { namespace_options: Record<string, string> } }).security_context.namespace_options;
    const r = await cri.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: podCfg,
      config: {
        metadata: { name, attempt },
        image: { image: cri.image },
        command,
        ...rest,
        linux: {
          ...linux,
          security_context: { namespace_options: { ...podNs, pid: podNs.pid === 'NODE' ? 'NODE' : podNs.pid ?? 'CONTAINER' }, ...linux.security_context },
        },
      },
    });
    return r.container_id;
  }

  /** The init's host pid: from tsbox's state (after proving tsbox runs it) or from runc's. */
  async function hostPid(handler: Handler, id: string): Promise<number> {
    if (handler === HANDLER) return (await expectRunByTsbox(sb, cri.tsboxRoot, id)).pid;
    const r = await sb.run('runc', ['--root', path.join(sb.path('cri', 'runc'), CRI_NAMESPACE), 'state', id], {});
    expect(r, r.stderr).toMatchObject({ status: 0 });
    return (JSON.parse(r.stdout) as { pid: number }).pid;
  }

  async function startContainer(handler: Handler, id: string): Promise<number> {
    await cri.call('StartContainer', { container_id: id });
    return hostPid(handler, id);
  }

  async function execSync(id: string, cmd: string[], timeout = 20): Promise<{ stdout: string; stderr: string; exit_code: number }> {
    const r = await cri.call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: id, cmd, timeout });
    return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exit_code: r.exit_code };
  }

  async function containerStatus(id: string): Promise<Status> {
    return (await cri.call<{ status: Status }>('ContainerStatus', { container_id: id })).status;
  }

  async function exited(id: string, ms = 20_000): Promise<Status> {
    return waitUntil(`${id} to exit`, async () => {
      const s = await containerStatus(id);
      return s.state === 'CONTAINER_EXITED' && s;
    }, ms);
  }

  /** The host directory of a process's cgroup in v1 hierarchy `controller` (memory, cpu). */
  function cgroupDir(pid: number, controller: string): string {
    const line = fs
      .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.split(':')[1]!.split(',').includes(controller));
    expect(line, `${controller} in /proc/${pid}/cgroup`).toBeDefined();
    return path.join('/sys/fs/cgroup', controller, line!.split(':')[2]!);
  }

  function statusField(pid: number, field: string): string {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line!.slice(field.length + 1).trim();
  }

  it('securityContext: runAsUser/Group, supplementalGroups, readOnlyRootFilesystem, capabilities, no_new_privs, seccomp RuntimeDefault and Unconfined, privileged: the same as under runc', TEST_TIMEOUT, async () => {
    const seen: Record<string, Record<string, string>> = {};
    const containerdCaps = statusField(cri.pid, 'CapEff');
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      // A privileged container needs a privileged sandbox.
      const config = podConfig(`sc-${handler}`, { security_context: { privileged: true } });
      const pod = await runPod(config, handler);
      const restricted = await createContainer(pod, config, 'restricted', WAIT, {
        linux: {
          security_context: {
            run_as_user: { value: 1000 },
            run_as_group: { value: 2000 },
            supplemental_groups: [3000, 3001],
            readonly_rootfs: true,
            no_new_privs: true,
            capabilities: { add_capabilities: ['NET_BIND_SERVICE'], drop_capabilities: ['ALL'] },
            seccomp: { profile_type: 'RuntimeDefault' },
          },
        },
      });
      const unconfined = await createContainer(pod, config, 'unconfined', WAIT, {
        linux: { security_context: { capabilities: { add_capabilities: ['SYS_TIME'], drop_capabilities: ['NET_RAW'] }, seccomp: { profile_type: 'Unconfined' } } },
      });
      const privileged = await createContainer(pod, config, 'privileged', WAIT, { linux: { security_context: { privileged: true } } });
      const pids: Record<string, number> = {};
      for (const [name, id] of Object.entries({ restricted, unconfined, privileged })) pids[name] = await startContainer(handler, id);
      seen[handler] = {};
      for (const [name, id] of Object.entries({ restricted, unconfined, privileged })) {
        const r = await execSync(id, PROBE);
        expect(r, r.stderr).toMatchObject({ exit_code: 0 });
        seen[handler]![name] = r.stdout;
      }

      // Inside: what the process is and may do.
      const restrictedSeen = seen[handler]!.restricted!;
      expect(restrictedSeen).toMatch(/^uid=1000 gid=2000 groups=.*\b3000\b.*\b3001\b/m);
      expect(restrictedSeen).toMatch(/^CapEff:\s+0000000000000000$/m);
      expect(restrictedSeen, 'the bounding set is NET_BIND_SERVICE only').toMatch(/^CapBnd:\s+0000000000000400$/m);
      expect(restrictedSeen).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(restrictedSeen).toMatch(/^Seccomp:\s+2$/m);
      expect(restrictedSeen).toMatch(/^rootfs=ro$/m);
      const unconfinedSeen = seen[handler]!.unconfined!;
      expect(unconfinedSeen).toMatch(/^uid=0 gid=0/m);
      const capEff = BigInt(`0x${/^CapEff:\s+(\w+)$/m.exec(unconfinedSeen)![1]}`);
      expect((capEff >> 25n) & 1n, 'CAP_SYS_TIME added').toBe(1n);
      expect((capEff >> 13n) & 1n, 'CAP_NET_RAW dropped').toBe(0n);
      expect(unconfinedSeen).toMatch(/^Seccomp:\s+0$/m);
      expect(unconfinedSeen).toMatch(/^NoNewPrivs:\s+0$/m);
      expect(unconfinedSeen).toMatch(/^rootfs=rw$/m);
      const privilegedSeen = seen[handler]!.privileged!;
      expect(privilegedSeen, 'every capability containerd has').toMatch(new RegExp(`^CapEff:\\s+${containerdCaps}$`, 'm'));
      expect(privilegedSeen).toMatch(/^Seccomp:\s+0$/m);
      const sysMount = await execSync(privileged, ['/bin/sh', '-c', 'grep " /sys " /proc/mounts; test -c /dev/kmsg && echo host-devices']);
      expect(sysMount.stdout, 'a privileged container has the host\'s devices').toContain('host-devices');
      // containerd leaves /sys read-only in the node's network namespace, privileged or not (runc's too: compared below).
      seen[handler]!.privilegedSys = sysMount.stdout;

      // Outside: the init's credentials as the host sees them.
      expect(statusField(pids.restricted!, 'Uid')).toBe('1000\t1000\t1000\t1000');
      expect(statusField(pids.restricted!, 'Gid')).toBe('2000\t2000\t2000\t2000');
      expect(statusField(pids.restricted!, 'Groups').split(' ')).toEqual(expect.arrayContaining(['3000', '3001']));
      expect(statusField(pids.restricted!, 'NoNewPrivs')).toBe('1');
      expect(statusField(pids.restricted!, 'Seccomp')).toBe('2');
      expect(statusField(pids.unconfined!, 'Seccomp')).toBe('0');
      expect(statusField(pids.privileged!, 'CapEff')).toBe(containerdCaps);
      await cri.removeAll();
    }
    expect(seen[HANDLER], 'what the containers see under tsbox vs under runc').toEqual(seen[RUNC_HANDLER]);
  });
});
