// The plan for user namespaces, rootless callers and idmapped mounts
// (lib/plan/userns.ts through buildPlan), and its records for the helper.

import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import type { Spec } from '../../lib/oci/types.js';
import { validateSpec } from '../../lib/oci/validate.js';
import { buildPlan } from '../../lib/plan/build.js';
import { encodePlan } from '../../lib/plan/encode.js';
import type { HostFacts } from '../../lib/host/facts.js';
import { MS } from '../../lib/plan/mount-options.js';
import type { LaunchPlan } from '../../lib/plan/plan.js';
import type { Caller } from '../../lib/plan/userns.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const ROOT: Caller = { uid: 0, gid: 0 };
const USER: Caller = { uid: 1234, gid: 1235, path: '/usr/bin:/bin' };
const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];

function host(exists: string[] = []): HostFacts {
  return {
    lastCap: () => 40,
    mountinfo: () => '',
    ownCgroups: () => '',
    exists: (p) => exists.includes(p),
  };
}

function spec(edit: (s: Json) => void = () => {}): Spec {
  const s: Json = {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['sh'], cwd: '/' },
    mounts: [
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['mode=755'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'ro'] },
    ],
    linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }] },
  };
  edit(s);
  return validateSpec(s);
}

function withUserns(s: Json, extra: Json = {}): void {
  s.linux.namespaces.push({ type: 'user' });
  Object.assign(s.linux, { uidMappings: MAP, gidMappings: MAP }, extra);
}

function plan(s: Spec, caller: Caller = ROOT, facts: HostFacts = host()): LaunchPlan {
  return buildPlan({ spec: s, bundleDir: '/b', rootfs: '/b/rootfs', caller }, facts);
}

