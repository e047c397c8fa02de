import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Layout } from './layout.js';
import type { Cgroups } from './manager.js';

/**
 * A kernel counter: a number, or a bigint when it is beyond
 * Number.MAX_SAFE_INTEGER (the "no limit" values, 2^63-4096 on v1 and
 * 2^64-1 for cgroup2's "max", which runc reports as such).
 */
export type Counter = number | bigint;

/** One line of a blkio stat file: device, operation ("Read", "Write", ...), value. */
export interface BlkioEntry {
  major?: Counter;
  minor?: Counter;
  op?: string;
  value?: Counter;
}

export interface MemoryEntry {
  limit: Counter;
  usage?: Counter;
  max?: Counter;
  failcnt: Counter;
}

/**
 * A container's resource usage, in the shape of runc's `events --stats`
 * data (runc's types.Stats: the same names, and fields that runc omits when
 * zero or empty are absent here too). Times are nanoseconds, sizes bytes.
 */
export interface Stats {
  cpu: {
    usage: { total?: Counter; percpu?: Counter[]; percpu_kernel?: Counter[]; percpu_user?: Counter[]; kernel: Counter; user: Counter };
    throttling: { periods?: Counter; throttledPeriods?: Counter; throttledTime?: Counter };
  };
  cpuset: {
    cpus?: number[];
    cpu_exclusive: Counter;
    mems?: number[];
    mem_hardwall: Counter;
    mem_exclusive: Counter;
    memory_migrate: Counter;
    memory_spread_page: Counter;
    memory_spread_slab: Counter;
    memory_pressure: Counter;
    sched_load_balance: Counter;
    sched_relax_domain_level: number;
  };
  memory: {
    cache?: Counter;
    usage: MemoryEntry;
    swap: MemoryEntry;
    kernel: MemoryEntry;
    kernelTCP: MemoryEntry;
    raw?: Record<string, Counter>;
  };
  pids: { current?: Counter; limit?: Counter };
  blkio: {
    ioServiceBytesRecursive?: BlkioEntry[];
    ioServicedRecursive?: BlkioEntry[];
    ioQueueRecursive?: BlkioEntry[];
    ioServiceTimeRecursive?: BlkioEntry[];
    ioWaitTimeRecursive?: BlkioEntry[];
    ioMergedRecursive?: BlkioEntry[];
    ioTimeRecursive?: BlkioEntry[];
    sectorsRecursive?: BlkioEntry[];
  };
  /** Keyed by page size ("2MB", "1GB"). */
  hugetlb: Record<string, { usage?: Counter; max?: Counter; failcnt: Counter }>;
  /** tsbox does not manage Intel RDT: always empty, as runc's without it. */
  intel_rdt: Record<string, never>;
  /** runc fills this only for containers it gave interfaces to itself; always null. */
  network_interfaces: null;
}

/** `{"type":"stats",...}` every interval, `{"type":"oom",...}` when the OOM killer acts. */
export type ContainerEvent = { type: 'stats'; id: string; data: Stats } | { type: 'oom'; id: string };

/** cgroup2's "max" (no limit) as runc reports it: 2^64 - 1. */
const MAX_U64 = 18446744073709551615n;

/** A decimal counter from a cgroup file; "max" is 2^64-1. */
export function counter(text: string): Counter {
  const t = text.trim();
  if (t === 'max') return MAX_U64;
  if (!/^-?\d+$/.test(t)) return 0;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : BigInt(t);
}

const isZero = (c: Counter | undefined) => c === undefined || c === 0 || c === 0n;

/** Drops the fields runc tags omitempty when they are zero or empty (all but `keep`). */
function omitEmpty<T extends object>(o: T, keep: readonly string[] = []): T {
  for (const [k, v] of Object.entries(o)) {
    if (keep.includes(k)) continue;
    if (isZero(v as Counter) || (Array.isArray(v) && v.length === 0) || v === '') delete (o as Record<string, unknown>)[k];
  }
  return o;
}

/** Reads one cgroup directory's files; a missing file reads as undefined. */
class Dir {
  constructor(readonly dir: string | undefined) {}
  text(file: string): string | undefined {
    if (this.dir === undefined) return undefined;
    try {
      return readFileSync(path.join(this.dir, file), 'utf8');
    } catch {
      return undefined;
    }
  }
  has(file: string): boolean {
    return this.text(file) !== undefined;
  }
  num(file: string): Counter {
    const t = this.text(file);
    return t === undefined ? 0 : counter(t);
  }
  /** "key value" lines (memory.stat, cpu.stat, ...). */
  keyed(file: string): Record<string, Counter> {
    const out: Record<string, Counter> = {};
    for (const line of (this.text(file) ?? '').split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (k && v !== undefined) out[k] = counter(v);
    }
    return out;
  }
}

