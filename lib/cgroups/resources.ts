import type { LinuxResources } from '../oci/types.js';
import type { Layout } from './layout.js';

/** A device node the container has (linux.devices): it may use it. */
export interface DeviceNode {
  type: string;
  major: number;
  minor: number;
}

/**
 * Device access every container gets, as runc grants it: creating nodes
 * (mknod), the default nodes, /dev/console, ptys (ptmx and 136:*) and tun.
 */
export const ALWAYS_ALLOWED = [
  'c *:* m', 'b *:* m',
  'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm',
  'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm', 'c 10:200 rwm',
];

/** One value to write into one file of the container's cgroup. */
export interface CgroupWrite {
  /** Hierarchy key of the directory (see Cgroups.dirs). */
  key: string;
  file: string;
  value: string;
  /** JSON path under linux.resources, for errors: "memory.limit". */
  resource: string;
}

/**
 * What linux.resources means in cgroup files on this host: v1 files where
 * the controller is mounted as v1, else cgroup2 files, with runc's
 * conversions (cpu shares to cpu.weight, quota and period to cpu.max, ...).
 * In the order they must be written (a v1 swap limit after the memory
 * limit, the cfs period before the quota).
 */
export function resourceWrites(layout: Layout, r: LinuxResources, nodes: readonly DeviceNode[] = []): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  const v1 = (controller: string) =>
    layout.hierarchies.find((h) => h.mount.fstype === 'cgroup' && h.mount.controllers.includes(controller))?.key;
  const v2 = layout.hierarchies.some((h) => h.mount.fstype === 'cgroup2') ? '' : undefined;
  /** Writes to the v1 file if the controller is v1 here, else to the cgroup2 one. */
  const put = (controller: string, resource: string, v1File: string, v1Value: string, v2File?: string, v2Value?: string) => {
    const key = v1(controller);
    if (key !== undefined) out.push({ key, file: v1File, value: v1Value, resource });
    else if (v2 !== undefined && v2File) out.push({ key: v2, file: v2File, value: v2Value ?? v1Value, resource });
    else out.push({ key: v2 ?? '', file: v1File, value: v1Value, resource });
  };
  const max = (n: number | undefined) => (n === undefined || n < 0 ? 'max' : String(n));
  // Engines send every field they know, 0 for the ones the user did not set
  // (docker does): as runc, 0 means "leave it", except where 0 is a real
  // value (swappiness).
  const set = (n: number | undefined): n is number => n !== undefined && n !== 0;

  const m = r.memory;
  if (m) {
    if (set(m.limit)) put('memory', 'memory.limit', 'memory.limit_in_bytes', String(m.limit), 'memory.max', max(m.limit));
    if (set(m.reservation)) {
      put('memory', 'memory.reservation', 'memory.soft_limit_in_bytes', String(m.reservation), 'memory.low', max(m.reservation));
    }
    if (set(m.swap)) {
      // v1 limits memory+swap together; cgroup2 limits swap alone.
      const swapOnly = m.swap < 0 || !set(m.limit) || m.limit < 0 ? 'max' : String(Math.max(0, m.swap - m.limit));
      put('memory', 'memory.swap', 'memory.memsw.limit_in_bytes', String(m.swap), 'memory.swap.max', swapOnly);
    }
    if (m.swappiness !== undefined && v1('memory') !== undefined) {
      put('memory', 'memory.swappiness', 'memory.swappiness', String(m.swappiness));
    }
    if (m.disableOOMKiller && v1('memory') !== undefined) put('memory', 'memory.disableOOMKiller', 'memory.oom_control', '1');
  }

  const c = r.cpu;
  if (c) {
    if (c.shares !== undefined && c.shares > 0) {
      const weight = Math.floor(1 + ((c.shares - 2) * 9999) / 262142);
      put('cpu', 'cpu.shares', 'cpu.shares', String(c.shares), 'cpu.weight', String(Math.min(10000, Math.max(1, weight))));
    }
    if (set(c.period) && v1('cpu') !== undefined) put('cpu', 'cpu.period', 'cpu.cfs_period_us', String(c.period));
    if (set(c.quota) && v1('cpu') !== undefined) put('cpu', 'cpu.quota', 'cpu.cfs_quota_us', String(c.quota));
    if ((set(c.quota) || set(c.period)) && v1('cpu') === undefined) {
      put('cpu', 'cpu.quota', 'cpu.max', '', 'cpu.max', `${set(c.quota) ? max(c.quota) : 'max'} ${set(c.period) ? c.period : 100000}`);
    }
    if (set(c.burst)) put('cpu', 'cpu.burst', 'cpu.cfs_burst_us', String(c.burst), 'cpu.max.burst', String(c.burst));
    if (set(c.realtimeRuntime)) put('cpu', 'cpu.realtimeRuntime', 'cpu.rt_runtime_us', String(c.realtimeRuntime));
    if (set(c.realtimePeriod)) put('cpu', 'cpu.realtimePeriod', 'cpu.rt_period_us', String(c.realtimePeriod));
    if (c.cpus) put('cpuset', 'cpu.cpus', 'cpuset.cpus', c.cpus, 'cpuset.cpus');
    if (c.mems) put('cpuset', 'cpu.mems', 'cpuset.mems', c.mems, 'cpuset.mems');
    if (c.idle !== undefined) put('cpu', 'cpu.idle', 'cpu.idle', String(c.idle), 'cpu.idle');
  }

  if (set(r.pids?.limit)) put('pids', 'pids.limit', 'pids.max', r.pids!.limit > 0 ? String(r.pids!.limit) : 'max', 'pids.max');

  const b = r.blockIO;
  // 0 means "not set" in the configs engines write.
  if (b?.weight) {
    put('blkio', 'blockIO.weight', 'blkio.weight', String(b.weight), 'io.weight', `default ${Math.floor(1 + ((b.weight - 10) * 9999) / 990)}`);
  }

  for (const h of r.hugepageLimits ?? []) {
    put('hugetlb', `hugepageLimits[${h.pageSize}]`, `hugetlb.${h.pageSize}.limit_in_bytes`, String(h.limit), `hugetlb.${h.pageSize}.max`);
  }

  // v1 device rules, in order (the config's first is normally a deny-all),
  // then the devices every container has, as runc allows them whatever the
  // config says: without them the init could not even create /dev/null.
  // (cgroup2 needs an eBPF program instead: see devicesNeedBpf.)
  const devices = v1('devices');
  if (devices !== undefined && r.devices) {
    const rules = new V1DeviceRules();
    for (const [i, d] of r.devices.entries()) {
      const rule = d.type === 'a' || d.type === undefined ? 'a' : `${d.type} ${d.major ?? '*'}:${d.minor ?? '*'} ${d.access ?? 'rwm'}`;
      if (rules.changes(d.allow, rule)) out.push({ key: devices, file: d.allow ? 'devices.allow' : 'devices.deny', value: rule, resource: `devices[${i}]` });
    }
    for (const rule of [...ALWAYS_ALLOWED, ...nodes.map((n) => `${n.type} ${n.major}:${n.minor} rwm`)]) {
      if (rules.changes(true, rule)) out.push({ key: devices, file: 'devices.allow', value: rule, resource: 'devices' });
    }
  }

  for (const [file, value] of Object.entries(r.unified ?? {})) {
    out.push({ key: '', file, value, resource: `unified["${file}"]` });
  }
  return out;
}

