import { closeSync, constants, mkdirSync, openSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { Spec } from '../oci/types.js';
import type { Binding } from '../native/binding.js';
import { criuUnusable } from './criu.js';
import { imageDir, writeDescriptors } from './images.js';
import { checkCheckpoint, dumpRequest, externalMounts, maskedMounts, type CheckpointOptions } from './options.js';
import { externalNamespaces } from './namespaces.js';
import { mountPoints, stdioKeys } from './stdio.js';
import { criuSwrk } from './swrk.js';

/**
 * Dumps the process tree of a container's init (`pid`) with CRIU into the
 * image directory. CRIU stops the processes for the dump and, unless the
 * checkpoint leaves them running (or is a pre-dump), kills them once it is
 * written; the caller removes the rest of the container. When CRIU cannot
 * run here or the dump fails, nothing is left of the images and the
 * container runs on (CRIU resumes it).
 */
export async function dumpContainer(
  native: Binding,
  id: string,
  pid: number,
  bundleDir: string,
  spec: Spec,
  freezeCgroup: string | undefined,
  o: CheckpointOptions,
): Promise<void> {
  checkCheckpoint(o);
  const what = `checkpoint container "${id}"`;
  const unusable = criuUnusable();
  if (unusable) throw new TsboxError(`${what}: ${unusable}`);
  const images = imageDir(path.resolve(o.imagePath ?? 'checkpoint'));
  const work = o.workPath !== undefined ? path.resolve(o.workPath) : images.dir;
  const logFile = o.preDump ? 'pre-dump.log' : 'dump.log';
  const dirs: number[] = [];
  try {
    mkdirSync(work, { recursive: true, mode: 0o700 });
    const stdio = stdioKeys(pid);
    writeDescriptors(images.dir, stdio);
    const mounts = [...externalMounts(spec.mounts, bundleDir), ...maskedMounts(spec.linux?.maskedPaths, mountPoints(pid))];
    const namespaces = externalNamespaces(spec.linux?.namespaces, pid, what);
    for (const d of [images.dir, work]) dirs.push(openSync(d, constants.O_RDONLY | constants.O_DIRECTORY));
    const { type, opts } = dumpRequest(o, { pid, imagesDirFd: dirs[0]!, workDirFd: dirs[1]!, logFile, mounts, stdio, namespaces, ...(freezeCgroup !== undefined && { freezeCgroup }) });
    await criuSwrk(native, `${what}: criu ${o.preDump ? 'pre-dump' : 'dump'}`, type, opts, path.join(work, logFile), {
      stdio: ['ignore', 'ignore', 'pipe'],
      // A lazy dump says when it serves the memory (runc's --status-fd gets a \0, then is closed).
      onNotify: async (script, _pid, fd) => {
        if (fd >= 0) native.close(fd);
        if (script === 'status-ready' && o.statusFd !== undefined) {
          try {
            writeSync(o.statusFd, '\0');
            closeSync(o.statusFd);
          } catch (err) {
            throw new TsboxError(`${what}: --status-fd ${o.statusFd}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
          }
        }
      },
    });
  } catch (err) {
    images.undo();
    // The log went with the images: the message has CRIU's reason.
    throw err instanceof TsboxError && work === images.dir ? new TsboxError(err.message.replace(/ \(criu's log: [^)]*\)$/, '')) : err;
  } finally {
    for (const fd of dirs) closeSync(fd);
  }
}
