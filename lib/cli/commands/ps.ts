import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TsboxError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { formatOf } from '../format.js';
import { runtimeOf } from '../runtime.js';
import { table } from '../table.js';
import { writeStdout } from '../output.js';
import { UsageError } from '../parse.js';

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

/**
 * runc's `ps ID [PS-OPTIONS]`: ps(1)'s own table, header kept, rows only for
 * the container's (host) pids, found by the PID column of the header.
 */
export function filterPsTable(output: string, pids: readonly number[]): string {
  const [header = '', ...rows] = output.split('\n');
  const column = header.trim().split(/\s+/).indexOf('PID');
  if (column < 0) throw new TsboxError('ps: its output has no PID column (the ps options must keep it)');
  const wanted = new Set(pids);
  const kept = rows.filter((row) => {
    const field = row.trim().split(/\s+/)[column];
    if (field === undefined || field === '') return false;
    if (!/^\d+$/.test(field)) throw new TsboxError(`ps: cannot read a pid in its PID column: "${field}"`);
    return wanted.has(Number(field));
  });
  return [header, ...kept].join('\n') + '\n';
}

function runPs(options: string[]): string {
  try {
    return execFileSync('ps', options, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; status?: number };
    if (e.code === 'ENOENT') throw new TsboxError('ps: the ps(1) program is not installed (procps)');
    const why = (e.stderr ?? '').trim().split('\n')[0] || `exit status ${e.status}`;
    throw new TsboxError(`ps ${options.join(' ')}: ${why}`);
  }
}

export async function command(ctx: CommandContext): Promise<number> {
  const [id, ...rest] = ctx.args;
  if (id === undefined) throw new UsageError('a container id is required', 'ps');
  // `ps ID -- -o pid,comm`: the "--" only ends tsbox's own flags.
  const psOptions = rest[0] === '--' ? rest.slice(1) : rest;
  const format = formatOf(ctx, 'ps');
  if (format === 'json' && psOptions.length > 0) throw new UsageError('ps options are for the table format only', 'ps');
  const pids = runtimeOf(ctx).pids(id);
  if (format === 'json') {
    writeStdout(`${JSON.stringify(pids)}\n`);
  } else if (psOptions.length > 0) {
    writeStdout(filterPsTable(runPs(psOptions), pids));
  } else {
    writeStdout(table(['PID', 'CMD'], pids.map((pid) => [String(pid), commandLine(pid)])));
  }
  return 0;
}
