import type { CommandContext } from '../context.js';
import { formatOf } from '../format.js';
import { UsageError } from '../parse.js';
import { storeOf } from '../runtime.js';
import { table } from '../table.js';
import { writeStdout } from '../output.js';

export async function command(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 0) throw new UsageError(`takes no arguments, got "${ctx.args[0]}"`, 'list');
  const format = formatOf(ctx, 'list');
  const states = storeOf(ctx).states();
  if (ctx.flags.quiet) {
    writeStdout(states.map((s) => `${s.id}\n`).join(''));
  } else if (format === 'json') {
    writeStdout(`${JSON.stringify(states)}\n`);
  } else {
    const rows = states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]);
    writeStdout(table(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], rows));
  }
  return 0;
}
