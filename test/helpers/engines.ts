// Helpers for the tests that drive tsbox from real container engines
// (podman, containerd with ctr, docker): finding the engines, a sandbox per
// test file that holds every piece of engine state, the engines set up inside
// it, proof that tsbox (not runc or crun) ran a container, and the checks at
// the end of a file that nothing was left on the host.
//
// Isolation. Each engine keeps its state under the sandbox directory through
// its own flags, but every one of them also writes to fixed host paths that
// no flag moves: containerd 1.6's shims put their sockets in
// /run/containerd/s, podman writes /var/lib/containers/cache when it imports
// an image, dockerd creates /run/docker/plugins, and podman runs
// `delete --force ID` with the runtime's default root (/run/tsbox: its
// `container cleanup`, run by conmon, drops --runtime-flag). So each engine
// runs in a private mount namespace (unshare -m) where /run and /var/lib are
// bind mounts of empty directories in the sandbox: whatever lands there
// stays in the sandbox, and the namespace with all of its mounts goes away
// with its last process. Daemons are started that way; podman, which has no
// daemon, runs every command through nsenter into a namespace kept by a
// `sleep infinity` holder. Most engines share the host's network namespace,
// so they are told to leave networking alone (--network none, --bridge=none,
// no iptables, no ip_forward). A daemon that is to network (dockerd with its
// default bridge) gets a network namespace of its own as well (unshare
// --net), held by its own process tree and gone with it: its bridge, veths,
// iptables rules and sysctls never reach the host's.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { parseProcCgroup } from '../../lib/host/mountinfo.js';
import { childPids, hostMounts, isRoot, processesUnder } from './bundle.js';
import { TSBOX, killStarted, sleep, start, type CliResult, type Started } from './cli.js';
import { isAlive, waitUntil } from './lifecycle.js';

export { TSBOX };

/** The docker 20.10 client from Debian: another docker CLI may come first in PATH. */
export const DOCKER_CLI = '/usr/bin/docker';

/** What every engine test gives itself per test. */
export const TEST_TIMEOUT = { timeout: 60_000 };
/** For beforeAll/afterAll, which start or stop daemons. */
export const HOOK_TIMEOUT = 60_000;

// ---- finding the engines ----------------------------------------------------

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The executable `name` (searched in PATH, then the system dirs), or an absolute path if it is executable. */
export function findExecutable(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SYSTEM_DIRS];
  for (const d of dirs) {
    if (d && isExecutable(path.join(d, name))) return path.join(d, name);
  }
  return undefined;
}

/**
 * Why a file's tests cannot run here, or undefined when they can. Each entry
 * is one requirement: a program, or a list of alternatives (any one will do).
 */
export function skipReason(tools: (string | string[])[]): string | undefined {
  if (!isRoot) return 'needs root';
  const missing = tools
    .map((t) => (Array.isArray(t) ? t : [t]))
    .filter((alts) => !alts.some((a) => findExecutable(a)))
    .map((alts) => alts.join(' or '));
  return missing.length > 0 ? `not installed: ${missing.join(', ')}` : undefined;
}

/** A describe title that says why it is skipped. */
export function suiteTitle(title: string, reason: string | undefined): string {
  return reason ? `${title} (skipped: ${reason})` : title;
}

// ---- host views -------------------------------------------------------------

/** /proc/<pid>/stat field 22 (start time): with the pid it names one process. */
export function processStartTime(pid: number): string | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function mountNamespace(pid: number | 'self'): string | undefined {
  return namespaceOf(pid, 'mnt');
}

/** /proc/<pid>/ns/<type> (as `net:[4026531840]`), or undefined when the process is gone. */
export function namespaceOf(pid: number | 'self', type: 'mnt' | 'net'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${type}`);
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** Live (not zombie) processes whose mount namespace is `ns`. */
function processesInMountNamespace(ns: string): number[] {
  return allPids().filter((pid) => isAlive(pid) && mountNamespace(pid) === ns);
}

/** Mount points under dir in the mount namespace of pid (its mountinfo). */
function mountsUnder(dir: string, pid: number | 'self' = 'self'): string[] {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

/**
 * Host paths that the engines write by default and these tests must never
 * touch, with what they look like now (absent, or inode and times): a test
 * that changes one of them reports it. ip_forward is included by value:
 * dockerd turns it on unless told not to.
 */
const FOOTPRINT_PATHS = [
  '/var/lib/containers',
  '/var/lib/containers/cache',
  '/var/lib/containers/cache/blob-info-cache-v1.boltdb',
  '/var/lib/containers/storage',
  '/var/lib/docker',
  '/var/lib/containerd',
  '/opt/containerd',
  '/run/containerd',
  '/run/containerd/s',
  '/run/containerd/fifo',
  '/run/containerd/runc',
  '/run/docker',
  '/run/docker/plugins',
  '/run/docker.sock',
  '/etc/docker',
  '/etc/docker/key.json',
  '/run/containers',
  '/run/containers/storage',
  '/run/libpod',
  '/run/tsbox',
  '/run/netns',
  '/dev/shm/libpod_lock',
  '/etc/cni/net.d',
  '/etc/containers/networks',
];

function hostFootprint(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of FOOTPRINT_PATHS) {
    try {
      const st = fs.lstatSync(p);
      out[p] = `ino ${st.ino} mtime ${st.mtimeMs} ctime ${st.ctimeMs}`;
    } catch {
      out[p] = 'absent';
    }
  }
  for (const sysctl of ['ipv4/ip_forward', ...bridgeSysctls()]) {
    try {
      out[`net.${sysctl.replace(/\//g, '.')}`] = fs.readFileSync(`/proc/sys/net/${sysctl}`, 'utf8').trim();
    } catch {
      // no such sysctl here
    }
  }
  Object.assign(out, hostFirewall());
  return out;
}

/** net/bridge/* (br_netfilter's switches, which dockerd turns on for its bridge). */
function bridgeSysctls(): string[] {
  try {
    return fs.readdirSync('/proc/sys/net/bridge').map((n) => `bridge/${n}`);
  } catch {
    return [];
  }
}

/**
 * The host network namespace's firewall, as iptables (whichever backend
 * dockerd would use) and nft list it, without counters and timestamps: the
 * rules dockerd adds for its bridge must stay in its own namespace.
 */
