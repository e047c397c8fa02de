import type { Linux, LinuxResources } from '../oci/types.js';
import type { Layout } from './layout.js';
import type { CgroupDriverName, Cgroups } from './manager.js';
import type { Stats } from './stats.js';

export type { CgroupDriverName } from './manager.js';

/**
 * Who makes and manages a container's cgroups. Chosen once, at create
 * (lib/cgroup-drivers.ts), and recorded with the cgroups in the container's
 * state (Cgroups.driver), so every later operation uses the same one:
 *
 * - `cgroupfs` (./cgroupfs.ts): tsbox makes the directories and writes
 *   the files itself;
 * - `systemd` (lib/systemd/driver.ts): systemd makes a transient scope,
 *   tsbox writes the same files into it (the cgroupfs writer) and gives
 *   systemd the limits it has properties for;
 * - `none`: no cgroups of the container's own (a rootless caller whose
 *   cgroup is not delegated to it, as runc; or a config that asks for none).
 */
export interface CgroupDriver {
  readonly name: CgroupDriverName;
  /**
   * The container's cgroups before anything is made, or undefined when it
   * gets none. The runtime records them before prepare(), so that a create
   * killed half-way leaves a record naming all it may have made.
   */
  plan(layout: Layout, linux: Linux | undefined, id: string): Cgroups | undefined;
  /**
   * Makes the planned cgroups and puts linux.resources in them, before the
   * container's init exists (warnings: what this host cannot apply). On
   * failure nothing it made is left.
   */
  prepare(layout: Layout, cg: Cgroups, linux: Linux | undefined, id: string, warnings: string[]): Promise<CgroupEntry>;
  /** New limits for a live container (update); returns warnings. */
  update(layout: Layout, cg: Cgroups, resources: LinuxResources): Promise<string[]>;
  /** Freezes (pause) or thaws (resume) every process in the cgroups. */
  setFrozen(cg: Cgroups, frozen: boolean): Promise<void>;
  /** Signals every process in the cgroups, and in the cgroups below them. */
  signalAll(cg: Cgroups, signal: number): Promise<void>;
  stats(layout: Layout, cg: Cgroups): Promise<Stats>;
  /**
   * Kills everything left in the cgroups (and below them) and removes what
   * was made for the container, deepest first. Also for the cgroups a
   * killed create recorded and may have made only in part.
   */
  destroy(cg: Cgroups): Promise<void>;
}

/** How the container's first process gets into its cgroups (see LaunchPlan). */
export interface CgroupEntry {
  /** The cgroup.procs files the helper joins itself before it clones the init. */
  procs: string[];
  /** Those the init joins once set up (v1 memory: LaunchPlan.lateCgroupProcs). */
  lateProcs: string[];
  /**
   * Set where the cgroup can only be made around a live process (systemd's
   * scope): the helper waits (LaunchPlan.awaitCgroup) until this has put it
   * (its pid) there; returns the cgroup.procs files it then joins.
   */
  join?(helperPid: number): Promise<string[]>;
  /**
   * Limits that would stop the init from being born in the cgroup (a
   * pids.limit of 0), written once it is set up, before its process runs;
   * returns warnings.
   */
  atReady?(): Promise<string[]>;
  /** Lets go of what prepare held (a D-Bus connection). */
  close(): void;
}

/** The driver of a container without cgroups of its own. */
export const noCgroups: CgroupDriver = {
  name: 'none',
  plan: () => undefined,
  prepare: () => Promise.resolve({ procs: [], lateProcs: [], close: () => undefined }),
  update: () => Promise.resolve([]),
  setFrozen: () => Promise.resolve(),
  signalAll: () => Promise.resolve(),
  stats: () => Promise.reject(new Error('no cgroups')),
  destroy: () => Promise.resolve(),
};
