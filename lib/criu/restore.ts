import { closeSync, openSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { Spec } from '../oci/types.js';
import { runCriu } from './criu.js';
import { checkImages, readDescriptors } from './images.js';
import { externalMounts, restoreArgs, type RestoreOptions } from './options.js';
import { setupNamespacesScript } from './setup-namespaces.js';

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
 * container's rootfs: CRIU makes its namespaces, rebuilds its mounts from
 * the images (tmpfs contents included; bind mounts bound again from the
 * bundle's sources), puts the processes in their cgroups (made and
 * limited by the caller before) and gives the init the caller's stdio.
 * `onSetupNamespaces` runs once CRIU made the init's namespaces, before
 * the tree runs on (the prestart and createRuntime hooks), its failure
 * failing the restore. Returns the restored init's host pid: a child of
 * this process (CRIU's --restore-sibling), as a created container's init is.
 */
export async function restoreContainer(
  id: string,
  rootfs: string,
  bundleDir: string,
  spec: Spec,
  pidFile: string,
  o: RestoreOptions & { stdio?: RestoreStdio },
  onSetupNamespaces?: { dir: string; run: (pid: number) => Promise<void> },
): Promise<number> {
  const images = path.resolve(o.imagePath ?? 'checkpoint');
  checkImages(images);
  const work = o.workPath !== undefined ? path.resolve(o.workPath) : images;
  const log = path.join(work, 'restore.log');
  // The init's new stdio reaches criu as its descriptors 3-5 (criu
  // closes a descriptor it inherits for the restored tree: its own 0-2
  // stay), and stdin also as its own 0, which --shell-job makes the
  // restored session's terminal.
  const given = stdioFds(o.stdio ?? 'inherit');
  try {
    const stdio = readDescriptors(images).map((k) => ({ ...k, fd: k.fd + 3 }));
    // Every masked path is named: CRIU binds those its images hold, and lets the others be.
    const masked = (spec.linux?.maskedPaths ?? []).map((p) => ({ key: p, source: '/dev/null' }));
    const mounts = [...externalMounts(spec.mounts, bundleDir), ...masked];
    const args = restoreArgs(o, { images, work, log, root: rootfs, pidFile, mounts, stdio });
    const hooks = onSetupNamespaces && named(id, () => setupNamespacesScript(onSetupNamespaces.dir, onSetupNamespaces.run));
    const criu = runCriu(`restore container "${id}": criu restore`, hooks ? [...args, '--action-script', hooks.script] : args, log, {
      wrap: [...PRIVATE_ROOT, rootfs],
      stdio: [given.fds[0], 'ignore', 'pipe', ...given.fds],
    });
    // The hooks' own failure says more than CRIU's "action scripts failed".
    const settled = await criu.then(() => undefined, (err: unknown) => err);
    const ran = await hooks?.finish();
    if (ran?.error !== undefined) throw ran.error;
    if (settled !== undefined) throw settled;
  } finally {
    given.close();
  }
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
  if (!(pid > 0)) throw new TsboxError(`restore container "${id}": criu wrote no pid to "${pidFile}"`);
  return pid;
}

/** `make()`, its error naming the container. */
function named<T>(id: string, make: () => T): T {
  try {
    return make();
  } catch (err) {
    throw new TsboxError(`restore container "${id}": ${(err as Error).message}`, { cause: err });
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