const add = (a: Counter, b: Counter): Counter => {
  const s = BigInt(a) + BigInt(b);
  return s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s;
};
const times = (a: Counter, k: number): Counter => add(BigInt(a) * BigInt(k), 0);

/** USER_HZ: the unit of cpuacct.stat (100 on every Linux build tsbox runs on). */
const CLOCK_TICKS = 100;

/**
 * The container's resource usage from its cgroups: each controller's v1
 * directory where it is mounted as v1, else the cgroup2 one (with runc's
 * v2-to-v1 mapping of names and units).
 */
export function readStats(layout: Layout, cg: Cgroups): Stats {
  const v1 = (controller: string) => {
    const h = layout.hierarchies.find((x) => x.mount.fstype === 'cgroup' && x.mount.controllers.includes(controller));
    return h ? new Dir(cg.dirs[h.key]) : undefined;
  };
  const v2 = new Dir(cg.dirs['']);
  return {
    cpu: cpuStats(v1('cpuacct'), v1('cpu'), v2),
    cpuset: cpusetStats(v1('cpuset') ?? v2),
    memory: memoryStats(v1('memory'), v2),
    pids: pidsStats(v1('pids') ?? v2),
    blkio: v1('blkio') ? blkioV1(v1('blkio')!) : blkioV2(v2),
    hugetlb: hugetlbStats(v1('hugetlb'), v2),
    intel_rdt: {},
    network_interfaces: null,
  };
}

function cpuStats(acct: Dir | undefined, cpu: Dir | undefined, v2: Dir): Stats['cpu'] {
  if (acct || cpu) {
    let usage: Stats['cpu']['usage'] = { kernel: 0, user: 0 };
    if (acct) {
      // "cpu user system" per CPU, in nanoseconds.
      const rows = (acct.text('cpuacct.usage_all') ?? '').trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((r) => r.length === 3);
      const ticks = acct.keyed('cpuacct.stat');
      usage = {
        total: acct.num('cpuacct.usage'),
        percpu: (acct.text('cpuacct.usage_percpu') ?? '').trim().split(/\s+/).filter(Boolean).map(counter),
        percpu_kernel: rows.map((r) => counter(r[2]!)),
        percpu_user: rows.map((r) => counter(r[1]!)),
        kernel: times(ticks.system ?? 0, 1e9 / CLOCK_TICKS),
        user: times(ticks.user ?? 0, 1e9 / CLOCK_TICKS),
      };
    }
    const s = cpu?.keyed('cpu.stat') ?? {};
    return {
      usage: omitEmpty(usage, ['kernel', 'user']),
      throttling: omitEmpty({ periods: s.nr_periods ?? 0, throttledPeriods: s.nr_throttled ?? 0, throttledTime: s.throttled_time ?? 0 }),
    };
  }
  const s = v2.keyed('cpu.stat');
  const usec = (k: string) => times(s[k] ?? 0, 1000);
  return {
    usage: omitEmpty({ total: usec('usage_usec'), kernel: usec('system_usec'), user: usec('user_usec') }, ['kernel', 'user']),
    throttling: omitEmpty({ periods: s.nr_periods ?? 0, throttledPeriods: s.nr_throttled ?? 0, throttledTime: usec('throttled_usec') }),
  };
}

