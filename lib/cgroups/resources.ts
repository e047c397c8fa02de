import { TsboxError } from '../errors.js';
import type { LinuxResources } from '../oci/types.js';
import type { Layout } from './layout.js';

/**
 * Device access every container gets, as runc grants it (libcontainer/
 * specconv AllowedDevices): creating nodes (mknod), the default nodes, ptys
 * (ptmx and 136:*) and tun. Not the host's system console (5:1): a
 * container's /dev/console is its own pty, bound there (136:N); a config
 * that wants 5:1 lists it.
 */
export const ALWAYS_ALLOWED = [
  'c *:* m', 'b *:* m',
  'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm',
  'c 5:0 rwm', 'c 5:2 rwm', 'c 136:* rwm', 'c 10:200 rwm',
];

/**
 * A device rule's major or minor, undefined for "any": left out, or
 * negative, as docker sends `--device-cgroup-rule 'b 7:* rmw'` (-1, runc's
 * wildcard).
 */
export const wildcard = (n: number | undefined): number | undefined => (n === undefined || n < 0 ? undefined : n);

/** One value to write into one file of the container's cgroup. */
export interface CgroupWrite {
  /** Hierarchy key of the directory (see Cgroups.dirs). */
  key: string;
  file: string;
  value: string;
  /** JSON path under linux.resources, for errors: "memory.limit". */
  resource: string;
  /**
   * Where the value goes when `file` does not exist on this host (runc's
   * fallbacks: blkio.weight -> blkio.bfq.weight, io.bfq.weight -> io.weight).
   */
  orElse?: { file: string; value: string };
  /** Nothing to do when the file does not exist (it would only say what is so anyway). */
  skipIfMissing?: boolean;
  /** Set when no hierarchy here has the controller: why it cannot be written. */
  unavailable?: string;
}

/**
 * What the writer knows of the container's cgroup files: whether one
 * exists and what it holds (undefined when it cannot be read). The memory
 * limit's order against memsw and checkBeforeUpdate depend on it.
 */
export interface CgroupFiles {
  exists(key: string, file: string): boolean;
  read(key: string, file: string): string | undefined;
}

/** A cgroup that is being made: nothing in it yet. */
export const EMPTY_CGROUP: CgroupFiles = { exists: () => true, read: () => undefined };

export interface ResourcePlan {
  writes: CgroupWrite[];
  /** Values this kernel no longer has, ignored as runc ignores them. */
  warnings: string[];
}

/**
 * runc 1.4's cpu.shares [2, 262144] -> cpu.weight [1, 10000]: a quadratic
 * in log2(shares) through both ends and the defaults (1024 -> 100), where
 * the linear mapping of older runcs gave 1024 -> 39 and so starved
 * containers next to cgroup2 services at their default weight.
 */
export function cpuWeight(shares: number): number {
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  return Math.ceil(10 ** ((l * l + 125 * l) / 612 - 7 / 34));
}

/** runc's blkio weight [10, 1000] -> io.weight [1, 10000], linear. */
export function ioWeight(weight: number): number {
  return Math.floor(1 + ((weight - 10) * 9999) / 990);
}

/**
 * runc's memory.swap.max from the OCI swap (memory plus swap, as in v1)
 * and limit: the swap alone. -1 is "max"; 0 is "leave it".
 */
