import type { CreateOptions } from '../runtime/runtime.js';
import type { CommandContext } from './context.js';

/** The flags create and run share, as CreateOptions. */
export function createOptions({ flags }: CommandContext): CreateOptions {
  return {
    ...(flags['no-pivot'] === true && { noPivot: true }),
    ...(flags['no-new-keyring'] === true && { noNewKeyring: true }),
    ...(flags['pid-file'] !== undefined && { pidFile: flags['pid-file'] as string }),
    ...(flags['console-socket'] !== undefined && { consoleSocket: flags['console-socket'] as string }),
    preserveFds: flags['preserve-fds'] as number,
    ...(flags['pidfd-socket'] !== undefined && { pidfdSocket: flags['pidfd-socket'] as string }),
    listenFds: socketActivationFds(),
    ...(process.env.NOTIFY_SOCKET && { notifySocket: process.env.NOTIFY_SOCKET }),
  };
}

/**
 * How many sockets systemd's socket activation passed to tsbox (from 3 on),
 * for the container: LISTEN_FDS, when LISTEN_PID is tsbox's own pid (as
 * sd_listen_fds checks, and runc), else 0: descriptors meant for another
 * process are not passed on.
 */
function socketActivationFds(env: NodeJS.ProcessEnv = process.env): number {
  if (env.LISTEN_FDS === undefined || env.LISTEN_PID !== String(process.pid)) return 0;
  const n = Number(env.LISTEN_FDS);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}
