import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { deviceNodes } from '../cgroups/devices-bpf.js';
import { killAndRemove } from '../cgroups/kill.js';
import type { Layout } from '../cgroups/layout.js';
import { applyLimits } from '../cgroups/limits.js';
import type { Cgroups } from '../cgroups/manager.js';
import { EMPTY_CGROUP, resourceWrites } from '../cgroups/resources.js';
import { TsboxError } from '../errors.js';
import type { Linux, LinuxResources } from '../oci/types.js';
import { parseProcCgroup } from '../plan/cgroup-mount.js';
import { Systemd, withSystemd } from './manager.js';
import { unitProperties } from './properties.js';
import { systemdUnitFor, type SystemdUnit } from './unit-name.js';

/**
 * The systemd cgroup driver's part of a launch: the container's cgroup is a
 * transient scope that systemd makes around the helper process (a scope
 * cannot be started empty), then tsbox writes every limit into it as with
 * cgroupfs (Delegate=yes makes the cgroup the container's to manage). The
 * limits systemd has properties for are given to it too, so that it keeps
 * them when it reloads (lib/systemd/properties.ts).
 *
 * Pure cgroup v2 only: on v1 and hybrid hosts systemd's scopes span several
 * hierarchies, which this driver does not handle.
 */
export interface ScopeLaunch {
  unit: SystemdUnit;
  /** Starts the scope around `pid` (the waiting helper) and limits it: the container's cgroups. */
  join(pid: number): Promise<Cgroups>;
  close(): void;
}

export async function prepareScope(layout: Layout, linux: Linux | undefined, id: string, warnings: string[]): Promise<ScopeLaunch> {
  if ((process.geteuid?.() ?? 0) !== 0) {
    throw new TsboxError("--systemd-cgroup: rootless containers under the user's systemd manager are not supported; use cgroupfs (leave out --systemd-cgroup)");
  }
  const unit = systemdUnitFor(linux?.cgroupsPath, id);
  const systemd = await Systemd.connect();
  const v2 = layout.hierarchies.find((h) => h.mount.fstype === 'cgroup2');
  if (layout.kind !== 'v2' || !v2) {
    systemd.close();
    throw new TsboxError(
      `--systemd-cgroup: this host's cgroups are ${layout.kind === 'hybrid' ? 'hybrid (v1 controllers plus cgroup2)' : 'v1'}: tsbox's systemd driver needs a pure cgroup v2 host; use cgroupfs (leave out --systemd-cgroup)`,
    );
  }
  const resources = linux?.resources ?? {};
  const nodes = deviceNodes(linux?.devices);
  const properties = unitProperties(resourceWrites(layout, resources, nodes, EMPTY_CGROUP).writes, systemd.version);
  return {
    unit,
    async join(pid) {
      await systemd.startScope(unit, pid, properties, `tsbox container ${id}`);
      const cgroups: Cgroups = { dirs: { '': cgroupOf(pid, v2.mount.mountPoint, v2.mount.root) }, created: [], systemd: { unit: unit.unit } };
      try {
        warnings.push(...applyLimits(layout, cgroups, resources, nodes));
      } catch (err) {
        await killAndRemove(cgroups).catch(() => undefined);
        throw err;
      }
      return cgroups;
    },
    close: () => systemd.close(),
  };
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

/** Stops a container's scope (delete): systemd removes its cgroup. */
export function stopScope(unit: string): Promise<void> {
  return withSystemd((systemd) => systemd.stopUnit(unit));
}

/**
 * Gives a running container's scope its new limits (update), beside the
 * cgroup files. No device nodes: device rules have no unit property.
 */
export function updateScope(layout: Layout, unit: string, resources: LinuxResources): Promise<void> {
  const { writes } = resourceWrites(layout, resources, [], EMPTY_CGROUP);
  return withSystemd((systemd) => systemd.setProperties(unit, unitProperties(writes, systemd.version)));
}