export function swapOnly(swap: number, limit: number): number {
  if (limit === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (limit === -1) return swap;
  if (limit === 0) throw new TsboxError('linux.resources.memory.swap: cgroup2 limits swap alone, and without memory.limit it cannot be worked out');
  if (limit < 0) throw new TsboxError(`linux.resources.memory.limit: invalid value ${limit}`);
  if (swap < limit) throw new TsboxError(`linux.resources.memory.swap: ${swap} is below memory.limit ${limit} (swap is memory plus swap)`);
  return swap - limit;
}

/**
 * A pids.limit of 0 split off the resources a new container's cgroups get
 * before its init exists: the init is cloned into them, and a clone into a
 * cgroup whose pids.max is 0 is refused. It is written once the init is set
 * up, before its process runs (`atReady`), where runc writes every limit.
 */
export function deferZeroPidsLimit(r: LinuxResources): { now: LinuxResources; atReady?: LinuxResources } {
  if (r.pids?.limit !== 0) return { now: r };
  const { pids, ...now } = r;
  return { now, atReady: { pids } };
}

/**
 * What linux.resources means in cgroup files on this host: v1 files where
 * the controller is mounted as v1, else cgroup2 files, with runc's
 * conversions (cpu shares to cpu.weight, quota and period to cpu.max, swap
 * to swap alone, ...). In the order they must be written (memory and memsw
 * in the order the current limit allows, the cfs period before the quota).
 */
export function resourceWrites(
  layout: Layout,
  r: LinuxResources,
  files: CgroupFiles = EMPTY_CGROUP,
): ResourcePlan {
  const out: CgroupWrite[] = [];
  const warnings: string[] = [];
  const v1 = (controller: string) =>
    layout.hierarchies.find((h) => h.mount.fstype === 'cgroup' && h.mount.controllers.includes(controller))?.key;
  const v2 = layout.hierarchies.some((h) => h.mount.fstype === 'cgroup2') ? '' : undefined;
  /** Writes to the v1 file if the controller is v1 here, else to the cgroup2 one (if cgroup2 has one). */
  const put = (controller: string, resource: string, v1File: string, v1Value: string, v2File?: string, v2Value?: string) => {
    const key = v1(controller);
    if (key !== undefined) out.push({ key, file: v1File, value: v1Value, resource });
    else if (v2 !== undefined && v2File) out.push({ key: v2, file: v2File, value: v2Value ?? v1Value, resource });
    else {
      const why = v2File
        ? `this host has no ${controller} controller (neither cgroup v1 nor cgroup2)`
        : `this host has no cgroup v1 ${controller} controller, and cgroup2 has no equivalent of ${v1File}`;
      out.push({ key: v2 ?? '', file: v1File, value: v1Value, resource, unavailable: why });
    }
  };
  const max = (n: number | undefined) => (n === undefined || n < 0 ? 'max' : String(n));
  // Engines send every field they know, 0 for the ones the user did not set
  // (docker does): as runc, 0 means "leave it", except where 0 is a real
  // value (swappiness).
  const set = (n: number | undefined): n is number => n !== undefined && n !== 0;

  const m = r.memory;
  if (m) {
    const memory = v1('memory');
    if (m.checkBeforeUpdate && set(m.limit) && m.limit > 0) {
      // The kernel refuses (v1) or OOM-kills (cgroup2) when the limit goes
      // below what is in use: refuse it before either happens.
      const usage = Number(files.read(memory ?? '', memory !== undefined ? 'memory.usage_in_bytes' : 'memory.current') ?? 0);
      if (usage >= m.limit) {
        throw new TsboxError(`linux.resources.memory.limit: refusing ${m.limit}, below the current usage ${usage} (memory.checkBeforeUpdate)`);
      }
    }
    if (memory !== undefined) {
      let swap = m.swap ?? 0;
      // Unlimited memory with swap unsaid: swap unlimited too (as runc).
      if (m.limit === -1 && swap === 0 && files.exists(memory, 'memory.memsw.limit_in_bytes')) swap = -1;
      const limitW = set(m.limit) && { key: memory, file: 'memory.limit_in_bytes', value: String(m.limit), resource: 'memory.limit' };
      const swapW = set(swap) && { key: memory, file: 'memory.memsw.limit_in_bytes', value: String(swap), resource: 'memory.swap' };
      // memsw may never be below the memory limit: raise memsw first when
      // it grows past the current limit.
      const current = Number(files.read(memory, 'memory.limit_in_bytes') ?? Infinity);
      const swapFirst = limitW && swapW && (swap === -1 || current < swap);
      for (const w of swapFirst ? [swapW, limitW] : [limitW, swapW]) if (w) out.push(w);
    } else if (v2 !== undefined) {
      // An update of the swap alone is worked out against the limit in force (runc keeps the config for that).
      const current = files.read(v2, 'memory.max');
      const limit = set(m.limit) ? m.limit : current === 'max' ? -1 : Number(current ?? 0) || 0;
      const swap = swapOnly(m.swap ?? 0, set(m.swap) ? limit : (m.limit ?? 0));
      // Without swap (no memory.swap.max) "none" or "max" is what there is already.
      if (swap !== 0 || (m.swap ?? 0) > 0) out.push({ key: v2, file: 'memory.swap.max', value: max(swap), resource: 'memory.swap', skipIfMissing: swap <= 0 });
      if (set(m.limit)) out.push({ key: v2, file: 'memory.max', value: max(m.limit), resource: 'memory.limit' });
    } else {
      if (set(m.limit)) put('memory', 'memory.limit', 'memory.limit_in_bytes', String(m.limit));
      if (set(m.swap)) put('memory', 'memory.swap', 'memory.memsw.limit_in_bytes', String(m.swap));
    }
    if (set(m.reservation)) {
      put('memory', 'memory.reservation', 'memory.soft_limit_in_bytes', String(m.reservation), 'memory.low', max(m.reservation));
    }
    if (set(m.kernel)) warnings.push('linux.resources.memory.kernel is ignored: kernels since 5.16 (and cgroup2) have no kernel memory limit');
    if (set(m.kernelTCP)) {
      if (memory !== undefined && files.exists(memory, 'memory.kmem.tcp.limit_in_bytes')) {
        put('memory', 'memory.kernelTCP', 'memory.kmem.tcp.limit_in_bytes', String(m.kernelTCP));
      } else {
        warnings.push('linux.resources.memory.kernelTCP is ignored: this host has no memory.kmem.tcp.limit_in_bytes (cgroup2 has no TCP buffer limit)');
      }
    }
    if (m.swappiness !== undefined) {
      if (memory !== undefined) put('memory', 'memory.swappiness', 'memory.swappiness', String(m.swappiness));
      else warnings.push('linux.resources.memory.swappiness is ignored: cgroup2 has no per-cgroup swappiness');
    }
    if (m.disableOOMKiller) {
      if (memory !== undefined) put('memory', 'memory.disableOOMKiller', 'memory.oom_control', '1');
      else warnings.push('linux.resources.memory.disableOOMKiller is ignored: cgroup2 cannot turn the OOM killer off');
    }
    if (m.useHierarchy !== undefined) {
      // Kernels since 5.16 are always hierarchical: "1" is accepted, "0" refused (EINVAL).
      if (memory !== undefined) put('memory', 'memory.useHierarchy', 'memory.use_hierarchy', m.useHierarchy ? '1' : '0');
      else if (!m.useHierarchy) warnings.push('linux.resources.memory.useHierarchy false is ignored: cgroup2 is always hierarchical');
    }
  }

  const c = r.cpu;
  if (c) {
    if (c.shares !== undefined && c.shares > 0) put('cpu', 'cpu.shares', 'cpu.shares', String(c.shares), 'cpu.weight', String(cpuWeight(c.shares)));
    // cgroup2 refuses a burst above the quota in force (EINVAL), and a quota
    // below the burst in force: a burst that fits the current quota goes
    // first (so a quota lowered with its burst works), else after the quota.
    const burst = () => put('cpu', 'cpu.burst', 'cpu.cfs_burst_us', String(c.burst), 'cpu.max.burst', String(c.burst));
    const burstFirst = set(c.burst) && v1('cpu') === undefined && v2 !== undefined && fitsQuota(c.burst, files.read(v2, 'cpu.max'));
    if (burstFirst) burst();
    if (v1('cpu') !== undefined) {
      if (set(c.period)) put('cpu', 'cpu.period', 'cpu.cfs_period_us', String(c.period));
      if (set(c.quota)) put('cpu', 'cpu.quota', 'cpu.cfs_quota_us', String(c.quota));
    } else if (set(c.quota) || set(c.period)) {
      const quota = set(c.quota) && c.quota > 0 ? String(c.quota) : 'max';
      put('cpu', set(c.quota) ? 'cpu.quota' : 'cpu.period', 'cpu.cfs_quota_us', String(c.quota ?? 0), 'cpu.max', `${quota} ${set(c.period) ? c.period : 100000}`);
    }
    if (set(c.burst) && !burstFirst) burst();
    // The period first: the runtime must fit in it.
    if (set(c.realtimePeriod)) put('cpu', 'cpu.realtimePeriod', 'cpu.rt_period_us', String(c.realtimePeriod));
    if (set(c.realtimeRuntime)) put('cpu', 'cpu.realtimeRuntime', 'cpu.rt_runtime_us', String(c.realtimeRuntime));
    if (c.cpus) put('cpuset', 'cpu.cpus', 'cpuset.cpus', c.cpus, 'cpuset.cpus');
    if (c.mems) put('cpuset', 'cpu.mems', 'cpuset.mems', c.mems, 'cpuset.mems');
    if (c.idle !== undefined) put('cpu', 'cpu.idle', 'cpu.idle', String(c.idle), 'cpu.idle');
  }

  // runc 1.4 (runtime-spec 1.3): 0 is a limit (no new process), negative is
  // "max", and only a missing limit leaves pids.max alone.
  const pids = r.pids?.limit;
  if (pids !== undefined) put('pids', 'pids.limit', 'pids.max', pids >= 0 ? String(pids) : 'max', 'pids.max');

  const b = r.blockIO;
  if (b) blockIOWrites(b, v1('blkio'), v2, put, out);

  for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
    put('hugetlb', `hugepageLimits[${i}]`, `hugetlb.${h.pageSize}.limit_in_bytes`, String(h.limit), `hugetlb.${h.pageSize}.max`);
    // The same limit for reservations (runc 1.2+), on kernels that have
    // them (5.7+): pages reserved by mmap count, not only those faulted in,
    // so a process fails at mmap instead of being killed at the first touch.
    const onV1 = v1('hugetlb');
    const key = onV1 ?? v2;
    const file = onV1 !== undefined ? `hugetlb.${h.pageSize}.rsvd.limit_in_bytes` : `hugetlb.${h.pageSize}.rsvd.max`;
    if (key !== undefined) out.push({ key, file, value: String(h.limit), resource: `hugepageLimits[${i}]`, skipIfMissing: true });
  }

  const n = r.network;
  if (n?.classID !== undefined) put('net_cls', 'network.classID', 'net_cls.classid', String(n.classID));
  for (const [i, p] of (n?.priorities ?? []).entries()) {
    put('net_prio', `network.priorities[${i}]`, 'net_prio.ifpriomap', `${p.name} ${p.priority}`);
  }

  for (const [device, limits] of Object.entries(r.rdma ?? {})) {
    const parts = [
      ...(limits.hcaHandles !== undefined ? [`hca_handle=${limits.hcaHandles}`] : []),
      ...(limits.hcaObjects !== undefined ? [`hca_object=${limits.hcaObjects}`] : []),
    ];
    if (parts.length > 0) put('rdma', `rdma["${device}"]`, 'rdma.max', `${device} ${parts.join(' ')}`, 'rdma.max');
  }

  // v1 device rules: a deny-all, the config's rules in order, then the
  // devices every container has, as runc allows them whatever the config
  // says (without them the init could not even create /dev/null). runc's
  // policy starts from "nothing allowed" whatever the config's first rule
  // is, so a config without rules (r.devices empty: see applyLimits) gets
  // the defaults alone, never the parent's "a *:* rwm".
  // (cgroup2 needs an eBPF program instead: see devicesNeedBpf.)
  const devices = v1('devices');
  if (devices !== undefined && r.devices) {
    const rules = new V1DeviceRules();
    if (rules.changes(false, 'a')) out.push({ key: devices, file: 'devices.deny', value: 'a', resource: 'devices' });
    for (const [i, d] of r.devices.entries()) {
      const rule = d.type === 'a' || d.type === undefined ? 'a' : `${d.type} ${wildcard(d.major) ?? '*'}:${wildcard(d.minor) ?? '*'} ${d.access ?? 'rwm'}`;
      if (rules.changes(d.allow, rule)) out.push({ key: devices, file: d.allow ? 'devices.allow' : 'devices.deny', value: rule, resource: `devices[${i}]` });
    }
    for (const rule of ALWAYS_ALLOWED) {
      if (rules.changes(true, rule)) out.push({ key: devices, file: 'devices.allow', value: rule, resource: 'devices' });
    }
  }

  for (const [file, value] of Object.entries(r.unified ?? {})) {
    const resource = `unified["${file}"]`;
    if (v2 === undefined) throw new TsboxError(`linux.resources.${resource}: this host has no cgroup2 hierarchy (unified needs cgroup v2)`);
    if (file.includes('/') || file.startsWith('.') || !file.includes('.')) {
      throw new TsboxError(`linux.resources.${resource}: not a cgroup file name (controller.key, no "/")`);
    }
    out.push({ key: v2, file, value, resource });
  }
  return { writes: out, warnings };
}

