import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Cgroups } from './manager.js';

/**
 * Whether a container's processes are frozen (paused): what the kernel's
 * freezer says, the v1 freezer's state or cgroup2's cgroup.freeze, for
 * cgroups made by any driver. Apart from the drivers, since `tsbox state`
 * asks it of every running container with cgroups and needs none of them.
 */
export function isFrozen(cg: Cgroups): boolean {
  try {
    if (cg.dirs.freezer) return readFileSync(path.join(cg.dirs.freezer, 'freezer.state'), 'utf8').trim() !== 'THAWED';
    if (cg.dirs['']) return readFileSync(path.join(cg.dirs[''], 'cgroup.freeze'), 'utf8').trim() === '1';
  } catch {
    // Gone: not frozen.
  }
  return false;
}
