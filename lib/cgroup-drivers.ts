import { cgroupfs } from './cgroups/cgroupfs.js';
import { noCgroups, type CgroupDriver, type CgroupDriverName, type CgroupEntry } from './cgroups/driver.js';
import type { Layout } from './cgroups/layout.js';
import type { Cgroups } from './cgroups/manager.js';
import { systemCallFacts } from './errors.js';
import { rootlessCaller, runsRootless } from './host/rootless.js';
import type { Linux, LinuxResources } from './oci/types.js';
import { systemd } from './systemd/driver.js';

const DRIVERS: Record<CgroupDriverName, CgroupDriver> = { cgroupfs, systemd, none: noCgroups };

export function cgroupDriver(name: CgroupDriverName): CgroupDriver {
  return DRIVERS[name];
}

/** The driver that made a container's cgroups (recorded with them; a record of an older tsbox has systemd's unit or nothing). */
export function driverOf(cg: Cgroups | undefined): CgroupDriver {
  if (!cg) return noCgroups;
  return DRIVERS[cg.driver ?? (cg.systemd ? 'systemd' : 'cgroupfs')];
}

/** A container's cgroups, made and limited, and how its init gets into them. */
export interface PreparedCgroups {
  cgroups: Cgroups | undefined;
  entry: CgroupEntry | undefined;
}

/**
 * Plans the container's cgroups with the driver asked for, lets `record`
 * keep them before anything is made, and makes them. Rootless, as runc:
 * cgroups are used where the user's cgroup is delegated to it, and where
 * it is not (the kernel refuses: EACCES, EPERM, EROFS) the container runs
 * without (the `none` driver) and a warning says what was not applied.
 * Fails leaving nothing made.
 */
export async function prepareCgroups(
  name: CgroupDriverName,
  layout: Layout,
  linux: Linux | undefined,
  id: string,
  warnings: string[],
  record: (cgroups: Cgroups | undefined) => void,
): Promise<PreparedCgroups> {
  const driver = cgroupDriver(name);
  const cgroups = driver.plan(layout, linux, id);
  if (!cgroups) return { cgroups, entry: undefined };
  record(cgroups);
  try {
    return { cgroups, entry: await driver.prepare(layout, cgroups, linux, id, warnings) };
  } catch (err) {
    // prepare leaves nothing when it fails: the record names nothing either.
    record(undefined);
    if (name !== 'cgroupfs' || !runsRootless() || !deniedAccess(err)) throw err;
    warnings.push(skippedCgroups(linux?.cgroupsPath, linux?.resources, err as Error));
    return { cgroups: undefined, entry: undefined };
  }
}

/** What the kernel answers a user to whom the cgroup is not delegated. */
function deniedAccess(err: unknown): boolean {
  return ['EACCES', 'EPERM', 'EROFS'].includes(systemCallFacts(err).code ?? '');
}

/** The warning for a rootless container whose cgroup settings could not be applied, naming them. */
function skippedCgroups(cgroupsPath: string | undefined, resources: LinuxResources | undefined, err: Error): string {
  const skipped = [
    ...(cgroupsPath !== undefined ? ['linux.cgroupsPath'] : []),
    ...Object.entries(resources ?? {})
      .filter(([, v]) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0))
      .map(([k]) => `linux.resources.${k}`),
  ];
  const what = skipped.length > 0 ? `${skipped.join(', ')} not applied: the container runs` : 'the container runs';
  return `rootless: ${what} without cgroups of its own (${rootlessCaller()} cannot create them; delegate a cgroup to this user to use them): ${err.message}`;
}