/** Whether a cpu.max.burst fits under the quota of cpu.max ("max 100000", "20000 100000"; unknown: a new cgroup's "max"). */
function fitsQuota(burst: number, cpuMax: string | undefined): boolean {
  const quota = (cpuMax ?? 'max').trim().split(/\s+/)[0];
  return quota === 'max' || burst <= Number(quota);
}

type Put = (controller: string, resource: string, v1File: string, v1Value: string, v2File?: string, v2Value?: string) => void;

/**
 * blockIO: v1 blkio files (the CFQ ones, or BFQ's where CFQ is gone, as
 * runc picks them), or cgroup2's io.bfq.weight / io.weight and io.max.
 */
function blockIOWrites(b: NonNullable<LinuxResources['blockIO']>, blkio: string | undefined, v2: string | undefined, put: Put, out: CgroupWrite[]): void {
  const throttles = [
    ['throttleReadBpsDevice', 'read_bps_device', 'rbps'],
    ['throttleWriteBpsDevice', 'write_bps_device', 'wbps'],
    ['throttleReadIOPSDevice', 'read_iops_device', 'riops'],
    ['throttleWriteIOPSDevice', 'write_iops_device', 'wiops'],
  ] as const;
  if (blkio === undefined && v2 !== undefined) {
    if (b.weight) {
      out.push({ key: v2, file: 'io.bfq.weight', value: String(b.weight), resource: 'blockIO.weight', orElse: { file: 'io.weight', value: `default ${ioWeight(b.weight)}` } });
    }
    if (b.leafWeight) put('blkio', 'blockIO.leafWeight', 'blkio.leaf_weight', String(b.leafWeight));
    for (const [i, d] of (b.weightDevice ?? []).entries()) {
      // Per-device weights are BFQ's alone: without it (no io.bfq.weight) runc leaves them out, and so does this.
      if (d.weight) out.push({ key: v2, file: 'io.bfq.weight', value: `${d.major}:${d.minor} ${d.weight}`, resource: `blockIO.weightDevice[${i}]`, skipIfMissing: true });
      if (d.leafWeight) put('blkio', `blockIO.weightDevice[${i}].leafWeight`, 'blkio.leaf_weight_device', `${d.major}:${d.minor} ${d.leafWeight}`);
    }
    for (const [key, , io] of throttles) {
      for (const [i, d] of (b[key] ?? []).entries()) {
        // io.max refuses a 0 rate (ERANGE); runc skips it, as "not set".
        if (d.rate) out.push({ key: v2, file: 'io.max', value: `${d.major}:${d.minor} ${io}=${d.rate}`, resource: `blockIO.${key}[${i}]` });
      }
    }
    return;
  }
  const key = blkio ?? v2 ?? '';
  const v1 = (resource: string, file: string, value: string, orElse?: CgroupWrite['orElse']) => {
    if (blkio === undefined) put('blkio', resource, file, value);
    else out.push({ key, file, value, resource, ...(orElse && { orElse }) });
  };
  if (b.weight) v1('blockIO.weight', 'blkio.weight', String(b.weight), { file: 'blkio.bfq.weight', value: String(b.weight) });
  if (b.leafWeight) v1('blockIO.leafWeight', 'blkio.leaf_weight', String(b.leafWeight));
  for (const [i, d] of (b.weightDevice ?? []).entries()) {
    const dev = `${d.major}:${d.minor}`;
    if (d.weight) v1(`blockIO.weightDevice[${i}]`, 'blkio.weight_device', `${dev} ${d.weight}`, { file: 'blkio.bfq.weight_device', value: `${dev} ${d.weight}` });
    if (d.leafWeight) v1(`blockIO.weightDevice[${i}].leafWeight`, 'blkio.leaf_weight_device', `${dev} ${d.leafWeight}`);
  }
  for (const [name, file] of throttles) {
    for (const [i, d] of (b[name] ?? []).entries()) v1(`blockIO.${name}[${i}]`, `blkio.throttle.${file}`, `${d.major}:${d.minor} ${d.rate}`);
  }
}

/**
 * Whether this host can only enforce the device policy with an eBPF program
 * (no v1 devices controller: pure cgroup2). `r.devices` undefined: an update
 * that leaves the policy as it is.
 */
export function devicesNeedBpf(layout: Layout, r: LinuxResources): boolean {
  return r.devices !== undefined && !layout.hierarchies.some((h) => h.mount.controllers.includes('devices'));
}

/** The cgroup2 controller a file belongs to ("memory" for memory.max), if it is one. */
export function controllerOf(file: string): string | undefined {
  const prefix = file.split('.')[0]!;
  return prefix === 'cgroup' ? undefined : prefix;
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
      // A second deny-all in a row (runc's and the config's) changes nothing.
      const unchanged = !allow && this.allowed?.size === 0;
      this.allowed = allow ? undefined : new Set();
      return !unchanged;
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
