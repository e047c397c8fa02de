import type { CommandContext } from '../context.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  for (const w of await runtimeOf(ctx).delete(theId(ctx, 'delete'), { force: ctx.flags.force === true })) ctx.log.warn(w);
  return 0;
}
