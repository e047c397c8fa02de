import * as path from 'node:path';
import { liveHost, type HostFacts } from '../host/facts.js';
import { hostCgroupMounts, parseProcCgroup, type HostCgroupMount } from '../host/mountinfo.js';

/**
 * One cgroup hierarchy a container gets a directory in: a v1 hierarchy
 * (its controllers) or the cgroup2 one.
 */
export interface Hierarchy {
  mount: HostCgroupMount;
  /** Key in /proc/<pid>/cgroup: "cpu,cpuacct", "name=systemd", "" for cgroup2. */
  key: string;
  /** The runtime's own cgroup in this hierarchy, relative to the mount's root. */
  own: string;
}

export type LayoutKind = 'v1' | 'v2' | 'hybrid';

export interface Layout {
  kind: LayoutKind;
  hierarchies: Hierarchy[];
}

/**
 * The host's cgroup layout, read from the mount table (not guessed):
 * pure v2 (cgroup2 at /sys/fs/cgroup), v1, or hybrid (v1 controllers plus a
 * cgroup2 mount, usually /sys/fs/cgroup/unified).
 */
export function detectLayout(mountinfo: string, procCgroup: string): Layout {
  const own = parseProcCgroup(procCgroup);
  const seen = new Set<string>();
  const hierarchies: Hierarchy[] = [];
  for (const mount of hostCgroupMounts(mountinfo)) {
    const key = mount.controllers.join(',');
    // A hierarchy mounted twice is one hierarchy.
    if (seen.has(key)) continue;
    seen.add(key);
    const ownPath = own.get(key) ?? '/';
    const relative = path.posix.relative(mount.root, ownPath);
    hierarchies.push({ mount, key, own: relative.startsWith('..') ? '/' : `/${relative}` });
  }
  const v2 = hierarchies.some((h) => h.mount.fstype === 'cgroup2');
  const v1 = hierarchies.some((h) => h.mount.fstype === 'cgroup');
  return { kind: v1 && v2 ? 'hybrid' : v2 ? 'v2' : 'v1', hierarchies };
}

let lastLayout: { mountinfo: string; ownCgroups: string; layout: Layout } | undefined;

/**
 * The host's cgroup layout, from this process's mount table and cgroups.
 * Both are read for every launch, but they rarely change: a process that
 * starts many containers (the library) parses them again only when they do.
 */
export function hostLayout(host: HostFacts = liveHost): Layout {
  const mountinfo = host.mountinfo();
  const ownCgroups = host.ownCgroups();
  if (lastLayout?.mountinfo !== mountinfo || lastLayout.ownCgroups !== ownCgroups) {
    lastLayout = { mountinfo, ownCgroups, layout: detectLayout(mountinfo, ownCgroups) };
  }
  return lastLayout.layout;
}
