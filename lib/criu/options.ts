import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { Mount } from '../oci/types.js';
import { CriuCgMode, CriuReqType, type CriuOpts } from './rpc.js';

/** What checkpoint and restore share: runc's flags of the same names. */
export interface CriuSharedOptions {
  /** Where the images are (default ./checkpoint, as runc). */
  imagePath?: string;
  /** Where CRIU's logs go (default: the image directory). */
  workPath?: string;
  tcpEstablished?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  /** soft (default), full, strict or ignore: how CRIU treats the container's cgroups. */
  manageCgroupsMode?: string;
  /** Namespaces CRIU makes empty instead of restoring them (runc's --empty-ns; only network). */
  emptyNs?: string[];
  autoDedup?: boolean;
  lazyPages?: boolean;
}

export interface CheckpointOptions extends CriuSharedOptions {
  /** Keep the container running after the checkpoint (runc's default is to stop and remove it). */
  leaveRunning?: boolean;
  /** Only dump the memory, for a later dump with --parent-path (the container keeps running). */
  preDump?: boolean;
  /** A previous (pre-)dump's image directory, relative to the image directory. */
  parentPath?: string;
  /** ADDRESS:PORT of the page server: with lazyPages, where the dump serves the memory; else a `criu page-server` to send it to. */
  pageServer?: string;
  /** A descriptor to write a \0 to, then close, once a lazy dump serves its memory (runc's --status-fd). */
  statusFd?: number;
}

export interface RestoreOptions extends CriuSharedOptions {
  /** Write the restored init's pid here. */
  pidFile?: string;
  /** A unix socket to send the restored terminal's new master to (a container with process.terminal), as create does. */
  consoleSocket?: string;
  /** The container's cgroups, as CRIU's cgroup roots (./cgroup-roots.ts). */
  cgroupRoots?: { ctrl?: string; path: string }[];
}

const CGROUP_MODES = ['soft', 'full', 'strict', 'ignore'];

/** The checks both commands make on their flags before anything happens: one-line errors. */
export function checkShared(o: CriuSharedOptions): void {
  if (o.manageCgroupsMode !== undefined && !CGROUP_MODES.includes(o.manageCgroupsMode)) {
    throw new TsboxError(`--manage-cgroups-mode must be one of ${CGROUP_MODES.join(', ')}, got "${o.manageCgroupsMode}"`);
  }
  for (const ns of o.emptyNs ?? []) {
    // What runc allows: CRIU can leave only the network namespace to the caller (its hooks set it up).
    if (ns !== 'network') throw new TsboxError(`--empty-ns: only "network" can be left empty, got "${ns}"`);
  }
}

/** The page server's address and port (ADDRESS:PORT, an IPv6 address in brackets). */
export function pageServer(spec: string): { address: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new TsboxError(`--page-server must be ADDRESS:PORT, got "${spec}"`);
  return { address: (m[1] ?? m[2])!, port };
}

/** The checks of checkpoint's own flags: one-line errors before anything happens. */
export function checkCheckpoint(o: CheckpointOptions): void {
  checkShared(o);
  if (o.lazyPages && o.pageServer === undefined) {
    throw new TsboxError('--lazy-pages needs --page-server ADDRESS:PORT (where the dump serves the memory to CRIU\'s lazy-pages daemon)');
  }
  if (o.lazyPages && o.preDump) throw new TsboxError('--lazy-pages and --pre-dump cannot go together (a pre-dump leaves the container running)');
  if (o.statusFd !== undefined && !o.lazyPages) throw new TsboxError('--status-fd goes with --lazy-pages (it says when the memory is served)');
  if (o.pageServer !== undefined) pageServer(o.pageServer);
}

/** CLONE_NEWNET: the only namespace CRIU can leave empty (criu_opts.empty_ns). */
const CLONE_NEWNET = 0x40000000;

/**
 * The options both dump and restore give CRIU. The image and work
 * directories go as descriptors of this process (CRIU opens them through
 * /proc/PID/fd/N, PID its peer on the socket), the log as a name in the
 * work directory.
 */
function sharedOpts(o: CriuSharedOptions, d: { imagesDirFd: number; workDirFd?: number; logFile: string }): CriuOpts {
  const mode = (o.manageCgroupsMode ?? 'soft') as keyof typeof CriuCgMode;
  return {
    imagesDirFd: d.imagesDirFd,
    ...(d.workDirFd !== undefined && { workDirFd: d.workDirFd }),
    logFile: d.logFile,
    logLevel: 4,
    ...(o.tcpEstablished && { tcpEstablished: true }),
    ...(o.extUnixSk && { extUnixSk: true }),
    ...(o.shellJob && { shellJob: true }),
    ...(o.fileLocks && { fileLocks: true }),
    ...(o.autoDedup && { autoDedup: true }),
    ...(o.emptyNs?.includes('network') && { emptyNs: CLONE_NEWNET }),
    ...(o.lazyPages && { lazyPages: true }),
    manageCgroupsMode: CriuCgMode[mode],
    // Every action comes as a notification to answer (as runc asks):
    // setup-namespaces runs the restore's hooks, orphan-pts-master brings
    // a terminal's new master, status-ready says a lazy dump serves.
    notifyScripts: true,
    // A slave pty whose master is outside the tree (the container's own
    // terminal, its master with whoever took it from --console-socket):
    // the dump takes it without its master (and the devpts bind of it on
    // /dev/console); the restore makes a new master for it and hands it
    // over as the orphan-pts-master notification. As runc, always.
    orphanPtsMaster: true,
  };
}

