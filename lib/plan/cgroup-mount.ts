import * as path from 'node:path';
import { MS } from './mount-options.js';
import type { HostCgroupMount } from '../host/mountinfo.js';
import type { PlannedMount, PlannedSymlink } from './plan.js';

export interface CgroupMountPlan {
  mounts: PlannedMount[];
  symlinks: PlannedSymlink[];
  /** Made read-only once every submount is in place. */
  readonlyPaths: string[];
}

/**
 * Expands one config mount of type "cgroup" at `destination` into what the
 * host's layout needs: a single cgroup2 mount on a pure v2 host; on v1 and
 * hybrid hosts a tmpfs holding one mount per hierarchy (plus `unified` for
 * the hybrid cgroup2 mount), with symlinks for co-mounted controllers.
 *
 * With a cgroup namespace each hierarchy is mounted afresh and shows the
 * namespace's root. Without one, a fresh mount would show the host's whole
 * tree, so the container's own cgroup directory is bind-mounted instead (as
 * runc does): `containerDirs` (by hierarchy key), else, for a container
 * without cgroups of its own, the one it shares with the runtime.
 */
export function planCgroupMount(
  destination: string,
  flags: number,
  propagation: number,
  host: HostCgroupMount[],
  ownCgroups: Map<string, string>,
  cgroupNamespace: boolean,
  containerDirs: Record<string, string> = {},
): CgroupMountPlan {
  const plan: CgroupMountPlan = { mounts: [], symlinks: [], readonlyPaths: [] };
  const readonly = (flags & MS.RDONLY) !== 0;

  const one = (dest: string, h: HostCgroupMount) => {
    const key = h.controllers.join(',');
    // The init joins its v1 memory cgroup only once its namespaces exist
    // (lib/launch.ts: the late memory join), so there the namespace's root
    // is the runtime's memory cgroup, with every sibling: bind the
    // container's own directory instead.
    const lateJoined = h.fstype === 'cgroup' && h.controllers.includes('memory') && containerDirs[key] !== undefined;
    if (cgroupNamespace && !lateJoined) {
      const data = h.fstype === 'cgroup2' ? '' : h.controllers.every((c) => c.startsWith('name=')) ? `none,${key}` : key;
      plan.mounts.push({ source: h.fstype, destination: dest, type: h.fstype, flags, data, propagation });
    } else {
      // /proc/self/cgroup paths are from the hierarchy's root; the host
      // mount may show only a subtree of it (h.root), so take the path
      // relative to that.
      const own = path.posix.relative(h.root, ownCgroups.get(key) ?? '/');
      const source = containerDirs[key] ?? (own.startsWith('..') ? h.mountPoint : path.posix.join(h.mountPoint, own).replace(/\/$/, ''));
      plan.mounts.push({ source, destination: dest, type: 'bind', flags: flags | MS.BIND | MS.REC, data: '', propagation });
    }
  };

  const top = host.find((h) => h.mountPoint === '/sys/fs/cgroup');
  if (top?.fstype === 'cgroup2') {
    one(destination, top);
    return plan;
  }
  plan.mounts.push({
    source: 'tmpfs',
    destination,
    type: 'tmpfs',
    flags: flags & ~MS.RDONLY,
    data: 'mode=755',
    propagation,
  });
  for (const h of host) {
    if (path.dirname(h.mountPoint) !== '/sys/fs/cgroup') continue;
    const name = path.basename(h.mountPoint);
    one(path.posix.join(destination, name), h);
    // Co-mounted controllers (cpu,cpuacct) are reachable under each name.
    if (name.includes(',')) {
      for (const c of name.split(',')) {
        plan.symlinks.push({ target: name, path: path.posix.join(destination, c) });
      }
    }
  }
  if (readonly) plan.readonlyPaths.push(destination);
  return plan;
}
