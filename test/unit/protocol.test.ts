// The helper protocol's two sides agree: the names and record shapes of
// lib/native/protocol.ts are native/helper/protocol.h's, and representative
// plans go build -> encode -> the real helper's decoder (tsbox-helper
// --dump-plan) -> back unchanged. No root needed: the helper only decodes.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/native/binding.js';
import { HELPER_MESSAGES, PLAN_RECORDS, RUNTIME_MESSAGES } from '../../lib/native/protocol.js';
import { defaultSpec } from '../../lib/oci/default-spec.js';
import type { Spec } from '../../lib/oci/types.js';
import { validateSpec } from '../../lib/oci/validate.js';
import { buildExecPlan, buildPlan } from '../../lib/plan/build.js';
import { encodeNetDevicesBack, encodePlan, encodeSeccompCompile } from '../../lib/plan/encode.js';
import type { HostFacts } from '../../lib/host/facts.js';
import type { IdRange, LaunchPlan, PlannedSeccomp } from '../../lib/plan/plan.js';
import { wire } from '../../lib/wire.js';

const helper = native().helperPath;
const FIXTURES = path.resolve(__dirname, '../fixtures/unit');

const host: HostFacts = {
  lastCap: () => 40,
  mountinfo: () => fs.readFileSync(path.join(FIXTURES, 'mountinfo-hybrid.txt'), 'utf8'),
  ownCgroups: () => fs.readFileSync(path.join(FIXTURES, 'cgroup-hybrid.txt'), 'utf8'),
  exists: () => true,
};

/** What the helper decodes a buffer into, as --dump-plan prints it. */
function dump(buf: Buffer): unknown {
  return JSON.parse(execFileSync(helper, ['--dump-plan'], { input: buf, encoding: 'utf8' }));
}

