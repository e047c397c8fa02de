import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Layout } from '../../lib/cgroups/layout.js';
import { watchOom } from '../../lib/cgroups/oom.js';
import { native } from '../../lib/native/binding.js';
import { counter, cpuList, hugePageSizes, readStats, toJson } from '../../lib/cgroups/stats.js';
import { parseDuration } from '../../lib/cli/commands/events.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A fake cgroup directory per key, holding `files`. */
function fakeCgroups(files: Record<string, Record<string, string>>): { layout: Layout; dirs: Record<string, string> } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-stats-'));
  dirs.push(root);
  const out: Record<string, string> = {};
  const layout: Layout = { kind: 'hybrid', hierarchies: [] };
  for (const [key, content] of Object.entries(files)) {
    const dir = path.join(root, key || 'unified');
    fs.mkdirSync(dir);
    for (const [f, text] of Object.entries(content)) fs.writeFileSync(path.join(dir, f), text);
    out[key] = dir;
    layout.hierarchies.push({
      key,
      own: '/',
      mount: { mountPoint: dir, root: '/', fstype: key === '' ? 'cgroup2' : 'cgroup', controllers: key === '' ? [] : key.split(',') },
    });
  }
  return { layout, dirs: out };
}

describe('stats', () => {
  it('counters: numbers, bigints past 2^53 ("no limit"), "max" as 2^64-1; toJson writes them as digits', () => {
    expect(counter('42\n')).toBe(42);
    expect(counter('9223372036854771712')).toBe(9223372036854771712n);
    expect(counter('max')).toBe(18446744073709551615n);
    expect(toJson({ a: 18446744073709551615n, b: [1, 9223372036854771712n], c: 'x' })).toBe('{"a":18446744073709551615,"b":[1,9223372036854771712],"c":"x"}');
    expect(cpuList('0-2,5\n')).toEqual([0, 1, 2, 5]);
    expect(hugePageSizes()).toEqual(expect.arrayContaining(['2MB']));
  });

  it('v1: runc\'s names and units (cpuacct ticks to ns, throttling, memory entries, pids "max" omitted, blkio throttle files)', () => {
    const { layout, dirs: d } = fakeCgroups({
      cpu: { 'cpu.stat': 'nr_periods 10\nnr_throttled 4\nthrottled_time 5000\n' },
      cpuacct: {
        'cpuacct.usage': '3000\n',
        'cpuacct.usage_percpu': '1000 2000 \n',
        'cpuacct.usage_all': 'cpu user system\n0 600 400\n1 1500 500\n',
        'cpuacct.stat': 'user 2\nsystem 1\n',
      },
      memory: {
        'memory.stat': 'cache 4096\nrss 8192\n',
        'memory.usage_in_bytes': '12288\n',
        'memory.max_usage_in_bytes': '16384\n',
        'memory.failcnt': '0\n',
        'memory.limit_in_bytes': '9223372036854771712\n',
        'memory.memsw.usage_in_bytes': '12288\n',
        'memory.memsw.max_usage_in_bytes': '0\n',
        'memory.memsw.failcnt': '3\n',
        'memory.memsw.limit_in_bytes': '33554432\n',
      },
      pids: { 'pids.current': '3\n', 'pids.max': 'max\n' },
      blkio: {
        'blkio.throttle.io_service_bytes_recursive': '254:0 Read 4096\n254:0 Write 0\nTotal 4096\n',
        'blkio.throttle.io_serviced_recursive': '254:0 Read 1\n254:0 Write 0\nTotal 1\n',
      },
    });
    const s = readStats(layout, { dirs: d, created: [] });
    expect(s.cpu).toEqual({
      usage: { total: 3000, percpu: [1000, 2000], percpu_user: [600, 1500], percpu_kernel: [400, 500], user: 20_000_000, kernel: 10_000_000 },
      throttling: { periods: 10, throttledPeriods: 4, throttledTime: 5000 },
    });
    expect(s.memory).toEqual({
      cache: 4096,
      usage: { limit: 9223372036854771712n, usage: 12288, max: 16384, failcnt: 0 },
      swap: { limit: 33554432, usage: 12288, failcnt: 3 },
      kernel: { limit: 0, failcnt: 0 },
      kernelTCP: { limit: 0, failcnt: 0 },
      raw: { cache: 4096, rss: 8192 },
    });
    expect(s.pids).toEqual({ current: 3 });
    expect(s.blkio).toEqual({
      ioServiceBytesRecursive: [{ major: 254, op: 'Read', value: 4096 }, { major: 254, op: 'Write' }],
      ioServicedRecursive: [{ major: 254, op: 'Read', value: 1 }, { major: 254, op: 'Write' }],
    });
    expect(s.intel_rdt).toEqual({});
    expect(s.network_interfaces).toBeNull();
    const json = toJson({ type: 'stats', id: 'x', data: s });
    expect(json).toContain('"usage":{"limit":9223372036854771712,"usage":12288,"max":16384,"failcnt":0}');
    expect(JSON.parse(json).data.pids).toEqual({ current: 3 });
  });

  it('cgroup2: cpu.stat usec to ns, memory.current/max/peak, swap as memory plus swap, io.stat to v1 names, hugetlb', () => {
    const { layout, dirs: d } = fakeCgroups({
      '': {
        'cpu.stat': 'usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 7\nnr_throttled 0\nthrottled_usec 0\n',
        'memory.stat': 'anon 100\nfile 200\n',
        'memory.current': '300\n',
        'memory.max': 'max\n',
        'memory.peak': '400\n',
        'memory.swap.current': '10\n',
        'memory.swap.max': '1000\n',
        'memory.swap.peak': '50\n',
        'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
        'pids.current': '2\n',
        'pids.max': '50\n',
        'io.stat': '254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n',
        'hugetlb.2MB.current': '0\n',
        'hugetlb.2MB.events': 'max 1\n',
        'cpuset.cpus.effective': '0-1\n',
        'cpuset.mems.effective': '0\n',
      },
    });
    const s = readStats(layout, { dirs: d, created: [] });
    expect(s.cpu).toEqual({ usage: { total: 5000, kernel: 2000, user: 3000 }, throttling: { periods: 7 } });
    expect(s.memory.usage).toEqual({ limit: 18446744073709551615n, usage: 300, max: 400, failcnt: 0 });
    // No memory limit: no memory-plus-swap limit either.
    // max: memory.swap.peak alone (runc's), not plus memory.
    expect(s.memory.swap).toEqual({ limit: 18446744073709551615n, usage: 310, max: 50, failcnt: 0 });
    expect(s.memory.cache).toBe(200);
    expect(s.pids).toEqual({ current: 2, limit: 50 });
    expect(s.blkio).toEqual({
      ioServiceBytesRecursive: [{ major: 254, op: 'Read', value: 4096 }, { major: 254, op: 'Write', value: 8192 }],
      ioServicedRecursive: [{ major: 254, op: 'Read', value: 1 }, { major: 254, op: 'Write', value: 2 }],
    });
    expect(s.hugetlb['2MB']).toEqual({ failcnt: 1 });
    expect(s.cpuset.cpus).toEqual([0, 1]);
  });
});