export function hostFirewall(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const argv of [['iptables-save'], ['ip6tables-save'], ['nft', 'list', 'ruleset']]) {
    const exe = findExecutable(argv[0]!);
    if (!exe) continue;
    let text: string;
    try {
      text = execFileSync(exe, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    } catch (err) {
      text = `failed: ${(err as Error).message.split('\n')[0]}`;
    }
    out[`firewall: ${argv.join(' ')}`] = text
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/g, '[]').replace(/counter packets \d+ bytes \d+/g, 'counter'))
      .join('\n');
  }
  return out;
}

/** The host's network interfaces (this process's network namespace). */
export function netLinks(): string[] {
  try {
    return fs.readdirSync('/sys/class/net').sort();
  } catch {
    return [];
  }
}

/** Cgroup directories (any hierarchy) whose name contains one of `names`. */
function cgroupsNamed(names: string[]): string[] {
  const found: string[] = [];
  if (names.length === 0) return found;
  const walk = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (names.some((n) => e.name === n || (n.length >= 12 && e.name.includes(n)))) found.push(p);
      if (depth < 6) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found.sort();
}

/**
 * The directories <rel> may name in each hierarchy: from the hierarchy's
 * root, and from this process's own cgroup there, which is where an engine
 * started from here puts a relative cgroup parent (dockerd's --cgroup-parent,
 * a CRI cgroup_parent): tsbox, as runc, resolves a relative cgroupsPath
 * against its own cgroup. They differ where the machine put the tests in a
 * cgroup of their own (the memory hierarchy here).
 */
function cgroupsAt(rel: string): string[] {
  let hierarchies: string[];
  try {
    hierarchies = fs.readdirSync('/sys/fs/cgroup');
  } catch {
    return [];
  }
  const own = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
  const ownIn = (h: string): string => {
    for (const [key, p] of own) {
      const names = key === '' ? ['unified'] : key.split(',').map((k) => k.replace(/^name=/, ''));
      if (names.includes(h)) return p;
    }
    return '/';
  };
  const candidates = hierarchies.flatMap((h) => [path.join('/sys/fs/cgroup', h, rel), path.join('/sys/fs/cgroup', h, ownIn(h), rel)]);
  return [...new Set(candidates)].filter((d) => {
    try {
      return fs.statSync(d).isDirectory();
    } catch {
      return false;
    }
  });
}

// ---- running commands -------------------------------------------------------

/**
 * The environment of every engine command: the test's, without what would
 * point an engine at other state (DOCKER_*, CONTAINERD_*, CONTAINERS_*...),
 * with this node first in PATH (bin/tsbox is `#!/usr/bin/env node`) and the
 * sbin directories in it. NODE_EXTRA_CA_CERTS costs every node start ~35 ms
 * and engines start tsbox several times per operation; NODE_OPTIONS may
 * carry the test runner's own settings.
 */
function engineEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(DOCKER_|CONTAINERD_|CONTAINERS_|CONTAINER_HOST$|CONTAINER_CONNECTION$|REGISTRY_AUTH_FILE$|XDG_RUNTIME_DIR$|NODE_EXTRA_CA_CERTS$|NODE_OPTIONS$|TMPDIR$)/.test(k)) continue;
    env[k] = v;
  }
  const dirs = [path.dirname(process.execPath), ...(process.env.PATH ?? '').split(':'), ...SYSTEM_DIRS].filter((d) => d);
  env.PATH = [...new Set(dirs)].join(':');
  return { ...env, ...extra };
}

/** argv as one sh command line (for script -c). */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

export interface RunOptions {
  /** Written to stdin, which is then closed (default: stdin closed at once). */
  input?: string;
  timeoutMs?: number;
}

/** A process in a private mount namespace: a daemon, or podman's holder. */
interface Namespaced {
  name: string;
  pid: number;
  child: ChildProcess;
  /** /proc/<pid>/ns/mnt once unshare has made the namespace. */
  mntNs: string;
  /** /proc/<pid>/ns/net when it has a network namespace of its own. */
  netNs?: string;
  log: string;
  exited: Promise<void>;
  /** Mounts under the sandbox in its namespace once it was ready: what a test may add to them is a leak. */
  readyMounts: string[];
}

/** What the end of a file found; every field must be empty (false) on a clean run. */
export interface TeardownReport {
  /** Engine client processes still running (then killed). */
  clientsLeft: number;
  /** Daemons that needed SIGKILL after 10 s of SIGTERM, or are still there. */
  daemonsNotStopped: string[];
  /** Mounts under the sandbox added in an engine's namespace while the tests ran. */
  mountsInEngineNamespaces: string[];
  /** Processes left in an engine's mount namespace after it stopped (then killed). */
  processesInEngineNamespaces: string[];
  /** An engine's own network namespace still held by a process after it stopped. */
  networkNamespacesLeft: string[];
  /** Processes whose cwd, root or command line is in the sandbox (then killed). */
  processesInSandbox: string[];
  /** Container processes seen during the tests that are still alive (then killed). */
  containersAlive: number[];
  /** Containers left in tsbox's state directories. */
  tsboxState: string[];
  /** Mounts under the sandbox in the test's own (the host's) mount namespace (then unmounted). */
  hostMounts: string[];
  /** Cgroup directories named after a container or namespace of these tests (then removed). */
  cgroups: string[];
  /** Host paths the engines must not touch, changed. */
  hostPathsChanged: string[];
  /** Network interfaces that appeared or went. */
  netLinksChanged: string[];
  /** Children of the test process that were not there before. */
  children: number[];
  /** The sandbox could not be removed. */
  sandboxLeft: boolean;
}

export const CLEAN_TEARDOWN: TeardownReport = {
  clientsLeft: 0,
  daemonsNotStopped: [],
  mountsInEngineNamespaces: [],
  processesInEngineNamespaces: [],
  networkNamespacesLeft: [],
  processesInSandbox: [],
  containersAlive: [],
  tsboxState: [],
  hostMounts: [],
  cgroups: [],
  hostPathsChanged: [],
  netLinksChanged: [],
  children: [],
  sandboxLeft: false,
};

// ---- the sandbox --------------------------------------------------------------

/**
 * One temp directory per test file holding every engine's state, plus what
 * the host looked like before, to compare with at the end.
 */