/** The helper's view of a plan, derived from the plan's own fields (numbers as decimal strings). */
function helperView(p: LaunchPlan): unknown {
  const s = (n: number | bigint | string) => String(n);
  const ranges = (rs: IdRange[]) => rs.map((r) => ({ containerID: s(r.containerID), hostID: s(r.hostID), size: s(r.size) }));
  return {
    exec: p.exec,
    namespaces: p.namespaces,
    cgroupProcs: p.cgroupProcs,
    lateCgroupProcs: p.lateCgroupProcs ?? [],
    awaitCgroup: p.awaitCgroup ?? false,
    rootfs: p.exec ? '' : p.rootfs,
    rootPropagation: s(p.exec ? 0 : p.rootPropagation),
    mounts: p.mounts.map((m) => ({
      source: m.source,
      destination: m.destination,
      type: m.type,
      flags: s(m.flags),
      data: m.data,
      propagation: s(m.propagation),
      recursiveSet: s(m.recursive?.set ?? 0),
      recursiveClear: s(m.recursive?.clear ?? 0),
      idmapUids: ranges(m.idmap?.uids ?? []),
      idmapGids: ranges(m.idmap?.gids ?? []),
      idmapRecursive: m.idmap?.recursive ?? false,
      copyUp: m.copyUp ?? false,
    })),
    devices: p.devices.map((d) => ({ ...d, major: s(d.major), minor: s(d.minor), mode: s(d.mode & 0o7777), uid: s(d.uid), gid: s(d.gid) })),
    symlinks: p.symlinks,
    mkdirs: p.mkdirs,
    maskedPaths: p.maskedPaths,
    readonlyPaths: p.readonlyPaths,
    readonlyRoot: p.readonlyRoot,
    rootfsPropagation: s(p.rootfsPropagation),
    ...(p.noPivot && { noPivot: true }),
    sysctls: p.sysctls,
    ...(p.hostname !== undefined && { hostname: p.hostname }),
    ...(p.domainname !== undefined && { domainname: p.domainname }),
    ...(p.terminal && { terminal: { rows: s(p.terminal.rows), cols: s(p.terminal.cols) } }),
    rlimits: p.rlimits.map((r) => ({ ...r, resource: s(r.resource) })),
    ...(p.oomScoreAdj !== undefined && { oomScoreAdj: s(p.oomScoreAdj) }),
    noNewPrivileges: p.noNewPrivileges,
    ...(p.apparmorProfile && { apparmorProfile: p.apparmorProfile }),
    ...(p.selinuxLabel && { selinuxLabel: p.selinuxLabel }),
    ...(p.ioPriority !== undefined && { ioPriority: s(p.ioPriority) }),
    ...(p.scheduler && { scheduler: Object.fromEntries(Object.entries(p.scheduler).map(([k, v]) => [k, s(v as number)])) }),
    ...(p.personality !== undefined && { personality: s(p.personality) }),
    ...(p.seccompProgram && { seccompProgram: { loadFlags: s(p.seccompProgram.loadFlags), program: p.seccompProgram.program.toString('hex') } }),
    ...(p.capabilities && { capabilities: Object.fromEntries(Object.entries(p.capabilities).map(([k, v]) => [k, s(v as bigint)])) }),
    user: { uid: s(p.user.uid), gid: s(p.user.gid), groups: p.user.groups.map(s) },
    ...(p.umask !== undefined && { umask: s(p.umask) }),
    cwd: p.cwd,
    env: p.env,
    args: p.args,
    pause: p.pause || p.startSocket !== undefined,
    ...(p.startSocket !== undefined && { startSocket: p.startSocket }),
    ...(p.sessionKeyring !== undefined && { sessionKeyring: p.sessionKeyring }),
    hooksPause: p.hooksPause,
    hooks: p.hooks.map((h) => ({ phase: h.phase, path: h.path, args: h.args, env: h.env, timeout: s(h.timeout) })),
    ...((p.execCpuAffinity?.initial.length || p.execCpuAffinity?.final.length) && {
      execCpuAffinity: { initial: p.execCpuAffinity.initial.map(s), final: p.execCpuAffinity.final.map(s) },
    }),
    timeOffsets: (p.timeOffsets ?? []).map((t) => ({ clock: t.clock, secs: s(t.secs), nanosecs: s(t.nanosecs) })),
    ...(p.netDevices && { netDevices: p.netDevices }),
    ...(p.memoryPolicy && { memoryPolicy: { text: p.memoryPolicy.text, mode: s(p.memoryPolicy.mode), nodes: p.memoryPolicy.nodes.map(s) } }),
    ...(p.userns && {
      userns: {
        uidMappings: ranges(p.userns.uidMappings),
        gidMappings: ranges(p.userns.gidMappings),
        setgroupsDeny: p.userns.setgroupsDeny,
        ...(p.userns.tools && { tools: p.userns.tools }),
      },
    }),
  };
}

/** The compile mode's view: the rules of linux.seccomp. */
function seccompView(s: PlannedSeccomp): unknown {
  return {
    defaultAction: s.defaultAction,
    defaultErrno: String(s.defaultErrno),
    architectures: s.architectures,
    flags: s.flags,
    rules: s.rules.map((r) => ({ ...r, errno: String(r.errno), args: r.args.map((a) => ({ ...a, index: String(a.index) })) })),
  };
}