/** Device rules this host can only enforce with an eBPF program (pure cgroup2), which tsbox does not load yet. */
export function devicesNeedBpf(layout: Layout, r: LinuxResources): boolean {
  return (r.devices?.length ?? 0) > 0 && !layout.hierarchies.some((h) => h.mount.controllers.includes('devices'));
}

/**
 * Which v1 device rule writes change anything, to save a write per rule
 * that does not (Docker's list and the defaults overlap in ten rules). Once
 * a deny-all ("a") has emptied the cgroup's list, the list is known: an
 * allow already in it, or a deny overlapping nothing in it, changes
 * nothing. Before that the list is the parent's, unknown, and every rule
 * is written.
 */
class V1DeviceRules {
  private allowed: Set<string> | undefined;

  changes(allow: boolean, rule: string): boolean {
    if (rule === 'a') {
      this.allowed = allow ? undefined : new Set();
      return true;
    }
    if (!this.allowed) return true;
    if (allow) {
      if (this.allowed.has(rule)) return false;
      this.allowed.add(rule);
      return true;
    }
    const overlapping = [...this.allowed].filter((a) => overlaps(a, rule));
    for (const a of overlapping) this.allowed.delete(a);
    return overlapping.length > 0;
  }
}

/** Whether two rules ("c 1:3 rwm", "c *:* m") can name one device. */
function overlaps(a: string, b: string): boolean {
  const [ta, na = ''] = a.split(' ');
  const [tb, nb = ''] = b.split(' ');
  if (ta !== tb) return false;
  const [ma, mi] = na.split(':');
  const [mb, mj] = nb.split(':');
  const same = (x?: string, y?: string) => x === '*' || y === '*' || x === y;
  return same(ma, mb) && same(mi, mj);
}