export class EngineSandbox {
  readonly dir: string;
  private readonly footprint = hostFootprint();
  private readonly links = netLinks();
  private readonly children = childPids();
  private readonly namespaced: Namespaced[] = [];
  /** Container init pids seen, with their start times. */
  private readonly containers = new Map<number, string | undefined>();
  /** Container ids and engine namespace names: cgroups named after them are looked for at the end. */
  readonly names = new Set<string>();
  /** tsbox state roots to check at the end: the engines' and tsbox's default root under each /run bind. */
  readonly stateRoots = new Set<string>();
  /** More state roots, found at the end (docker names its own). */
  readonly stateRootFinders: (() => string[])[] = [];
  private counter = 0;
  /** Parent cgroups an engine may create (relative to each hierarchy), with the ones that existed before. */
  private readonly parentCgroups: { rel: string; before: Set<string> }[] = [];

  constructor(engine: string) {
    this.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `tsbox-${engine}-`)));
    fs.chmodSync(this.dir, 0o755);
    // An interrupted run kills this worker before teardown() could finish.
    // The directory goes by environment, so the reaper is not one of the
    // processes naming it that teardown() looks for.
    const reaper = spawn(process.execPath, [path.join(__dirname, 'sandbox-reaper.cjs'), String(process.pid), processStartTime(process.pid)!], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: process.env.PATH, TSBOX_REAP_DIR: this.dir },
    });
    reaper.unref();
    this.children.push(reaper.pid!);
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  mkdir(...parts: string[]): string {
    const p = this.path(...parts);
    fs.mkdirSync(p, { recursive: true });
    return p;
  }

  /** A fresh name for a container (engines want unique names). */
  unique(prefix: string): string {
    this.counter += 1;
    return `${prefix}-${this.counter}`;
  }

  /**
   * A busybox root filesystem as real-clients.md builds it, and a tar of it
   * for the engines that import images.
   */
  buildRootfs(): { rootfs: string; tar: string } {
    const rootfs = this.path('rootfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
    fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
    execFileSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin'], { stdio: 'pipe' });
    const tar = this.path('rootfs.tar');
    execFileSync('tar', ['-C', rootfs, '-cf', tar, '.'], { stdio: 'pipe' });
    return { rootfs, tar };
  }

  /** Starts a command with pipes (killed after timeoutMs, and at teardown if still running). */
  spawn(command: string, args: readonly string[], env: Record<string, string>, timeoutMs = 30_000): Started {
    return start(command, args, { env: engineEnv(env), cwd: this.dir, timeoutMs });
  }

  /** Runs a command to completion. */
  async run(command: string, args: readonly string[], env: Record<string, string>, opts: RunOptions = {}): Promise<CliResult> {
    const s = this.spawn(command, args, env, opts.timeoutMs);
    // A command that exits before reading its stdin (EPIPE) is no error here.
    s.child.stdin!.on('error', () => {});
    s.child.stdin!.end(opts.input ?? '');
    return s.done;
  }

  /**
   * Runs argv with a terminal on its stdin and stdout, under util-linux
   * script(1) (-e: script exits with the command's status). The output has
   * the terminal's line endings (\r\n).
   */
  async runInTerminal(argv: readonly string[], env: Record<string, string>, timeoutMs = 30_000): Promise<CliResult> {
    const s = this.spawn('script', ['-qfec', shellQuote(argv), '/dev/null'], env, timeoutMs);
    // script reads its stdin for the terminal: keep it open until the end.
    const r = await s.done;
    s.child.stdin!.destroy();
    return r;
  }

  /** tsbox's own command line, on a state root. */
  tsbox(root: string, args: readonly string[]): Promise<CliResult> {
    return this.run(process.execPath, [TSBOX, '--root', root, ...args], {});
  }

  /**
   * Starts argv in a new private mount namespace where each key of `binds`
   * (a host path: /run, /var/lib) is covered by a bind mount of the sandbox
   * directory given as its value. Output goes to <sandbox>/<name>.log.
   * `ready` is polled until true (the daemon answers); if the process ends
   * first, the error carries the end of its log. With `network`, the process
   * also gets a new network namespace with only `lo` (brought up), held by
   * it and its descendants: teardown checks none of them holds it after.
   */
  async startNamespaced(
    name: string,
    argv: readonly string[],
    binds: Record<string, string>,
    env: Record<string, string>,
    ready: () => Promise<boolean>,
    { network = false }: { network?: boolean } = {},
  ): Promise<Namespaced> {
    const log = this.path(`${name}.log`);
    const fd = fs.openSync(log, 'a');
    const pairs = Object.entries(binds).flatMap(([target, source]) => [source, target]);
    // sh: mount each pair, then exec the command; unshare's namespaces stay
    // the command's because every step is an exec.
    const script =
      (network ? 'ip link set lo up; ' : '') +
      'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind "$1" "$2"; shift 2; n=$((n-1)); done; exec "$@"';
    const child = spawn(
      'unshare',
      ['--mount', ...(network ? ['--net'] : []), '--propagation', 'private', '--', 'sh', '-ec', script, 'sh', String(pairs.length / 2), ...pairs, ...argv],
      { stdio: ['ignore', fd, fd], env: engineEnv(env), cwd: this.dir },
    );
    fs.closeSync(fd);
    let ended = false;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        ended = true;
        resolve();
      });
      child.once('error', () => {
        ended = true;
        resolve();
      });
    });
    const tail = () => {
      try {
        return fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n');
      } catch {
        return '';
      }
    };
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${name}: could not start unshare`);
    const ours = mountNamespace('self');
    const entry: Namespaced = { name, pid, child, mntNs: '', log, exited, readyMounts: [] };
    this.namespaced.push(entry);
    entry.mntNs = await waitUntil(`${name}'s mount namespace`, () => {
      if (ended) throw new Error(`${name} exited at once:\n${tail()}`);
      const ns = mountNamespace(pid);
      return ns !== undefined && ns !== ours && ns;
    });
    // unshare makes the namespace before sh mounts the binds: a command
    // entering it at once (podman's, through nsenter) could still see the
    // host's /run, /var/lib or /etc/passwd.
    await waitUntil(`${name}'s bind mounts`, () => {
      if (ended) throw new Error(`${name} exited at once:\n${tail()}`);
      return Object.keys(binds).every((target) => mountsUnder(target, pid).includes(target));
    });
    if (network) {
      const hostNet = namespaceOf('self', 'net');
      entry.netNs = await waitUntil(`${name}'s network namespace`, () => {
        if (ended) throw new Error(`${name} exited at once:\n${tail()}`);
        const ns = namespaceOf(pid, 'net');
        return ns !== undefined && ns !== hostNet && ns;
      });
    }
    await waitUntil(
      `${name} to be ready`,
      async () => {
        if (ended) throw new Error(`${name} exited while starting:\n${tail()}`);
        return ready();
      },
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- ${log} ---\n${tail()}`);
    });
    entry.readyMounts = mountsUnder(this.dir, pid);
    return entry;
  }

  /** Stops a namespaced process by its pid: SIGTERM, up to 10 s, then SIGKILL. True if SIGTERM sufficed. */
  private async stop(n: Namespaced): Promise<boolean> {
    if (n.child.exitCode !== null || n.child.signalCode !== null) return true;
    // By pid: unshare and sh exec'd the daemon, so the pid we spawned is its pid.
    kill(n.pid, 'SIGTERM');
    const inTime = await Promise.race([n.exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!inTime) {
      kill(n.pid, 'SIGKILL');
      await n.exited;
    }
    return inTime;
  }

  /**
   * Parent cgroups (paths relative to each hierarchy, outermost first, e.g.
   * `libpod_parent`, `libpod_parent/conmon`) that the engine may create and
   * never removes: call before the engine starts. At the end, exactly these
   * are removed, in every hierarchy where they did not exist before and are
   * empty (rmdir fails on a cgroup with processes or children).
   */
  noteParentCgroups(rels: string[]): void {
    for (const rel of rels) this.parentCgroups.push({ rel, before: new Set(cgroupsAt(rel)) });
  }

  /** Records a container's init (seen running under tsbox): it must be gone at the end. */
  noteContainer(id: string, pid: number): void {
    this.names.add(id);
    if (!this.containers.has(pid)) this.containers.set(pid, processStartTime(pid));
  }

  /** The containers in a tsbox state root: the entries that have a state.json. */
  static stateEntries(root: string): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      return [];
    }
    return names.filter((n) => fs.existsSync(path.join(root, n, 'state.json'))).sort();
  }

  allStateRoots(): string[] {
    return [...new Set([...this.stateRoots, ...this.stateRootFinders.flatMap((f) => f())])];
  }

  /**
   * The end of a file, after the tests removed their containers through the
   * engine: stops the engines, kills and unmounts whatever is left, removes
   * the sandbox, and reports what had to be cleaned (see TeardownReport).
   */
  async teardown(): Promise<TeardownReport> {
    const report: TeardownReport = structuredClone(CLEAN_TEARDOWN);
    report.clientsLeft = killStarted();

    for (const root of this.allStateRoots()) {
      for (const id of EngineSandbox.stateEntries(root)) report.tsboxState.push(path.join(root, id));
    }

    // Daemons last started stop first.
    for (const n of [...this.namespaced].reverse()) {
      const added = mountsUnder(this.dir, n.pid).filter((m) => !n.readyMounts.includes(m));
      report.mountsInEngineNamespaces.push(...added.map((m) => `${n.name}: ${m}`));
      if (!(await this.stop(n))) report.daemonsNotStopped.push(`${n.name} (pid ${n.pid}) needed SIGKILL`);
      if (isAlive(n.pid)) report.daemonsNotStopped.push(`${n.name} (pid ${n.pid}) still running`);
      // Shims, conmon, containers: the namespace lives on while any of them does.
      let left: number[] = [];
      const deadline = Date.now() + 10_000;
      while ((left = processesInMountNamespace(n.mntNs)).length > 0 && Date.now() < deadline) await sleep(50);
      for (const pid of left) {
        report.processesInEngineNamespaces.push(`${n.name}: ${pid} ${cmdline(pid)}`);
        kill(pid);
      }
      if (n.netNs !== undefined) {
        const holders = allPids().filter((pid) => isAlive(pid) && namespaceOf(pid, 'net') === n.netNs);
        for (const pid of holders) {
          report.networkNamespacesLeft.push(`${n.name}: ${n.netNs} held by ${pid} ${cmdline(pid)}`);
          kill(pid);
        }
      }
    }

    const inSandbox = new Set(processesUnder(this.dir));
    for (const pid of allPids()) {
      if (isAlive(pid) && cmdline(pid).includes(this.dir)) inSandbox.add(pid);
    }
    for (const pid of inSandbox) {
      if (!isAlive(pid)) continue;
      report.processesInSandbox.push(`${pid} ${cmdline(pid)}`);
      kill(pid);
    }

    for (const [pid, startTime] of this.containers) {
      if (isAlive(pid) && processStartTime(pid) === startTime) {
        report.containersAlive.push(pid);
        kill(pid);
      }
    }

    // Deepest first, lazily: a busy mount must not keep the sandbox.
    const mounts = mountsUnder(this.dir).reverse();
    report.hostMounts.push(...mounts);
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'pipe' });
      } catch {
        // already gone with a parent
      }
    }

    const cgroups = cgroupsNamed([...this.names]);
    report.cgroups.push(...cgroups);
    for (const c of cgroups.reverse()) {
      try {
        fs.rmdirSync(c);
      } catch {
        // still populated: reported above all the same
      }
    }

    // Innermost first.
    for (const { rel, before } of [...this.parentCgroups].reverse()) {
      for (const c of cgroupsAt(rel)) {
        if (before.has(c)) continue;
        try {
          fs.rmdirSync(c);
        } catch (err) {
          report.cgroups.push(`${c} (engine parent cgroup, not removed: ${(err as NodeJS.ErrnoException).code})`);
        }
      }
    }

    const now = hostFootprint();
    for (const [p, before] of Object.entries(this.footprint)) {
      if (now[p] !== before) report.hostPathsChanged.push(`${p}: ${before} -> ${now[p] ?? 'absent'}`);
    }
    const linksNow = netLinks();
    report.netLinksChanged.push(
      ...linksNow.filter((l) => !this.links.includes(l)).map((l) => `+${l}`),
      ...this.links.filter((l) => !linksNow.includes(l)).map((l) => `-${l}`),
    );

    const deadline = Date.now() + 2000;
    let extra: number[] = [];
    while ((extra = childPids().filter((p) => !this.children.includes(p))).length > 0 && Date.now() < deadline) await sleep(20);
    report.children = extra;

    if (mountsUnder(this.dir).length === 0) fs.rmSync(this.dir, { recursive: true, force: true });
    report.sandboxLeft = fs.existsSync(this.dir);
    return report;
  }
}

function kill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

// ---- proof that tsbox runs a container ---------------------------------------------

/** What tsbox keeps in <root>/<id>/state.json (the parts looked at). */
export interface TsboxRecord {
  id: string;
  pid: number;
  pidStartTime: string;
  bundle: string;
  /** The container's cgroups: one host directory per hierarchy (v1 key, e.g. `freezer`, `memory`). */
  cgroups?: { dirs: Record<string, string> };
}

export function readTsboxRecord(root: string, id: string): TsboxRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as TsboxRecord;
  } catch {
    return undefined;
  }
}

/**
 * The one container of `root` whose init is alive, once there is one. For
 * containers that run briefly: the test starts the engine with a container
 * that waits for a line on its stdin, finds it here, checks it with
 * expectRunByTsbox, then lets it go on. Fails early if `engine` ends first.
 */
export async function waitForTsboxContainer(root: string, engine: Started): Promise<TsboxRecord> {
  let ended = false;
  void engine.exited.then(() => (ended = true));
  return waitUntil(
    `a running container under ${root}`,
    () => {
      if (ended) throw new Error(`the engine ended first: ${JSON.stringify({ stdout: engine.stdout, stderr: engine.stderr })}`);
      const live = EngineSandbox.stateEntries(root)
        .map((id) => readTsboxRecord(root, id))
        .filter((r): r is TsboxRecord => r !== undefined && processStartTime(r.pid) === r.pidStartTime);
      return live.length === 1 && live[0];
    },
    20_000,
  );
}

/**
 * Proves that tsbox, not runc or crun, runs container `id`, and that its init
 * is `pid` (the pid the engine reports) when given:
 *  - <root>/<id>/state.json is in tsbox's layout (`pidStartTime`; runc's
 *    state.json has `init_process_pid` and `init_process_start`, crun keeps
 *    a `status` file), at the root the engine passed to the runtime;
 *  - the live process with that pid has that start time (it is the process
 *    tsbox started, not a reused pid);
 *  - `tsbox --root <root> state <id>` reads it back as running.
 * The container is recorded so that teardown checks its init is gone.
 */
export async function expectRunByTsbox(sb: EngineSandbox, root: string, id: string, pid?: number): Promise<TsboxRecord> {
  const rec = readTsboxRecord(root, id);
  expect(rec, `tsbox's state.json for ${id} under ${root}`).toBeDefined();
  expect(rec).toMatchObject({ id, pid: expect.any(Number), pidStartTime: expect.any(String) });
  if (pid !== undefined) expect(rec!.pid, 'the init pid tsbox recorded vs the one the engine reports').toBe(pid);
  expect(processStartTime(rec!.pid), 'start time of the live process vs the one tsbox recorded').toBe(rec!.pidStartTime);
  sb.noteContainer(id, rec!.pid);
  // The init may still be waiting for `start` (created): give start a moment.
  const state = await waitUntil(
    `tsbox to report ${id} running`,
    async () => {
      const r = await sb.tsbox(root, ['state', id]);
      if (r.status !== 0) throw new Error(`tsbox state ${id}: ${r.stderr}`);
      const s = JSON.parse(r.stdout) as { id: string; pid: number; status: string };
      return s.status === 'running' && s;
    },
    5000,
  );
  expect(state).toMatchObject({ id, pid: rec!.pid, status: 'running' });
  return rec!;
}

