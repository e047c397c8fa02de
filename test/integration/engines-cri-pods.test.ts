// What a kubelet feeds tsbox through containerd 1.6's CRI plugin for real pod
// specs: securityContext (users and groups, a read-only root, capabilities,
// privileged, seccomp, no_new_privs), pod sysctls, the node's namespaces,
// volumes, resources and their update, a container restarted in its
// sandbox, ExecSync's timeout and a missing binary, exit codes and
// OOMKilled, log reopening, an image USER given by name, and
// ContainerStats against the cgroup files. The daemon is the one of
// ../helpers/cri.ts with runc as a second handler: where a pod spec's effect
// is the runtime's doing, the same pod runs under both and what the
// processes see must be the same (tsbox's two deliberate differences, the
// hybrid host's cgroup2 hierarchy mounted and a read-only cgroup mount's
// tmpfs read-only too, are named where they show). engines-cri.test.ts
// covers the basic pod lifecycle, a pod network, failures at create and
// Bidirectional mounts.

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
import { HANDLER, RUNC_HANDLER, podNetworkSkipReason, startCriContainerd, type Cri } from '../helpers/cri.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'unshare', 'nsenter', 'chroot', 'tar']);

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
  'id; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; (touch /probe-rootfs && echo rootfs=rw) 2>/dev/null || echo rootfs=ro; ls /dev | tr "\\n" " "',
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

  /** The container's config as the kubelet builds it: the pod's namespace options, then `extra` (and its `linux.security_context`). */
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
          security_context: { namespace_options: podNs, ...linux.security_context },
        },
      },
    });
    return r.container_id;
  }

  async function startContainer(handler: Handler, id: string): Promise<number> {
    await cri.call('StartContainer', { container_id: id });
    return cri.hostPid(handler, id);
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
        // The mount points (tsbox adds the hybrid host's cgroup2 hierarchy, which runc 1.1 leaves out).
        const m = await execSync(id, ['/bin/sh', '-c', 'awk \'{print $5, $9}\' /proc/self/mountinfo | grep -v "^/sys/fs/cgroup/unified "']);
        const targets = m.stdout.trim().split('\n');
        expect(targets.length, `${name}: each mount point once`).toBe(new Set(targets).size);
        seen[handler]![`${name}Mounts`] = targets.sort().join('\n');
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

  it('an image whose USER is a name (nobody; web, also in a group of /etc/group) and no runAsUser: the uid, gid and HOME from the image\'s /etc/passwd, as under runc', TEST_TIMEOUT, async () => {
    const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nweb:x:1500:1600:web:/home/web:/bin/sh\n';
    const group = 'root:x:0:\nnogroup:x:65534:\nwebgrp:x:1600:\nextra:x:1700:web\n';
    const images = { nobody: 'localhost/tsbox-user-nobody:latest', web: 'localhost/tsbox-user-web:latest' };
    for (const [name, ref] of Object.entries(images)) await cri.importImage(ref, { name, passwd, group });
    const seen: Record<string, Record<string, string>> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`image-user-${handler}`);
      const pod = await runPod(config, handler);
      seen[handler] = {};
      for (const [name, ref] of Object.entries(images)) {
        const id = await createContainer(pod, config, name, WAIT, { image: { image: ref } });
        const pid = await startContainer(handler, id);
        const r = await execSync(id, ['/bin/sh', '-c', 'id; echo "HOME=$HOME"']);
        expect(r, r.stderr).toMatchObject({ exit_code: 0 });
        seen[handler]![name] = `${r.stdout}${['Uid', 'Gid', 'Groups'].map((f) => `${f}: ${statusField(pid, f)}`).join('\n')}`;
      }
      await cri.removeAll();
    }
    expect(seen[HANDLER]!.nobody).toBe('uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\nHOME=/nonexistent\nUid: 65534\t65534\t65534\t65534\nGid: 65534\t65534\t65534\t65534\nGroups: 65534');
    expect(seen[HANDLER]).toEqual(seen[RUNC_HANDLER]);
    // Not /etc/group's 1700 (extra): containerd 1.6's CRI resolves the name's uid and gid only, and its spec has no other group (runc alike, above).
    expect(seen[HANDLER]!.web).toBe('uid=1500(web) gid=1600(webgrp) groups=1600(webgrp)\nHOME=/home/web\nUid: 1500\t1500\t1500\t1500\nGid: 1600\t1600\t1600\t1600\nGroups: 1600');
  });

  it('the pod-level securityContext (runAsUser/Group, readOnlyRootFilesystem, seccomp) applies to the sandbox\'s init: as under runc', TEST_TIMEOUT, async () => {
    const seen: Record<string, Record<string, string>> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`pod-sc-${handler}`, {
        security_context: { run_as_user: { value: 1001 }, run_as_group: { value: 2001 }, supplemental_groups: [3002], readonly_rootfs: true, seccomp: { profile_type: 'RuntimeDefault' } },
      });
      const pod = await runPod(config, handler);
      const pid = await cri.hostPid(handler, pod);
      // Started is not yet exec'd: read the init once it runs /pause (the image's command).
      await waitUntil(`${handler}: the sandbox's init to run /pause`, () => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === '/bin/sh\0/pause\0', 5000);
      seen[handler] = Object.fromEntries(['Uid', 'Gid', 'Groups', 'CapEff', 'NoNewPrivs', 'Seccomp'].map((f) => [f, statusField(pid, f)]));
      const root = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
      seen[handler]!.root = root!.split(' ')[5]!.split(',')[0]!;
      await cri.removeAll();
    }
    expect(seen[HANDLER]).toMatchObject({ Uid: '1001\t1001\t1001\t1001', Gid: '2001\t2001\t2001\t2001', Seccomp: '2', root: 'ro' });
    // Not supplementalGroups, under runc either: containerd 1.6 leaves them out of the sandbox's spec (its containers get them, above).
    expect(seen[HANDLER]!.Groups).toBe('2001');
    expect(seen[HANDLER]).toEqual(seen[RUNC_HANDLER]);
  });

  const noPodNetwork = podNetworkSkipReason();
  it.skipIf(noPodNetwork !== undefined)(suiteTitle('pod sysctls: net.* in the pod\'s network namespace and kernel.shm* in its IPC namespace, not the host\'s; net.* with the node\'s network is refused, as by runc', noPodNetwork), TEST_TIMEOUT, async () => {
    const sysctls = { 'net.core.somaxconn': '1001', 'net.ipv4.ip_unprivileged_port_start': '80', 'kernel.shm_rmid_forced': '1', 'kernel.shmmni': '1234' };
    const files = Object.keys(sysctls).map((k) => `/proc/sys/${k.replace(/\./g, '/')}`);
    const hostBefore = files.map((f) => fs.readFileSync(f, 'utf8'));
    const containerdNet = (await sb.run('nsenter', [`--net=/proc/${cri.pid}/ns/net`, '--', 'cat', files[0]!, files[1]!], {})).stdout;
    const seen: Record<string, string> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`sysctls-${handler}`, { sysctls }, { network: 'POD' });
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'reader', WAIT);
      await startContainer(handler, id);
      const r = await execSync(id, ['/bin/cat', ...files]);
      expect(r, r.stderr).toMatchObject({ exit_code: 0 });
      seen[handler] = r.stdout;
      expect(r.stdout.split('\n').slice(0, 4)).toEqual(Object.values(sysctls));
      await cri.removeAll();
    }
    expect(seen[HANDLER]).toEqual(seen[RUNC_HANDLER]);
    expect(files.map((f) => fs.readFileSync(f, 'utf8')), 'the host\'s values').toEqual(hostBefore);
    expect((await sb.run('nsenter', [`--net=/proc/${cri.pid}/ns/net`, '--', 'cat', files[0]!, files[1]!], {})).stdout, 'the node network\'s values').toBe(containerdNet);

    const refused: Record<string, string> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`host-net-sysctl-${handler}`, { sysctls: { 'net.core.somaxconn': '1002' } });
      refused[handler] = await cri.call('RunPodSandbox', { config, runtime_handler: handler }).then(() => 'started', (e: Error) => e.message);
      await cri.removeAll();
    }
    expect(refused[RUNC_HANDLER]).toContain('sysctl "net.core.somaxconn" not allowed in host network namespace');
    expect(refused[HANDLER]).toContain('linux.sysctl.net.core.somaxconn: needs the container to have its own net namespace');
    expect(EngineSandbox.stateEntries(cri.tsboxRoot)).toEqual([]);
    expect((await sb.run('nsenter', [`--net=/proc/${cri.pid}/ns/net`, '--', 'cat', files[0]!], {})).stdout).toBe(containerdNet.split('\n')[0] + '\n');
  });

  it.skipIf(noPodNetwork !== undefined)(suiteTitle('a privileged and an unprivileged container in a pod network: the same mounts as under runc (containerd 1.6 leaves /sys read-only for both)', noPodNetwork), TEST_TIMEOUT, async () => {
    const seen: Record<string, string[]> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`priv-net-${handler}`, { security_context: { privileged: true } }, { network: 'POD' });
      const pod = await runPod(config, handler);
      const privileged = await createContainer(pod, config, 'privileged', WAIT, { linux: { security_context: { privileged: true } } });
      const plain = await createContainer(pod, config, 'plain', WAIT);
      await startContainer(handler, privileged);
      await startContainer(handler, plain);
      const mounts = 'grep " /sys " /proc/mounts | cut -d" " -f4 | cut -d, -f1; awk \'{print $5, $6, $9}\' /proc/self/mountinfo | grep -v "^/sys/fs/cgroup/unified " | sort';
      const [p, q] = [await execSync(privileged, ['/bin/sh', '-c', mounts]), await execSync(plain, ['/bin/sh', '-c', mounts])];
      expect(p, p.stderr).toMatchObject({ exit_code: 0 });
      expect(q.stdout.split('\n')[0], `${handler}: /sys of the unprivileged container`).toBe('ro');
      seen[handler] = [p.stdout, q.stdout];
      await cri.removeAll();
    }
    // runc leaves the cgroup tmpfs read-write under a read-only cgroup mount; tsbox makes it read-only, as asked.
    const likeRunc = (out: string) => out.replace(/^\/sys\/fs\/cgroup ro,/m, '/sys/fs/cgroup rw,');
    expect(seen[HANDLER]!.map(likeRunc)).toEqual(seen[RUNC_HANDLER]);
  });

  it('hostNetwork, hostPID and hostIPC: the container is in the node\'s (containerd\'s) namespaces and sees its processes', TEST_TIMEOUT, async () => {
    const config = podConfig('host-ns', {}, { network: 'NODE', pid: 'NODE', ipc: 'NODE' });
    const pod = await runPod(config);
    const id = await createContainer(pod, config, 'host', WAIT);
    const pid = await startContainer(HANDLER, id);
    const sandboxPid = readTsboxRecord(cri.tsboxRoot, pod)!.pid;
    for (const ns of ['net', 'pid', 'ipc']) {
      expect(fs.readlinkSync(`/proc/${pid}/ns/${ns}`), ns).toBe(fs.readlinkSync(`/proc/${cri.pid}/ns/${ns}`));
      expect(fs.readlinkSync(`/proc/${sandboxPid}/ns/${ns}`), ns).toBe(fs.readlinkSync(`/proc/${cri.pid}/ns/${ns}`));
    }
    expect(fs.readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(fs.readlinkSync(`/proc/${cri.pid}/ns/mnt`));
    const r = await execSync(id, ['/bin/sh', '-c', `cat /proc/${cri.pid}/comm; cat /proc/${pid}/comm`]);
    expect(r, r.stderr).toMatchObject({ stdout: 'containerd\nsh\n', exit_code: 0 });
  });

  it('an emptyDir (a host directory), a read-only hostPath volume and the termination-log file under a read-only root: writes reach the host, the read-only volume refuses them', TEST_TIMEOUT, async () => {
    const emptyDir = sb.mkdir('cri', 'volumes', 'empty');
    const hostPath = sb.mkdir('cri', 'volumes', 'host');
    fs.writeFileSync(path.join(hostPath, 'hello'), 'from the host\n');
    // The kubelet's termination message: a host file bound at /dev/termination-log.
    const terminationLog = path.join(sb.mkdir('cri', 'volumes', 'pod-dir'), 'termination-log');
    fs.writeFileSync(terminationLog, '');
    const config = podConfig('volumes');
    const pod = await runPod(config);
    const id = await createContainer(pod, config, 'user', ['/bin/sh', '-c', 'trap "echo goodbye > /dev/termination-log; exit 0" TERM; while :; do sleep 0.1; done'], {
      mounts: [
        { container_path: '/cache', host_path: emptyDir },
        { container_path: '/host', host_path: hostPath, readonly: true },
        { container_path: '/dev/termination-log', host_path: terminationLog },
      ],
      linux: { security_context: { readonly_rootfs: true } },
    });
    await startContainer(HANDLER, id);
    const r = await execSync(id, ['/bin/sh', '-c', 'echo made inside > /cache/f && cat /host/hello; echo x > /host/new; grep -E " /(cache|host) " /proc/mounts']);
    expect(r.stdout).toMatch(/^from the host$/m);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(r.stdout).toMatch(/ \/host \S+ ro[, ]/);
    expect(r.stdout).toMatch(/ \/cache \S+ rw[, ]/);
    expect(fs.readFileSync(path.join(emptyDir, 'f'), 'utf8')).toBe('made inside\n');
    expect(fs.existsSync(path.join(hostPath, 'new'))).toBe(false);
    await cri.call('StopContainer', { container_id: id, timeout: 10 });
    expect(await containerStatus(id)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 0 });
    expect(fs.readFileSync(terminationLog, 'utf8'), 'the termination message, through a file bind under a read-only root').toBe('goodbye\n');
  });

  it('mountPropagation HostToContainer: a mount made on the host side after the start shows inside (writable even below a read-only volume) and none goes back: as under runc', TEST_TIMEOUT, async () => {
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const shared = await cri.sharedDir(`host-to-container-${handler}`);
      try {
        const config = podConfig(`host-to-container-${handler}`);
        const pod = await runPod(config, handler);
        const id = await createContainer(pod, config, 'watcher', WAIT, {
          mounts: [
            { container_path: '/volume', host_path: shared.dir, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
            { container_path: '/volume-ro', host_path: shared.dir, propagation: 'PROPAGATION_HOST_TO_CONTAINER', readonly: true },
          ],
        });
        await startContainer(handler, id);
        const made = await sb.run('nsenter', [`--target=${cri.pid}`, '--mount', '--', 'sh', '-ec', 'mkdir -p "$1/later" && mount -t tmpfs -o size=64k made-later "$1/later" && echo later > "$1/later/file"', 'sh', shared.dir], {});
        expect(made, made.stderr).toMatchObject({ status: 0 });
        const r = await execSync(id, ['/bin/sh', '-c', 'cat /volume/later/file /volume-ro/later/file; echo x > /volume/later/new && echo written; echo x > /volume-ro/later/new 2>/dev/null || echo refused']);
        // A mount that arrives by propagation keeps its own flags: under the
        // read-only volume it is writable, with runc as with tsbox (the
        // kernel's rule; Kubernetes' recursive read-only mounts are the cure).
        expect(r, `${handler}: ${r.stderr}`).toMatchObject({ stdout: 'later\nlater\nwritten\n', exit_code: 0 });
        // And the container's own mounts do not travel back to the host side.
        const back = await execSync(id, ['/bin/sh', '-c', 'mkdir -p /volume/inner; mount -t tmpfs none /volume/inner 2>&1; echo $?']);
        expect(back.exit_code).toBe(0);
        expect(shared.mountsBelow(), handler).toEqual([path.join(shared.dir, 'later')]);
      } finally {
        await cri.removeAll();
        await shared.release();
      }
    }
  });

  it('resources: limits (memory, cpu, cpuset, oom_score_adj) in the cgroup files (host and inside, as under runc), UpdateContainerResources changes them', TEST_TIMEOUT, async () => {
    const MiB = 1024 * 1024;
    const files = ['memory/memory.limit_in_bytes', 'cpu/cpu.cfs_quota_us', 'cpu/cpu.cfs_period_us', 'cpu/cpu.shares'];
    const seen: Record<string, string[]> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`resources-${handler}`);
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'limited', WAIT, {
        linux: { resources: { memory_limit_in_bytes: 64 * MiB, cpu_period: 100_000, cpu_quota: 50_000, cpu_shares: 512, cpuset_cpus: '0', oom_score_adj: 900 } },
      });
      const pid = await startContainer(handler, id);
      expect(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'), 'the kubelet\'s oom_score_adj').toBe('900\n');
      expect(statusField(pid, 'Cpus_allowed_list')).toBe('0');
      expect(fs.readFileSync(path.join(cgroupDir(pid, 'cpuset'), 'cpuset.cpus'), 'utf8').trim()).toBe('0');
      const host = () => files.map((f) => {
        const [controller, file] = f.split('/');
        return fs.readFileSync(path.join(cgroupDir(pid, controller!), file!), 'utf8').trim();
      });
      expect(host()).toEqual([String(64 * MiB), '50000', '100000', '512']);
      if (handler === HANDLER) expect(cgroupDir(pid, 'memory')).toBe(readTsboxRecord(cri.tsboxRoot, id)!.cgroups!.dirs.memory);
      const inside = async () => (await execSync(id, ['/bin/sh', '-c', files.map((f) => `cat /sys/fs/cgroup/${f}`).join('; ')])).stdout.trim().split('\n');
      seen[handler] = await inside();

      await cri.call('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: 128 * MiB, cpu_period: 100_000, cpu_quota: 20_000, cpu_shares: 256 } });
      expect(host()).toEqual([String(128 * MiB), '20000', '100000', '256']);
      seen[handler].push(...(await inside()));
      await cri.removeAll();
    }
    expect(seen[HANDLER]).toEqual(seen[RUNC_HANDLER]);
  });

  it('a container over its memory limit: CONTAINER_EXITED with 137 and reason OOMKilled; one that ignores SIGTERM is killed at StopContainer\'s timeout (137): as under runc', TEST_TIMEOUT, async () => {
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`oom-${handler}`);
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'grower', ['/bin/sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.1; done; x=a; while :; do x=$x$x; done'], {
        linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024 } },
      });
      const pid = await startContainer(handler, id);
      await execSync(id, ['/bin/touch', '/tmp/go']);
      expect(await exited(id), handler).toMatchObject({ exit_code: 137, reason: 'OOMKilled' });
      await expectProcessGone(pid);

      // The kubelet's grace period: SIGTERM, then SIGKILL once it is over.
      const stubborn = await createContainer(pod, config, 'stubborn', ['/bin/sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done']);
      const stubbornPid = await startContainer(handler, stubborn);
      const t0 = performance.now();
      await cri.call('StopContainer', { container_id: stubborn, timeout: 1 });
      const stopMs = performance.now() - t0;
      expect(await containerStatus(stubborn), handler).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 137, reason: 'Error' });
      expect(stopMs, `${handler}: StopContainer with timeout 1 of a container that ignores SIGTERM (ms)`).toBeGreaterThanOrEqual(1000);
      expect(stopMs).toBeLessThan(5000);
      await expectProcessGone(stubbornPid);
      await cri.removeAll();
    }
  });

  it('a container restarted in its sandbox (CreateContainer again after it exited, attempt 1): a fresh root, the same emptyDir, exit codes and reasons', TEST_TIMEOUT, async () => {
    const emptyDir = sb.mkdir('cri', 'volumes', 'restart');
    const config = podConfig('restart');
    const pod = await runPod(config);
    const script = 'echo run >> /data/runs; test -e /tmp/mark && exit 9; touch /tmp/mark; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit $(cat /tmp/go)';
    const ids: string[] = [];
    const pids: number[] = [];
    for (const [attempt, code] of [[0, 3], [1, 0]] as const) {
      const id = await createContainer(pod, config, 'job', ['/bin/sh', '-c', script], { mounts: [{ container_path: '/data', host_path: emptyDir }] }, attempt);
      pids.push(await startContainer(HANDLER, id));
      ids.push(id);
      const go = await execSync(id, ['/bin/sh', '-c', `echo ${code} > /tmp/go`]);
      expect(go).toMatchObject({ exit_code: 0 });
      expect(await exited(id)).toMatchObject({ exit_code: code, reason: code === 0 ? 'Completed' : 'Error' });
      await expectProcessGone(pids[attempt]!);
    }
    expect(ids[0]).not.toBe(ids[1]);
    expect(fs.readFileSync(path.join(emptyDir, 'runs'), 'utf8'), 'each attempt ran once, each in a fresh root').toBe('run\nrun\n');
    expect(EngineSandbox.stateEntries(cri.tsboxRoot), 'tsbox holds only the sandbox').toEqual([pod]);
    await cri.call('RemoveContainer', { container_id: ids[0] });
    expect((await containerStatus(ids[1]!)).exit_code).toBe(0);
  });

  it('ExecSync past its timeout returns and its process is gone; ExecSync of a missing binary fails naming it: as under runc', TEST_TIMEOUT, async () => {
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`exec-${handler}`);
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'target', WAIT);
      const pid = await startContainer(handler, id);
      const procs = path.join(cgroupDir(pid, 'memory'), 'cgroup.procs');
      const sleeps = () => fs.readFileSync(procs, 'utf8').split('\n').filter((p) => p && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === '/bin/sleep\x0037\x00');
      const t0 = performance.now();
      const timing = execSync(id, ['/bin/sleep', '37'], 2).then((r) => JSON.stringify(r), (e: Error) => e.message);
      await waitUntil('the exec to run in the container\'s cgroup', () => sleeps().length === 1, 5000);
      const timeout = await timing;
      const ms = performance.now() - t0;
      expect(ms, 'ExecSync with timeout 2 (ms)').toBeLessThan(10_000);
      expect(timeout).toContain('timeout 2s exceeded');
      await waitUntil('the timed-out exec to be gone', () => sleeps().length === 0, 5000).catch(() => undefined);
      expect(sleeps(), 'the timed-out exec').toEqual([]);
      const missing = await execSync(id, ['/no/such/binary']).then((r) => JSON.stringify(r), (e: Error) => e.message);
      expect(missing).toContain('OCI runtime exec failed: ');
      expect(missing).toContain(handler === HANDLER ? 'exec "/no/such/binary": no such file or directory (ENOENT)' : 'stat /no/such/binary: no such file or directory');
      expect((await containerStatus(id)).state, 'the container runs on').toBe('CONTAINER_RUNNING');
      await cri.removeAll();
    }
  });

  it('the process: args after command, envs, a working_dir the image lacks (made), a tty in the log, a large ExecSync output: as under runc', TEST_TIMEOUT, async () => {
    const seen: Record<string, unknown> = {};
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const logDir = sb.mkdir('cri', 'logs', `process-${handler}`);
      const config = podConfig(`process-${handler}`, {}, {}, { log_directory: logDir });
      const pod = await runPod(config, handler);
      const id = await createContainer(pod, config, 'proc', ['/bin/sh', '-c'], {
        args: ['echo "cwd=$(pwd) A=$A tty=$(tty)"; trap "exit 0" TERM; while :; do sleep 0.1; done'],
        working_dir: '/no/such/dir',
        envs: [{ key: 'A', value: 'from the pod spec' }],
        tty: true,
        stdin: true,
        log_path: 'proc.log',
      });
      const pid = await startContainer(handler, id);
      expect(fs.readlinkSync(`/proc/${pid}/cwd`), handler).toMatch(/\/no\/such\/dir$/);
      const log = path.join(logDir, 'proc.log');
      const line = await waitUntil(`${handler}: the init's line in its log`, () => fs.existsSync(log) && /stdout F (cwd=.*)/.exec(fs.readFileSync(log, 'utf8'))?.[1], 10_000);
      expect(line).toBe('cwd=/no/such/dir A=from the pod spec tty=/dev/pts/0');
      const big = await execSync(id, ['/bin/sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" a; head -c 5000 /dev/zero | tr "\\0" b >&2']);
      expect(big.exit_code).toBe(0);
      seen[handler] = { line, stdout: big.stdout.length, stderr: big.stderr.length, a: /^a*$/.test(big.stdout) };
      await cri.removeAll();
    }
    expect(seen[HANDLER]).toMatchObject({ stdout: 3_000_000, stderr: 5000, a: true });
    expect(seen[HANDLER]).toEqual(seen[RUNC_HANDLER]);
  });

  it('ContainerStats and ListContainerStats: cpu and memory (usage, working set, rss, available, page faults) are those of the container\'s cgroup files, as under runc', TEST_TIMEOUT, async () => {
    const MiB = 1024 * 1024;
    const seen: Record<string, unknown> = {};
    type Stats = { cpu: { usage_core_nano_seconds: { value: number } }; memory: Record<string, { value: number } | null> };
    for (const handler of [HANDLER, RUNC_HANDLER] as const) {
      const config = podConfig(`stats-${handler}`);
      const pod = await runPod(config, handler);
      // ~24 MiB of anonymous memory held by the shell, then idle (no passing processes).
      const id = await createContainer(pod, config, 'holder', ['/bin/sh', '-c', 'x=$(head -c 25000000 /dev/zero | tr "\\0" a); touch /tmp/ready; trap "exit 0" TERM; sleep 1000 & wait'], {
        linux: { resources: { memory_limit_in_bytes: 256 * MiB } },
      });
      const pid = await startContainer(handler, id);
      await waitUntil(`${handler}: the memory held`, async () => (await execSync(id, ['/bin/ls', '/tmp/ready'])).exit_code === 0, 20_000);
      const mem = cgroupDir(pid, 'memory');
      const cpuacct = cgroupDir(pid, 'cpuacct');
      const read = () => {
        const stat = Object.fromEntries(fs.readFileSync(path.join(mem, 'memory.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
        const usage = Number(fs.readFileSync(path.join(mem, 'memory.usage_in_bytes'), 'utf8'));
        return { usage, workingSet: usage - stat.total_inactive_file!, rss: stat.total_rss!, faults: stat.total_pgfault!, majorFaults: stat.total_pgmajfault!, cpu: Number(fs.readFileSync(path.join(cpuacct, 'cpuacct.usage'), 'utf8')) };
      };
      const before = read();
      const one = (await cri.call<{ stats: Stats }>('ContainerStats', { container_id: id })).stats;
      const listed = (await cri.call<{ stats: (Stats & { attributes: { id: string } })[] }>('ListContainerStats', { filter: { pod_sandbox_id: pod } })).stats;
      const after = read();
      expect(listed.map((s) => s.attributes.id)).toEqual([id]);
      for (const s of [one, listed[0]!]) {
        const near = (name: string, value: number, lo: number, hi: number, slack: number) => {
          expect(value, `${handler}: ${name} vs the cgroup's ${lo}..${hi}`).toBeGreaterThanOrEqual(lo - slack);
          expect(value, `${handler}: ${name} vs the cgroup's ${lo}..${hi}`).toBeLessThanOrEqual(hi + slack);
        };
        const m = s.memory;
        near('usage_bytes', m.usage_bytes!.value, Math.min(before.usage, after.usage), Math.max(before.usage, after.usage), MiB);
        near('working_set_bytes', m.working_set_bytes!.value, Math.min(before.workingSet, after.workingSet), Math.max(before.workingSet, after.workingSet), MiB);
        near('rss_bytes', m.rss_bytes!.value, Math.min(before.rss, after.rss), Math.max(before.rss, after.rss), MiB);
        near('available_bytes', m.available_bytes!.value, 256 * MiB - Math.max(before.workingSet, after.workingSet), 256 * MiB - Math.min(before.workingSet, after.workingSet), MiB);
        near('page_faults', m.page_faults!.value, before.faults, after.faults, 100);
        near('major_page_faults', m.major_page_faults!.value, before.majorFaults, after.majorFaults, 10);
        near('usage_core_nano_seconds', s.cpu.usage_core_nano_seconds.value, before.cpu, after.cpu, 0);
      }
      seen[handler] = { rssOver24MiB: one.memory.rss_bytes!.value >= 24 * MiB, cpu: one.cpu.usage_core_nano_seconds.value > 0 };
      await cri.removeAll();
    }
    expect(seen[HANDLER]).toEqual({ rssOver24MiB: true, cpu: true });
    expect(seen[HANDLER]).toEqual(seen[RUNC_HANDLER]);
  });

  it('ReopenContainerLog after the log was rotated (renamed): new lines go to a new file at log_path; ListContainerStats of a pod', TEST_TIMEOUT, async () => {
    const logDir = sb.mkdir('cri', 'logs');
    const config = podConfig('logs', {}, {}, { log_directory: logDir });
    const pod = await runPod(config);
    const id = await createContainer(pod, config, 'ticker', ['/bin/sh', '-c', 'trap "exit 0" TERM; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done'], { log_path: 'ticker.log' });
    const other = await createContainer(pod, config, 'other', WAIT);
    await startContainer(HANDLER, id);
    await startContainer(HANDLER, other);
    const log = path.join(logDir, 'ticker.log');
    expect((await containerStatus(id)).log_path).toBe(log);
    const ticks = (file: string) => [...fs.readFileSync(file, 'utf8').matchAll(/ stdout F tick (\d+)$/gm)].map((m) => Number(m[1]));
    await waitUntil('ticks in the log', () => fs.existsSync(log) && ticks(log).length >= 3, 10_000);
    fs.renameSync(log, `${log}.1`);
    await cri.call('ReopenContainerLog', { container_id: id });
    await waitUntil('ticks in the reopened log', () => fs.existsSync(log) && ticks(log).length >= 3, 10_000);
    const old = ticks(`${log}.1`);
    expect(ticks(log)[0]).toBeGreaterThan(old.at(-1)!);
    await new Promise((r) => setTimeout(r, 400));
    expect(ticks(`${log}.1`), 'the rotated file no longer grows').toEqual(old);

    const stats = await cri.call<{ stats: { attributes: { id: string }; cpu: { usage_core_nano_seconds: { value: number } }; memory: { working_set_bytes: { value: number } } }[] }>('ListContainerStats', { filter: { pod_sandbox_id: pod } });
    expect(stats.stats.map((s) => s.attributes.id).sort()).toEqual([id, other].sort());
    for (const s of stats.stats) {
      expect(s.cpu.usage_core_nano_seconds.value).toBeGreaterThan(0);
      expect(s.memory.working_set_bytes.value).toBeGreaterThan(0);
    }
    const one = await cri.call<{ stats: { attributes: { id: string } }[] }>('ListContainerStats', { filter: { id } });
    expect(one.stats.map((s) => s.attributes.id)).toEqual([id]);
  });

  it.skip('hostUsers: false (a pod in a user namespace): skipped, containerd 1.6\'s CRI has no user namespace option (it came with containerd 1.7)', () => {});
});
