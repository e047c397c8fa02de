import { Variant } from './dbus-wire.js';
import type { CgroupWrite } from '../cgroups/resources.js';

/**
 * Unit properties for a container's cgroup2 limits, so that systemd holds
 * the same values as the cgroup files: systemd writes a unit's own limits
 * again whenever it reloads or changes the unit, and would otherwise put
 * back its defaults over what tsbox wrote. Limits without a property
 * (rdma, hugetlb, io.max, ...) are only written to the files; systemd
 * leaves those alone.
 */
export type UnitProperty = [name: string, value: Variant];

/** systemd's "no limit" for the 64-bit properties. */
const INFINITY = 2n ** 64n - 1n;

function bytesOrMax(value: string): bigint {
  return value === 'max' ? INFINITY : BigInt(value);
}

/** A cpuset list ("0-3,8") as the byte mask AllowedCPUs/AllowedMemoryNodes take. */
export function cpuMask(list: string): Buffer {
  const ids: number[] = [];
  for (const part of list.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${list}" is not a cpu or node list`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let i = from; i <= to; i++) ids.push(i);
  }
  const mask = Buffer.alloc(ids.length === 0 ? 0 : Math.floor(Math.max(...ids) / 8) + 1);
  for (const i of ids) mask[i >> 3]! |= 1 << (i & 7);
  return mask;
}

/** cgroup2 files holding a count or "max", and the property for each. */
const COUNTERS: Record<string, string> = {
  'memory.max': 'MemoryMax',
  'memory.high': 'MemoryHigh',
  'memory.low': 'MemoryLow',
  'memory.min': 'MemoryMin',
  'memory.swap.max': 'MemorySwapMax',
  'pids.max': 'TasksMax',
};

/**
 * The properties for cgroup2 writes (resourceWrites on a v2 layout).
 * `systemdVersion` leaves out those the manager does not know yet.
 */
export function unitProperties(writes: readonly CgroupWrite[], systemdVersion: number): UnitProperty[] {
  const out: UnitProperty[] = [];
  const t = (name: string, value: bigint) => out.push([name, new Variant('t', value)]);
  for (const w of writes) {
    if (w.key !== '' || w.unavailable) continue;
    const counter = COUNTERS[w.file];
    // systemd refuses TasksMax=0 ("out of range"); 1 admits no new process
    // either while the container's init is in the scope, which is as long
    // as the container lives. The file itself gets 0 (tsbox writes it after
    // the unit), and 1 only if systemd writes it again (daemon-reload).
    if (w.file === 'pids.max' && w.value === '0') {
      t(counter!, 1n);
      continue;
    }
    if (counter) {
      t(counter, bytesOrMax(w.value));
      continue;
    }
    switch (w.file) {
      case 'cpu.weight':
        t('CPUWeight', BigInt(w.value));
        break;
      case 'cpu.max': {
        // "quota period": systemd takes the quota per second of wall time.
        const [quota = 'max', period = '100000'] = w.value.split(' ');
        if (systemdVersion >= 242) t('CPUQuotaPeriodUSec', BigInt(period));
        if (quota === 'max') {
          t('CPUQuotaPerSecUSec', INFINITY);
        } else {
          // Rounded up to whole 10 ms, as systemd itself rounds what it is given.
          const perSec = Math.ceil((Number(quota) * 1_000_000) / Number(period) / 10_000) * 10_000;
          t('CPUQuotaPerSecUSec', BigInt(perSec));
        }
        break;
      }
      case 'cpuset.cpus':
        if (systemdVersion >= 244) out.push(['AllowedCPUs', new Variant('ay', cpuMask(w.value))]);
        break;
      case 'cpuset.mems':
        if (systemdVersion >= 244) out.push(['AllowedMemoryNodes', new Variant('ay', cpuMask(w.value))]);
        break;
      case 'io.bfq.weight': {
        // blockIO.weight goes to BFQ's file where there is one, else to
        // io.weight converted (its fallback): IOWeight is the converted one.
        const m = /^default (\d+)$/.exec(w.orElse?.value ?? '');
        if (m) t('IOWeight', BigInt(m[1]!));
        break;
      }
    }
  }
  return out;
}
