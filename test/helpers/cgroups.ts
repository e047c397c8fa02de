// Helpers for the cgroup tests: the host's hierarchies as this process sees
// them (read independently of lib/cgroups), uniquely named cgroups, and a
// session that, after every test, pass or fail, deletes the test's
// containers and then checks that no directory carrying one of the test's
// unique names is left anywhere under /sys/fs/cgroup.
//
// House rules: every cgroup a test makes is named `tsbox-test-<random>`
// (with an optional suffix); a relative linux.cgroupsPath puts it under this
// process's own cgroup in each hierarchy. As a last resort the session
// removes (deepest first) directories whose name carries a unique token of
// the test, and the directories inside them, which tsbox made at the test's
// request: never anything else.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StdioOptions } from 'node:child_process';
import { afterEach, expect } from 'vitest';
import type { TestBundle } from './bundle.js';
import { lifecycleSession, type Lifecycle, type Proc } from './lifecycle.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** One mounted hierarchy: a v1 one (its controllers, or name=...) or cgroup2. */
export interface HostHierarchy {
  /** As in /proc/self/cgroup: "memory", "name=systemd", "" for cgroup2. */
  key: string;
  fstype: 'cgroup' | 'cgroup2';
  mountPoint: string;
  /** This process's own cgroup in this hierarchy, as a directory on the host. */
  own: string;
  /** This process's own cgroup as /proc/self/cgroup writes it. */
  ownPath: string;
}

const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'net_cls',
  'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc', 'debug',
]);

function unescapeField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** /proc/<pid>/cgroup as key -> path. */
export function procCgroup(pid: number | 'self'): Map<string, string> {
  const out = new Map<string, string>();
  let text = '';
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** The cgroup hierarchies mounted here, each once, with this process's cgroup in it. */
export function hostHierarchies(): HostHierarchy[] {
  const own = procCgroup('self');
  const seen = new Set<string>();
  const out: HostHierarchy[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const fields = line.slice(0, sep).split(' ');
    const root = unescapeField(fields[3]!);
    const mountPoint = unescapeField(fields[4]!);
    const key =
      fstype === 'cgroup2' ? '' : superOptions.split(',').filter((o) => V1_CONTROLLERS.has(o) || o.startsWith('name=')).join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    const ownPath = own.get(key) ?? '/';
    out.push({ key, fstype, mountPoint, ownPath, own: path.join(mountPoint, path.posix.relative(root, ownPath)) });
  }
  return out;
}

/** The hierarchy with this v1 controller (or the cgroup2 one for ""). */
export function hierarchyOf(controller: string): HostHierarchy {
  const h = hostHierarchies().find((x) => (controller === '' ? x.key === '' : x.key.split(',').includes(controller)));
  if (!h) throw new Error(`no ${controller || 'cgroup2'} hierarchy mounted`);
  return h;
}

/** Where a linux.cgroupsPath puts the container in each hierarchy, as cgroupfs runtimes resolve it. */
export function resolvedDirs(cgroupsPath: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of hostHierarchies()) {
    out[h.key] = cgroupsPath.startsWith('/') ? path.join(h.mountPoint, cgroupsPath) : path.join(h.own, cgroupsPath);
  }
  return out;
}

/** The container's directory for one controller ("" for cgroup2). */
export function dirOf(cgroupsPath: string, controller: string): string {
  return resolvedDirs(cgroupsPath)[hierarchyOf(controller).key]!;
}

/** A cgroup file's content, trimmed. */
export function cgroupFile(dir: string, file: string): string {
  return fs.readFileSync(path.join(dir, file), 'utf8').trim();
}

/** Pids in a cgroup (empty when it is gone). */
export function cgroupProcs(dir: string): number[] {
  try {
    return fs
      .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** "key value" lines (memory.stat, cpu.stat, memory.oom_control, pids.events) as numbers. */
export function cgroupCounters(dir: string, file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of cgroupFile(dir, file).split('\n')) {
    const [k, v] = line.split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/**
 * Directories under /sys/fs/cgroup (at most `depth` levels down) whose name
 * contains `token`, and every directory inside those, deepest first.
 */
export function findCgroupDirs(token: string, depth = 5): string[] {
  const found: string[] = [];
  const inside = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      found.push(p);
      inside(p);
    }
  };
  const walk = (dir: string, level: number): void => {
    if (level > depth) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // removed meanwhile (someone else's cgroup), or not a directory
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name.includes(token)) {
        found.push(p);
        inside(p);
      } else {
        walk(p, level + 1);
      }
    }
  };
  walk(CGROUP_ROOT, 1);
  return [...new Set(found)].sort((a, b) => b.split('/').length - a.split('/').length || a.localeCompare(b));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Last resort for a test's leftovers: thaws, empties (SIGKILL to what is in
 * it) and removes each directory, deepest first. Only ever called with
 * findCgroupDirs(token) of the test's own tokens. Returns what could not be removed.
 */
