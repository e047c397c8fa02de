import type { CriuSharedOptions } from '../criu/options.js';
import type { CommandContext } from './context.js';

/** The CRIU flags checkpoint and restore share, as options. */
export function criuOptions({ flags }: CommandContext): CriuSharedOptions {
  const emptyNs = flags['empty-ns'] as string[] | undefined;
  return {
    imagePath: flags['image-path'] as string,
    ...(flags['work-path'] !== undefined && { workPath: flags['work-path'] as string }),
    ...(flags['tcp-established'] === true && { tcpEstablished: true }),
    ...(flags['ext-unix-sk'] === true && { extUnixSk: true }),
    ...(flags['shell-job'] === true && { shellJob: true }),
    ...(flags['file-locks'] === true && { fileLocks: true }),
    ...(flags['manage-cgroups-mode'] !== undefined && { manageCgroupsMode: flags['manage-cgroups-mode'] as string }),
    ...(emptyNs && emptyNs.length > 0 && { emptyNs }),
    ...(flags['auto-dedup'] === true && { autoDedup: true }),
    ...(flags['lazy-pages'] === true && { lazyPages: true }),
  };
}
