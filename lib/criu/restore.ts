import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { Spec } from '../oci/types.js';
import type { Binding } from '../native/binding.js';
import { checkImages, readDescriptors } from './images.js';
import { restoreNamespaces } from './namespaces.js';
import { externalMounts, restoreConfig, restoreOpts, type RestoreOptions } from './options.js';
import { CriuReqType } from './rpc.js';
import { criuSwrk } from './swrk.js';

/**
 * CRIU wants the root it rebuilds the container's mount namespace on to be
 * a mount point. It gets a bind mount of the rootfs onto itself, made in a
 * mount namespace of criu's own (private: nothing propagates to the host,
 * and it goes away with criu, whatever happens), as create binds the
 * rootfs for its init.
 */
const PRIVATE_ROOT = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind -- "$0" "$0" && exec "$@"'];

/**
 * Restores a checkpoint's process tree (see dumpContainer) into the
 * container's rootfs through CRIU's RPC (lib/criu/swrk.ts): CRIU makes its
 * namespaces, rebuilds its mounts from the images (tmpfs contents
 * included; bind mounts bound again from the bundle's sources), puts the
 * processes in their cgroups (made and limited by the caller before) and
 * gives the init the caller's stdio. `onSetupNamespaces` runs once CRIU
 * made the init's namespaces, before the tree runs on (the prestart and
 * createRuntime hooks), its failure failing the restore. A terminal of the
 * container's own comes back on a new master, sent to `o.consoleSocket`
 * as create sends one (`sentMaster`). Returns the restored init's host
 * pid: a child of this process (rst_sibling), as a created container's
 * init is.
 */
export async function restoreContainer(
  native: Binding,
  id: string,
  rootfs: string,
  bundleDir: string,
  spec: Spec,
  o: RestoreOptions & { stdio?: RestoreStdio },
  onSetupNamespaces?: (pid: number) => Promise<void>,
): Promise<{ pid: number; sentMaster: boolean }> {
  const what = `restore container "${id}"`;
  const images = path.resolve(o.imagePath ?? 'checkpoint');
  checkImages(images);
  const work = o.workPath !== undefined ? path.resolve(o.workPath) : images;
  const logFile = 'restore.log';
  // The init's new stdio reaches criu as its descriptors 4-6 (3 is its
  // RPC socket; criu closes a descriptor it inherits for the restored
  // tree: its own 0-2 stay), and stdin also as its own 0, which
  // --shell-job makes the restored session's terminal.
  const given = stdioFds(o.stdio ?? 'inherit');
  const dirs: number[] = [];
  const nsFds: number[] = [];
  let scratch: string | undefined;
  let sentMaster = false;
  try {
    const stdio = readDescriptors(images).map((k) => ({ ...k, fd: k.fd + 4 }));
    // Every masked path is named: CRIU binds those its images hold, and lets the others be.
    const masked = (spec.linux?.maskedPaths ?? []).map((p) => ({ key: p, source: '/dev/null' }));
    const mounts = [...externalMounts(spec.mounts, bundleDir), ...masked];
    mkdirSync(work, { recursive: true, mode: 0o700 });
    dirs.push(openSync(images, constants.O_RDONLY | constants.O_DIRECTORY));
    scratch = mkdtempSync(path.join(tmpdir(), 'tsbox-criu-'));
    const configFile = path.join(scratch, 'restore.conf');
    writeFileSync(configFile, restoreConfig(work), { mode: 0o600 });
    // The namespaces the config joins by path: descriptors of criu's own
    // after the stdio (7, 8, ...) for the external ones, paths for the others.
    const ns = restoreNamespaces(spec.linux?.namespaces, what);
    for (const n of ns.inherit) {
      try {
        nsFds.push(openSync(n.path, 'r'));
      } catch (err) {
        throw new TsboxError(`${what}: ${n.at}.path "${n.path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
    }
    const namespaces = { inherit: ns.inherit.map((n, i) => ({ key: n.key, fd: 7 + i })), join: ns.join };
    const opts = restoreOpts(o, { imagesDirFd: dirs[0]!, configFile, logFile, root: rootfs, mounts, stdio, namespaces });
    const onNotify = async (script: string, pid: number | undefined, fd: number): Promise<void> => {
      if (script === 'orphan-pts-master') {
        if (o.consoleSocket === undefined) {
          if (fd >= 0) native.close(fd);
          throw new TsboxError(`${what}: the checkpointed container has a terminal of its own (process.terminal): give restore --console-socket for its new master`);
        }
        if (fd < 0) throw new TsboxError(`${what}: criu sent the terminal's new master without its descriptor`);
        try {
          native.sendFd(o.consoleSocket, fd, '/dev/ptmx', 'console socket');
          sentMaster = true;
        } finally {
          native.close(fd);
        }
        return;
      }
      if (fd >= 0) native.close(fd);
      if (script === 'setup-namespaces' && onSetupNamespaces) {
        if (!(pid !== undefined && pid > 0)) throw new TsboxError(`${what}: criu reported setup-namespaces without the init's pid`);
        await onSetupNamespaces(pid);
      }
    };
    const resp = await criuSwrk(native, `${what}: criu restore`, CriuReqType.RESTORE, opts, path.join(work, logFile), {
      wrap: [...PRIVATE_ROOT, rootfs],
      stdio: [given.fds[0], 'ignore', 'pipe'],
      extra: [...given.fds, ...nsFds],
      onNotify,
    });
    const pid = resp.restoredPid ?? 0;
    if (!(pid > 0)) throw new TsboxError(`${what}: criu answered without the restored init's pid`);
    return { pid, sentMaster };
  } finally {
    given.close();
    for (const fd of [...dirs, ...nsFds]) closeSync(fd);
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  }
}

/** What the restored init's stdio is: this process's ('inherit'), /dev/null ('ignore'), or descriptors. */
export type RestoreStdio = 'inherit' | 'ignore' | [number | 'inherit' | 'ignore', number | 'inherit' | 'ignore', number | 'inherit' | 'ignore'];

/** The descriptors for `stdio`, with /dev/null opened for 'ignore' (close() closes those). */
function stdioFds(stdio: RestoreStdio): { fds: [number, number, number]; close: () => void } {
  const opened: number[] = [];
  const each = Array.isArray(stdio) ? stdio : [stdio, stdio, stdio];
  const fds = each.map((s, i) => {
    if (s === 'inherit') return i;
    if (typeof s === 'number') return s;
    const fd = openSync('/dev/null', i === 0 ? 'r' : 'w');
    opened.push(fd);
    return fd;
  }) as [number, number, number];
  return { fds, close: () => opened.forEach((fd) => closeSync(fd)) };
}
