import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { cgroupfs } from '../cgroups/cgroupfs.js';
import type { CgroupDriver } from '../cgroups/driver.js';
import { destroyCgroups } from '../cgroups/kill.js';
import type { Layout } from '../cgroups/layout.js';
import { applyLimits } from '../cgroups/limits.js';
import { applyResources, procsFiles } from '../cgroups/manager.js';
import { deferZeroPidsLimit, EMPTY_CGROUP, resourceWrites } from '../cgroups/resources.js';
import { TsboxError } from '../errors.js';
import type { LinuxResources } from '../oci/types.js';
import { parseProcCgroup } from '../host/mountinfo.js';
import { systemdUnitFor } from './unit-name.js';
import { runsRootless } from '../host/rootless.js';

/**
 * The systemd cgroup driver (--systemd-cgroup): the container's cgroup is a
 * transient scope that systemd makes around the helper process (a scope
 * cannot be started empty), then tsbox writes every limit into it with the
 * cgroupfs writer (Delegate=yes makes the cgroup the container's to
 * manage). The limits systemd has properties for are given to it too, so
 * that it keeps them when it reloads (./properties.ts). Everything else
 * (freezer, signals, pids, stats) is cgroupfs's.
 *
 * Pure cgroup v2 only: on v1 and hybrid hosts systemd's scopes span several
 * hierarchies, which this driver does not handle. The D-Bus client is
 * loaded only when systemd is talked to: a cgroupfs container never needs it.
 */
export const systemd: CgroupDriver = {
  ...cgroupfs,
  name: 'systemd',
  plan(_layout, linux, id) {
    if (runsRootless()) {
      throw new TsboxError("--systemd-cgroup: rootless containers under the user's systemd manager are not supported; use cgroupfs (leave out --systemd-cgroup)");
    }
    const unit = systemdUnitFor(linux?.cgroupsPath, id);
    return { driver: 'systemd', dirs: {}, created: [], systemd: { unit: unit.unit } };
  },
  async prepare(layout, cg, linux, id, warnings) {
    const { Systemd } = await import('./manager.js');
    const { unitProperties } = await import('./properties.js');
    const unit = systemdUnitFor(linux?.cgroupsPath, id);
    // pids.limit 0 as with cgroupfs: the init could not be cloned into the
    // scope with it, so it is written once the init is set up (atReady).
    const { now: resources, atReady } = deferZeroPidsLimit(linux?.resources ?? {});
    const bus = await Systemd.connect();
    let v2;
    try {
      v2 = cgroup2Of(layout);
    } catch (err) {
      bus.close();
      throw err;
    }
    const properties = unitProperties(resourceWrites(layout, resources, EMPTY_CGROUP).writes, bus.version);
    return {
      procs: [],
      lateProcs: [],
      async join(pid) {
        await bus.startScope(unit, pid, properties, `tsbox container ${id}`);
        cg.dirs[''] = cgroupOf(pid, v2.mountPoint, v2.root);
        warnings.push(...applyLimits(layout, cg, resources));
        return procsFiles(cg);
      },
      ...(atReady && {
        async atReady() {
          // The unit first (systemd writes pids.max itself when its
          // TasksMax changes, and again at each daemon-reload), then the file.
          await bus.setProperties(unit.unit, unitProperties(resourceWrites(layout, atReady, EMPTY_CGROUP).writes, bus.version));
          return applyResources(layout, cg, atReady);
        },
      }),
      close: () => bus.close(),
    };
  },
  async update(layout, cg, resources) {
    // systemd first: it writes the unit's limits itself when they change.
    await setUnitLimits(layout, cg.systemd!.unit, resources);
    return cgroupfs.update(layout, cg, resources);
  },
  async destroy(cg) {
    await destroyCgroups(cg);
    // The scope goes once it is empty anyway; stopping it waits until
    // systemd has removed its cgroup (and ends one a killed create left).
    const { withSystemd } = await import('./manager.js');
    await withSystemd((bus) => bus.stopUnit(cg.systemd!.unit));
  },
};

/** The cgroup2 mount of a pure v2 host, or the error saying this driver needs one. */
function cgroup2Of(layout: Layout): { mountPoint: string; root: string } {
  const v2 = layout.hierarchies.find((h) => h.mount.fstype === 'cgroup2');
  if (layout.kind !== 'v2' || !v2) {
    throw new TsboxError(
      `--systemd-cgroup: this host's cgroups are ${layout.kind === 'hybrid' ? 'hybrid (v1 controllers plus cgroup2)' : 'v1'}: tsbox's systemd driver needs a pure cgroup v2 host; use cgroupfs (leave out --systemd-cgroup)`,
    );
  }
  return v2.mount;
}

/** The cgroup2 directory a process is in, from /proc/<pid>/cgroup. */
function cgroupOf(pid: number, mountPoint: string, mountRoot: string): string {
  const file = `/proc/${pid}/cgroup`;
  const own = parseProcCgroup(readFileSync(file, 'utf8')).get('');
  if (own === undefined) throw new TsboxError(`systemd scope: ${file} has no cgroup2 line`);
  const inMount = path.posix.relative(mountRoot, own);
  if (inMount.startsWith('..')) throw new TsboxError(`systemd scope: cgroup "${own}" of pid ${pid} is outside the cgroup2 mount at ${mountPoint}`);
  return path.join(mountPoint, inMount);
}

/**
 * Gives a running container's scope its new limits (update), beside the
 * cgroup files. No device nodes: device rules have no unit property.
 */
async function setUnitLimits(layout: Layout, unit: string, resources: LinuxResources): Promise<void> {
  const { withSystemd } = await import('./manager.js');
  const { unitProperties } = await import('./properties.js');
  const { writes } = resourceWrites(layout, resources, EMPTY_CGROUP);
  await withSystemd((bus) => bus.setProperties(unit, unitProperties(writes, bus.version)));
}
