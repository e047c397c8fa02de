import type { CommandContext } from '../context.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  const id = theId(ctx, 'kill', 1);
  await runtimeOf(ctx).kill(id, ctx.args[1] ?? 'SIGTERM', { all: ctx.flags.all === true });
  return 0;
}
