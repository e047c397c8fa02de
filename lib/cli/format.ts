import { UsageError } from './parse.js';
import type { CommandContext } from './context.js';

export function formatOf(ctx: CommandContext, command: string): 'table' | 'json' {
  const f = ctx.flags.format;
  if (f !== 'table' && f !== 'json') throw new UsageError(`--format must be table or json, got "${f}"`, command);
  return f;
}
