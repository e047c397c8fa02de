import type { CommandContext } from '../context.js';
import { runtimeOf, theId } from '../runtime.js';

export async function command(ctx: CommandContext): Promise<number> {
  const notifySocket = process.env.NOTIFY_SOCKET;
  for (const w of await runtimeOf(ctx).start(theId(ctx, 'start'), notifySocket ? { notifySocket } : {})) ctx.log.warn(w);
  return 0;
}
