import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostCgroupMounts, parseProcCgroup } from '../../lib/host/mountinfo.js';
import { planCgroupMount } from '../../lib/plan/cgroup-mount.js';
import { MS } from '../../lib/plan/mount-options.js';
import type { PlannedMount } from '../../lib/plan/plan.js';

const FIXTURES = path.resolve(__dirname, '../fixtures/unit');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

/** This machine: v1 controllers each on its own hierarchy, cgroup2 at /sys/fs/cgroup/unified. */
const HYBRID = fixture('mountinfo-hybrid.txt');
const HYBRID_CGROUP = fixture('cgroup-hybrid.txt');
/** Ubuntu 20.04 style hybrid: cpu,cpuacct and net_cls,net_prio co-mounted. */
const COMOUNTED = fixture('mountinfo-hybrid-comounted.txt');
const COMOUNTED_CGROUP = fixture('cgroup-hybrid-comounted.txt');
const V2 = fixture('mountinfo-v2.txt');
const V2_CGROUP = fixture('cgroup-v2.txt');

const FLAGS = MS.NOSUID | MS.NODEV | MS.NOEXEC;

/**
 * Bind sources are joined with path.join, which keeps a trailing "/" when the
 * own cgroup is "/" ("/sys/fs/cgroup/cpu/"); mount(2) does not care.
 */
function cleanSources(mounts: PlannedMount[]): PlannedMount[] {
  return mounts.map((m) => ({ ...m, source: m.source.length > 1 ? m.source.replace(/\/+$/, '') : m.source }));
}

