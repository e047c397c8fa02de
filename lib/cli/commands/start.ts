import type { CommandContext } from '../context.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  for (const w of await runtimeOf(ctx).start(theId(ctx, 'start'))) ctx.log.warn(w);
  return 0;
}
