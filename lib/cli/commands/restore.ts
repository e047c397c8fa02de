import { TsboxError } from '../../errors.js';
import { waitFor } from '../../launch.js';
import type { Binding } from '../../native/binding.js';
import { exitStatus } from '../../run.js';
import { signalNumber } from '../../signals.js';
import type { CommandContext } from '../context.js';
import { criuOptions } from '../criu-options.js';
import { runtimeOf, theId } from '../runtime.js';
import { supervise, type Supervised } from '../supervise.js';

/**
 * The restored init, to supervise: CRIU restored it as criu's sibling, so
 * it is our child and its pid stays its own until we reap it.
 */
function restoredInit(native: Binding, pidfd: number, warnings: string[]): Supervised {
  let alive = true;
  const exited = waitFor(native, pidfd).then((info) => {
    // Together, so that kill() never signals through a closed (reused) descriptor.
    alive = false;
    native.close(pidfd);
    return exitStatus(info);
  });
  return {
    warnings,
    terminal: null,
    exited,
    kill: (signal = 'SIGTERM') => alive && native.signal(pidfd, signalNumber(signal)) === 0,
    resize: () => undefined,
  };
}

export async function command(ctx: CommandContext): Promise<number> {
  const { flags, log } = ctx;
  const id = theId(ctx, 'restore');
  const runtime = runtimeOf(ctx);
  const restore = () =>
    runtime.restore(id, (flags.bundle as string | undefined) ?? '.', {
      ...criuOptions(ctx),
      ...(flags['pid-file'] !== undefined && { pidFile: flags['pid-file'] as string }),
      ...(flags['console-socket'] !== undefined && { consoleSocket: flags['console-socket'] as string }),
    });
  if (flags.detach) {
    for (const w of (await restore()).warnings) log.warn(w);
    return 0;
  }
  // As run: signals sent to tsbox reach the restored init (those that come
  // while CRIU restores it, once it runs); tsbox waits for it, then removes
  // the container and exits with its status.
  const status = await supervise(runtime.native, async () => {
    const restored = await restore();
    const pidfd = runtime.native.pidfdOpen(restored.pid);
    if (pidfd < 0) {
      await runtime.delete(id, { force: true });
      throw new TsboxError(`restore container "${id}": pidfd_open of the restored init (pid ${restored.pid}): ${runtime.native.strerror(-pidfd)}`);
    }
    return restoredInit(runtime.native, pidfd, restored.warnings);
  }, log);
  for (const w of await runtime.delete(id, { force: true })) log.warn(w);
  return status;
}
