import { constants as osConstants } from 'node:os';
import { driverOf } from './cgroup-drivers.js';
import { isFrozen } from './cgroups/frozen.js';
import type { Cgroups } from './cgroups/manager.js';
import type { Binding } from './native/binding.js';
import { removeResctrl, type ResctrlGroup } from './resctrl.js';

/** What a container may have on the host: its init, its cgroups. */
export interface Remains {
  /** A pidfd of the container's init (the caller keeps and closes it). */
  init?: number;
  cgroups?: Cgroups | undefined;
  /** What linux.intelRdt made in resctrl. */
  intelRdt?: ResctrlGroup | undefined;
}

/**
 * The one teardown of a container, whatever it got to: a launch that
 * failed at any step, a create killed half-way (from what its record
 * kept), a container that ran and exited, delete. The init is killed
 * (and reaped when it is our child), then everything left in the
 * container's cgroups and below them, and the cgroups made for it are
 * removed (lib/cgroups/driver.ts), then what it made in resctrl. Its mounts live in its own mount
 * namespace and go with its last process. The state directory is the
 * runtime's, removed after this succeeds.
 */
export async function destroy(native: Binding, c: Remains): Promise<void> {
  const driver = driverOf(c.cgroups);
  // A frozen process dies only once thawed (v1): a paused container is thawed first.
  if (c.cgroups && isFrozen(c.cgroups)) await driver.setFrozen(c.cgroups, false);
  if (c.init !== undefined && c.init >= 0) {
    native.signal(c.init, osConstants.signals.SIGKILL);
    await native.readable(c.init);
    // Reaped now if it is our child (created by this process) rather than
    // left a zombie for the background reaper; anyone else's child gives
    // ECHILD, and is its parent's to reap.
    await native.waitExit(c.init).catch(() => undefined);
  }
  // Processes that outlived the init (no pid namespace of its own) would
  // keep the cgroup busy: they go with the container.
  if (c.cgroups) await driver.destroy(c.cgroups);
  // Only what tsbox made: a group named by closID that was there stays.
  if (c.intelRdt) removeResctrl(c.intelRdt);
}
