import type { CommandContext } from '../context.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  await runtimeOf(ctx).pause(theId(ctx, 'pause'));
  return 0;
}
