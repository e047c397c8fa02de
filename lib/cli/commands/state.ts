import type { CommandContext } from '../context.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  const state = runtimeOf(ctx).state(theId(ctx, 'state'));
  process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
  return 0;
}
