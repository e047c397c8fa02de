import type { CgroupDriver } from './driver.js';
import { destroyCgroups, signalAll } from './kill.js';
import type { Layout } from './layout.js';
import { applyLimits } from './limits.js';
import { applyResources, cgroupDirs, makeCgroups, plannedCgroups, procsFiles, setFrozen } from './manager.js';
import { deferZeroPidsLimit } from './resources.js';

/**
 * The cgroupfs driver: tsbox makes the container's directories (at
 * linux.cgroupsPath, resolved as runc does: ./manager.ts) and writes every
 * file itself. A config with neither linux.cgroupsPath nor
 * linux.resources gets no cgroups, as before.
 */
export const cgroupfs: CgroupDriver = {
  name: 'cgroupfs',
  plan(layout, linux, id) {
    if (linux?.cgroupsPath === undefined && linux?.resources === undefined) return undefined;
    return plannedCgroups(layout, cgroupDirs(layout, linux.cgroupsPath, id));
  },
  async prepare(layout, cg, linux, _id, warnings) {
    makeCgroups(layout, cg);
    const { now, atReady } = deferZeroPidsLimit(linux?.resources ?? {});
    try {
      warnings.push(...applyLimits(layout, cg, now, { fresh: true }));
    } catch (err) {
      await destroyCgroups(cg).catch(() => undefined);
      throw err;
    }
    const late = v1MemoryKeys(layout);
    return {
      procs: procsFiles(cg, (key) => !late.includes(key)),
      lateProcs: procsFiles(cg, (key) => late.includes(key)),
      ...(atReady && { atReady: () => Promise.resolve(applyResources(layout, cg, atReady)) }),
      close: () => undefined,
    };
  },
  update: (layout, cg, resources) => Promise.resolve(applyLimits(layout, cg, resources, { update: true })),
  setFrozen,
  signalAll,
  async stats(layout, cg) {
    // Loaded here: every other command does without it.
    const { readStats } = await import('./stats.js');
    return readStats(layout, cg);
  },
  destroy: (cg) => destroyCgroups(cg),
};

/** The hierarchy keys of v1 memory controllers (see LaunchPlan.lateCgroupProcs). */
function v1MemoryKeys(layout: Layout): string[] {
  return layout.hierarchies.filter((h) => h.mount.fstype === 'cgroup' && h.key.split(',').includes('memory')).map((h) => h.key);
}
