import { ConfigError } from '../errors.js';
import type { LinuxMemoryPolicy } from '../oci/types.js';
import { parseCpuList } from './cpu-list.js';
import type { HostFacts } from '../host/facts.js';
import type { PlannedMemoryPolicy } from './plan.js';

/** MPOL_* from <linux/mempolicy.h>. */
const MODE: Record<LinuxMemoryPolicy['mode'], number> = {
  MPOL_DEFAULT: 0,
  MPOL_PREFERRED: 1,
  MPOL_BIND: 2,
  MPOL_INTERLEAVE: 3,
  MPOL_LOCAL: 4,
  MPOL_PREFERRED_MANY: 5,
  MPOL_WEIGHTED_INTERLEAVE: 6,
};

const FLAG: Record<NonNullable<LinuxMemoryPolicy['flags']>[number], number> = {
  MPOL_F_STATIC_NODES: 1 << 15,
  MPOL_F_RELATIVE_NODES: 1 << 14,
  MPOL_F_NUMA_BALANCING: 1 << 13,
};

const AT = 'linux.memoryPolicy';

/**
 * linux.memoryPolicy as set_mempolicy(2) takes it. What the man page
 * refuses is refused here, naming the field: nodes with MPOL_DEFAULT or
 * MPOL_LOCAL, none with the modes that need some, both STATIC and RELATIVE,
 * and (unless RELATIVE, whose numbers are positions) a node this host lacks.
 */
export function planMemoryPolicy(policy: LinuxMemoryPolicy, host: HostFacts): PlannedMemoryPolicy {
  const nodes = parseCpuList(policy.nodes ?? '', `${AT}.nodes`);
  const flags = policy.flags ?? [];
  if ((policy.mode === 'MPOL_DEFAULT' || policy.mode === 'MPOL_LOCAL') && nodes.length > 0) {
    throw new ConfigError(`${AT}.nodes`, `must be empty with ${policy.mode}`);
  }
  const needsNodes = ['MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_WEIGHTED_INTERLEAVE', 'MPOL_PREFERRED_MANY'].includes(policy.mode);
  if (needsNodes && nodes.length === 0) throw new ConfigError(`${AT}.nodes`, `is required with ${policy.mode}`);
  if (flags.includes('MPOL_F_STATIC_NODES') && flags.includes('MPOL_F_RELATIVE_NODES')) {
    throw new ConfigError(`${AT}.flags`, 'MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other');
  }
  if (!flags.includes('MPOL_F_RELATIVE_NODES')) {
    const missing = nodes.filter((n) => !host.exists(`/sys/devices/system/node/node${n}`));
    if (missing.length > 0) {
      throw new ConfigError(`${AT}.nodes`, `${missing.length > 1 ? 'nodes' : 'node'} ${missing.join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist on this host (no /sys/devices/system/node/node${missing[0]})`);
    }
  }
  const mode = flags.reduce((m, f) => m | FLAG[f], MODE[policy.mode]);
  const text = [[policy.mode, ...flags].join('|'), policy.nodes ? `nodes "${policy.nodes}"` : ''].filter(Boolean).join(' ');
  return { mode, nodes, text };
}