/** The text of restore's CRIU configuration file (see RestoreArgs.configFile): the work directory, by path. */
export function restoreConfig(work: string): string {
  if (/[\s"'\\#]/.test(work)) throw new TsboxError(`restore: the work directory "${work}" has a character CRIU's configuration file cannot hold (white space, a quote, a backslash or #)`);
  return `work-dir ${work}\n`;
}

/** Whether an OCI mount is a bind mount (type bind, or a bind/rbind option). */
export function isBind(m: Mount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/**
 * The container's bind mounts of host paths, which CRIU cannot dump (their
 * content is the host's): each is marked external under its destination,
 * and bound again from its source at restore, as runc does.
 */
export function externalMounts(mounts: readonly Mount[] | undefined, bundleDir: string): { key: string; source: string }[] {
  return (mounts ?? []).filter(isBind).map((m) => ({
    key: path.posix.join('/', m.destination),
    source: path.resolve(bundleDir, m.source ?? ''),
  }));
}

/**
 * The masked files of linux.maskedPaths: each is a bind of the host's
 * /dev/null (lib/plan, the helper's mask()), which CRIU cannot dump (its
 * master is a host mount) and which is bound again from /dev/null at
 * restore, as runc does. Masked directories are read-only tmpfs mounts,
 * which CRIU dumps itself. `mounted` is the container's mount points.
 */
export function maskedMounts(maskedPaths: readonly string[] | undefined, mounted: ReadonlyMap<string, string>): { key: string; source: string }[] {
  return (maskedPaths ?? []).filter((p) => mounted.has(p) && mounted.get(p) !== 'tmpfs').map((p) => ({ key: p, source: '/dev/null' }));
}

/** A descriptor of the init's stdio as CRIU names it for --inherit-fd (see stdio.ts). */
export interface StdioKey {
  fd: number;
  key: string;
  /** For an external file: the --external resource to dump it as. */
  external?: string;
}

export interface DumpArgs {
  pid: number;
  /**
   * The container's freezer cgroup (v1 freezer, or its cgroup2 directory),
   * as runc gives it: CRIU freezes the tree through it, and copes with a
   * container that is paused already (containerd pauses it before the
   * checkpoint; ptrace alone waits forever on a frozen task).
   */
  freezeCgroup?: string;
  imagesDirFd: number;
  workDirFd: number;
  logFile: string;
  mounts: { key: string }[];
  stdio: StdioKey[];
  /** External namespaces (joined by path: ./namespaces.ts), as --external entries. */
  namespaces?: string[];
}

/** CRIU's request for a checkpoint: its type (dump or pre-dump) and options. */
export function dumpRequest(o: CheckpointOptions, a: DumpArgs): { type: number; opts: CriuOpts } {
  return {
    type: o.preDump ? CriuReqType.PRE_DUMP : CriuReqType.DUMP,
    opts: {
      ...sharedOpts(o, a),
      pid: a.pid,
      ...(a.freezeCgroup !== undefined && { freezeCgroup: a.freezeCgroup }),
      ...(o.leaveRunning && !o.preDump && { leaveRunning: true }),
      ...((o.preDump || o.parentPath !== undefined) && { trackMem: true }),
      ...(o.parentPath !== undefined && { parentImg: o.parentPath }),
      ...(o.pageServer !== undefined && { ps: pageServer(o.pageServer) }),
      external: [...a.mounts.map((m) => `mnt[${m.key}]:${m.key}`), ...a.stdio.flatMap((s) => (s.external ? [s.external] : [])), ...(a.namespaces ?? [])],
    },
  };
}

export interface RestoreArgs {
  imagesDirFd: number;
  /**
   * A CRIU configuration file naming the work directory (see
   * restoreConfig): not a descriptor, as at dump, because criu restores
   * in a mount namespace of its own and mounts in its work directory (its
   * cgroup yard), which a path through /proc/PID/fd of this process would
   * put in this process's mount namespace (mount fails, EINVAL).
   */
  configFile: string;
  logFile: string;
  /** The rootfs, a mount point (CRIU requires one). */
  root: string;
  mounts: { key: string; source: string }[];
  /** The descriptors of criu's own that take the place of the dumped init's stdio. */
  stdio: StdioKey[];
  /** Descriptors of criu's own for the external namespaces (their keys), and namespaces to join by path (./namespaces.ts). */
  namespaces?: { inherit: { key: string; fd: number }[]; join: { ns: string; nsFile: string }[] };
}

/**
 * CRIU's options for a restore (always detached through the RPC): the
 * init as a sibling of criu (so a child of whoever started criu, as a
 * created container's init is tsbox's), into the mount namespace rebuilt
 * on `root`.
 */
export function restoreOpts(o: RestoreOptions, a: RestoreArgs): CriuOpts {
  return {
    ...sharedOpts(o, a),
    configFile: a.configFile,
    rstSibling: true,
    root: a.root,
    ...(o.cgroupRoots?.length && { cgRoot: o.cgroupRoots }),
    // CRIU 3.17's mount-v2 engine cannot give a mount bound again from an
    // external source (a mask's /dev/null) the slave sharing it had (it
    // fails with EINVAL): the compatibility engine can.
    mntnsCompatMode: true,
    external: a.mounts.map((m) => `mnt[${m.key}]:${m.source}`),
    inheritFd: [...a.stdio.map((s) => ({ key: s.key, fd: s.fd })), ...(a.namespaces?.inherit ?? [])],
    ...(a.namespaces?.join.length && { joinNs: a.namespaces.join }),
  };
}
