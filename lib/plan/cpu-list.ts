import { ConfigError } from '../errors.js';

/**
 * A list of CPUs or NUMA nodes in the kernel's list form ("0-3,7", as in
 * cpuset.cpus), as sorted numbers. Each must be below `limit` (the size of
 * the mask the helper builds: CPU_SETSIZE for CPUs, 1024 nodes).
 */
export function parseCpuList(text: string, at: string, limit = 1024): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new ConfigError(at, `"${part}" is not a number or a range like 2-5`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new ConfigError(at, `the range "${part}" runs backwards`);
    if (to >= limit) throw new ConfigError(at, `${to} is beyond ${limit - 1}, the highest tsbox can set`);
    for (let n = from; n <= to; n++) out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}
