import * as path from 'node:path';
import { MS } from './mount-options.js';
import type { PlannedMount, PlannedSymlink } from './plan.js';

/** A cgroup filesystem mounted on the host, from mountinfo. */
export interface HostCgroupMount {
  mountPoint: string;
  /**
   * The directory of the hierarchy this mount shows: "/" on a host, but
   * e.g. "/docker/<id>" when tsbox itself runs in a container.
   */
  root: string;
  fstype: 'cgroup' | 'cgroup2';
  /** Controllers (cpu, memory, ...) or `name=systemd`; empty for cgroup2. */
  controllers: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function hostCgroupMounts(mountinfo: string): HostCgroupMount[] {
  const out: HostCgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const fields = line.slice(0, sep).split(' ');
    const root = unescape(fields[3]!);
    const mountPoint = unescape(fields[4]!);
    const controllers =
      fstype === 'cgroup' ? superOptions.split(',').filter((o) => CONTROLLERS.has(o) || o.startsWith('name=')) : [];
    out.push({ mountPoint, root, fstype, controllers });
  }
  return out;
}

const CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'net_cls',
  'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc', 'debug',
]);

/** /proc/<pid>/cgroup as a map from hierarchy key ("cpu,cpuacct", "name=systemd", "" for v2) to path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

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
