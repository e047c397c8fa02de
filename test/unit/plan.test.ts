import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import type { Spec } from '../../lib/oci/types.js';
import { validateSpec } from '../../lib/oci/validate.js';
import { buildPlan, type PlanInput } from '../../lib/plan/build.js';
import { capabilityName, capabilityNumber, planCapabilities } from '../../lib/plan/capabilities.js';
import type { HostFacts } from '../../lib/host/facts.js';
import { MOUNT_ATTR, MS } from '../../lib/plan/mount-options.js';
import type { LaunchPlan, PlannedMount } from '../../lib/plan/plan.js';
import { planRlimits } from '../../lib/plan/rlimits.js';

// Configs are arbitrary JSON here: the point is to build odd ones.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const FIXTURES = path.resolve(__dirname, '../fixtures/unit');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const CLIENT_CONFIGS = path.resolve(__dirname, '../fixtures/client-configs');

const BUNDLE = '/bundles/b1';
const ROOTFS = '/bundles/b1/rootfs';

/** A host that answers from fixtures, never from this machine; counts what was asked. */
function fakeHost(options: { mountinfo?: string; cgroup?: string; lastCap?: number; exists?: string[] } = {}) {
  const asked = { lastCap: 0, mountinfo: 0, ownCgroups: 0, exists: [] as string[] };
  const host: HostFacts = {
    lastCap: () => {
      asked.lastCap++;
      return options.lastCap ?? 40;
    },
    mountinfo: () => {
      asked.mountinfo++;
      return options.mountinfo ?? fixture('mountinfo-v2.txt');
    },
    ownCgroups: () => {
      asked.ownCgroups++;
      return options.cgroup ?? fixture('cgroup-v2.txt');
    },
    exists: (p) => {
      asked.exists.push(p);
      return (options.exists ?? []).includes(p);
    },
  };
  return { host, asked };
}

/** A small valid config; `edit` changes it before validation. */
function spec(edit: (s: Json) => void = () => {}): Spec {
  const s: Json = {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['sh'], cwd: '/' },
    linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }] },
  };
  edit(s);
  return validateSpec(s);
}