/** The default config with much of what a plan can hold. */
function richSpec(): Spec {
  const s = defaultSpec({ args: ['sh', '-c', 'echo "héllo ✓"'] }) as Spec & { linux: NonNullable<Spec['linux']> };
  s.process!.terminal = true;
  s.process!.consoleSize = { height: 24, width: 80 };
  s.process!.oomScoreAdj = -5;
  s.process!.user = { uid: 1000, gid: 100, additionalGids: [5, 6], umask: 0o027 };
  s.process!.apparmorProfile = 'tsbox-default';
  s.process!.selinuxLabel = 'system_u:system_r:container_t:s0';
  s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 3 };
  s.process!.scheduler = { policy: 'SCHED_BATCH', nice: 5 };
  s.domainname = 'example.org';
  s.mounts!.push(
    { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro', 'rprivate'] },
    { destination: '/data/all', type: 'bind', source: '/srv/data', options: ['rbind', 'rro', 'rnosuid', 'rrw', 'rexec'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['mode=1777', 'size=1k', 'tmpcopyup'] },
  );
  s.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
  s.linux.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }];
  s.linux.personality = { domain: 'LINUX32' };
  s.linux.rootfsPropagation = 'shared';
  s.linux.namespaces!.push({ type: 'time' });
  s.linux.timeOffsets = { monotonic: { secs: 86400 }, boottime: { secs: -5, nanosecs: 7 } };
  (s.linux as { netDevices?: unknown }).netDevices = { eth0: { name: 'ctr0' }, ens3: {} };
  s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES'] };
  s.linux.seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    flags: ['SECCOMP_FILTER_FLAG_LOG'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      {
        names: ['kill'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: 1,
        args: [
          { index: 1, value: 9, op: 'SCMP_CMP_EQ' },
          { index: 0, value: 18446744073709551615 as number, valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' },
        ],
      },
    ],
  };
  s.hooks = {
    prestart: [{ path: '/usr/bin/true' }],
    createContainer: [{ path: '/bin/hook', args: ['hook', '-v'], env: ['A=1'], timeout: 5 }],
    startContainer: [{ path: '/bin/start-hook' }],
  };
  return validateSpec(JSON.parse(JSON.stringify(s)));
}

/** As the runtime does before encoding: the program the compile mode made (any 8-byte multiple here). */
function withProgram(p: LaunchPlan): LaunchPlan {
  if (p.seccomp) p.seccompProgram = { program: Buffer.from('060000000000ff7f0600000000000000', 'hex'), loadFlags: 2, unknown: [] };
  return p;
}

const ROOT = { uid: 0, gid: 0 };

const plans: Array<[string, () => LaunchPlan]> = [
  ['the default config, as root', () => buildPlan({ spec: validateSpec(defaultSpec()), bundleDir: '/b', rootfs: '/b/rootfs', caller: ROOT }, host)],
  [
    'seccomp, hooks, mounts, devices, process attributes, a start FIFO, cgroups and --no-pivot',
    () =>
      withProgram(
        buildPlan(
          {
            spec: richSpec(),
            bundleDir: '/b',
            rootfs: '/b/rootfs',
            caller: ROOT,
            startSocket: '/run/tsbox/c1/start.sock',
            sessionKeyring: '_ses.c1',
            cgroupProcs: ['/sys/fs/cgroup/unified/c1/cgroup.procs', '/sys/fs/cgroup/cpu/c1/cgroup.procs'],
            noPivot: true,
          },
          host,
        ),
      ),
  ],
  [
    'a rootless user namespace mapping its own ids (setgroups denied)',
    () => {
      const s = defaultSpec({ rootless: true });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
      return buildPlan({ spec: validateSpec(s), bundleDir: '/b', rootfs: '/b/rootfs', caller: { uid: 1000, gid: 1000 } }, host);
    },
  ],
  [
    'a rootless user namespace, its maps written by newuidmap and newgidmap',
    () => {
      const s = defaultSpec({ rootless: true });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }];
      return buildPlan({ spec: validateSpec(s), bundleDir: '/b', rootfs: '/b/rootfs', caller: { uid: 1000, gid: 1000, path: '/usr/bin' } }, host);
    },
  ],
  [
    'a user namespace made by root, with an idmapped mount',
    () => {
      const s = defaultSpec();
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.mounts!.push({
        destination: '/shared', type: 'bind', source: '/home/u/shared', options: ['rbind', 'idmap'],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      });
      return buildPlan({ spec: validateSpec(JSON.parse(JSON.stringify(s))), bundleDir: '/b', rootfs: '/b/rootfs', caller: ROOT }, host);
    },
  ],
  [
    "systemd's cgroup and v1 memory joined late, paused for run",
    () => {
      const p = buildPlan({ spec: validateSpec(defaultSpec()), bundleDir: '/b', rootfs: '/b/rootfs', caller: ROOT, pause: true }, host);
      return { ...p, awaitCgroup: true, lateCgroupProcs: ['/sys/fs/cgroup/memory/c1/cgroup.procs'] };
    },
  ],
  [
    'an exec into a running container, with its seccomp filter',
    () =>
      withProgram(
        buildExecPlan(
          {
            process: { ...richSpec().process!, terminal: false, execCPUAffinity: { initial: '0', final: '0-1' } },
            namespaces: [{ type: 'mnt', path: '/proc/42/ns/mnt' }, { type: 'pid', path: '/proc/42/ns/pid' }],
            cgroupProcs: ['/sys/fs/cgroup/unified/c1/cgroup.procs'],
            seccomp: richSpec().linux!.seccomp!,
          },
          host,
        ),
      ),
  ],
];

