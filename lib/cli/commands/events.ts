import { toJson } from '../../cgroups/stats.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../parse.js';
import { runtimeOf, theId } from '../runtime.js';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration as runc's --interval takes it ("5s", "500ms", "1m30s", "1.5h") in milliseconds. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = re.lastIndex;
  }
  if (text === '' || at !== text.length) throw new UsageError(`--interval takes a duration (5s, 500ms, 1m30s), got "${text}"`, 'events');
  return ms;
}

/** One line per event, as runc's json.Encoder writes them. */
function print(event: unknown): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(`${toJson(event)}\n`, (err) => (err ? reject(err) : resolve())));
}

export async function command(ctx: CommandContext): Promise<number> {
  const id = theId(ctx, 'events');
  const interval = parseDuration(ctx.flags.interval as string);
  if (interval <= 0) throw new UsageError('--interval must be greater than 0', 'events');
  const runtime = runtimeOf(ctx);
  if (ctx.flags.stats) {
    await print({ type: 'stats', id, data: await runtime.stats(id) });
    return 0;
  }
  for await (const event of runtime.events(id, { interval })) await print(event);
  return 0;
}
