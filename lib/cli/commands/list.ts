import type { CommandContext } from '../context.js';
import { formatOf } from '../format.js';
import { UsageError } from '../parse.js';
import { runtimeOf } from '../runtime.js';
import { table } from '../table.js';

export async function command(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 0) throw new UsageError(`takes no arguments, got "${ctx.args[0]}"`, 'list');
  const format = formatOf(ctx, 'list');
  const states = runtimeOf(ctx).list();
  if (ctx.flags.quiet) {
    process.stdout.write(states.map((s) => `${s.id}\n`).join(''));
  } else if (format === 'json') {
    process.stdout.write(`${JSON.stringify(states)}\n`);
  } else {
    const rows = states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]);
    process.stdout.write(table(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], rows));
  }
  return 0;
}
