// Where linux.cgroupsPath puts a container's cgroup in each hierarchy
// (lib/cgroups/manager.ts cgroupDirs), for each host layout.

import { describe, expect, it } from 'vitest';
import type { Hierarchy, Layout } from '../../lib/cgroups/layout.js';
import { cgroupDirs } from '../../lib/cgroups/manager.js';

function hierarchy(key: string, mountPoint: string, own: string, fstype = 'cgroup', root = '/'): Hierarchy {
  return { key, own, mount: { mountPoint, root, fstype, controllers: key ? key.split(',') : [] } } as Hierarchy;
}

const HYBRID: Layout = {
  kind: 'hybrid',
  hierarchies: [hierarchy('memory', '/sys/fs/cgroup/memory', '/session/leaf'), hierarchy('', '/sys/fs/cgroup/unified', '/session/leaf', 'cgroup2')],
};
const V2: Layout = { kind: 'v2', hierarchies: [hierarchy('', '/sys/fs/cgroup', '/user.slice/session-1.scope', 'cgroup2')] };
const V2_ROOT: Layout = { kind: 'v2', hierarchies: [hierarchy('', '/sys/fs/cgroup', '/', 'cgroup2')] };

describe('cgroupDirs', () => {
  it('an absolute path is taken from each hierarchy\'s root', () => {
    expect(cgroupDirs(HYBRID, '/docker/abc', 'x')).toStrictEqual({ memory: '/sys/fs/cgroup/memory/docker/abc', '': '/sys/fs/cgroup/unified/docker/abc' });
    expect(cgroupDirs(V2, '/docker/abc', 'x')).toStrictEqual({ '': '/sys/fs/cgroup/docker/abc' });
  });

  it('v1 and hybrid: a relative path (or the id, without one) lands under the runtime\'s own cgroup', () => {
    expect(cgroupDirs(HYBRID, 'ctr', 'x')).toStrictEqual({ memory: '/sys/fs/cgroup/memory/session/leaf/ctr', '': '/sys/fs/cgroup/unified/session/leaf/ctr' });
    expect(cgroupDirs(HYBRID, undefined, 'id1')).toStrictEqual({ memory: '/sys/fs/cgroup/memory/session/leaf/id1', '': '/sys/fs/cgroup/unified/session/leaf/id1' });
  });

  it('pure cgroup2: under the parent of the runtime\'s own cgroup (which holds processes and so can delegate no controller), as runc', () => {
    expect(cgroupDirs(V2, 'ctr', 'x')).toStrictEqual({ '': '/sys/fs/cgroup/user.slice/ctr' });
    expect(cgroupDirs(V2, undefined, 'id1')).toStrictEqual({ '': '/sys/fs/cgroup/user.slice/id1' });
    // In the root cgroup (which may hold processes), the root.
    expect(cgroupDirs(V2_ROOT, 'ctr', 'x')).toStrictEqual({ '': '/sys/fs/cgroup/ctr' });
  });

  it('refuses a systemd slice path and a path outside what is mounted here', () => {
    expect(() => cgroupDirs(V2, 'system.slice:tsbox:abc', 'x')).toThrow('is in the systemd form "slice:prefix:name": add --systemd-cgroup');
    const partial: Layout = { kind: 'v1', hierarchies: [hierarchy('pids', '/sys/fs/cgroup/pids', '/', 'cgroup', '/sub')] };
    expect(() => cgroupDirs(partial, '/elsewhere', 'x')).toThrow('outside the part of the pids hierarchy mounted here');
  });
});
