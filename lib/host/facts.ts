import { existsSync, readFileSync } from 'node:fs';

/**
 * What the planner and the cgroup layout need to know about the host. Read
 * lazily (most configs need none of it) and replaceable in tests.
 */
export interface HostFacts {
  /** Highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap). */
  lastCap(): number;
  /** The runtime's own /proc/self/mountinfo. */
  mountinfo(): string;
  /** The runtime's own /proc/self/cgroup. */
  ownCgroups(): string;
  /** Whether a path exists on the host (e.g. /proc/kcore). */
  exists(path: string): boolean;
}

// The running kernel's, the same for every container: read once.
let kernelLastCap: number | undefined;

export const liveHost: HostFacts = {
  lastCap: () => (kernelLastCap ??= Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim())),
  mountinfo: () => readFileSync('/proc/self/mountinfo', 'utf8'),
  ownCgroups: () => readFileSync('/proc/self/cgroup', 'utf8'),
  exists: (path) => existsSync(path),
};

/**
 * The live host with each fact read at most once: for one launch, whose plan
 * (cgroup mounts) and cgroups (the layout) both need the mount table and
 * this process's cgroups.
 */
export function hostSnapshot(): HostFacts {
  let lastCap: number | undefined;
  let mountinfo: string | undefined;
  let ownCgroups: string | undefined;
  return {
    lastCap: () => (lastCap ??= liveHost.lastCap()),
    mountinfo: () => (mountinfo ??= liveHost.mountinfo()),
    ownCgroups: () => (ownCgroups ??= liveHost.ownCgroups()),
    exists: liveHost.exists,
  };
}
