import type { CommandContext } from '../context.js';
import { storeOf, theId } from '../runtime.js';
import { writeStdout } from '../output.js';

export async function command(ctx: CommandContext): Promise<number> {
  const state = storeOf(ctx).containerState(theId(ctx, 'state'));
  writeStdout(`${JSON.stringify(state, null, 2)}\n`);
  return 0;
}
