import type { POSIXRlimit } from '../oci/types.js';
import type { PlannedRlimit } from './plan.js';

/** RLIMIT_* resource numbers from <sys/resource.h> (Linux). */
const RLIMIT_NUMBERS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

const RLIM_INFINITY = '18446744073709551615';

/**
 * JSON.parse turns 2^64-1 (how clients write "unlimited") into 2^64, and
 * anything that large lost its precision already: treat it as unlimited.
 */
function limitText(value: number): string {
  return value >= 2 ** 63 ? RLIM_INFINITY : String(value);
}

export function planRlimits(rlimits: readonly POSIXRlimit[]): PlannedRlimit[] {
  return rlimits.map((r) => ({
    name: r.type,
    resource: RLIMIT_NUMBERS[r.type]!,
    soft: limitText(r.soft),
    hard: limitText(r.hard),
  }));
}