function plan(s: Spec, extra: Partial<PlanInput> = {}, host: HostFacts = fakeHost().host): LaunchPlan {
  // As root: an unprivileged caller would get a user namespace of its own (test/unit/userns-plan.test.ts).
  return buildPlan({ spec: s, bundleDir: BUNDLE, rootfs: ROOTFS, caller: { uid: 0, gid: 0 }, ...extra }, host);
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

function planError(edit: (s: Json) => void, host?: HostFacts): ConfigError {
  const s = spec(edit);
  return configError(() => plan(s, {}, host));
}

const DEFAULT_DEVICES = [
  { path: '/dev/null', type: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0, mode: 0o666, uid: 0, gid: 0 },
];

const DEFAULT_SYMLINKS = [
  { target: '/proc/self/fd', path: '/dev/fd' },
  { target: '/proc/self/fd/0', path: '/dev/stdin' },
  { target: '/proc/self/fd/1', path: '/dev/stdout' },
  { target: '/proc/self/fd/2', path: '/dev/stderr' },
  { target: 'pts/ptmx', path: '/dev/ptmx' },
];

describe('buildPlan: a minimal config', () => {
  it('gives the whole plan', () => {
    const { host, asked } = fakeHost();
    expect(plan(spec(), {}, host)).toStrictEqual({
      exec: false,
      hooksPause: false,
      hooks: [],
      namespaces: [
        { type: 'mnt', path: '' },
        { type: 'pid', path: '' },
      ],
      cgroupProcs: [],
      rootfs: ROOTFS,
      rootPropagation: MS.SLAVE | MS.REC,
      mounts: [],
      devices: DEFAULT_DEVICES,
      symlinks: DEFAULT_SYMLINKS,
      mkdirs: ['/'],
      maskedPaths: [],
      readonlyPaths: [],
      readonlyRoot: false,
      rootfsPropagation: 0,
      sysctls: [],
      rlimits: [],
      noNewPrivileges: false,
      user: { uid: 0, gid: 0, groups: [] },
      cwd: '/',
      env: [],
      args: ['sh'],
      pause: false,
      warnings: [],
    });
    // Nothing about the host was needed but whether /proc/kcore exists.
    expect(asked).toStrictEqual({ lastCap: 0, mountinfo: 0, ownCgroups: 0, exists: ['/proc/kcore'] });
  });

  it('pause, readonly root, env, oomScoreAdj, noNewPrivileges', () => {
    const p = plan(
      spec((s) => {
        s.root.readonly = true;
        s.process.env = ['PATH=/bin', 'A='];
        s.process.args = ['a', 'b c'];
        s.process.oomScoreAdj = -500;
        s.process.noNewPrivileges = true;
      }),
      { pause: true },
    );
    expect(p.pause).toBe(true);
    expect(p.readonlyRoot).toBe(true);
    expect(p.env).toStrictEqual(['PATH=/bin', 'A=']);
    expect(p.args).toStrictEqual(['a', 'b c']);
    expect(p.oomScoreAdj).toBe(-500);
    expect(p.noNewPrivileges).toBe(true);
    expect(plan(spec((s) => (s.process.oomScoreAdj = 0))).oomScoreAdj).toBe(0);
  });
});

describe('buildPlan: namespaces', () => {
  it('maps OCI names to kernel names, keeping order and paths', () => {
    const p = plan(
      spec((s) => {
        s.linux.namespaces = [
          { type: 'pid' },
          { type: 'network', path: '/var/run/netns/x' },
          { type: 'mount' },
          { type: 'ipc' },
          { type: 'uts' },
          { type: 'cgroup' },
          { type: 'time' },
          { type: 'user', path: '/proc/1/ns/user' },
        ];
      }),
    );
    expect(p.namespaces).toStrictEqual([
      { type: 'pid', path: '' },
      { type: 'net', path: '/var/run/netns/x' },
      { type: 'mnt', path: '' },
      { type: 'ipc', path: '' },
      { type: 'uts', path: '' },
      { type: 'cgroup', path: '' },
      { type: 'time', path: '' },
      { type: 'user', path: '/proc/1/ns/user' },
    ]);
  });

  it('a mount namespace is required', () => {
    for (const namespaces of [[{ type: 'pid' }], [], undefined]) {
      const err = planError((s) => {
        if (namespaces) s.linux.namespaces = namespaces;
        else delete s.linux;
      });
      expect(err.jsonPath).toBe('linux.namespaces');
      expect(err.problem).toBe('must include a mount namespace');
    }
  });

  it('joining a mount namespace counts', () => {
    expect(plan(spec((s) => (s.linux.namespaces = [{ type: 'mount', path: '/proc/9/ns/mnt' }]))).namespaces).toStrictEqual([
      { type: 'mnt', path: '/proc/9/ns/mnt' },
    ]);
  });

  it('hostname and domainname need a uts namespace', () => {
    let err = planError((s) => (s.hostname = 'box'));
    expect(err.jsonPath).toBe('hostname');
    expect(err.problem).toBe('needs a uts namespace in linux.namespaces (it would rename the host)');
    err = planError((s) => (s.domainname = 'example.org'));
    expect(err.jsonPath).toBe('domainname');
    expect(err.problem).toBe('needs a uts namespace in linux.namespaces (it would rename the host)');

    const p = plan(
      spec((s) => {
        s.linux.namespaces.push({ type: 'uts' });
        s.hostname = 'box';
        s.domainname = 'example.org';
      }),
    );
    expect(p.hostname).toBe('box');
    expect(p.domainname).toBe('example.org');
    expect('hostname' in plan(spec())).toBe(false);
    expect('domainname' in plan(spec())).toBe(false);
  });
});

describe('buildPlan: sysctls', () => {
  it.each([
    ['net.ipv4.ip_forward', 'network', 'net'],
    ['net.core.somaxconn', 'network', 'net'],
    ['kernel.shmmax', 'ipc', 'ipc'],
    ['kernel.msgmax', 'ipc', 'ipc'],
    ['kernel.sem', 'ipc', 'ipc'],
    ['fs.mqueue.msg_max', 'ipc', 'ipc'],
    ['kernel.shm_rmid_forced', 'ipc', 'ipc'],
    ['kernel.hostname', 'uts', 'uts'],
    ['kernel.domainname', 'uts', 'uts'],
  ])('%s needs a %s namespace', (key, ociType, kernelType) => {
    const err = planError((s) => (s.linux.sysctl = { [key]: '1' }));
    expect(err.jsonPath).toBe(`linux.sysctl.${key}`);
    expect(err.problem).toBe(`needs the container to have its own ${kernelType} namespace`);
    const p = plan(
      spec((s) => {
        s.linux.sysctl = { [key]: '1' };
        s.linux.namespaces.push({ type: ociType });
      }),
    );
    expect(p.sysctls).toStrictEqual([[key, '1']]);
  });

  it.each(['kernel.panic', 'vm.swappiness', 'fs.file-max', 'kernel.pid_max'])('%s is refused', (key) => {
    const err = planError((s) => {
      s.linux.sysctl = { [key]: '1' };
      s.linux.namespaces.push({ type: 'network' }, { type: 'ipc' }, { type: 'uts' });
    });
    expect(err.jsonPath).toBe(`linux.sysctl.${key}`);
    expect(err.problem).toBe('is not isolated by any namespace; refusing to change it for the host');
  });

  it('keeps the config\'s order', () => {
    const p = plan(
      spec((s) => {
        s.linux.namespaces.push({ type: 'network' }, { type: 'ipc' });
        s.linux.sysctl = { 'net.b': '2', 'kernel.shmmni': '3', 'net.a': '1' };
      }),
    );
    expect(p.sysctls).toStrictEqual([
      ['net.b', '2'],
      ['kernel.shmmni', '3'],
      ['net.a', '1'],
    ]);
  });
});

describe('buildPlan: mounts', () => {
  it('resolves bind sources against the bundle directory', () => {
    const p = plan(
      spec((s) => {
        s.mounts = [
          { destination: '/a', type: 'bind', source: 'data', options: ['rbind'] },
          { destination: '/b', source: './x/../y', options: ['bind', 'ro'] },
          { destination: '/c', type: 'none', source: '/abs/path', options: ['rbind', 'rprivate'] },
          { destination: '/d', source: '../outside', options: ['bind'] },
        ];
      }),
    );
    expect(p.mounts).toStrictEqual([
      { source: '/bundles/b1/data', destination: '/a', type: 'bind', flags: MS.BIND | MS.REC, data: '', propagation: 0 },
      { source: '/bundles/b1/y', destination: '/b', type: 'bind', flags: MS.BIND | MS.RDONLY, data: '', propagation: 0 },
      {
        source: '/abs/path',
        destination: '/c',
        type: 'bind',
        flags: MS.BIND | MS.REC,
        data: '',
        propagation: MS.PRIVATE | MS.REC,
      },
      { source: '/bundles/outside', destination: '/d', type: 'bind', flags: MS.BIND, data: '', propagation: 0 },
    ]);
  });

  it('non-bind sources are labels, left as they are', () => {
    const p = plan(
      spec((s) => {
        s.mounts = [
          { destination: '/proc', type: 'proc', source: 'proc' },
          { destination: '/tmp', type: 'tmpfs' },
          { destination: '/merged', type: 'overlay', source: 'overlay', options: ['lowerdir=/l', 'upperdir=/u', 'workdir=/w'] },
        ];
      }),
    );
    expect(p.mounts).toStrictEqual([
      { source: 'proc', destination: '/proc', type: 'proc', flags: 0, data: '', propagation: 0 },
      { source: '', destination: '/tmp', type: 'tmpfs', flags: 0, data: '', propagation: 0 },
      {
        source: 'overlay',
        destination: '/merged',
        type: 'overlay',
        flags: 0,
        data: 'lowerdir=/l,upperdir=/u,workdir=/w',
        propagation: 0,
      },
    ]);
  });

  it('normalizes destinations', () => {
    const p = plan(spec((s) => (s.mounts = [{ destination: '/a/./b/../c/', type: 'tmpfs', source: 'tmpfs' }])));
    expect(p.mounts[0]!.destination).toBe('/a/c');
  });

  it('type is required unless it is a bind mount', () => {
    const err = planError((s) => (s.mounts = [{ destination: '/proc', type: 'proc' }, { destination: '/x', source: 'x' }]));
    expect(err.jsonPath).toBe('mounts[1].type');
    expect(err.problem).toBe('is required for a mount that is not a bind mount');
  });

  it('a bind mount needs a source', () => {
    const err = planError((s) => (s.mounts = [{ destination: '/x', type: 'bind', options: ['rbind'] }]));
    expect(err.jsonPath).toBe('mounts[0].source');
    expect(err.problem).toBe('is required for a bind mount');
  });

  it('remount is not allowed', () => {
    const err = planError((s) => (s.mounts = [{ destination: '/x', type: 'tmpfs', options: ['remount', 'ro'] }]));
    expect(err.jsonPath).toBe('mounts[0].options');
    expect(err.problem).toBe('remount is not allowed in a mount list');
  });

  it('option errors name the mount and option', () => {
    let err = planError(
      (s) => (s.mounts = [{ destination: '/proc', type: 'proc' }, { destination: '/dev', type: 'tmpfs', options: ['nosuid', 'bogus'] }]),
    );
    expect(err.jsonPath).toBe('mounts[1].options[1]');
    expect(err.problem).toBe('unknown option "bogus" for a tmpfs mount');
    err = planError((s) => (s.mounts = [{ destination: '/x', type: 'bind', source: '/x', options: ['rbind', 'rprivat'] }]));
    expect(err.jsonPath).toBe('mounts[0].options[1]');
    expect(err.problem).toBe('unknown option "rprivat" for a bind mount');
  });

  it('tmpcopyup goes to a tmpfs mount; elsewhere it is ignored with a warning', () => {
    const p = plan(spec((s) => (s.mounts = [
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] },
      { destination: '/x', type: 'bind', source: '/x', options: ['rbind', 'tmpcopyup'] },
    ])));
    const at = (d: string) => p.mounts.find((m) => m.destination === d)!;
    expect(at('/run').copyUp).toBe(true);
    expect(at('/x').copyUp).toBeUndefined();
    expect(p.warnings).toContain('mounts[1].options[1]: "tmpcopyup" is ignored: it applies to tmpfs mounts only');
  });

  it('recursive options go to the mount as mount_setattr attributes, beside its own flags', () => {
    const p = plan(spec((s) => (s.mounts = [
      { destination: '/x', type: 'bind', source: '/x', options: ['rbind', 'ro', 'rnosuid', 'rnoexec'] },
      { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['rro'] },
      { destination: '/y', type: 'bind', source: '/y', options: ['rbind'] },
    ])));
    expect(p.mounts.map((m) => [m.destination, m.flags, m.recursive])).toEqual([
      ['/x', MS.BIND | MS.REC | MS.RDONLY, { set: MOUNT_ATTR.NOSUID | MOUNT_ATTR.NOEXEC, clear: 0 }],
      ['/t', 0, { set: MOUNT_ATTR.RDONLY, clear: 0 }],
      ['/y', MS.BIND | MS.REC, undefined],
    ]);
  });
});

