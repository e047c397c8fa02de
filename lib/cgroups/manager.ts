import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { LinuxResources } from '../oci/types.js';
import type { Hierarchy, Layout } from './layout.js';
import { controllerOf, resourceWrites, type CgroupFiles, type CgroupWrite } from './resources.js';
import { cgroupTree } from './pids.js';

/** Who makes a container's cgroups (lib/cgroups/driver.ts). */
export type CgroupDriverName = 'cgroupfs' | 'systemd' | 'none';

/** A container's cgroups: one directory per hierarchy. */
export interface Cgroups {
  /** The driver that made them (absent in a record of an older tsbox: systemd if `systemd` is set). */
  driver?: Exclude<CgroupDriverName, 'none'>;
  /** Hierarchy key ("memory", "cpu,cpuacct", "" for cgroup2) -> absolute directory. */
  dirs: Record<string, string>;
  /** The directories tsbox made for it, deepest first: delete removes exactly these. */
  created: string[];
  /** With the systemd driver: the transient scope systemd made (and removes) for it. */
  systemd?: { unit: string };
}

/**
 * Where the container's cgroup is in each hierarchy, as runc resolves
 * linux.cgroupsPath with cgroupfs: absolute paths from each hierarchy's
 * root; relative ones (and the default, the container id) under the
 * runtime's own cgroup, except on a pure cgroup2 host, where they go under
 * its parent: the runtime's own cgroup holds processes (ours), and cgroup2
 * lets no cgroup with processes pass controllers on to children.
 */
export function cgroupDirs(layout: Layout, cgroupsPath: string | undefined, id: string): Record<string, string> {
  const wanted = cgroupsPath || id;
  if (/^[^/]*:[^/]*:/.test(wanted)) {
    throw new TsboxError(`linux.cgroupsPath "${wanted}" is in the systemd form "slice:prefix:name": add --systemd-cgroup to use systemd's driver, or give a cgroupfs path`);
  }
  const dirs: Record<string, string> = {};
  for (const h of layout.hierarchies) {
    const base = layout.kind === 'v2' ? path.posix.dirname(h.own) : h.own;
    const inMount = wanted.startsWith('/')
      ? path.posix.relative(h.mount.root, path.posix.resolve(wanted))
      : path.posix.join(base, wanted);
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
 * The container's cgroups before any is made: `created` lists the
 * directories that do not exist yet, deepest first. The runtime records
 * this first, so that a create killed while it makes them leaves a record
 * naming every directory it may have made (see lib/destroy.ts).
 */
export function plannedCgroups(layout: Layout, dirs: Record<string, string>): Cgroups {
  const missing: string[] = [];
  for (const [key, dir] of Object.entries(dirs)) {
    const mountPoint = hierarchyOf(layout, key).mount.mountPoint;
    for (let d = dir; d !== mountPoint && d !== '/' && !existsSync(d); d = path.dirname(d)) missing.push(d);
  }
  // Each hierarchy's were pushed deepest first; deeper ones come first overall.
  return { driver: 'cgroupfs', dirs, created: missing.sort((a, b) => b.split('/').length - a.split('/').length) };
}

/**
 * Makes the directories plannedCgroups found missing (shallowest first) and
 * readies cpuset ones: a new v1 cpuset cgroup has no CPUs or memory nodes,
 * and nothing can join it until it is given its parent's. A directory that
 * someone else made meanwhile is not ours: it leaves `created`.
 */
export function makeCgroups(layout: Layout, cg: Cgroups): void {
  const made: string[] = [];
  try {
    for (const [key, dir] of Object.entries(cg.dirs)) {
      const hierarchy = hierarchyOf(layout, key);
      const mine = cg.created.filter((d) => d === dir || dir.startsWith(`${d}/`)).reverse();
      for (const d of mine) {
        try {
          mkdirSync(d);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          cg.created.splice(cg.created.indexOf(d), 1);
          continue;
        }
        made.unshift(d);
        // Given the parent's whether or not the kernel copied them already
        // (cgroup.clone_children): the same value, one read fewer.
        if (key.split(',').includes('cpuset')) {
          for (const file of ['cpuset.cpus', 'cpuset.mems']) {
            writeExisting(path.join(d, file), readFileSync(path.join(path.dirname(d), file), 'utf8'));
          }
        }
        // cgroup2: a directory tsbox makes on the way passes every
        // controller it has on to the container's (a new cgroup enables none).
        if (d !== dir && hierarchy.mount.fstype === 'cgroup2') delegateControllers(d);
      }
    }
  } catch (err) {
    removeCreated({ ...cg, created: made });
    throw new TsboxError(`create cgroup: ${(err as Error).message}`, { cause: err });
  }
}

/** What a new cgroup's files hold (v1 and cgroup2), for the writes create can skip. */
const FRESH_DEFAULTS: Record<string, string> = {
  'cpu.shares': '1024',
  'cpu.cfs_period_us': '100000',
  'cpu.cfs_quota_us': '-1',
  'memory.limit_in_bytes': '-1',
  'memory.memsw.limit_in_bytes': '-1',
  'cpu.weight': '100',
  'cpu.max': 'max 100000',
  'memory.max': 'max',
  'memory.swap.max': 'max',
  'pids.max': 'max',
};

function delegateControllers(dir: string): void {
  const controllers = readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').trim();
  if (controllers) writeExisting(path.join(dir, 'cgroup.subtree_control'), controllers.split(/\s+/).map((c) => `+${c}`).join(' '));
}

/**
 * Writes the resources into the container's cgroup files (enabling the
 * cgroup2 controllers they need in the parents first). Returns warnings
 * for values this kernel no longer has. With `fresh` (a cgroup made just
 * now), writes of a new cgroup's defaults are skipped. Consecutive writes
 * to one file (v1 device rules) share one descriptor: each write is still
 * one rule, as the kernel wants.
 */
export function applyResources(
  layout: Layout,
  cg: Cgroups,
  resources: LinuxResources,
  { fresh = false }: { fresh?: boolean } = {},
): string[] {
  const { writes, warnings } = resourceWrites(layout, resources, cgroupFiles(cg));
  enableControllers(layout, cg, writes);
  let open: { file: string; fd: number } | undefined;
  try {
    for (const w of writes) {
      const dir = cg.dirs[w.key] ?? '';
      if (fresh && FRESH_DEFAULTS[w.file] === w.value && cg.created.includes(dir)) continue;
      const file = path.join(dir, w.file);
      if (open?.file !== file) {
        if (open) closeSync(open.fd);
        open = undefined;
        const fd = openOne(dir, w);
        if (fd < 0) continue; // handled: an optional file, or its fallback written
        open = { file, fd };
      }
      writeOne(open.fd, file, w);
    }
  } finally {
    if (open) closeSync(open.fd);
  }
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
        throw withErrno(`linux.resources.${resource}: cannot enable the ${controller} controller in ${file}`, err);
      }
    }
  }
}