describe('watchOom on cgroup2 (inotify on memory.events)', () => {
  it('counts new oom_kill since the start; a memory.events it cannot read counts none', async () => {
    const { layout, dirs: d } = fakeCgroups({ '': { 'memory.events': 'oom 1\noom_kill 1\n' } });
    const events = path.join(d['']!, 'memory.events');
    const w = watchOom(native(), layout, { dirs: d, created: [] })!;
    try {
      expect(w.pending()).toBe(0);
      const next = w.next();
      fs.writeFileSync(events, 'oom 3\noom_kill 3\n');
      expect(await next).toBe(2);
    } finally {
      await w.stop();
    }
    // Not a file (as when the cgroup goes away): no kills, and no error.
    fs.rmSync(events);
    fs.mkdirSync(events);
    const w2 = watchOom(native(), layout, { dirs: d, created: [] })!;
    expect(w2.pending()).toBe(0);
    await w2.stop();
  });
});

describe('events --interval', () => {
  it('takes Go durations, as runc', () => {
    expect(['5s', '500ms', '1m30s', '1.5s', '250us', '2h', '.5s'].map(parseDuration)).toEqual([5000, 500, 90_000, 1500, 0.25, 7_200_000, 500]);
    for (const bad of ['', '5', 's', '5 s', '5sec', '-1s']) expect(() => parseDuration(bad), bad).toThrow('--interval takes a duration');
  });
});
