import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { LinuxResources } from '../oci/types.js';
import type { Hierarchy, Layout } from './layout.js';
import { resourceWrites, type CgroupWrite, type DeviceNode } from './resources.js';

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
  const made = (key: string, d: string) => {
    cg.created.unshift(d);
    // Given the parent's whether or not the kernel copied them already
    // (cgroup.clone_children): the same value, one read fewer.
    if (key.split(',').includes('cpuset')) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        writeExisting(path.join(d, file), readFileSync(path.join(path.dirname(d), file), 'utf8'));
      }
    }
  };
  try {
    for (const [key, dir] of Object.entries(dirs)) {
      // The usual case in one call: the parent is there, the directory not.
      const first = tryMkdir(dir);
      if (first === 'made') made(key, dir);
      if (first !== 'no parent') continue;
      const mountPoint = hierarchyOf(layout, key).mount.mountPoint;
      const missing: string[] = [];
      for (let d = dir; d !== mountPoint && !existsSync(d); d = path.dirname(d)) missing.unshift(d);
      for (const d of missing) {
        mkdirSync(d);
        made(key, d);
        // cgroup2: a directory tsbox makes on the way passes every
        // controller it has on to the container's (a new cgroup enables none).
        if (d !== dir && layout.hierarchies.find((h) => h.key === key)?.mount.fstype === 'cgroup2') delegateControllers(d);
      }
    }
  } catch (err) {
    removeCreated(cg);
    throw new TsboxError(`create cgroup: ${(err as Error).message}`);
  }
  return cg;
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

function tryMkdir(dir: string): 'made' | 'existed' | 'no parent' {
  try {
    mkdirSync(dir);
    return 'made';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'existed';
    if (code === 'ENOENT') return 'no parent';
    throw err;
  }
}

/**
 * Writes the resources into the container's cgroup files. Consecutive
 * writes to one file (v1 device rules) share one descriptor: each write is
 * still one rule, as the kernel wants.
 */
export function applyResources(
  layout: Layout,
  cg: Cgroups,
  resources: LinuxResources,
  nodes: readonly DeviceNode[] = [],
  { fresh = false }: { fresh?: boolean } = {},
): void {
  let open: { file: string; fd: number } | undefined;
  try {
    for (const w of resourceWrites(layout, resources, nodes)) {
      const dir = cg.dirs[w.key]!;
      // A cgroup made just now has the kernel's defaults: writing one changes nothing.
      if (fresh && FRESH_DEFAULTS[w.file] === w.value && cg.created.includes(dir)) continue;
      const file = path.join(dir, w.file);
      if (open?.file !== file) {
        if (open) closeSync(open.fd);
        open = undefined;
        open = { file, fd: openOne(file, w) };
      }
      writeOne(open.fd, file, w);
    }
  } finally {
    if (open) closeSync(open.fd);
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

function writeFailed(file: string, w: CgroupWrite, err: unknown): TsboxError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'this host has no such file' : code ?? String(err);
  return new TsboxError(`linux.resources.${w.resource}: cannot write "${w.value}" to ${file}: ${why}`);
}

/** Opens a cgroup file for writing (see writeExisting). */
function openOne(file: string, w: CgroupWrite): number {
  try {
    return openSync(file, constants.O_WRONLY);
  } catch (err) {
    throw writeFailed(file, w, err);
  }
}

function writeOne(fd: number, file: string, w: CgroupWrite): void {
  try {
    writeSync(fd, w.value);
  } catch (err) {
    throw writeFailed(file, w, err);
  }
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

/**
 * rmdir of each directory tsbox made, in order (deepest first): the first
 * that is busy (processes or a cgroup inside it), or undefined when all are
 * gone. Never a directory that existed before. See killAndRemove
 * (lib/cgroups/kill.ts) for removing a container's cgroups.
 */
export function removeCreated(cg: Cgroups): string | undefined {
  for (const dir of cg.created) {
    try {
      rmdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code === 'EBUSY') return dir;
      throw new TsboxError(`remove cgroup ${dir}: ${code ?? err}`);
    }
  }
  return undefined;
}