/**
 * Writes to a cgroup file that must exist already: opened write-only and
 * without O_CREAT (cgroupfs refuses creating files with EACCES, which would
 * hide that the file is simply not there; some files are write-only).
 */
export function writeExisting(file: string, value: string): void {
  const fd = openSync(file, constants.O_WRONLY);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

function fail(w: CgroupWrite, why: string | NodeJS.ErrnoException, where: string, value = w.value): never {
  const step = `linux.resources.${w.resource}: cannot write "${value}" to ${where}`;
  throw typeof why === 'string' ? new TsboxError(`${step}: ${why}`) : withErrno(step, why);
}

/**
 * `step: CODE`, keeping the errno of a failed fs call (the cause's), so
 * that callers decide by the code (the rootless policy: lib/cgroup-drivers.ts),
 * never by the text.
 */
function withErrno(step: string, err: unknown): TsboxError {
  const code = (err as NodeJS.ErrnoException).code;
  return new TsboxError(`${step}: ${code ?? String(err)}`, { cause: err });
}

/**
 * Opens the file of a write (see writeExisting), or handles it when it is
 * not there: skipped if optional, else its fallback file written (-1).
 */
function openOne(dir: string, w: CgroupWrite): number {
  const file = path.join(dir, w.file);
  if (w.unavailable) fail(w, w.unavailable, file);
  try {
    return openSync(file, constants.O_WRONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && w.skipIfMissing) return -1;
    if (code === 'ENOENT' && w.orElse) {
      const other = path.join(dir, w.orElse.file);
      try {
        writeExisting(other, w.orElse.value);
        return -1;
      } catch (err2) {
        const code2 = (err2 as NodeJS.ErrnoException).code;
        fail(w, code2 === 'ENOENT' ? `this host has neither it nor ${w.orElse.file}` : (err2 as NodeJS.ErrnoException), code2 === 'ENOENT' ? file : other, w.orElse.value);
      }
    }
    fail(w, code === 'ENOENT' ? missingReason(w, dir) : (err as NodeJS.ErrnoException), file);
  }
}

function writeOne(fd: number, file: string, w: CgroupWrite): void {
  try {
    writeSync(fd, w.value);
  } catch (err) {
    fail(w, err as NodeJS.ErrnoException, file);
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

/** The cgroup.procs files the container's init joins (of the hierarchies `which` picks). */
export function procsFiles(cg: Cgroups, which: (key: string) => boolean = () => true): string[] {
  return Object.entries(cg.dirs)
    .filter(([key]) => which(key))
    .map(([, d]) => path.join(d, 'cgroup.procs'));
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

/**
 * rmdir of each directory tsbox made, in order (deepest first), with the
 * cgroups inside it: the first that is busy (processes in it or below it),
 * or undefined when all are gone. Never a directory that existed before. See destroyCgroups
 * (lib/cgroups/kill.ts) for removing a container's cgroups.
 */
export function removeCreated(cg: Cgroups): string | undefined {
  const own = Object.values(cg.dirs);
  for (const dir of cg.created) {
    const result = removeOne(dir);
    if (result !== 'busy') continue;
    // A parent made on the way to the container's cgroup, busy: it holds
    // other containers' cgroups (a pod's cgroup_parent), which are theirs.
    // It stays, as runc leaves parents; the container's own are gone by now
    // (deepest first).
    if (!own.includes(dir)) continue;
    // Busy: cgroups of the container's own inside (systemd, Docker in
    // Docker) go first, deepest first; processes would keep it busy still.
    if (!cgroupTree(dir).every((d) => removeOne(d) !== 'busy')) return dir;
  }
  return undefined;
}

function removeOne(dir: string): 'removed' | 'busy' {
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'removed';
    if (code === 'EBUSY') return 'busy';
    throw new TsboxError(`remove cgroup ${dir}: ${code ?? err}`);
  }
  return 'removed';
}