describe('the helper protocol', () => {
  it('names the same messages and plan records, with the same shapes, on both sides', () => {
    const helperSide = JSON.parse(execFileSync(helper, ['--protocol'], { encoding: 'utf8' }));
    const records = Object.fromEntries(
      Object.entries(PLAN_RECORDS).map(([name, shape]) => [name, { fields: String(shape.fields), more: 'more' in shape }]),
    );
    expect(helperSide).toStrictEqual({ helperMessages: [...HELPER_MESSAGES], runtimeMessages: [...RUNTIME_MESSAGES], planRecords: records });
  });

  it.each(plans)('round-trips through the helper\'s decoder: %s', (_, make) => {
    const p = make();
    expect(dump(encodePlan(p))).toStrictEqual(helperView(p));
  });

  it('the plans above use every record', () => {
    const used = new Set(plans.flatMap(([, make]) => wire.decodeRecords(encodePlan(make())).map((r) => r[0])));
    const compileOnly = ['seccomp-compile', 'seccomp', 'seccomp-rule', 'net-devices-back'];
    expect(Object.keys(PLAN_RECORDS).filter((r) => !used.has(r) && !compileOnly.includes(r))).toStrictEqual([]);
  });

  it("round-trips the move-back mode's plan", () => {
    expect(dump(encodeNetDevicesBack('/proc/42/ns/net', [{ host: 'eth0', name: 'ctr0' }]))).toMatchObject({
      netDevicesBack: '/proc/42/ns/net',
      netDevices: [{ host: 'eth0', name: 'ctr0' }],
    });
  });

  it("round-trips the compile mode's rules", () => {
    const seccomp = buildPlan({ spec: richSpec(), bundleDir: '/b', rootfs: '/b/rootfs', caller: ROOT }, host).seccomp!;
    expect(seccomp.rules.length).toBeGreaterThan(2);
    expect((dump(encodeSeccompCompile(seccomp)) as { seccomp: unknown }).seccomp).toStrictEqual(seccompView(seccomp));
  });

  it.each([
    [[['rootfs', '/r'], ['args', 'sh'], ['mounted', 'x']], 'unknown launch plan record "mounted"'],
    [[['rootfs', '/r'], ['args', 'sh'], ['mount', 'a', 'b', 'c']], 'launch plan record "mount" with 3 fields is malformed'],
    [[['rootfs', '/r', 'extra'], ['args', 'sh']], 'launch plan record "rootfs" with 2 fields is malformed'],
    [[['rootfs', '/r'], ['args']], 'launch plan record "args" with 0 fields is malformed'],
    [[['rootfs', '/r'], ['args', 'sh'], ['device', '/dev/x', 'q', '1', '2', '438', '0', '0']], 'launch plan record "device" with 7 fields is malformed'],
    [[['args', 'sh']], 'launch plan lacks rootfs or args'],
  ])('the decoder refuses a malformed plan in one line: %j', (records, message) => {
    const r = spawnSync(helper, ['--dump-plan'], { input: wire.encodeRecords(records), encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`tsbox-helper: decode launch plan: ${message}\n`);
  });
});
