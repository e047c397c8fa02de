import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { LinuxResources } from '../oci/types.js';
import type { Hierarchy, Layout } from './layout.js';
import { controllerOf, resourceWrites, type CgroupFiles, type CgroupWrite, type DeviceNode } from './resources.js';

/** A container's cgroups: one directory per hierarchy. */
export interface Cgroups {
  /** Hierarchy key ("memory", "cpu,cpuacct", "" for cgroup2) -> absolute directory. */
  dirs: Record<string, string>;
  /** The directories tsbox made for it, deepest first: delete removes exactly these. */
  created: string[];
}

/**
 * Where the container's cgroup is in each hierarchy, as runc resolves
 * linux.cgroupsPath with cgroupfs: absolute paths from each hierarchy's
 * root; relative ones (and the default, the container id) under the
 * runtime's own cgroup.
 */
export function cgroupDirs(layout: Layout, cgroupsPath: string | undefined, id: string): Record<string, string> {
  const wanted = cgroupsPath || id;
  if (/^[^/]*:[^/]*:/.test(wanted)) {
    throw new TsboxError(`linux.cgroupsPath "${wanted}" is a systemd slice: tsbox manages cgroups through cgroupfs only`);
  }
  const dirs: Record<string, string> = {};
  for (const h of layout.hierarchies) {
    const inMount = wanted.startsWith('/')
      ? path.posix.relative(h.mount.root, path.posix.resolve(wanted))
      : path.posix.join(h.own, wanted);
    if (inMount.startsWith('..')) {
      throw new TsboxError(`linux.cgroupsPath "${wanted}" is outside the part of the ${h.key || 'cgroup2'} hierarchy mounted here`);
    }
    dirs[h.key] = path.join(h.mount.mountPoint, inMount);
  }
  return dirs;
}

function hierarchyOf(layout: Layout, key: string): Hierarchy {
  return layout.hierarchies.find((h) => h.key === key)!;
}

/**
 * Makes the directories (recording which were new) and readies cpuset
 * ones: a new v1 cpuset cgroup has no CPUs or memory nodes, and nothing can
 * join it until it is given its parent's.
 */
export function createCgroups(layout: Layout, dirs: Record<string, string>): Cgroups {
  const cg: Cgroups = { dirs, created: [] };
  try {
    for (const [key, dir] of Object.entries(dirs)) {
      const mountPoint = hierarchyOf(layout, key).mount.mountPoint;
      const missing: string[] = [];
      for (let d = dir; d !== mountPoint && !existsSync(d); d = path.dirname(d)) missing.unshift(d);
      for (const d of missing) {
        mkdirSync(d);
        cg.created.unshift(d);
        if (key.split(',').includes('cpuset')) {
          for (const file of ['cpuset.cpus', 'cpuset.mems']) {
            if (readFileSync(path.join(d, file), 'utf8').trim() === '') {
              writeExisting(path.join(d, file), readFileSync(path.join(path.dirname(d), file), 'utf8'));
            }
          }
        }
      }
    }
  } catch (err) {
    removeCreated(cg);
    throw new TsboxError(`create cgroup: ${(err as Error).message}`);
  }
  return cg;
}

/**
 * Writes the resources into the container's cgroup files (enabling the
 * cgroup2 controllers they need in the parents first). Returns warnings
 * for values this kernel no longer has.
 */
export function applyResources(layout: Layout, cg: Cgroups, resources: LinuxResources, nodes: readonly DeviceNode[] = []): string[] {
  const { writes, warnings } = resourceWrites(layout, resources, nodes, cgroupFiles(cg));
  enableControllers(layout, cg, writes);
  for (const w of writes) writeOne(cg, w);
  return warnings;
}