describe('hostCgroupMounts', () => {
  it('finds the v1 hierarchies and the unified cgroup2 of a hybrid host', () => {
    expect(hostCgroupMounts(HYBRID)).toStrictEqual([
      { mountPoint: '/sys/fs/cgroup/cpu', root: '/', fstype: 'cgroup', controllers: ['cpu'] },
      { mountPoint: '/sys/fs/cgroup/cpuacct', root: '/', fstype: 'cgroup', controllers: ['cpuacct'] },
      { mountPoint: '/sys/fs/cgroup/cpuset', root: '/', fstype: 'cgroup', controllers: ['cpuset'] },
      { mountPoint: '/sys/fs/cgroup/memory', root: '/', fstype: 'cgroup', controllers: ['memory'] },
      { mountPoint: '/sys/fs/cgroup/devices', root: '/', fstype: 'cgroup', controllers: ['devices'] },
      { mountPoint: '/sys/fs/cgroup/freezer', root: '/', fstype: 'cgroup', controllers: ['freezer'] },
      { mountPoint: '/sys/fs/cgroup/blkio', root: '/', fstype: 'cgroup', controllers: ['blkio'] },
      { mountPoint: '/sys/fs/cgroup/pids', root: '/', fstype: 'cgroup', controllers: ['pids'] },
      { mountPoint: '/sys/fs/cgroup/systemd', root: '/', fstype: 'cgroup', controllers: ['name=systemd'] },
      { mountPoint: '/sys/fs/cgroup/unified', root: '/', fstype: 'cgroup2', controllers: [] },
    ]);
  });

  it('reads past optional fields and keeps only controllers and name= from the super options', () => {
    expect(hostCgroupMounts(COMOUNTED)).toStrictEqual([
      { mountPoint: '/sys/fs/cgroup/unified', root: '/', fstype: 'cgroup2', controllers: [] },
      { mountPoint: '/sys/fs/cgroup/systemd', root: '/', fstype: 'cgroup', controllers: ['name=systemd'] },
      { mountPoint: '/sys/fs/cgroup/perf_event', root: '/', fstype: 'cgroup', controllers: ['perf_event'] },
      { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', fstype: 'cgroup', controllers: ['cpu', 'cpuacct'] },
      { mountPoint: '/sys/fs/cgroup/net_cls,net_prio', root: '/', fstype: 'cgroup', controllers: ['net_cls', 'net_prio'] },
      { mountPoint: '/sys/fs/cgroup/memory', root: '/', fstype: 'cgroup', controllers: ['memory'] },
      { mountPoint: '/sys/fs/cgroup/pids', root: '/', fstype: 'cgroup', controllers: ['pids'] },
    ]);
  });

  it('pure v2', () => {
    expect(hostCgroupMounts(V2)).toStrictEqual([{ mountPoint: '/sys/fs/cgroup', root: '/', fstype: 'cgroup2', controllers: [] }]);
  });

  it('unescapes octal escapes in mount points and skips junk lines', () => {
    const text = [
      '',
      'garbage without separator',
      '50 1 0:40 / /mnt/with\\040space\\134x rw - cgroup2 cgroup2 rw',
      '51 1 0:41 / /mnt/tmp rw - tmpfs tmpfs rw',
    ].join('\n');
    expect(hostCgroupMounts(text)).toStrictEqual([
      { mountPoint: '/mnt/with space\\x', root: '/', fstype: 'cgroup2', controllers: [] },
    ]);
  });

  it('nothing on a host without cgroup mounts', () => {
    expect(hostCgroupMounts('')).toStrictEqual([]);
  });
});

describe('parseProcCgroup', () => {
  it('maps hierarchy keys to paths, "" for cgroup2', () => {
    expect(parseProcCgroup(COMOUNTED_CGROUP)).toStrictEqual(
      new Map([
        ['pids', '/user.slice/user-1000.slice/session-3.scope'],
        ['memory', '/user.slice/user-1000.slice/session-3.scope'],
        ['net_cls,net_prio', '/'],
        ['cpu,cpuacct', '/user.slice'],
        ['perf_event', '/'],
        ['name=systemd', '/user.slice/user-1000.slice/session-3.scope'],
        ['', '/user.slice/user-1000.slice/session-3.scope'],
      ]),
    );
    expect(parseProcCgroup(V2_CGROUP)).toStrictEqual(new Map([['', '/user.slice/user-1000.slice/session-2.scope']]));
  });

  it('keeps colons in paths and ignores malformed lines', () => {
    expect(parseProcCgroup('0::/a:b\nnonsense\n\n')).toStrictEqual(new Map([['', '/a:b']]));
  });
});

describe('planCgroupMount on a pure v2 host', () => {
  const host = hostCgroupMounts(V2);
  const own = parseProcCgroup(V2_CGROUP);

  it('with a cgroup namespace: one fresh cgroup2 mount', () => {
    expect(planCgroupMount('/sys/fs/cgroup', FLAGS | MS.RDONLY, 0, host, own, true)).toStrictEqual({
      mounts: [
        { source: 'cgroup2', destination: '/sys/fs/cgroup', type: 'cgroup2', flags: FLAGS | MS.RDONLY, data: '', propagation: 0 },
      ],
      symlinks: [],
      readonlyPaths: [],
    });
  });

  it('without one: a bind mount of the runtime\'s own cgroup', () => {
    expect(planCgroupMount('/sys/fs/cgroup', FLAGS, 0, host, own, false)).toStrictEqual({
      mounts: [
        {
          source: '/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope',
          destination: '/sys/fs/cgroup',
          type: 'bind',
          flags: FLAGS | MS.BIND | MS.REC,
          data: '',
          propagation: 0,
        },
      ],
      symlinks: [],
      readonlyPaths: [],
    });
  });

  it('without one and no entry in /proc/self/cgroup: the hierarchy root', () => {
    const plan = planCgroupMount('/sys/fs/cgroup', 0, 0, host, new Map(), false);
    expect(cleanSources(plan.mounts).map((m) => m.source)).toStrictEqual(['/sys/fs/cgroup']);
  });
});

describe('planCgroupMount on a hybrid host (this machine\'s layout)', () => {
  const host = hostCgroupMounts(HYBRID);
  const own = parseProcCgroup(HYBRID_CGROUP);
  const names = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified'];

  it('with a cgroup namespace: a tmpfs, then a fresh mount per hierarchy', () => {
    const plan = planCgroupMount('/sys/fs/cgroup', FLAGS, 0, host, own, true);
    expect(plan.mounts[0]).toStrictEqual({
      source: 'tmpfs',
      destination: '/sys/fs/cgroup',
      type: 'tmpfs',
      flags: FLAGS,
      data: 'mode=755',
      propagation: 0,
    });
    expect(plan.mounts.slice(1)).toStrictEqual(
      names.map((name) => {
        const dest = `/sys/fs/cgroup/${name}`;
        if (name === 'unified') return { source: 'cgroup2', destination: dest, type: 'cgroup2', flags: FLAGS, data: '', propagation: 0 };
        if (name === 'systemd') {
          return { source: 'cgroup', destination: dest, type: 'cgroup', flags: FLAGS, data: 'none,name=systemd', propagation: 0 };
        }
        return { source: 'cgroup', destination: dest, type: 'cgroup', flags: FLAGS, data: name, propagation: 0 };
      }),
    );
    expect(plan.symlinks).toStrictEqual([]);
    expect(plan.readonlyPaths).toStrictEqual([]);
  });

  it('without a cgroup namespace: bind mounts of the runtime\'s own cgroup directories', () => {
    const plan = planCgroupMount('/sys/fs/cgroup', FLAGS, 0, host, own, false);
    expect(plan.mounts[0]!.type).toBe('tmpfs');
    expect(cleanSources(plan.mounts.slice(1))).toStrictEqual(
      names.map((name) => ({
        source:
          name === 'memory' ? '/sys/fs/cgroup/memory/process_api/927e29b7c0cb177918b5bf97daf83df8' : `/sys/fs/cgroup/${name}`,
        destination: `/sys/fs/cgroup/${name}`,
        type: 'bind',
        flags: FLAGS | MS.BIND | MS.REC,
        data: '',
        propagation: 0,
      })),
    );
    expect(plan.symlinks).toStrictEqual([]);
  });

  it("a container with cgroups of its own: without a namespace, binds of its directories (not the runtime's); with one, memory too (joined late)", () => {
    const dirs = Object.fromEntries(
      hostCgroupMounts(HYBRID).map((h) => [h.controllers.join(','), `${h.mountPoint}/ctr`]),
    );
    const bound = planCgroupMount('/sys/fs/cgroup', FLAGS, 0, host, own, false, dirs);
    expect(bound.mounts.slice(1).map((m) => `${m.type} ${m.source}`)).toStrictEqual(
      names.map((name) => `bind /sys/fs/cgroup/${name}/ctr`),
    );
    // With a namespace: fresh mounts show the namespace's root, the
    // container's own cgroup, except memory, which the init joins after its
    // namespaces are made.
    const fresh = planCgroupMount('/sys/fs/cgroup', FLAGS, 0, host, own, true, dirs);
    expect(fresh.mounts.slice(1).map((m) => `${m.type} ${m.source}`)).toStrictEqual(
      names.map((name) => (name === 'memory' ? 'bind /sys/fs/cgroup/memory/ctr' : name === 'unified' ? 'cgroup2 cgroup2' : 'cgroup cgroup')),
    );
  });

  it('ro: the tmpfs is mounted writable, the hierarchies read-only, and the destination made read-only last', () => {
    for (const ns of [true, false]) {
      const plan = planCgroupMount('/sys/fs/cgroup', FLAGS | MS.RDONLY, 0, host, own, ns);
      expect(plan.mounts[0]!.flags).toBe(FLAGS);
      for (const m of plan.mounts.slice(1)) expect(m.flags & MS.RDONLY).toBe(MS.RDONLY);
      expect(plan.readonlyPaths).toStrictEqual(['/sys/fs/cgroup']);
    }
  });

  it('follows the destination it is given', () => {
    const plan = planCgroupMount('/cg', 0, 0, host, own, true);
    expect(plan.mounts.map((m) => m.destination)).toStrictEqual(['/cg', ...names.map((n) => `/cg/${n}`)]);
  });
});

describe('planCgroupMount with co-mounted controllers', () => {
  const host = hostCgroupMounts(COMOUNTED);
  const own = parseProcCgroup(COMOUNTED_CGROUP);

  it('with a cgroup namespace: data names every controller; symlinks for each name', () => {
    const plan = planCgroupMount('/sys/fs/cgroup', FLAGS | MS.RDONLY, 0, host, own, true);
    expect(plan.mounts.map((m) => [m.destination, m.type, m.data])).toStrictEqual([
      ['/sys/fs/cgroup', 'tmpfs', 'mode=755'],
      ['/sys/fs/cgroup/unified', 'cgroup2', ''],
      ['/sys/fs/cgroup/systemd', 'cgroup', 'none,name=systemd'],
      ['/sys/fs/cgroup/perf_event', 'cgroup', 'perf_event'],
      ['/sys/fs/cgroup/cpu,cpuacct', 'cgroup', 'cpu,cpuacct'],
      ['/sys/fs/cgroup/net_cls,net_prio', 'cgroup', 'net_cls,net_prio'],
      ['/sys/fs/cgroup/memory', 'cgroup', 'memory'],
      ['/sys/fs/cgroup/pids', 'cgroup', 'pids'],
    ]);
    expect(plan.symlinks).toStrictEqual([
      { target: 'cpu,cpuacct', path: '/sys/fs/cgroup/cpu' },
      { target: 'cpu,cpuacct', path: '/sys/fs/cgroup/cpuacct' },
      { target: 'net_cls,net_prio', path: '/sys/fs/cgroup/net_cls' },
      { target: 'net_cls,net_prio', path: '/sys/fs/cgroup/net_prio' },
    ]);
    expect(plan.readonlyPaths).toStrictEqual(['/sys/fs/cgroup']);
  });

  it('without one: binds look the co-mounted key up in /proc/self/cgroup', () => {
    const plan = planCgroupMount('/sys/fs/cgroup', 0, 0, host, own, false);
    expect(cleanSources(plan.mounts).map((m) => [m.source, m.destination, m.type, m.flags])).toStrictEqual([
      ['tmpfs', '/sys/fs/cgroup', 'tmpfs', 0],
      ['/sys/fs/cgroup/unified/user.slice/user-1000.slice/session-3.scope', '/sys/fs/cgroup/unified', 'bind', MS.BIND | MS.REC],
      ['/sys/fs/cgroup/systemd/user.slice/user-1000.slice/session-3.scope', '/sys/fs/cgroup/systemd', 'bind', MS.BIND | MS.REC],
      ['/sys/fs/cgroup/perf_event', '/sys/fs/cgroup/perf_event', 'bind', MS.BIND | MS.REC],
      ['/sys/fs/cgroup/cpu,cpuacct/user.slice', '/sys/fs/cgroup/cpu,cpuacct', 'bind', MS.BIND | MS.REC],
      ['/sys/fs/cgroup/net_cls,net_prio', '/sys/fs/cgroup/net_cls,net_prio', 'bind', MS.BIND | MS.REC],
      ['/sys/fs/cgroup/memory/user.slice/user-1000.slice/session-3.scope', '/sys/fs/cgroup/memory', 'bind', MS.BIND | MS.REC],
      ['/sys/fs/cgroup/pids/user.slice/user-1000.slice/session-3.scope', '/sys/fs/cgroup/pids', 'bind', MS.BIND | MS.REC],
    ]);
    expect(plan.symlinks).toHaveLength(4);
    expect(plan.readonlyPaths).toStrictEqual([]);
  });
});

/**
 * Inside a container (docker on a v1 host, or --cgroupns=host on a v2 host)
 * the cgroup filesystems are mounted from a subdirectory of the hierarchy:
 * mountinfo's 4th field (root) is e.g. /docker/<id>, and /proc/self/cgroup
 * names the same /docker/<id>. The runtime's own cgroup is then the mount
 * point itself (plus whatever lies below root): the path from
 * /proc/self/cgroup is taken relative to the mount's root field.
 */
describe('planCgroupMount when the hierarchies are mounted from a subdirectory (tsbox inside a container)', () => {
  it('v1: docker container without a cgroup namespace', () => {
    const plan = planCgroupMount(
      '/sys/fs/cgroup',
      0,
      0,
      hostCgroupMounts(fixture('mountinfo-docker-v1.txt')),
      parseProcCgroup(fixture('cgroup-docker-v1.txt')),
      false,
    );
    expect(cleanSources(plan.mounts).map((m) => [m.destination, m.source])).toStrictEqual([
      ['/sys/fs/cgroup', 'tmpfs'],
      ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/systemd'],
      ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/memory/sub'],
      ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu,cpuacct'],
      ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/pids'],
    ]);
  });

  it('v2: container sharing the host\'s cgroup namespace', () => {
    const plan = planCgroupMount(
      '/sys/fs/cgroup',
      0,
      0,
      hostCgroupMounts(fixture('mountinfo-docker-v2-hostns.txt')),
      parseProcCgroup(fixture('cgroup-docker-v2-hostns.txt')),
      false,
    );
    expect(cleanSources(plan.mounts).map((m) => m.source)).toStrictEqual(['/sys/fs/cgroup']);
  });
});