export async function removeCgroupDirs(dirs: string[]): Promise<string[]> {
  for (const d of dirs) {
    if (fs.existsSync(path.join(d, 'freezer.state'))) {
      try {
        fs.writeFileSync(path.join(d, 'freezer.state'), 'THAWED');
      } catch {
        // gone
      }
    }
  }
  const failed: string[] = [];
  for (const d of dirs) {
    const deadline = Date.now() + 3000;
    for (;;) {
      for (const pid of cgroupProcs(d)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      try {
        fs.rmdirSync(d);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
        if (Date.now() > deadline) {
          failed.push(`${d}: ${(err as NodeJS.ErrnoException).code}`);
          break;
        }
        await sleep(20);
      }
    }
  }
  return failed;
}

/**
 * A parent cgroup the test makes itself, in every hierarchy, under this
 * process's own cgroup (cpuset given its parent's CPUs and memory nodes, so
 * that something can join a cgroup below it). Returns the directories.
 */
export function makeOwnParent(name: string): string[] {
  const dirs: string[] = [];
  for (const h of hostHierarchies()) {
    const d = path.join(h.own, name);
    fs.mkdirSync(d);
    dirs.push(d);
    if (h.key.split(',').includes('cpuset')) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (cgroupFile(d, f) === '') fs.writeFileSync(path.join(d, f), cgroupFile(h.own, f));
      }
    }
  }
  return dirs;
}

export interface CgroupSession {
  lc: Lifecycle;
  /** A fresh unique cgroup name, `tsbox-test-<random>[-suffix]`, checked for after the test. */
  name(suffix?: string): string;
  /** Remembers a container id: `delete --force` after the test. */
  track(id: string): string;
  /** A bundle running `args` with linux.cgroupsPath set (and what `opts` adds). */
  bundle(args: string[], cgroupsPath: string, opts?: CgroupBundleOptions): TestBundle;
  /** `tsbox create` of a tracked id, which must succeed (printing nothing or `opts.warning`); the process's pipes are the container's stdio. */
  create(id: string, b: TestBundle, opts?: { stdio?: StdioOptions; warning?: string }): Promise<Proc>;
  /** create, then `tsbox start`: the create's process and the init's pid. */
  createAndStart(id: string, b: TestBundle, opts?: { warning?: string }): Promise<{ proc: Proc; pid: number }>;
}

export interface CgroupBundleOptions {
  /** linux.resources. */
  resources?: object;
  /** A host directory bound at /tmp: how a test and its container pass files. */
  tmp?: string;
  /** Scripts written into the rootfs (executable), by file name. */
  scripts?: Record<string, string>;
  /** Any other change to the config, made last. */
  mutate?: (config: any) => void;
}

/**
 * lifecycleSession() plus the cgroup checks. Its afterEach runs before the
 * lifecycle one (hooks run in reverse order of registration): it deletes
 * the test's containers, looks for directories carrying the test's names,
 * removes any it finds (last resort) and records them; a second afterEach,
 * registered first and so run last, fails the test with what was found.
 * Cleanup never waits on an assertion.
 */
export function cgroupSession(): CgroupSession {
  let tokens: string[] = [];
  let ids: string[] = [];
  let problems: string[] = [];

  afterEach(() => {
    const found = problems;
    problems = [];
    expect(found, 'cgroup directories with the test\'s unique names left after `delete --force`').toEqual([]);
  });

  const lc = lifecycleSession();

  afterEach(async () => {
    const [ts, is] = [tokens, ids];
    tokens = [];
    ids = [];
    const failedDeletes: string[] = [];
    for (const id of is) {
      const r = await lc.cli(['delete', '--force', id]);
      if (r.status !== 0) failedDeletes.push(`${id}: ${r.stderr.trim()}`);
    }
    for (const token of ts) {
      const left = findCgroupDirs(token);
      if (left.length === 0) continue;
      problems.push(...left);
      const stuck = await removeCgroupDirs(left);
      if (stuck.length > 0) problems.push(...stuck.map((s) => `could not remove ${s}`));
    }
    if (problems.length > 0 && failedDeletes.length > 0) problems.push(...failedDeletes.map((f) => `delete --force ${f}`));
    if (problems.length > 0) console.error(`cgroup leftovers: ${problems.join(', ')}`);
  });

  return {
    lc,
    name(suffix) {
      const token = `tsbox-test-${crypto.randomBytes(6).toString('hex')}`;
      tokens.push(token);
      return suffix ? `${token}-${suffix}` : token;
    },
    track(id) {
      if (!ids.includes(id)) ids.push(id);
      return lc.track(id);
    },
    bundle(args, cgroupsPath, opts = {}) {
      const b = lc.bundle({
        args,
        mutate: (c) => {
          c.linux.cgroupsPath = cgroupsPath;
          if (opts.resources) c.linux.resources = opts.resources;
          if (opts.tmp) c.mounts.push({ destination: '/tmp', type: 'bind', source: opts.tmp, options: ['rbind', 'rw'] });
          opts.mutate?.(c);
        },
      });
      for (const [name, text] of Object.entries(opts.scripts ?? {})) fs.writeFileSync(path.join(b.rootfs, name), text, { mode: 0o755 });
      return b;
    },
    create(id, b, opts = {}) {
      this.track(id);
      return lc.create(id, b, opts);
    },
    async createAndStart(id, b, opts = {}) {
      const proc = await this.create(id, b, opts);
      await lc.ok(['start', id]);
      return { proc, pid: (await lc.state(id)).pid };
    },
  };
}
