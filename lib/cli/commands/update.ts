import { readFileSync } from 'node:fs';
import { ConfigError, TsboxError } from '../../errors.js';
import type { LinuxResources } from '../../oci/types.js';
import { validateSpec } from '../../oci/validate.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../parse.js';
import { runtimeOf, theId } from '../runtime.js';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** "512m", "1.5g", "64MiB", "1048576", "-1", as runc's update takes sizes (binary units). */
function size(flag: string, text: string): number {
  if (text.trim() === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--${flag} takes a size (512m, 1g, bytes) or -1, got "${text}"`, 'update');
  return Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

function integer(flag: string, text: string): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${flag} takes a whole number, got "${text}"`, 'update');
  return Number(text);
}

/** linux.resources from runc's update flags. */
function fromFlags(f: CommandContext['flags']): LinuxResources {
  const r: LinuxResources = {};
  const str = (name: string) => f[name] as string | undefined;
  const memory: NonNullable<LinuxResources['memory']> = {};
  if (str('memory') !== undefined) memory.limit = size('memory', str('memory')!);
  if (str('memory-swap') !== undefined) memory.swap = size('memory-swap', str('memory-swap')!);
  if (str('memory-reservation') !== undefined) memory.reservation = size('memory-reservation', str('memory-reservation')!);
  if (Object.keys(memory).length) r.memory = memory;
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  // --cpu-share is runc's spelling; --cpu-shares docker's.
  for (const flag of ['cpu-share', 'cpu-shares']) if (str(flag) !== undefined) cpu.shares = integer(flag, str(flag)!);
  if (str('cpu-burst') !== undefined) cpu.burst = integer('cpu-burst', str('cpu-burst')!);
  if (str('cpu-idle') !== undefined) cpu.idle = integer('cpu-idle', str('cpu-idle')!);
  if (str('cpu-quota') !== undefined) cpu.quota = integer('cpu-quota', str('cpu-quota')!);
  if (str('cpu-period') !== undefined) cpu.period = integer('cpu-period', str('cpu-period')!);
  if (str('cpu-rt-runtime') !== undefined) cpu.realtimeRuntime = integer('cpu-rt-runtime', str('cpu-rt-runtime')!);
  if (str('cpu-rt-period') !== undefined) cpu.realtimePeriod = integer('cpu-rt-period', str('cpu-rt-period')!);
  if (str('cpuset-cpus') !== undefined) cpu.cpus = str('cpuset-cpus')!;
  if (str('cpuset-mems') !== undefined) cpu.mems = str('cpuset-mems')!;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (str('pids-limit') !== undefined) r.pids = { limit: integer('pids-limit', str('pids-limit')!) };
  if (str('blkio-weight') !== undefined) r.blockIO = { weight: integer('blkio-weight', str('blkio-weight')!) };
  return r;
}

/** --resources FILE|-: checked by the config validator, as linux.resources. */
function fromFile(file: string): LinuxResources {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new TsboxError(`read resources "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TsboxError(`resources "${file}": invalid JSON`);
  }
  try {
    // The one validator there is: wrap the resources in a minimal config.
    const spec = validateSpec({ ociVersion: '1.0.0', root: { path: '/' }, process: { args: ['x'], cwd: '/' }, linux: { resources: value } });
    return spec.linux!.resources!;
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.jsonPath.replace(/^linux\.resources\.?/, ''), err.problem, file === '-' ? 'resources on stdin' : file);
    throw err;
  }
}

export async function command(ctx: CommandContext): Promise<number> {
  const id = theId(ctx, 'update');
  // Schemata lines for the container's resctrl group (linux.intelRdt).
  const schemata = (['l3-cache-schema', 'mem-bw-schema'] as const).map((flag) => ctx.flags[flag] as string | undefined).filter((s): s is string => s !== undefined);
  const resources = ctx.flags.resources !== undefined ? fromFile(ctx.flags.resources as string) : fromFlags(ctx.flags);
  // As runc: the flags are accepted and ignored (the kernel dropped kernel
  // memory limits; a config's memory.kernelTCP is still applied where it can be).
  for (const flag of ['kernel-memory', 'kernel-memory-tcp']) {
    if (ctx.flags[flag] !== undefined) ctx.log.warn(`--${flag} is ignored (obsolete; kernels since 5.16 have no kernel memory limit)`);
  }
  if (schemata.length > 0) await runtimeOf(ctx).updateIntelRdt(id, schemata);
  // Only schemata asked for: the container's cgroups are not touched (it may have none).
  if (schemata.length > 0 && ctx.flags.resources === undefined && Object.keys(resources).length === 0) return 0;
  for (const w of await runtimeOf(ctx).update(id, resources)) ctx.log.warn(w);
  return 0;
}