describe('buildPlan: devices and /dev', () => {
  it('default devices and symlinks, plus /dev/core when the host has /proc/kcore', () => {
    const { host } = fakeHost({ exists: ['/proc/kcore'] });
    const p = plan(spec(), {}, host);
    expect(p.devices).toStrictEqual(DEFAULT_DEVICES);
    expect(p.symlinks).toStrictEqual([...DEFAULT_SYMLINKS, { target: '/proc/kcore', path: '/dev/core' }]);
  });

  it('none when /dev is a bind mount', () => {
    const { host, asked } = fakeHost({ exists: ['/proc/kcore'] });
    const p = plan(spec((s) => (s.mounts = [{ destination: '/dev/', type: 'bind', source: '/dev', options: ['rbind'] }])), {}, host);
    expect(p.devices).toStrictEqual([]);
    expect(p.symlinks).toStrictEqual([]);
    expect(asked.exists).toStrictEqual([]);
  });

  it('still the defaults when /dev is a tmpfs, or something under /dev is a bind mount', () => {
    const p = plan(
      spec((s) => {
        s.mounts = [
          { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
          { destination: '/dev/shm', type: 'bind', source: '/shm', options: ['bind'] },
        ];
      }),
    );
    expect(p.devices).toStrictEqual(DEFAULT_DEVICES);
    expect(p.symlinks).toStrictEqual(DEFAULT_SYMLINKS);
  });

  it('config devices override defaults by path and are added otherwise', () => {
    const p = plan(
      spec((s) => {
        s.linux.devices = [
          { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o600, uid: 5, gid: 6 },
          { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
          { path: '/dev/./sda', type: 'b', major: 8, minor: 0, fileMode: 0o660, gid: 6 },
          { path: '/dev/kmsg', type: 'u', major: 1, minor: 11 },
          { path: '/dev/fifo', type: 'p' },
          { path: '/dev//tty', type: 'c', major: 5, minor: 0, fileMode: 0o620 },
        ];
      }),
    );
    expect(p.devices).toStrictEqual([
      { path: '/dev/null', type: 'c', major: 1, minor: 3, mode: 0o600, uid: 5, gid: 6 },
      DEFAULT_DEVICES[1],
      DEFAULT_DEVICES[2],
      DEFAULT_DEVICES[3],
      DEFAULT_DEVICES[4],
      { path: '/dev/tty', type: 'c', major: 5, minor: 0, mode: 0o620, uid: 0, gid: 0 },
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229, mode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/sda', type: 'b', major: 8, minor: 0, mode: 0o660, uid: 0, gid: 6 },
      { path: '/dev/kmsg', type: 'c', major: 1, minor: 11, mode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/fifo', type: 'p', major: 0, minor: 0, mode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  it('config devices are kept when /dev is a bind mount', () => {
    const p = plan(
      spec((s) => {
        s.mounts = [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }];
        s.linux.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }];
      }),
    );
    expect(p.devices).toStrictEqual([{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, mode: 0o666, uid: 0, gid: 0 }]);
  });
});

describe('buildPlan: cgroup mounts', () => {
  const cgroupMount = { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] };
  const FLAGS = MS.RDONLY | MS.NOSUID | MS.NOEXEC | MS.NODEV;
  const strip = (m: PlannedMount) => ({ ...m, source: m.source.length > 1 ? m.source.replace(/\/+$/, '') : m.source });

  it('is expanded from the host only when there is one', () => {
    const { host, asked } = fakeHost();
    plan(spec((s) => (s.mounts = [{ destination: '/proc', type: 'proc' }])), {}, host);
    expect(asked.mountinfo).toBe(0);
    expect(asked.ownCgroups).toBe(0);
    plan(spec((s) => (s.mounts = [cgroupMount])), {}, host);
    expect(asked.mountinfo).toBe(1);
    expect(asked.ownCgroups).toBe(1);
  });

  it('hybrid host, this machine\'s layout, with a cgroup namespace', () => {
    const { host } = fakeHost({ mountinfo: fixture('mountinfo-hybrid.txt'), cgroup: fixture('cgroup-hybrid.txt') });
    const p = plan(
      spec((s) => {
        s.linux.namespaces.push({ type: 'cgroup' });
        s.linux.readonlyPaths = ['/proc/sys'];
        s.mounts = [{ destination: '/proc', type: 'proc' }, cgroupMount, { destination: '/tmp', type: 'tmpfs' }];
      }),
      {},
      host,
    );
    expect(p.mounts.map((m) => [m.destination, m.type, m.source, m.data, m.flags])).toStrictEqual([
      ['/proc', 'proc', '', '', 0],
      ['/sys/fs/cgroup', 'tmpfs', 'tmpfs', 'mode=755', FLAGS & ~MS.RDONLY],
      ['/sys/fs/cgroup/cpu', 'cgroup', 'cgroup', 'cpu', FLAGS],
      ['/sys/fs/cgroup/cpuacct', 'cgroup', 'cgroup', 'cpuacct', FLAGS],
      ['/sys/fs/cgroup/cpuset', 'cgroup', 'cgroup', 'cpuset', FLAGS],
      ['/sys/fs/cgroup/memory', 'cgroup', 'cgroup', 'memory', FLAGS],
      ['/sys/fs/cgroup/devices', 'cgroup', 'cgroup', 'devices', FLAGS],
      ['/sys/fs/cgroup/freezer', 'cgroup', 'cgroup', 'freezer', FLAGS],
      ['/sys/fs/cgroup/blkio', 'cgroup', 'cgroup', 'blkio', FLAGS],
      ['/sys/fs/cgroup/pids', 'cgroup', 'cgroup', 'pids', FLAGS],
      ['/sys/fs/cgroup/systemd', 'cgroup', 'cgroup', 'none,name=systemd', FLAGS],
      ['/sys/fs/cgroup/unified', 'cgroup2', 'cgroup2', '', FLAGS],
      ['/tmp', 'tmpfs', '', '', 0],
    ]);
    // The cgroup tree is made read-only before the config's own paths.
    expect(p.readonlyPaths).toStrictEqual(['/sys/fs/cgroup', '/proc/sys']);
    expect(p.symlinks).toStrictEqual(DEFAULT_SYMLINKS);
  });

  it('hybrid host without a cgroup namespace: binds of the runtime\'s own cgroups', () => {
    const { host } = fakeHost({ mountinfo: fixture('mountinfo-hybrid.txt'), cgroup: fixture('cgroup-hybrid.txt') });
    const p = plan(spec((s) => (s.mounts = [cgroupMount])), {}, host);
    expect(p.mounts.map(strip).map((m) => [m.destination, m.type, m.source, m.flags])).toStrictEqual([
      ['/sys/fs/cgroup', 'tmpfs', 'tmpfs', FLAGS & ~MS.RDONLY],
      ...['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified'].map((n) => [
        `/sys/fs/cgroup/${n}`,
        'bind',
        n === 'memory' ? '/sys/fs/cgroup/memory/process_api/927e29b7c0cb177918b5bf97daf83df8' : `/sys/fs/cgroup/${n}`,
        FLAGS | MS.BIND | MS.REC,
      ]),
    ]);
    expect(p.readonlyPaths).toStrictEqual(['/sys/fs/cgroup']);
  });

  it('co-mounted cpu,cpuacct gives symlinks, after which the /dev symlinks follow', () => {
    const { host } = fakeHost({
      mountinfo: fixture('mountinfo-hybrid-comounted.txt'),
      cgroup: fixture('cgroup-hybrid-comounted.txt'),
    });
    const p = plan(
      spec((s) => {
        s.linux.namespaces.push({ type: 'cgroup' });
        s.mounts = [{ ...cgroupMount, options: ['nosuid'] }];
      }),
      {},
      host,
    );
    expect(p.symlinks).toStrictEqual([
      { target: 'cpu,cpuacct', path: '/sys/fs/cgroup/cpu' },
      { target: 'cpu,cpuacct', path: '/sys/fs/cgroup/cpuacct' },
      { target: 'net_cls,net_prio', path: '/sys/fs/cgroup/net_cls' },
      { target: 'net_cls,net_prio', path: '/sys/fs/cgroup/net_prio' },
      ...DEFAULT_SYMLINKS,
    ]);
    expect(p.mounts.find((m) => m.destination === '/sys/fs/cgroup/cpu,cpuacct')).toStrictEqual({
      source: 'cgroup',
      destination: '/sys/fs/cgroup/cpu,cpuacct',
      type: 'cgroup',
      flags: MS.NOSUID,
      data: 'cpu,cpuacct',
      propagation: 0,
    });
    expect(p.readonlyPaths).toStrictEqual([]);
  });

  it('pure v2 host, with and without a cgroup namespace', () => {
    const { host } = fakeHost();
    let p = plan(
      spec((s) => {
        s.linux.namespaces.push({ type: 'cgroup' });
        s.mounts = [cgroupMount];
      }),
      {},
      host,
    );
    expect(p.mounts).toStrictEqual([
      { source: 'cgroup2', destination: '/sys/fs/cgroup', type: 'cgroup2', flags: FLAGS, data: '', propagation: 0 },
    ]);
    expect(p.readonlyPaths).toStrictEqual([]);
    p = plan(spec((s) => (s.mounts = [cgroupMount])), {}, host);
    expect(p.mounts).toStrictEqual([
      {
        source: '/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope',
        destination: '/sys/fs/cgroup',
        type: 'bind',
        flags: FLAGS | MS.BIND | MS.REC,
        data: '',
        propagation: 0,
      },
    ]);
  });

  it('a joined cgroup namespace counts as one', () => {
    const { host } = fakeHost();
    const p = plan(
      spec((s) => {
        s.linux.namespaces.push({ type: 'cgroup', path: '/proc/7/ns/cgroup' });
        s.mounts = [cgroupMount];
      }),
      {},
      host,
    );
    expect(p.mounts[0]!.type).toBe('cgroup2');
  });

  it('a cgroup-typed bind mount is an ordinary bind mount', () => {
    const { host, asked } = fakeHost();
    const p = plan(
      spec((s) => (s.mounts = [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: '/sys/fs/cgroup', options: ['rbind'] }])),
      {},
      host,
    );
    expect(p.mounts).toStrictEqual([
      { source: '/sys/fs/cgroup', destination: '/sys/fs/cgroup', type: 'bind', flags: MS.BIND | MS.REC, data: '', propagation: 0 },
    ]);
    expect(asked.mountinfo).toBe(0);
  });
});

