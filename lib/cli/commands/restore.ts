import type { CommandContext } from '../context.js';
import { criuOptions } from '../criu-options.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  const { flags, log } = ctx;
  const id = theId(ctx, 'restore');
  const runtime = runtimeOf(ctx);
  const restored = await runtime.restore(id, (flags.bundle as string | undefined) ?? '.', {
    ...criuOptions(ctx),
    ...(flags['pid-file'] !== undefined && { pidFile: flags['pid-file'] as string }),
    ...(flags['console-socket'] !== undefined && { consoleSocket: flags['console-socket'] as string }),
  });
  for (const w of restored.warnings) log.warn(w);
  if (flags.detach) return 0;
  // As run: wait for the container's process (our child: CRIU restored it
  // as criu's sibling), then remove the container and exit with its status.
  const native = runtime.native;
  const pidfd = native.pidfdOpen(restored.pid);
  let status = 0;
  if (pidfd >= 0) {
    try {
      await native.readable(pidfd);
      const exit = await native.waitExit(pidfd);
      if (exit !== 'again') status = exit.code ?? 128 + (exit.signal ?? 0);
    } finally {
      native.close(pidfd);
    }
  }
  for (const w of await runtime.delete(id, { force: true })) log.warn(w);
  return status;
}
