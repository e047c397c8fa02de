import { readFileSync } from 'node:fs';
import type { CommandContext } from '../context.js';
import { formatOf } from '../format.js';
import { runtimeOf, theId } from '../runtime.js';
import { table } from '../table.js';
import { writeStdout } from '../output.js';

/** A process's command line, as ps shows it ([name] for kernel-style empty ones). */
function commandLine(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    if (argv.length > 0) return argv.join(' ');
    return `[${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}]`;
  } catch {
    return '?';
  }
}

export async function command(ctx: CommandContext): Promise<number> {
  const id = theId(ctx, 'ps');
  const format = formatOf(ctx, 'ps');
  const pids = runtimeOf(ctx).pids(id);
  if (format === 'json') {
    writeStdout(`${JSON.stringify(pids)}\n`);
  } else {
    writeStdout(table(['PID', 'CMD'], pids.map((pid) => [String(pid), commandLine(pid)])));
  }
  return 0;
}