/** The container's cgroup files, for what resourceWrites needs to know of them. */
function cgroupFiles(cg: Cgroups): CgroupFiles {
  return {
    exists: (key, file) => cg.dirs[key] !== undefined && existsSync(path.join(cg.dirs[key]!, file)),
    read: (key, file) => {
      try {
        return readFileSync(path.join(cg.dirs[key]!, file), 'utf8').trim();
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * A cgroup2 directory has the files of a controller only when every parent
 * has it in cgroup.subtree_control: turns on (as runc does) the controllers
 * the writes need, from the hierarchy's root down to the container's
 * parent. Only those: a host's own cgroups get no more than they must.
 */
function enableControllers(layout: Layout, cg: Cgroups, writes: readonly CgroupWrite[]): void {
  const dir = cg.dirs[''];
  const v2 = layout.hierarchies.find((h) => h.mount.fstype === 'cgroup2');
  if (dir === undefined || !v2) return;
  const needed = new Map<string, string>();
  for (const w of writes) {
    const controller = w.key === '' && !w.unavailable ? controllerOf(w.file) : undefined;
    if (controller && !needed.has(controller)) needed.set(controller, w.resource);
  }
  if (needed.size === 0) return;
  const available = new Set(readFileSync(path.join(v2.mount.mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/));
  const parents: string[] = [];
  for (let d = path.dirname(dir); d.startsWith(v2.mount.mountPoint); d = path.dirname(d)) parents.unshift(d);
  for (const parent of parents) {
    const file = path.join(parent, 'cgroup.subtree_control');
    const on = new Set(readFileSync(file, 'utf8').split(/\s+/));
    for (const [controller, resource] of needed) {
      // Not on this host at all: the write itself says so.
      if (!available.has(controller) || on.has(controller)) continue;
      try {
        writeExisting(file, `+${controller}`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        throw new TsboxError(`linux.resources.${resource}: cannot enable the ${controller} controller in ${file}: ${code}`);
      }
    }
  }
}

/**
 * Writes to a cgroup file that must exist already: opened write-only and
 * without O_CREAT (cgroupfs refuses creating files with EACCES, which would
 * hide that the file is simply not there; some files are write-only).
 */
function writeExisting(file: string, value: string): void {
  const fd = openSync(file, constants.O_WRONLY);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

function writeOne(cg: Cgroups, w: CgroupWrite): void {
  const dir = cg.dirs[w.key] ?? '';
  const file = path.join(dir, w.file);
  const fail = (why: string, value = w.value, where = file) => {
    throw new TsboxError(`linux.resources.${w.resource}: cannot write "${value}" to ${where}: ${why}`);
  };
  if (w.unavailable) fail(w.unavailable);
  try {
    writeExisting(file, w.value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && w.skipIfMissing) return;
    if (code === 'ENOENT' && w.orElse) {
      const other = path.join(dir, w.orElse.file);
      try {
        writeExisting(other, w.orElse.value);
        return;
      } catch (err2) {
        const code2 = (err2 as NodeJS.ErrnoException).code;
        fail(code2 === 'ENOENT' ? `this host has neither it nor ${w.orElse.file}` : code2 ?? String(err2), w.orElse.value, code2 === 'ENOENT' ? file : other);
      }
    }
    fail(code === 'ENOENT' ? missingReason(w, dir) : code ?? String(err));
  }
}

/** Why a cgroup file is not there: a cgroup2 controller not available here, or no such file. */
function missingReason(w: CgroupWrite, dir: string): string {
  const controller = w.key === '' ? controllerOf(w.file) : undefined;
  if (controller) {
    try {
      const have = readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').trim();
      if (!have.split(/\s+/).includes(controller)) return `this host has no such file (no ${controller} controller in cgroup2 here; cgroup.controllers: "${have}")`;
    } catch {
      // The directory itself is gone: say what was asked.
    }
  }
  return 'this host has no such file';
}

/** The cgroup.procs files the container's init joins. */
export function procsFiles(cg: Cgroups): string[] {
  return Object.values(cg.dirs).map((d) => path.join(d, 'cgroup.procs'));
}

/** The pids in the container's cgroup (from one hierarchy: every process is in all). */
export function cgroupPids(cg: Cgroups): number[] {
  const dir = cg.dirs.pids ?? cg.dirs[''] ?? Object.values(cg.dirs)[0];
  if (!dir) return [];
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Freezes (pause) or thaws (resume) every process of the container: the
 * v1 freezer, whose FREEZING state can need the write repeated, or
 * cgroup2's cgroup.freeze, settled when cgroup.events says so.
 */
export async function setFrozen(cg: Cgroups, frozen: boolean): Promise<void> {
  const v1 = cg.dirs.freezer;
  const v2 = cg.dirs[''];
  for (let attempt = 0; attempt < 500; attempt++) {
    if (v1) {
      writeExisting(path.join(v1, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
      if (readFileSync(path.join(v1, 'freezer.state'), 'utf8').trim() === (frozen ? 'FROZEN' : 'THAWED')) return;
    } else if (v2 && existsSync(path.join(v2, 'cgroup.freeze'))) {
      writeExisting(path.join(v2, 'cgroup.freeze'), frozen ? '1' : '0');
      if (readFileSync(path.join(v2, 'cgroup.events'), 'utf8').includes(`frozen ${frozen ? 1 : 0}`)) return;
    } else {
      throw new TsboxError('this host has no cgroup freezer (v1 freezer or cgroup2 cgroup.freeze)');
    }
    await sleep(2);
  }
  throw new TsboxError(`cgroup did not become ${frozen ? 'frozen' : 'thawed'} within 1 s`);
}

export function isFrozen(cg: Cgroups): boolean {
  try {
    if (cg.dirs.freezer) return readFileSync(path.join(cg.dirs.freezer, 'freezer.state'), 'utf8').trim() !== 'THAWED';
    if (cg.dirs['']) return readFileSync(path.join(cg.dirs[''], 'cgroup.freeze'), 'utf8').trim() === '1';
  } catch {
    // Gone: not frozen.
  }
  return false;
}

function removeCreated(cg: Cgroups): boolean {
  let all = true;
  for (const d of cg.created) {
    try {
      rmdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') all = false;
    }
  }
  return all;
}

/**
 * Removes exactly the directories tsbox made, once the processes in them
 * are gone (a cgroup with processes cannot be removed: EBUSY). Never a
 * directory that existed before.
 */
export async function destroyCgroups(cg: Cgroups): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    if (removeCreated(cg)) return;
    await sleep(2);
  }
  throw new TsboxError(`remove cgroup ${cg.created[0]}: it still has processes after 1 s`);
}