/** The host directory of container `id`'s cgroup in hierarchy `key` (freezer, memory), from tsbox's state.json. */
export function tsboxCgroupDir(root: string, id: string, key: string): string {
  const dir = readTsboxRecord(root, id)?.cgroups?.dirs[key];
  expect(dir, `cgroups.dirs.${key} in tsbox's state.json for ${id} under ${root}`).toEqual(expect.any(String));
  return dir!;
}

/** A container script that writes an ever-growing counter to `file` (in the container), ten times a second. */
export function counterScript(file: string, sleep = 'sleep'): string {
  return `i=0; while :; do i=$((i+1)); echo $i > ${file}; ${sleep} 0.1; done`;
}

/**
 * Pauses container `id` (init `pid`) through the engine and resumes it,
 * checking tsbox's view (state says paused, the freezer cgroup is FROZEN)
 * and the container's: the counter its init writes to `file` (see
 * counterScript, read from the host through /proc/<pid>/root) stands still
 * while paused and goes on after.
 */
export async function expectPauseResume(
  sb: EngineSandbox,
  root: string,
  id: string,
  pid: number,
  file: string,
  pause: () => Promise<CliResult>,
  resume: () => Promise<CliResult>,
): Promise<void> {
  const counter = (): number => {
    try {
      return Number(fs.readFileSync(`/proc/${pid}/root${file}`, 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  };
  const status = async (): Promise<string> => {
    const r = await sb.tsbox(root, ['state', id]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    return (JSON.parse(r.stdout) as { status: string }).status;
  };
  const freezerState = path.join(tsboxCgroupDir(root, id, 'freezer'), 'freezer.state');
  const first = await waitUntil('the counter to run', () => counter() > 1 && counter(), 10_000);
  await waitUntil('the counter to advance', () => counter() > first, 5000);

  const p = await pause();
  expect(p, p.stderr).toMatchObject({ status: 0 });
  expect(await status()).toBe('paused');
  expect(fs.readFileSync(freezerState, 'utf8').trim()).toBe('FROZEN');
  const frozenAt = counter();
  await sleep(600);
  expect(counter(), 'the counter while paused').toBe(frozenAt);
  expect(await status()).toBe('paused');

  const r = await resume();
  expect(r, r.stderr).toMatchObject({ status: 0 });
  expect(await status()).toBe('running');
  expect(fs.readFileSync(freezerState, 'utf8').trim()).toBe('THAWED');
  await waitUntil('the counter to advance after resume', () => counter() > frozenAt, 5000);
}

/** Reads memory.limit_in_bytes of container `id`'s cgroup on the host. */
export function memoryLimit(root: string, id: string): number {
  return Number(fs.readFileSync(path.join(tsboxCgroupDir(root, id, 'memory'), 'memory.limit_in_bytes'), 'utf8').trim());
}

/** Waits until tsbox has no state left for `id` under root (the engine deleted it). */
export async function expectTsboxStateGone(root: string, id: string, ms = 10_000): Promise<void> {
  await waitUntil(`tsbox's state for ${id} to be deleted`, () => !fs.existsSync(path.join(root, id)), ms).catch(() => undefined);
  expect(fs.existsSync(path.join(root, id)), `${path.join(root, id)} after the engine removed the container`).toBe(false);
}

/** Waits until pid is gone (or a zombie nobody reaped yet). */
export async function expectProcessGone(pid: number, ms = 10_000): Promise<void> {
  await waitUntil(`process ${pid} to end`, () => !isAlive(pid), ms).catch(() => undefined);
  expect(isAlive(pid), `process ${pid} is still alive`).toBe(false);
}

// ---- podman ---------------------------------------------------------------------

export interface Podman {
  /** tsbox's state root for podman's containers: its default /run/tsbox, inside podman's /run. */
  tsboxRoot: string;
  image: string;
  /** podman's full argv for `args` (through nsenter into podman's mount namespace). */
  argv(args: readonly string[]): string[];
  /** The environment podman runs with (for argv run some other way, e.g. under taskset). */
  env: Record<string, string>;
  run(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  spawn(args: readonly string[]): Started;
  runInTerminal(args: readonly string[]): Promise<CliResult>;
  /** The flags every `podman run` of these tests needs here. */
  runFlags: string[];
  removeAll(): Promise<void>;
}

/**
 * podman 4.3 with all its state in the sandbox: --root/--runroot, a
 * containers.conf naming tsbox in runtime_supports_json (so podman passes
 * --log-format=json --log FILE, as to runc) with file locks (the default shm
 * lock, /dev/shm/libpod_lock, is shared with every other podman on the host,
 * and a fresh tmp_dir makes podman reset it), and a storage.conf. tsbox is
 * the runtime "tsbox" of [engine.runtimes] (as in the README), picked with
 * --runtime tsbox; podman calls it without --root, so its state is in
 * tsbox's default root, which the namespace's /run moves into the sandbox.
 */
export async function startPodman(sb: EngineSandbox): Promise<Podman> {
  // With cgroupfs, podman makes these in every hierarchy (the default
  // parent of its containers and of conmon) and never removes them.
  sb.noteParentCgroups(['libpod_parent', 'libpod_parent/conmon']);
  const base = sb.mkdir('podman');
  const run = sb.mkdir('podman', 'run-bind');
  const varLib = sb.mkdir('podman', 'var-lib-bind');
  const tmp = sb.mkdir('podman', 'tmp');
  const q = (s: string) => JSON.stringify(s);
  fs.writeFileSync(
    path.join(base, 'containers.conf'),
    [
      '[engine]',
      'runtime_supports_json = ["tsbox"]',
      'lock_type = "file"',
      `tmp_dir = ${q(path.join(base, 'libpod-tmp'))}`,
      `volume_path = ${q(path.join(base, 'volumes'))}`,
      'cgroup_manager = "cgroupfs"',
      'events_logger = "none"',
      // The README's way to name a runtime: `--runtime tsbox` picks this path.
      '[engine.runtimes]',
      `tsbox = [${q(TSBOX)}]`,
      '[network]',
      `network_config_dir = ${q(path.join(base, 'networks'))}`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(base, 'storage.conf'),
    ['[storage]', 'driver = "overlay"', `graphroot = ${q(path.join(base, 'root'))}`, `runroot = ${q(path.join(base, 'runroot'))}`, ''].join('\n'),
  );
  const env = {
    CONTAINERS_CONF: path.join(base, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(base, 'storage.conf'),
    // Where podman import stages layers (default /var/tmp).
    TMPDIR: tmp,
  };
  const holder = await sb.startNamespaced('podman-namespace', ['sleep', 'infinity'], { '/run': run, '/var/lib': varLib }, env, async () => true);
  const tsboxRoot = path.join(run, 'tsbox');
  sb.stateRoots.add(tsboxRoot);
  const global = [
    '--root', path.join(base, 'root'),
    '--runroot', path.join(base, 'runroot'),
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'none',
    '--runtime', 'tsbox',
  ];
  // --wd: entering a mount namespace moves the cwd to its root; keep relative paths in the sandbox.
  const argv = (args: readonly string[]) => ['nsenter', `--target=${holder.pid}`, '--mount', `--wd=${sb.dir}`, '--', 'podman', ...global, ...args];
  const image = 'localhost/tsbox-busybox:latest';
  const podman: Podman = {
    tsboxRoot,
    image,
    argv,
    env,
    run: (args, opts) => sb.run(argv(args)[0]!, argv(args).slice(1), env, opts),
    spawn: (args) => sb.spawn(argv(args)[0]!, argv(args).slice(1), env),
    runInTerminal: (args) => sb.runInTerminal(argv(args), env),
    // Root here lacks CAP_SYS_RESOURCE and podman asks for nofile 1048576 by default.
    runFlags: ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=1024:1024', '--network', 'none'],
    async removeAll() {
      await podman.run(['rm', '--all', '--force', '--time', '0'], { timeoutMs: 30_000 });
    },
  };
  const { tar } = sb.buildRootfs();
  const imported = await podman.run(['import', '--change', 'CMD ["/bin/sh"]', tar, image]);
  if (imported.status !== 0) throw new Error(`podman import: ${imported.stderr}`);
  return podman;
}

// ---- containerd + ctr ---------------------------------------------------------------

export interface Containerd {
  /** The root the shim passes to tsbox: <--runc-root>/<namespace>. */
  tsboxRoot: string;
  rootfs: string;
  ctr(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  spawnCtr(args: readonly string[]): Started;
  /** Flags for `ctr run` that pick tsbox and keep its state and the fifos in the sandbox. */
  runFlags: string[];
  /** Flags for `ctr task exec`. */
  execFlags: string[];
  removeAll(): Promise<void>;
}

/**
 * A containerd 1.6 config.toml (version 2) with root, state and sockets
 * under `base`, and the plugins that would use /opt or other disks off; the
 * CRI plugin off too unless `cri` (whose own sections `extra` then holds).
 */
export function containerdConfig(base: string, sock: string, { cri, extra = [] }: { cri: boolean; extra?: string[] }): string {
  const q = (s: string) => JSON.stringify(s);
  const off = [
    ...(cri ? [] : ['io.containerd.grpc.v1.cri']),
    'io.containerd.internal.v1.opt',
    'io.containerd.snapshotter.v1.btrfs',
    'io.containerd.snapshotter.v1.zfs',
    'io.containerd.snapshotter.v1.devmapper',
    'io.containerd.snapshotter.v1.aufs',
    'io.containerd.tracing.processor.v1.otlp',
  ];
  return [
    'version = 2',
    `root = ${q(path.join(base, 'root'))}`,
    `state = ${q(path.join(base, 'state'))}`,
    `disabled_plugins = [${off.map(q).join(', ')}]`,
    '[grpc]',
    `  address = ${q(sock)}`,
    '[ttrpc]',
    `  address = ${q(sock + '.ttrpc')}`,
    '[debug]',
    '  level = "debug"',
    ...extra,
    '',
  ].join('\n');
}

/**
 * containerd 1.6 with root, state and sockets in the sandbox, the CRI plugin
 * off (and the plugins that would use /opt or other disks), in a private
 * mount namespace (the shim's sockets go to /run/containerd/s, a fixed path).
 * Containers use the io.containerd.runc.v2 shim with tsbox as its runc
 * (`ctr run --runc-binary`), as a Kubernetes RuntimeClass would.
 */
export async function startContainerd(sb: EngineSandbox): Promise<Containerd> {
  const base = sb.mkdir('containerd');
  const sock = path.join(base, 'containerd.sock');
  const config = path.join(base, 'config.toml');
  fs.writeFileSync(config, containerdConfig(base, sock, { cri: false }));
  const namespace = 'tsbox-engines';
  sb.names.add(namespace);
  const global = ['--address', sock, '--namespace', namespace];
  const ctr = (args: readonly string[], opts?: RunOptions) => sb.run('ctr', [...global, ...args], {}, opts);
  await sb.startNamespaced(
    'containerd',
    ['containerd', '--config', config],
    { '/run': sb.mkdir('containerd', 'run-bind'), '/var/lib': sb.mkdir('containerd', 'var-lib-bind') },
    {},
    async () => fs.existsSync(sock) && (await ctr(['version'], { timeoutMs: 5000 })).status === 0,
  );
  sb.stateRoots.add(path.join(base, 'run-bind', 'tsbox'));
  const runcRoot = sb.mkdir('containerd', 'tsbox');
  const fifos = sb.mkdir('containerd', 'fifo');
  const tsboxRoot = path.join(runcRoot, namespace);
  sb.stateRoots.add(tsboxRoot);
  const { rootfs } = sb.buildRootfs();
  const c: Containerd = {
    tsboxRoot,
    rootfs,
    ctr,
    spawnCtr: (args) => sb.spawn('ctr', [...global, ...args], {}),
    runFlags: ['--runc-binary', TSBOX, '--runc-root', runcRoot, '--fifo-dir', fifos],
    execFlags: ['--fifo-dir', fifos],
    async removeAll() {
      const tasks = (await ctr(['task', 'ls', '--quiet'])).stdout.split('\n').filter((s) => s);
      for (const id of tasks) await ctr(['task', 'delete', '--force', id]);
      const containers = (await ctr(['container', 'ls', '--quiet'])).stdout.split('\n').filter((s) => s);
      if (containers.length > 0) await ctr(['container', 'delete', ...containers]);
    },
  };
  return c;
}

// ---- docker -------------------------------------------------------------------------

export interface Docker {
  execRoot: string;
  /** dockerd's --config-file. */
  daemonJson: string;
  image: string;
  /** dockerd's pid. */
  pid: number;
  docker(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  spawnDocker(args: readonly string[]): Started;
  runInTerminal(args: readonly string[]): Promise<CliResult>;
  /** Where tsbox keeps container `id`: docker picks the runtime's --root itself, so it is looked for. */
  tsboxRootOf(id: string): string;
  /** The state roots docker made under its exec root (runtime-<name>/<namespace>). */
  tsboxRoots(): string[];
  /** With network 'bridge': runs argv in dockerd's network namespace (nsenter --net). */
  inNetwork(argv: readonly string[], opts?: RunOptions): Promise<CliResult>;
  /** With network 'bridge': dockerd's network namespace (`net:[...]`). */
  netNs?: string;
  removeAll(): Promise<void>;
}

export interface DockerOptions {
  /**
   * 'none' (default): dockerd shares the host's network namespace and is
   * told to leave networking alone (--bridge=none, no iptables, no
   * ip_forward or masquerading). 'bridge': dockerd runs in a network
   * namespace of its own with docker's defaults there: the docker0 bridge,
   * iptables NAT rules, ip_forward, docker-proxy for published ports, and
   * the prestart hook (libnetwork-setkey) in every bridged container.
   */
  network?: 'none' | 'bridge';
  /** More dockerd flags (e.g. --userns-remap). */
  flags?: string[];
  /** More bind mounts in dockerd's mount namespace, host path -> sandbox file (e.g. /etc/subuid). */
  binds?: Record<string, string>;
  /** More daemon.json keys (e.g. default-runtime: docker reloads it on SIGHUP, which a flag would forbid). */
  config?: Record<string, unknown>;
}

/**
 * dockerd 20.10 with data, exec root, socket and pid file in the sandbox, in
 * a private mount namespace (it creates /run/docker/plugins; its containerd's
 * shims use /run/containerd/s, and it makes /opt/containerd), with a daemon.json of its own (the trust key
 * otherwise goes to /etc/docker/key.json) naming tsbox as the runtime
 * "tsbox" under "runtimes" (as the README says); containers pick it with
 * --runtime tsbox. Networking: see DockerOptions.
 */
export async function startDockerd(sb: EngineSandbox, { network = 'none', flags = [], binds = {}, config = {} }: DockerOptions = {}): Promise<Docker> {
  const base = sb.mkdir('docker');
  const sock = path.join(base, 'docker.sock');
  const execRoot = path.join(base, 'exec');
  const daemonJson = path.join(base, 'daemon.json');
  fs.writeFileSync(
    daemonJson,
    JSON.stringify({ 'deprecated-key-path': path.join(base, 'key.json'), runtimes: { tsbox: { path: TSBOX } }, ...config }, null, 2) + '\n',
  );
  const clientEnv = { DOCKER_CONFIG: sb.mkdir('docker', 'client-config') };
  const global = ['-H', `unix://${sock}`];
  const docker = (args: readonly string[], opts?: RunOptions) => sb.run(DOCKER_CLI, [...global, ...args], clientEnv, opts);
  const pidFile = path.join(base, 'dockerd.pid');
  // A parent cgroup of its own (cgroupfs: /<name>/<id> in each hierarchy),
  // not docker's /docker, which another docker test running at the same
  // time would share; dockerd never removes it, teardown does.
  const cgroupParent = path.basename(sb.dir);
  sb.noteParentCgroups([cgroupParent]);
  const noNetworking = ['--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false', '--bridge=none'];
  const daemon = await sb.startNamespaced(
    'dockerd',
    [
      'dockerd',
      '--config-file', daemonJson,
      '--data-root', path.join(base, 'data'),
      '--exec-root', execRoot,
      '-H', `unix://${sock}`,
      '--pidfile', pidFile,
      '--cgroup-parent', cgroupParent,
      ...(network === 'none' ? noNetworking : []),
      ...flags,
    ],
    // /opt too: the containerd dockerd starts makes /opt/containerd (its "opt" plugin).
    { '/run': sb.mkdir('docker', 'run-bind'), '/var/lib': sb.mkdir('docker', 'var-lib-bind'), '/opt': sb.mkdir('docker', 'opt-bind'), ...binds },
    {},
    async () => fs.existsSync(sock) && (await docker(['version'], { timeoutMs: 5000 })).status === 0,
    { network: network === 'bridge' },
  );
  const written = Number(fs.readFileSync(pidFile, 'utf8').trim());
  if (written !== daemon.pid) throw new Error(`dockerd wrote pid ${written} to ${pidFile}, but it is ${daemon.pid}`);
  sb.stateRoots.add(path.join(base, 'run-bind', 'tsbox'));
  const tsboxRoots = (): string[] => {
    const roots: string[] = [];
    let runtimes: string[] = [];
    try {
      runtimes = fs.readdirSync(execRoot).filter((n) => n.startsWith('runtime-'));
    } catch {
      return roots;
    }
    for (const r of runtimes) {
      for (const ns of fs.readdirSync(path.join(execRoot, r))) roots.push(path.join(execRoot, r, ns));
    }
    return roots;
  };
  sb.stateRootFinders.push(tsboxRoots);
  const image = 'localhost/tsbox-busybox:latest';
  const d: Docker = {
    execRoot,
    daemonJson,
    image,
    pid: daemon.pid,
    ...(daemon.netNs !== undefined && { netNs: daemon.netNs }),
    docker,
    spawnDocker: (args) => sb.spawn(DOCKER_CLI, [...global, ...args], clientEnv),
    runInTerminal: (args) => sb.runInTerminal([DOCKER_CLI, ...global, ...args], clientEnv),
    tsboxRootOf(id) {
      const root = tsboxRoots().find((r) => fs.existsSync(path.join(r, id, 'state.json')));
      if (!root) throw new Error(`no tsbox state for ${id} under ${execRoot}/runtime-*/*`);
      sb.stateRoots.add(root);
      return root;
    },
    tsboxRoots,
    inNetwork(argv, opts) {
      if (daemon.netNs === undefined) throw new Error('dockerd shares the host\'s network namespace (network: none)');
      return sb.run('nsenter', [`--net=/proc/${daemon.pid}/ns/net`, '--', ...argv], {}, opts);
    },
    async removeAll() {
      const ids = (await docker(['ps', '--all', '--quiet', '--no-trunc'])).stdout.split('\n').filter((s) => s);
      if (ids.length > 0) await docker(['rm', '--force', ...ids], { timeoutMs: 30_000 });
    },
  };
  const { tar } = sb.buildRootfs();
  const imported = await docker(['import', '--change', 'CMD ["/bin/sh"]', tar, image]);
  if (imported.status !== 0) throw new Error(`docker import: ${imported.stderr}`);
  return d;
}

/** What an engine suite needs of its engine between tests and at the end. */
export interface SuiteEngine {
  removeAll(): Promise<void>;
  close?(): void;
}

/**
 * The hooks every engine suite shares: `start` makes the engine once in a
 * fresh sandbox; after each test every container goes (`removedBy` names
 * how, for the message) and none may be left in tsbox's state; at the end
 * the sandbox's teardown must find nothing left on the host (and if the
 * run is interrupted, the sandbox's reaper cleans up).
 */
export function useEngineSuite(name: string, start: (sb: EngineSandbox) => Promise<SuiteEngine>, removedBy: string): void {
  let sb: EngineSandbox | undefined;
  let engine: SuiteEngine | undefined;

  beforeAll(async () => {
    sb = new EngineSandbox(name);
    engine = await start(sb);
  }, HOOK_TIMEOUT);

  afterEach(async () => {
    if (!sb || !engine) return;
    await engine.removeAll();
    const left = sb.allStateRoots().flatMap((root) => EngineSandbox.stateEntries(root));
    expect(left, `containers left in tsbox state after ${removedBy}`).toEqual([]);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    engine?.close?.();
    if (!sb) return;
    expect(await sb.teardown()).toEqual(CLEAN_TEARDOWN);
  }, HOOK_TIMEOUT);
}

/**
 * A Dockerfile for the build suites (docker's classic builder, podman
 * build): a multi-stage build with ENV, WORKDIR, a COPY --from and RUN
 * steps as root and as nobody; $IMAGE is the offline busybox image. Its
 * image's CMD prints MULTI_STAGE_OUTPUT.
 */
export const MULTI_STAGE_DOCKERFILE = [
  'FROM $IMAGE AS first',
  'RUN echo built-in-first > /from-first',
  'FROM $IMAGE',
  'ENV GREETING="hello there" STEP=env',
  'WORKDIR /work/dir',
  'RUN echo "$GREETING/$STEP/$(pwd)" > made && mkdir -p /data && echo "nobody:x:65534:65534:nobody:/:/bin/sh" >> /etc/passwd && chown 65534 /data',
  'COPY --from=first /from-first /copied',
  'USER nobody',
  'RUN id -u > /data/uid && touch /data/by-nobody && ! touch /root-only 2> /data/denied',
  'CMD ["sh", "-c", "cat /work/dir/made /copied /data/uid; ls -ln /data/by-nobody | awk \'{print $3}\'; cat /data/denied; pwd; id -u; echo $GREETING"]',
].join('\n') + '\n';

/** What a container of MULTI_STAGE_DOCKERFILE's image prints. */
export const MULTI_STAGE_OUTPUT = [
  'hello there/env//work/dir',
  'built-in-first',
  '65534',
  '65534',
  'touch: /root-only: Permission denied',
  '/work/dir',
  '65534',
  'hello there',
  '',
].join('\n');