describe('capabilities', () => {
  it('numbers', () => {
    expect(capabilityNumber('CAP_CHOWN')).toBe(0);
    expect(capabilityNumber('CAP_KILL')).toBe(5);
    expect(capabilityNumber('CAP_NET_BIND_SERVICE')).toBe(10);
    expect(capabilityNumber('CAP_NET_RAW')).toBe(13);
    expect(capabilityNumber('CAP_SYS_ADMIN')).toBe(21);
    expect(capabilityNumber('CAP_MKNOD')).toBe(27);
    expect(capabilityNumber('CAP_AUDIT_WRITE')).toBe(29);
    expect(capabilityNumber('CAP_SETFCAP')).toBe(31);
    expect(capabilityNumber('CAP_AUDIT_READ')).toBe(37);
    expect(capabilityNumber('CAP_CHECKPOINT_RESTORE')).toBe(40);
    expect(capabilityNumber('CAP_NOPE')).toBeUndefined();
    expect(capabilityNumber('kill')).toBeUndefined();
    expect(capabilityName(5)).toBe('CAP_KILL');
    expect(capabilityName(41)).toBe('capability 41');
  });

  it('sets become bit masks', () => {
    const warnings: string[] = [];
    expect(
      planCapabilities(
        {
          bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_AUDIT_WRITE'],
          effective: ['CAP_KILL'],
          permitted: ['CAP_KILL', 'CAP_KILL', 'CAP_CHECKPOINT_RESTORE'],
          inheritable: ['CAP_CHECKPOINT_RESTORE'],
          ambient: ['CAP_CHECKPOINT_RESTORE'],
        },
        40,
        warnings,
      ),
    ).toStrictEqual({
      lastCap: 40,
      bounding: (1n << 5n) | (1n << 10n) | (1n << 29n),
      effective: 1n << 5n,
      permitted: (1n << 5n) | (1n << 40n),
      inheritable: 1n << 40n,
      ambient: 1n << 40n,
    });
    expect(warnings).toStrictEqual([]);
  });

  it('ambient capabilities not both permitted and inheritable are left unraised, with one warning (as runc)', () => {
    const warnings: string[] = [];
    // `runc spec`'s sets: ambient as the others, no inheritable set.
    const runcSpec = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    const planned = planCapabilities(
      { bounding: runcSpec, effective: runcSpec, permitted: [...runcSpec, 'CAP_CHOWN'], inheritable: ['CAP_CHOWN', 'CAP_KILL'], ambient: [...runcSpec, 'CAP_CHOWN'] },
      40,
      warnings,
    );
    expect(planned.ambient).toBe((1n << 0n) | (1n << 5n));
    expect(warnings).toStrictEqual([
      'process.capabilities.ambient: CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE not raised: an ambient capability must also be permitted and inheritable',
    ]);
  });

  it('an unknown name is an error naming the set and index', () => {
    const err = planError((s) => (s.process.capabilities = { bounding: ['CAP_KILL'], ambient: ['CAP_KILL', 'CAP_BOGUS'] }));
    expect(err.jsonPath).toBe('process.capabilities.ambient[1]');
    expect(err.problem).toBe('unknown capability "CAP_BOGUS"');
  });

  it('names this kernel lacks are dropped with one warning', () => {
    const { host, asked } = fakeHost({ lastCap: 37 });
    const p = plan(
      spec((s) => {
        s.process.capabilities = {
          bounding: ['CAP_KILL', 'CAP_PERFMON', 'CAP_BPF'],
          effective: ['CAP_BPF', 'CAP_AUDIT_READ'],
        };
      }),
      {},
      host,
    );
    expect(asked.lastCap).toBe(1);
    expect(p.capabilities).toStrictEqual({
      lastCap: 37,
      bounding: 1n << 5n,
      effective: 1n << 37n,
      permitted: 0n,
      inheritable: 0n,
      ambient: 0n,
    });
    expect(p.warnings).toStrictEqual(['this kernel lacks CAP_PERFMON, CAP_BPF; not granted']);
  });

  it('no capabilities in the config: none in the plan, and lastCap not read', () => {
    const { host, asked } = fakeHost();
    expect('capabilities' in plan(spec(), {}, host)).toBe(false);
    expect(asked.lastCap).toBe(0);
  });
});