/** "0-3,7" -> [0, 1, 2, 3, 7]. */
export function cpuList(text: string | undefined): number[] {
  const out: number[] = [];
  for (const part of (text ?? '').trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

function cpusetStats(d: Dir): Stats['cpuset'] {
  const v2 = !d.has('cpuset.cpu_exclusive');
  const flag = (f: string) => d.num(`cpuset.${f}`);
  const s: Stats['cpuset'] = {
    cpus: cpuList(d.text(v2 ? 'cpuset.cpus.effective' : 'cpuset.cpus')),
    cpu_exclusive: flag('cpu_exclusive'),
    mems: cpuList(d.text(v2 ? 'cpuset.mems.effective' : 'cpuset.mems')),
    mem_hardwall: flag('mem_hardwall'),
    mem_exclusive: flag('mem_exclusive'),
    memory_migrate: flag('memory_migrate'),
    memory_spread_page: flag('memory_spread_page'),
    memory_spread_slab: flag('memory_spread_slab'),
    memory_pressure: flag('memory_pressure'),
    sched_load_balance: flag('sched_load_balance'),
    sched_relax_domain_level: Number(d.num('cpuset.sched_relax_domain_level')),
  };
  if (!s.cpus!.length) delete s.cpus;
  if (!s.mems!.length) delete s.mems;
  return s;
}

function memoryStats(v1: Dir | undefined, v2: Dir): Stats['memory'] {
  const none: MemoryEntry = { limit: 0, failcnt: 0 };
  if (v1) {
    const entry = (prefix: string): MemoryEntry => {
      if (!v1.has(`${prefix}.usage_in_bytes`)) return none;
      return omitEntry({
        limit: v1.num(`${prefix}.limit_in_bytes`),
        usage: v1.num(`${prefix}.usage_in_bytes`),
        max: v1.num(`${prefix}.max_usage_in_bytes`),
        failcnt: v1.num(`${prefix}.failcnt`),
      });
    };
    const raw = v1.keyed('memory.stat');
    return omitEmpty({
      cache: raw.cache ?? 0,
      usage: entry('memory'),
      swap: entry('memory.memsw'),
      kernel: entry('memory.kmem'),
      kernelTCP: entry('memory.kmem.tcp'),
      ...(Object.keys(raw).length > 0 && { raw }),
    });
  }
  if (!v2.has('memory.current')) return { usage: none, swap: none, kernel: none, kernelTCP: none };
  const raw = v2.keyed('memory.stat');
  const usage = omitEntry({ limit: v2.num('memory.max'), usage: v2.num('memory.current'), max: v2.num('memory.peak'), failcnt: 0 });
  // As runc: v1's memsw is memory plus swap, and so is this.
  const swapLimit = v2.num('memory.swap.max');
  const swap = v2.has('memory.swap.current')
    ? omitEntry({
        limit: swapLimit === MAX_U64 || usage.limit === MAX_U64 ? MAX_U64 : add(swapLimit, usage.limit),
        usage: add(v2.num('memory.swap.current'), usage.usage ?? 0),
        // memory.swap.peak (kernels since 6.5) as it is, as runc reports it.
        max: v2.num('memory.swap.peak'),
        failcnt: 0,
      })
    : none;
  return omitEmpty({ cache: raw.file ?? 0, usage, swap, kernel: none, kernelTCP: none, ...(Object.keys(raw).length > 0 && { raw }) });
}

function omitEntry(e: MemoryEntry): MemoryEntry {
  return omitEmpty({ limit: e.limit, usage: e.usage, max: e.max, failcnt: e.failcnt }, ['limit', 'failcnt']);
}

function pidsStats(d: Dir): Stats['pids'] {
  // "max" (no limit) is 0, omitted, as runc has it.
  const limit = d.text('pids.max')?.trim() === 'max' ? 0 : d.num('pids.max');
  return omitEmpty({ current: d.num('pids.current'), limit });
}

/** "8:0 Read 1234" lines (and "Total N"), as runc parses them. */
function blkioEntries(text: string | undefined): BlkioEntry[] | undefined {
  if (text === undefined) return undefined;
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/[\s:]+/).filter(Boolean);
    if (f.length < 3) continue;
    const e: BlkioEntry = { major: counter(f[0]!), minor: counter(f[1]!) };
    if (f.length === 4) e.op = f[2]!;
    e.value = counter(f[f.length - 1]!);
    out.push(omitEmpty(e));
  }
  return out;
}

/**
 * v1 blkio: the first group of files this kernel has, in runc's order
 * (BFQ's debug files, BFQ's, CFQ's, then the throttle ones, which every
 * kernel has).
 */
