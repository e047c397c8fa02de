import type { CommandContext } from '../context.js';
import { createOptions } from '../create-options.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  const id = theId(ctx, 'create');
  const { warnings } = await runtimeOf(ctx).create(id, (ctx.flags.bundle as string | undefined) ?? '.', createOptions(ctx));
  for (const w of warnings) ctx.log.warn(w);
  return 0;
}
