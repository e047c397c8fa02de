import * as path from 'node:path';
import type { Layout } from '../cgroups/layout.js';
import type { Cgroups } from '../cgroups/manager.js';

/**
 * Where CRIU puts the restored tree in each cgroup hierarchy (its
 * cgroup_root, runc's cg_root): the cgroups restore made for the
 * container, as paths from each hierarchy's root. Without it, CRIU
 * restores the tree into the cgroups it was dumped from, which are not
 * the container's when the restore-time config has another cgroupsPath
 * (a lazy migration restored beside the container it comes from, which
 * is removed, its cgroup and all in it, once its memory is taken). One
 * root for all hierarchies when they agree (the usual case); else one per
 * hierarchy, named as CRIU names them (v1 controllers, "unified" for cgroup2).
 */
export function cgroupRoots(layout: Layout, cgroups: Cgroups | undefined): { ctrl?: string; path: string }[] {
  const roots: { ctrl: string; path: string }[] = [];
  for (const h of layout.hierarchies) {
    const dir = cgroups?.dirs[h.key];
    if (dir === undefined) continue;
    const rel = path.relative(h.mount.mountPoint, dir);
    if (rel.startsWith('..')) continue;
    roots.push({ ctrl: h.key === '' ? 'unified' : h.key, path: path.posix.join('/', h.mount.root, rel) });
  }
  const paths = new Set(roots.map((r) => r.path));
  if (paths.size === 1) return [{ path: [...paths][0]! }];
  return roots;
}
