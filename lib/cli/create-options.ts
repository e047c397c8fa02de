import { TsboxError } from '../errors.js';
import type { CreateOptions } from '../runtime/runtime.js';
import type { CommandContext } from './context.js';

/** The flags create and run share, as CreateOptions. */
export function createOptions({ flags }: CommandContext): CreateOptions {
  if (flags['no-pivot']) throw new TsboxError('--no-pivot is not supported by tsbox: the root is always entered with pivot_root');
  return {
    ...(flags['pid-file'] !== undefined && { pidFile: flags['pid-file'] as string }),
    ...(flags['console-socket'] !== undefined && { consoleSocket: flags['console-socket'] as string }),
    preserveFds: flags['preserve-fds'] as number,
    ...(flags['pidfd-socket'] !== undefined && { pidfdSocket: flags['pidfd-socket'] as string }),
  };
}
