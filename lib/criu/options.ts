import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { Mount } from '../oci/types.js';

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
}

export interface RestoreOptions extends CriuSharedOptions {
  /** Write the restored init's pid here. */
  pidFile?: string;
  /** A unix socket to send the restored terminal's master to (not supported: an error). */
  consoleSocket?: string;
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
  if (o.lazyPages) {
    throw new TsboxError('--lazy-pages is not supported: it needs CRIU\'s lazy-pages daemon and page server, which tsbox does not run');
  }
}

/** The flags both dump and restore pass to CRIU. */
function sharedArgs(o: CriuSharedOptions, images: string, work: string, log: string): string[] {
  const mode = o.manageCgroupsMode ?? 'soft';
  return [
    '--images-dir', images,
    '--work-dir', work,
    '--log-file', log,
    '-v4',
    ...(o.tcpEstablished ? ['--tcp-established'] : []),
    ...(o.extUnixSk ? ['--ext-unix-sk'] : []),
    ...(o.shellJob ? ['--shell-job'] : []),
    ...(o.fileLocks ? ['--file-locks'] : []),
    ...(o.autoDedup ? ['--auto-dedup'] : []),
    ...(o.emptyNs?.includes('network') ? ['--empty-ns', 'net'] : []),
    ...(mode === 'ignore' ? [] : [`--manage-cgroups=${mode}`]),
  ];
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
  images: string;
  work: string;
  log: string;
  mounts: { key: string }[];
  stdio: StdioKey[];
}

/** criu's arguments for a checkpoint (dump, or pre-dump). */
export function dumpArgs(o: CheckpointOptions, a: DumpArgs): string[] {
  return [
    o.preDump ? 'pre-dump' : 'dump',
    '--tree', String(a.pid),
    ...(a.freezeCgroup !== undefined ? ['--freeze-cgroup', a.freezeCgroup] : []),
    ...sharedArgs(o, a.images, a.work, a.log),
    ...(o.leaveRunning && !o.preDump ? ['--leave-running'] : []),
    ...(o.preDump ? ['--track-mem'] : []),
    ...(o.parentPath !== undefined ? ['--prev-images-dir', o.parentPath, '--track-mem'] : []),
    ...a.mounts.flatMap((m) => ['--external', `mnt[${m.key}]:${m.key}`]),
    ...a.stdio.flatMap((s) => (s.external ? ['--external', s.external] : [])),
  ];
}

export interface RestoreArgs {
  images: string;
  work: string;
  log: string;
  /** The rootfs, a mount point (CRIU requires one). */
  root: string;
  pidFile: string;
  mounts: { key: string; source: string }[];
  /** The descriptors of criu's own that take the place of the dumped init's stdio. */
  stdio: StdioKey[];
}

/**
 * criu's arguments for a restore: detached, with the init as a sibling of
 * criu (so a child of whoever started criu, as a created container's init
 * is tsbox's), into the mount namespace rebuilt on `root`.
 */
export function restoreArgs(o: RestoreOptions, a: RestoreArgs): string[] {
  return [
    'restore',
    '--restore-detached',
    '--restore-sibling',
    '--root', a.root,
    '--pidfile', a.pidFile,
    // CRIU 3.17's mount-v2 engine cannot give a mount bound again from an
    // external source (a mask's /dev/null) the slave sharing it had (it
    // fails with EINVAL): the compatibility engine can.
    '--mntns-compat-mode',
    ...sharedArgs(o, a.images, a.work, a.log),
    ...a.mounts.flatMap((m) => ['--external', `mnt[${m.key}]:${m.source}`]),
    ...a.stdio.flatMap((s) => ['--inherit-fd', `fd[${s.fd}]:${s.key}`]),
  ];
}