function planError(edit: (s: Json) => void, caller: Caller = ROOT, facts?: HostFacts): ConfigError {
  const s = spec(edit);
  try {
    plan(s, caller, facts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** The plan's records: each a u32 count, then u32 length + bytes per field (native byte order). */
function records(p: LaunchPlan): string[][] {
  const buf = encodePlan(p);
  const le = endianness() === 'LE';
  const u32 = (at: number) => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const out: string[][] = [];
  for (let at = 0; at < buf.length; ) {
    const count = u32(at);
    at += 4;
    const record: string[] = [];
    for (let i = 0; i < count; i++) {
      const len = u32(at);
      record.push(buf.subarray(at + 4, at + 4 + len).toString('utf8'));
      at += 4 + len;
    }
    out.push(record);
  }
  return out;
}

describe('buildPlan: a new user namespace', () => {
  it('plans the maps, written directly by a root caller, setgroups left allowed', () => {
    const p = plan(spec((s) => withUserns(s)));
    expect(p.userns).toStrictEqual({ uidMappings: MAP, gidMappings: MAP, setgroupsDeny: false });
    expect(p.namespaces.map((n) => n.type)).toEqual(['mnt', 'pid', 'user']);
  });

  it('binds the host\'s device nodes instead of making them, after every configured mount', () => {
    const p = plan(spec((s) => withUserns(s)));
    expect(p.devices).toEqual([]);
    const binds = p.mounts.slice(2);
    expect(binds.map((m) => m.destination)).toEqual(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
    for (const m of binds) expect(m).toStrictEqual({ source: m.destination, destination: m.destination, type: 'bind', flags: MS.BIND, data: '', propagation: 0 });
    expect(p.mounts[0]!.destination).toBe('/dev');
  });

  it('makes a FIFO of linux.devices as it is: there is no host node to bind', () => {
    const p = plan(spec((s) => {
      withUserns(s);
      s.linux.devices = [{ path: '/dev/fifo', type: 'p' }, { path: '/dev/fuse', type: 'c', major: 10, minor: 229 }];
    }));
    expect(p.devices).toStrictEqual([{ path: '/dev/fifo', type: 'p', major: 0, minor: 0, mode: 0o666, uid: 0, gid: 0 }]);
    expect(p.mounts.map((m) => m.destination)).toContain('/dev/fuse');
    expect(p.mounts.map((m) => m.destination)).not.toContain('/dev/fifo');
  });

  it('binds /sys read-only when there is no network namespace of its own, and mounts sysfs when there is', () => {
    const bound = plan(spec((s) => withUserns(s))).mounts[1]!;
    expect(bound).toStrictEqual({ source: '/sys', destination: '/sys', type: 'bind', flags: MS.NOSUID | MS.RDONLY | MS.BIND | MS.REC, data: '', propagation: 0 });
    const own = plan(spec((s) => {
      withUserns(s);
      s.linux.namespaces.push({ type: 'network' });
    })).mounts[1]!;
    expect(own.type).toBe('sysfs');
    // Without a user namespace nothing changes.
    expect(plan(spec()).mounts[1]!.type).toBe('sysfs');
    expect(plan(spec()).devices).toHaveLength(6);
  });

  it('binds devices and /sys for a root caller that itself runs in a user namespace (rootless podman\'s runtime), with no user namespace in the config', () => {
    const nested: Caller = { uid: 0, gid: 0, inUserNamespace: true };
    const p = plan(spec(), nested);
    expect(p.userns).toBeUndefined();
    expect(p.namespaces.map((n) => n.type)).toEqual(['mnt', 'pid']);
    expect(p.devices).toEqual([]);
    expect(p.mounts.slice(2).map((m) => m.destination)).toEqual(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
    expect(p.mounts[1]).toMatchObject({ source: '/sys', type: 'bind' });
    // With a network namespace of its own (owned by the caller's user namespace) sysfs is mounted.
    expect(plan(spec((s) => s.linux.namespaces.push({ type: 'network' })), nested).mounts[1]!.type).toBe('sysfs');
  });

  it('binds devices too when joining a user namespace by path, with no maps to write', () => {
    const p = plan(spec((s) => s.linux.namespaces.push({ type: 'user', path: '/proc/9/ns/user' })));
    expect(p.userns).toBeUndefined();
    expect(p.devices).toEqual([]);
    const warned = plan(spec((s) => {
      s.linux.namespaces.push({ type: 'user', path: '/proc/9/ns/user' });
      s.linux.uidMappings = MAP;
    }));
    expect(warned.warnings).toContain('linux.uidMappings and linux.gidMappings are ignored: the container joins an existing user namespace');
  });

  it('requires sane maps, naming the field', () => {
    const cases: Array<[(s: Json) => void, string, string]> = [
      [(s) => s.linux.namespaces.push({ type: 'user' }), 'linux.uidMappings', 'is required when linux.namespaces creates a user namespace'],
      [(s) => withUserns(s, { gidMappings: [] }), 'linux.gidMappings', 'is required when linux.namespaces creates a user namespace'],
      [(s) => Object.assign(s.linux, { uidMappings: MAP }), 'linux.uidMappings', 'needs a user namespace in linux.namespaces'],
      [(s) => Object.assign(s.linux, { gidMappings: MAP }), 'linux.gidMappings', 'needs a user namespace in linux.namespaces'],
      [
        (s) => withUserns(s, { uidMappings: [{ containerID: 0, hostID: 10, size: 5 }, { containerID: 3, hostID: 100, size: 1 }] }),
        'linux.uidMappings[1]',
        'overlaps linux.uidMappings[0] in container ids',
      ],
      [
        (s) => withUserns(s, { gidMappings: [{ containerID: 0, hostID: 10, size: 5 }, { containerID: 10, hostID: 12, size: 1 }] }),
        'linux.gidMappings[1]',
        'overlaps linux.gidMappings[0] in host ids',
      ],
      [
        (s) => withUserns(s, { uidMappings: [{ containerID: 0, hostID: 10, size: 5 }, { containerID: 4294967294, hostID: 20, size: 2 }] }),
        'linux.uidMappings[1]',
        'containerID 4294967294 + size 2 goes beyond id 4294967294, the last one that can be mapped',
      ],
      [
        (s) => withUserns(s, { uidMappings: Array.from({ length: 341 }, (_, i) => ({ containerID: i, hostID: 1000 + i, size: 1 })) }),
        'linux.uidMappings',
        'has 341 entries; the kernel takes at most 340',
      ],
      [(s) => withUserns(s, { uidMappings: [{ containerID: 1, hostID: 10, size: 5 }] }), 'linux.uidMappings', 'must map container id 0: the container is set up by root of its user namespace'],
      [
        (s) => {
          withUserns(s);
          s.process.user = { uid: 0, gid: 0, additionalGids: [70000] };
        },
        'process.user.additionalGids[0]',
        '70000 is not mapped by linux.gidMappings',
      ],
      [
        (s) => {
          withUserns(s, { uidMappings: [{ containerID: 0, hostID: 10, size: 1 }] });
          s.process.user = { uid: 1, gid: 0 };
        },
        'process.user.uid',
        '1 is not mapped by linux.uidMappings',
      ],
      [
        (s) => {
          withUserns(s, { gidMappings: [{ containerID: 0, hostID: 10, size: 1 }] });
          s.mounts.push({ destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['newinstance', 'gid=5'] });
        },
        'mounts[2].options[1]',
        'gid=5: gid 5 is not mapped by linux.gidMappings',
      ],
    ];
    for (const [edit, jsonPath, problem] of cases) {
      const err = planError(edit);
      expect([err.jsonPath, err.problem]).toEqual([jsonPath, problem]);
    }
  });
});

describe('buildPlan: an unprivileged caller (rootless)', () => {
  it('gets a user namespace mapping root to itself when the config has none, setgroups denied', () => {
    const p = plan(spec(), USER);
    expect(p.namespaces[0]).toStrictEqual({ type: 'user', path: '' });
    expect(p.userns).toStrictEqual({
      uidMappings: [{ containerID: 0, hostID: 1234, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 1235, size: 1 }],
      setgroupsDeny: true,
    });
    expect(p.devices).toEqual([]);
  });

  it('writes its own single-id maps itself and refuses supplementary groups it could not set', () => {
    const own = (s: Json) => withUserns(s, { uidMappings: [{ containerID: 0, hostID: 1234, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1235, size: 1 }] });
    expect(plan(spec(own), USER).userns!.setgroupsDeny).toBe(true);
    const err = planError((s) => {
      own(s);
      s.process.user = { uid: 0, gid: 0, additionalGids: [0] };
    }, USER);
    expect([err.jsonPath, err.problem]).toEqual([
      'process.user.additionalGids',
      'cannot be set: a user namespace mapping only the caller\'s own gid denies setgroups',
    ]);
  });

  it('maps more than its own ids through newuidmap and newgidmap found in its PATH', () => {
    const s = spec((x) => withUserns(x));
    const p = plan(s, USER, host(['/usr/bin/newuidmap', '/usr/bin/newgidmap']));
    expect(p.userns).toStrictEqual({ uidMappings: MAP, gidMappings: MAP, setgroupsDeny: false, tools: { newuidmap: '/usr/bin/newuidmap', newgidmap: '/usr/bin/newgidmap' } });
    const err = planError((x) => withUserns(x), USER, host(['/usr/bin/newuidmap']));
    expect([err.jsonPath, err.problem]).toEqual([
      'linux.uidMappings',
      'maps more than the caller\'s own uid 1234 and gid 1235, which needs newuidmap and newgidmap (package uidmap), not found in PATH',
    ]);
  });
});

describe('buildPlan: idmapped mounts', () => {
  const idmapped = (extra: Json = {}) => ({ destination: '/data', type: 'bind', source: 'data', options: ['rbind'], uidMappings: MAP, gidMappings: MAP, ...extra });

  it('carries the idmap on the bind mount', () => {
    const p = plan(spec((s) => s.mounts.push(idmapped())));
    expect(p.mounts[2]).toStrictEqual({ source: '/b/data', destination: '/data', type: 'bind', flags: MS.BIND | MS.REC, data: '', propagation: 0, idmap: { uids: MAP, gids: MAP, recursive: true } });
  });

  it('takes the idmap and ridmap options: the container\'s own maps, recursive or not', () => {
    const p = plan(spec((s) => {
      withUserns(s);
      s.mounts.push({ destination: '/a', type: 'bind', source: '/a', options: ['rbind', 'idmap'] });
      s.mounts.push({ destination: '/b', type: 'bind', source: '/b', options: ['bind', 'ridmap'] });
    }));
    expect(p.mounts[2]!.idmap).toStrictEqual({ uids: MAP, gids: MAP, recursive: false });
    expect(p.mounts[2]!.flags).toBe(MS.BIND | MS.REC);
    expect(p.mounts[3]!.idmap).toStrictEqual({ uids: MAP, gids: MAP, recursive: true });
    const err = planError((s) => s.mounts.push({ destination: '/a', type: 'bind', source: '/a', options: ['bind', 'idmap'] }));
    expect([err.jsonPath, err.problem]).toEqual([
      'mounts[2].options[1]',
      'an idmap option without mounts[].uidMappings needs the container\'s linux.uidMappings and linux.gidMappings',
    ]);
  });

  it('refuses an idmap on anything but a bind mount, a lone uid or gid map, or overlapping ranges', () => {
    const cases: Array<[Json, string, string]> = [
      [{ destination: '/t', type: 'tmpfs', source: 'tmpfs', uidMappings: MAP, gidMappings: MAP }, 'mounts[2].uidMappings', 'only a bind mount can be idmapped'],
      [idmapped({ gidMappings: undefined }), 'mounts[2].gidMappings', 'is required for an idmapped mount (uidMappings and gidMappings go together)'],
      [
        idmapped({ uidMappings: [{ containerID: 0, hostID: 5, size: 2 }, { containerID: 9, hostID: 6, size: 1 }] }),
        'mounts[2].uidMappings[1]',
        'overlaps mounts[2].uidMappings[0] in host ids',
      ],
    ];
    for (const [mount, jsonPath, problem] of cases) {
      const err = planError((s) => s.mounts.push(JSON.parse(JSON.stringify(mount))));
      expect([err.jsonPath, err.problem]).toEqual([jsonPath, problem]);
    }
  });
});

describe('encodePlan: user namespace records', () => {
  it('writes the maps, setgroups, the tools, and each mount\'s idmap right after it', () => {
    const idmapped = spec((s) => {
      withUserns(s);
      s.mounts.push({ destination: '/data', type: 'bind', source: '/d', options: ['bind'], uidMappings: [{ containerID: 1, hostID: 2, size: 3 }], gidMappings: MAP });
    });
    const mounts = records(plan(idmapped, ROOT));
    const at = mounts.findIndex((r) => r[0] === 'mount' && r[2] === '/data');
    expect(mounts[at + 1]).toEqual(['mount-idmap', '0', '1', '1', '2', '3', '0', '100000', '65536']);
    // The kernel idmaps host files only for root: refused in the plan.
    expect(() => plan(idmapped, USER, host(['/usr/bin/newuidmap', '/usr/bin/newgidmap']))).toThrow(
      new ConfigError('mounts[2]', 'an idmapped mount needs root (CAP_SYS_ADMIN over the filesystem of "/d"); uid 1234 cannot make one'),
    );
    const p = plan(
      spec((s) => withUserns(s, { gidMappings: [{ containerID: 0, hostID: 1235, size: 1 }, { containerID: 1, hostID: 200000, size: 10 }] })),
      USER,
      host(['/usr/bin/newuidmap', '/usr/bin/newgidmap']),
    );
    const recs = records(p);
    expect(recs.filter((r) => ['uid-map', 'gid-map', 'setgroups-deny', 'idmap-tools'].includes(r[0]!))).toEqual([
      ['uid-map', '0', '100000', '65536'],
      ['gid-map', '0', '1235', '1'],
      ['gid-map', '1', '200000', '10'],
      ['idmap-tools', '/usr/bin/newuidmap', '/usr/bin/newgidmap'],
    ]);
    const deny = plan(spec(), USER);
    expect(records(deny).filter((r) => r[0] === 'setgroups-deny')).toEqual([['setgroups-deny']]);
  });
});