describe('rlimits', () => {
  it('names, numbers and limits as decimal text', () => {
    expect(
      planRlimits([
        { type: 'RLIMIT_CPU', soft: 1, hard: 2 },
        { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
        { type: 'RLIMIT_NPROC', soft: 0, hard: 0 },
        { type: 'RLIMIT_CORE', soft: 2 ** 53, hard: 2 ** 64 },
        { type: 'RLIMIT_RTTIME', soft: 2 ** 64, hard: 2 ** 64 },
      ]),
    ).toStrictEqual([
      { name: 'RLIMIT_CPU', resource: 0, soft: '1', hard: '2' },
      { name: 'RLIMIT_NOFILE', resource: 7, soft: '1024', hard: '4096' },
      { name: 'RLIMIT_NPROC', resource: 6, soft: '0', hard: '0' },
      { name: 'RLIMIT_CORE', resource: 4, soft: '9007199254740992', hard: '18446744073709551615' },
      { name: 'RLIMIT_RTTIME', resource: 15, soft: '18446744073709551615', hard: '18446744073709551615' },
    ]);
  });

  it('every rlimit type has its Linux number', () => {
    const types = [
      'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS', 'RLIMIT_NPROC',
      'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE',
      'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
    ] as const;
    const planned = planRlimits(types.map((type) => ({ type, soft: 1, hard: 1 })));
    expect(planned.map((r) => r.resource)).toStrictEqual(types.map((_, i) => i));
  });

  it('18446744073709551615 in config.json text is unlimited', () => {
    const p = plan(
      validateSpec(
        JSON.parse(
          '{"ociVersion":"1.2.0","root":{"path":"r"},"linux":{"namespaces":[{"type":"mount"}]},' +
            '"process":{"args":["x"],"cwd":"/","rlimits":[{"type":"RLIMIT_MEMLOCK","soft":18446744073709551615,"hard":18446744073709551615}]}}',
        ),
      ),
    );
    expect(p.rlimits).toStrictEqual([
      { name: 'RLIMIT_MEMLOCK', resource: 8, soft: '18446744073709551615', hard: '18446744073709551615' },
    ]);
  });
});

describe('buildPlan: terminal', () => {
  it('consoleSize wins over the caller\'s size', () => {
    const s = spec((x) => {
      x.process.terminal = true;
      x.process.consoleSize = { height: 30, width: 100 };
    });
    expect(plan(s, { terminalSize: { rows: 24, cols: 80 } }).terminal).toStrictEqual({ rows: 30, cols: 100 });
  });

  it('the caller\'s size without consoleSize, else 0x0', () => {
    const s = spec((x) => (x.process.terminal = true));
    expect(plan(s, { terminalSize: { rows: 24, cols: 80 } }).terminal).toStrictEqual({ rows: 24, cols: 80 });
    expect(plan(s).terminal).toStrictEqual({ rows: 0, cols: 0 });
  });

  it('no terminal unless asked for', () => {
    const s = spec((x) => {
      x.process.terminal = false;
      x.process.consoleSize = { height: 30, width: 100 };
    });
    expect('terminal' in plan(s, { terminalSize: { rows: 24, cols: 80 } })).toBe(false);
    expect('terminal' in plan(spec(), { terminalSize: { rows: 24, cols: 80 } })).toBe(false);
  });
});

describe('buildPlan: process details', () => {
  it('cwd is normalized and created', () => {
    const p = plan(spec((s) => (s.process.cwd = '/home/./user/../app/')));
    expect(p.cwd).toBe('/home/app');
    expect(p.mkdirs).toStrictEqual(['/home/app']);
    expect(plan(spec((s) => (s.process.cwd = '/..'))).cwd).toBe('/');
  });

  it('user, groups and umask', () => {
    const p = plan(spec((s) => (s.process.user = { uid: 1000, gid: 100, additionalGids: [5, 6, 7], umask: 0o027 })));
    expect(p.user).toStrictEqual({ uid: 1000, gid: 100, groups: [5, 6, 7] });
    expect(p.umask).toBe(0o027);
    const q = plan(spec((s) => (s.process.user = { uid: 1, gid: 2 })));
    expect(q.user).toStrictEqual({ uid: 1, gid: 2, groups: [] });
    expect('umask' in q).toBe(false);
    expect(plan(spec((s) => (s.process.user = { uid: 0, gid: 0, umask: 0 }))).umask).toBe(0);
  });

  it('masked and read-only paths are normalized', () => {
    const p = plan(
      spec((s) => {
        s.linux.maskedPaths = ['/proc/kcore', '/proc//keys/'];
        s.linux.readonlyPaths = ['/proc/sys/', '/proc/./bus'];
      }),
    );
    expect(p.maskedPaths).toStrictEqual(['/proc/kcore', '/proc/keys']);
    expect(p.readonlyPaths).toStrictEqual(['/proc/sys', '/proc/bus']);
  });
});

describe('buildPlan: root propagation', () => {
  it.each([
    [undefined, MS.SLAVE | MS.REC, 0],
    ['private', MS.PRIVATE, MS.PRIVATE],
    ['rprivate', MS.PRIVATE | MS.REC, MS.PRIVATE | MS.REC],
    ['slave', MS.SLAVE, MS.SLAVE],
    ['rslave', MS.SLAVE | MS.REC, MS.SLAVE | MS.REC],
    ['shared', MS.SHARED, MS.SHARED],
    ['rshared', MS.SHARED | MS.REC, MS.SHARED | MS.REC],
    ['unbindable', MS.UNBINDABLE, MS.UNBINDABLE],
    ['runbindable', MS.UNBINDABLE | MS.REC, MS.UNBINDABLE | MS.REC],
  ])('rootfsPropagation %s', (value, root, rootfs) => {
    const p = plan(spec((s) => value !== undefined && (s.linux.rootfsPropagation = value)));
    expect(p.rootPropagation).toBe(root);
    expect(p.rootfsPropagation).toBe(rootfs);
  });
});

describe('buildPlan: warnings', () => {
  it.each([
    ['linux.mountLabel', (s: Json) => (s.linux.mountLabel = 'l'), 'linux.mountLabel is not applied (SELinux is not enabled on this host)'],
    [
      'linux.personality.flags',
      (s: Json) => (s.linux.personality = { domain: 'LINUX', flags: ['ADDR_NO_RANDOMIZE'] }),
      'linux.personality.flags is not supported; ignored: ADDR_NO_RANDOMIZE',
    ],
  ])('%s', (_, edit, warning) => {
    expect(plan(spec(edit)).warnings).toStrictEqual([warning]);
  });

  it('linux.mountLabel where SELinux is enabled: the context= option of each filesystem mounted, none for proc, sysfs, cgroup and binds', () => {
    const { host } = fakeHost({ exists: ['/sys/fs/selinux/enforce'] });
    const label = 'system_u:object_r:container_file_t:s0:c1,c2';
    const p = plan(
      spec((s) => {
        s.linux.mountLabel = label;
        s.mounts = [
          { destination: '/proc', type: 'proc', source: 'proc' },
          { destination: '/sys', type: 'sysfs', source: 'sysfs' },
          { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['mode=755'] },
          { destination: '/dev/pts', type: 'devpts', source: 'devpts' },
          { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue' },
          { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' },
          { destination: '/data', type: 'bind', source: '/srv', options: ['rbind'] },
          { destination: '/more', source: '/srv', options: ['bind'] },
        ];
      }),
      {},
      host,
    );
    expect(p.warnings).toStrictEqual([]);
    const data = Object.fromEntries(p.mounts.map((m) => [m.destination, m.data]));
    expect(data).toMatchObject({
      '/proc': '',
      '/sys': '',
      '/dev': `mode=755,context="${label}"`,
      '/dev/pts': `context="${label}"`,
      '/dev/mqueue': `context="${label}"`,
      '/data': '',
      '/more': '',
    });
    expect(p.mounts.filter((m) => m.destination.startsWith('/sys/fs/cgroup')).every((m) => !m.data.includes('context='))).toBe(true);
    expect(() => plan(spec((s) => (s.linux.mountLabel = 'a"b')), {}, host)).toThrow('linux.mountLabel: cannot hold a double quote');
  });

  it('a relative mount destination (spec 1.2) is resolved against "/", with a warning, as runc does', () => {
    const p = plan(spec((s) => (s.mounts = [{ destination: 'data/../scratch', type: 'tmpfs', source: 'tmpfs' }])));
    expect(p.mounts).toMatchObject([{ destination: '/scratch', type: 'tmpfs' }]);
    expect(p.warnings).toStrictEqual(['mounts[0].destination "data/../scratch" is relative: mounted at "/scratch"']);
  });

  it('none for linux.resources, linux.cgroupsPath and linux.seccomp: they are applied', () => {
    const p = plan(
      spec((s) => {
        s.linux.resources = { pids: { limit: 10 } };
        s.linux.cgroupsPath = '/x';
        s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
      }),
    );
    expect(p.warnings).toStrictEqual([]);
  });

  it('all at once, each once, capability warning last', () => {
    const { host } = fakeHost({ lastCap: 38 });
    const p = plan(
      spec((s) => {
        s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
        s.linux.resources = {};
        s.linux.cgroupsPath = '/x';
        s.linux.mountLabel = 'l';
        s.process.capabilities = { bounding: ['CAP_BPF'] };
      }),
      {},
      host,
    );
    expect(p.warnings).toStrictEqual([
      'linux.mountLabel is not applied (SELinux is not enabled on this host)',
      'this kernel lacks CAP_BPF; not granted',
    ]);
  });
});

describe('buildPlan: spec 1.2/1.3 fields', () => {
  const withTime = (s: Json) => s.linux.namespaces.push({ type: 'time' });

  it('linux.timeOffsets: for a new time namespace, each clock as given (0 where unsaid)', () => {
    const p = plan(spec((s) => {
      withTime(s);
      s.linux.timeOffsets = { monotonic: { secs: 86400 }, boottime: { secs: -5, nanosecs: 7 } };
    }));
    expect(p.timeOffsets).toStrictEqual([
      { clock: 'monotonic', secs: 86400, nanosecs: 0 },
      { clock: 'boottime', secs: -5, nanosecs: 7 },
    ]);
    expect(p.warnings).toStrictEqual([]);
  });

  it('linux.timeOffsets without a new time namespace: refused, naming why', () => {
    expect(configError(() => plan(spec((s) => (s.linux.timeOffsets = { monotonic: { secs: 1 } })))).message).toBe(
      'linux.timeOffsets: needs a time namespace in linux.namespaces',
    );
    const joined = spec((s) => {
      s.linux.namespaces.push({ type: 'time', path: '/proc/1/ns/time' });
      s.linux.timeOffsets = { boottime: { secs: 1 } };
    });
    expect(configError(() => plan(joined)).message).toBe(
      'linux.timeOffsets: needs a new time namespace, not the one joined at "/proc/1/ns/time" (its offsets are set already)',
    );
  });

  it('linux.memoryPolicy: the mode with its flags, the nodes as numbers', () => {
    const { host } = fakeHost({ exists: ['/sys/devices/system/node/node0', '/sys/devices/system/node/node1'] });
    const p = plan(spec((s) => (s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0-1', flags: ['MPOL_F_STATIC_NODES'] })), {}, host);
    expect(p.memoryPolicy).toStrictEqual({ mode: 2 | (1 << 15), nodes: [0, 1], text: 'MPOL_BIND|MPOL_F_STATIC_NODES nodes "0-1"' });
    expect(plan(spec((s) => (s.linux.memoryPolicy = { mode: 'MPOL_LOCAL' })), {}, host).memoryPolicy).toStrictEqual({ mode: 4, nodes: [], text: 'MPOL_LOCAL' });
  });

  it.each([
    ['nodes with MPOL_DEFAULT', { mode: 'MPOL_DEFAULT', nodes: '0' }, 'linux.memoryPolicy.nodes: must be empty with MPOL_DEFAULT'],
    ['no nodes with MPOL_BIND', { mode: 'MPOL_BIND' }, 'linux.memoryPolicy.nodes: is required with MPOL_BIND'],
    ['STATIC and RELATIVE', { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES', 'MPOL_F_RELATIVE_NODES'] }, 'linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other'],
    ['a node this host lacks', { mode: 'MPOL_PREFERRED', nodes: '0,3' }, 'linux.memoryPolicy.nodes: node 3 does not exist on this host (no /sys/devices/system/node/node3)'],
    ['a backwards range', { mode: 'MPOL_BIND', nodes: '3-1' }, 'linux.memoryPolicy.nodes: the range "3-1" runs backwards'],
    ['a node beyond 1023', { mode: 'MPOL_BIND', nodes: '1024' }, 'linux.memoryPolicy.nodes: 1024 is beyond 1023, the highest tsbox can set'],
  ])('linux.memoryPolicy refused: %s', (_, memoryPolicy, message) => {
    const { host } = fakeHost({ exists: ['/sys/devices/system/node/node0'] });
    expect(configError(() => plan(spec((s) => (s.linux.memoryPolicy = memoryPolicy)), {}, host)).message).toBe(message);
  });
});

describe('buildPlan: real client configs', () => {
  // Engines run tsbox as root (an unprivileged caller would get a user namespace of its own).
  const ENGINE = { uid: 0, gid: 0 };
  const names = fs.readdirSync(CLIENT_CONFIGS).filter((f) => f.endsWith('.json'));
  const load = (name: string) => validateSpec(JSON.parse(fs.readFileSync(path.join(CLIENT_CONFIGS, name), 'utf8')));
  const hybrid = () => fakeHost({ mountinfo: fixture('mountinfo-hybrid.txt'), cgroup: fixture('cgroup-hybrid.txt'), lastCap: 40 }).host;
  const defaultCaps = (1n << 0n) | (1n << 1n) | (1n << 3n) | (1n << 4n) | (1n << 5n) | (1n << 6n) | (1n << 7n) | (1n << 8n) |
    (1n << 10n) | (1n << 13n) | (1n << 18n) | (1n << 27n) | (1n << 29n) | (1n << 31n);

  it('there are some', () => {
    expect(names).toEqual(expect.arrayContaining(['ctr.json', 'docker.json', 'docker-bridge.json', 'podman.json']));
  });

  it.each(names)('%s gives a sensible plan on a hybrid and a v2 host', (name) => {
    const s = load(name);
    for (const host of [hybrid(), fakeHost().host]) {
      const p = buildPlan({ spec: s, bundleDir: BUNDLE, rootfs: ROOTFS, caller: ENGINE }, host);
      expect(p.namespaces.map((n) => n.type).sort()).toStrictEqual(['ipc', 'mnt', 'net', 'pid', 'uts']);
      expect(p.namespaces.every((n) => n.path === '')).toBe(true);
      expect(p.rootPropagation).toBe(MS.SLAVE | MS.REC);
      expect(p.rootfsPropagation).toBe(0);
      expect(p.args).toStrictEqual(s.process!.args);
      expect(p.cwd).toBe('/');
      expect(p.devices).toStrictEqual(DEFAULT_DEVICES);
      expect(p.capabilities!.bounding).toBe(defaultCaps);
      expect(p.capabilities!.effective).toBe(defaultCaps);
      expect(p.capabilities!.permitted).toBe(defaultCaps);
      expect(p.capabilities!.ambient).toBe(0n);
      expect(p.maskedPaths).toStrictEqual(s.linux!.maskedPaths);
      // Resources are applied (lib/cgroups), not the planner's to warn about.
      expect(p.warnings.some((w) => w.includes('resources'))).toBe(false);

      const proc = p.mounts.find((m) => m.destination === '/proc')!;
      expect(proc).toStrictEqual({ source: 'proc', destination: '/proc', type: 'proc', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV, data: '', propagation: 0 });
      const pts = p.mounts.find((m) => m.destination === '/dev/pts')!;
      expect(pts.type).toBe('devpts');
      expect(pts.flags).toBe(MS.NOSUID | MS.NOEXEC);
      expect(pts.data).toBe('newinstance,ptmxmode=0666,mode=0620,gid=5');
      const sys = p.mounts.find((m) => m.destination === '/sys')!;
      expect(sys.flags).toBe(MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY);
      for (const m of p.mounts) {
        expect(m.destination.startsWith('/')).toBe(true);
        expect(m.flags & (MS.PRIVATE | MS.SLAVE | MS.SHARED | MS.UNBINDABLE | MS.REMOUNT)).toBe(0);
        if (m.type === 'bind') {
          expect(path.isAbsolute(m.source)).toBe(true);
          expect(m.flags & MS.BIND).toBe(MS.BIND);
        }
      }
    }
  });

  it('docker.json in detail', () => {
    const s = load('docker.json');
    const p = buildPlan({ spec: s, bundleDir: BUNDLE, rootfs: ROOTFS, caller: ENGINE }, hybrid());
    const containerDir = '/var/lib/example/docker/root/containers/63fa61a99ce5a8a2f6cb322bb1cce7590e76cb6c4dec563eb5726bd053094246';
    for (const file of ['resolv.conf', 'hostname', 'hosts']) {
      expect(p.mounts.find((m) => m.destination === `/etc/${file}`)).toStrictEqual({
        source: `${containerDir}/${file}`,
        destination: `/etc/${file}`,
        type: 'bind',
        flags: MS.BIND | MS.REC,
        data: '',
        propagation: MS.PRIVATE | MS.REC,
      });
    }
    expect(p.mounts.find((m) => m.destination === '/dev')).toStrictEqual({
      source: 'tmpfs',
      destination: '/dev',
      type: 'tmpfs',
      flags: MS.NOSUID | MS.STRICTATIME,
      data: 'mode=755,size=65536k',
      propagation: 0,
    });
    expect(p.mounts.find((m) => m.destination === '/dev/shm')).toStrictEqual({
      source: 'shm',
      destination: '/dev/shm',
      type: 'tmpfs',
      flags: MS.NOSUID | MS.NOEXEC | MS.NODEV,
      data: 'mode=1777,size=67108864',
      propagation: 0,
    });
    // No cgroup namespace: the cgroup mount became a tmpfs and binds, read-only afterwards.
    const cg = p.mounts.filter((m) => m.destination.startsWith('/sys/fs/cgroup'));
    expect(cg[0]!.type).toBe('tmpfs');
    expect(cg.slice(1).every((m) => m.type === 'bind')).toBe(true);
    expect(cg).toHaveLength(11);
    expect(p.readonlyPaths[0]).toBe('/sys/fs/cgroup');
    expect(p.readonlyPaths.slice(1)).toStrictEqual(s.linux!.readonlyPaths);
    expect(p.hostname).toBe('63fa61a99ce5');
    expect(p.sysctls).toStrictEqual([
      ['net.ipv4.ip_unprivileged_port_start', '0'],
      ['net.ipv4.ping_group_range', '0 2147483647'],
    ]);
    expect(p.oomScoreAdj).toBe(0);
    expect(p.user).toStrictEqual({ uid: 0, gid: 0, groups: [0] });
    expect(p.rootfs).toBe(ROOTFS);
    expect(p.warnings).toStrictEqual([]);
    expect(p.seccomp).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] });
  });

  it('podman.json in detail', () => {
    const s = load('podman.json');
    const p = buildPlan({ spec: s, bundleDir: BUNDLE, rootfs: ROOTFS, caller: ENGINE }, fakeHost().host);
    expect(p.mounts.find((m) => m.destination === '/dev/shm')).toMatchObject({
      type: 'bind',
      flags: MS.BIND | MS.NOSUID | MS.NOEXEC | MS.NODEV,
      propagation: MS.PRIVATE | MS.REC,
    });
    expect(p.mounts.find((m) => m.destination === '/etc/hosts')).toMatchObject({
      type: 'bind',
      flags: MS.BIND,
      propagation: MS.PRIVATE | MS.REC,
    });
    // v2 host, no cgroup namespace: one bind of the runtime's own cgroup, read-only.
    expect(p.mounts.find((m) => m.destination === '/sys/fs/cgroup')).toStrictEqual({
      source: '/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope',
      destination: '/sys/fs/cgroup',
      type: 'bind',
      flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RELATIME | MS.RDONLY | MS.BIND | MS.REC,
      data: '',
      propagation: MS.PRIVATE | MS.REC, // podman asks rprivate for it
    });
    expect(p.umask).toBe(18);
    expect(p.rlimits).toStrictEqual([
      { name: 'RLIMIT_NOFILE', resource: 7, soft: '20000', hard: '20000' },
      { name: 'RLIMIT_NPROC', resource: 6, soft: '1024', hard: '1024' },
    ]);
    expect(p.hostname).toBe('0049696d3342');
  });

  it('ctr.json in detail', () => {
    const s = load('ctr.json');
    const p = buildPlan({ spec: s, bundleDir: BUNDLE, rootfs: ROOTFS, caller: ENGINE }, fakeHost().host);
    expect(p.mounts.map((m) => m.destination)).toStrictEqual([
      '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/run',
    ]);
    expect(p.mounts.every((m) => m.type !== 'bind')).toBe(true);
    expect(p.noNewPrivileges).toBe(true);
    expect(p.rlimits).toStrictEqual([{ name: 'RLIMIT_NOFILE', resource: 7, soft: '1024', hard: '1024' }]);
    expect('hostname' in p).toBe(false);
    expect(p.warnings).toStrictEqual([]);
  });
});
