import type { CommandContext } from '../context.js';
import { criuOptions } from '../criu-options.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  const { flags } = ctx;
  const warnings = await runtimeOf(ctx).checkpoint(theId(ctx, 'checkpoint'), {
    ...criuOptions(ctx),
    ...(flags['leave-running'] === true && { leaveRunning: true }),
    ...(flags['pre-dump'] === true && { preDump: true }),
    ...(flags['parent-path'] !== undefined && { parentPath: flags['parent-path'] as string }),
    ...(flags['page-server'] !== undefined && { pageServer: flags['page-server'] as string }),
    ...(flags['status-fd'] !== undefined && { statusFd: flags['status-fd'] as number }),
  });
  for (const w of warnings) ctx.log.warn(w);
  return 0;
}
