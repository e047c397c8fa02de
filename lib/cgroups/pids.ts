import { readdirSync, readFileSync, type Dirent } from 'node:fs';
import * as path from 'node:path';

// The processes in a container's cgroups, for cgroups made by any driver.
// Apart from the drivers (as ./frozen.ts), since `tsbox kill` asks for
// them and needs none of the drivers otherwise.

/**
 * The pids in the container's cgroup (from one hierarchy: every process is
 * in all). Takes the `dirs` of manager.ts's Cgroups, named by shape: the
 * manager uses cgroupTree, and this module needs nothing else of it.
 */
export function cgroupPids(cg: { dirs: Record<string, string> }): number[] {
  const dir = cg.dirs.pids ?? cg.dirs[''] ?? Object.values(cg.dirs)[0];
  return dir ? treePids(dir) : [];
}

/**
 * A cgroup directory and every cgroup below it, deepest first ([] once it
 * is gone): a container may make cgroups of its own inside its cgroup
 * (systemd in a container, Docker in Docker), and its processes may be in
 * any of them.
 */
export function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): boolean => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return false; // gone meanwhile
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    out.push(d);
    return true;
  };
  walk(dir);
  return out;
}

/** Pids in a cgroup and every cgroup below it, sorted. */
export function treePids(dir: string): number[] {
  return cgroupTree(dir).flatMap(pidsIn).sort((a, b) => a - b);
}

/** Pids listed in one cgroup directory ([] once it is gone). */
export function pidsIn(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