function blkioV1(d: Dir): Stats['blkio'] {
  const groups: [keyof Stats['blkio'], string][][] = [
    [
      ['sectorsRecursive', 'blkio.bfq.sectors_recursive'],
      ['ioServiceTimeRecursive', 'blkio.bfq.io_service_time_recursive'],
      ['ioWaitTimeRecursive', 'blkio.bfq.io_wait_time_recursive'],
      ['ioMergedRecursive', 'blkio.bfq.io_merged_recursive'],
      ['ioQueueRecursive', 'blkio.bfq.io_queued_recursive'],
      ['ioTimeRecursive', 'blkio.bfq.time_recursive'],
      ['ioServicedRecursive', 'blkio.bfq.io_serviced_recursive'],
      ['ioServiceBytesRecursive', 'blkio.bfq.io_service_bytes_recursive'],
    ],
    [
      ['ioServicedRecursive', 'blkio.bfq.io_serviced_recursive'],
      ['ioServiceBytesRecursive', 'blkio.bfq.io_service_bytes_recursive'],
    ],
    [
      ['sectorsRecursive', 'blkio.sectors_recursive'],
      ['ioServiceTimeRecursive', 'blkio.io_service_time_recursive'],
      ['ioWaitTimeRecursive', 'blkio.io_wait_time_recursive'],
      ['ioMergedRecursive', 'blkio.io_merged_recursive'],
      ['ioQueueRecursive', 'blkio.io_queued_recursive'],
      ['ioTimeRecursive', 'blkio.time_recursive'],
      ['ioServicedRecursive', 'blkio.io_serviced_recursive'],
      ['ioServiceBytesRecursive', 'blkio.io_service_bytes_recursive'],
    ],
    [
      ['ioServicedRecursive', 'blkio.throttle.io_serviced_recursive'],
      ['ioServiceBytesRecursive', 'blkio.throttle.io_service_bytes_recursive'],
    ],
    [
      ['ioServicedRecursive', 'blkio.throttle.io_serviced'],
      ['ioServiceBytesRecursive', 'blkio.throttle.io_service_bytes'],
    ],
  ];
  for (const group of groups) {
    if (!d.has(group[0]![1])) continue;
    const found: Stats['blkio'] = {};
    for (const [key, file] of group) {
      const entries = blkioEntries(d.text(file));
      if (entries?.length) found[key] = entries;
    }
    // In the order of runc's struct.
    const order: (keyof Stats['blkio'])[] = [
      'ioServiceBytesRecursive', 'ioServicedRecursive', 'ioQueueRecursive', 'ioServiceTimeRecursive',
      'ioWaitTimeRecursive', 'ioMergedRecursive', 'ioTimeRecursive', 'sectorsRecursive',
    ];
    return Object.fromEntries(order.filter((k) => found[k]).map((k) => [k, found[k]]));
  }
  return {};
}

/** cgroup2 io.stat mapped to v1's names, as runc does (bytes and I/Os read and written). */
function blkioV2(d: Dir): Stats['blkio'] {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (d.text('io.stat') ?? '').split('\n')) {
    const [dev, ...items] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    for (const item of items) {
      const [k, v] = item.split('=');
      const table = k === 'rbytes' || k === 'wbytes' ? bytes : k === 'rios' || k === 'wios' ? ios : undefined;
      if (!table || v === undefined) continue;
      table.push(omitEmpty({ major: counter(m[1]!), minor: counter(m[2]!), op: k!.startsWith('r') ? 'Read' : 'Write', value: counter(v) }));
    }
  }
  return omitEmpty({ ioServiceBytesRecursive: bytes, ioServicedRecursive: ios });
}

/** Huge page sizes as the hugetlb files name them ("2MB", "1GB"), from /sys/kernel/mm/hugepages. */
export function hugePageSizes(): string[] {
  let names: string[] = [];
  try {
    names = readdirSync('/sys/kernel/mm/hugepages');
  } catch {
    return [];
  }
  return names
    .map((n) => /^hugepages-(\d+)kB$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b)
    .map((kb) => (kb >= 1 << 20 ? `${kb >> 20}GB` : kb >= 1 << 10 ? `${kb >> 10}MB` : `${kb}KB`));
}

function hugetlbStats(v1: Dir | undefined, v2: Dir): Stats['hugetlb'] {
  const out: Stats['hugetlb'] = {};
  for (const size of hugePageSizes()) {
    const p = `hugetlb.${size}`;
    if (v1?.has(`${p}.usage_in_bytes`)) {
      out[size] = omitEmpty({ usage: v1.num(`${p}.usage_in_bytes`), max: v1.num(`${p}.max_usage_in_bytes`), failcnt: v1.num(`${p}.failcnt`) }, ['failcnt']);
    } else if (!v1 && v2.has(`${p}.current`)) {
      out[size] = omitEmpty({ usage: v2.num(`${p}.current`), failcnt: v2.keyed(`${p}.events`).max ?? 0 }, ['failcnt']);
    }
  }
  return out;
}

/** JSON text with bigints as plain digits (JSON.stringify refuses them). */
export function toJson(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    marks.push(v.toString());
    return `\u0000big${marks.length - 1}\u0000`;
  });
  return text.replace(/"\\u0000big(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)]!);
}
