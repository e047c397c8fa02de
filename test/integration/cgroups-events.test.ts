// `tsbox events` and `events --stats` (and Runtime.stats / Runtime.events)
// on real containers: runc's JSON shape, the numbers checked against the
// cgroup files and what the container did (an OOM-killed hog, a fork loop at
// pids.max, a busy loop under a CPU quota), the stream ending when the
// container stops, and runc's errors.
//
// House rules as in cgroups.test.ts (see test/helpers/cgroups.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TsboxError } from '../../lib/errors.js';
import { Runtime } from '../../lib/runtime/runtime.js';
import type { ContainerEvent } from '../../lib/cgroups/stats.js';
import { isRoot } from '../helpers/bundle.js';
import { cgroupCounters, cgroupFile, cgroupSession, dirOf } from '../helpers/cgroups.js';
import { waitUntil } from '../helpers/lifecycle.js';

const MiB = 1024 * 1024;

describe.skipIf(!isRoot)('cgroups: events and stats', () => {
  const cg = cgroupSession();
  const lc = cg.lc;

  /** `tsbox events --stats ID`: one line of JSON. */
  async function statsOf(id: string): Promise<any> {
    const r = await lc.cli(['events', '--stats', id]);
    expect(r, `events --stats ${id}`).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout.endsWith('\n') && r.stdout.split('\n')).toHaveLength(2);
    const event = JSON.parse(r.stdout);
    expect(Object.keys(event)).toEqual(['type', 'id', 'data']);
    expect(event).toMatchObject({ type: 'stats', id });
    return event.data;
  }

  it('events --stats: runc\'s shape, the numbers those of the cgroup files (memory, pids, cpu, blkio, hugetlb)', async () => {
    const name = cg.name();
    const b = cg.bundle(['sh', '-c', 'sleep 100 & sleep 100 & wait'], name, { resources: {
      memory: { limit: 64 * MiB, swap: 64 * MiB },
      pids: { limit: 20 },
      hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }],
    } });
    await cg.create('st', b);
    await lc.ok(['start', 'st']);
    const [memory, pids] = ['memory', 'pids'].map((c) => dirOf(name, c)) as [string, string];
    await waitUntil('three processes', () => cgroupFile(pids, 'pids.current') === '3');
    const s = await statsOf('st');
    expect(Object.keys(s)).toEqual(['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
    expect(s.pids).toEqual({ current: 3, limit: 20 });
    expect(s.memory.usage.limit).toBe(64 * MiB);
    expect(s.memory.swap.limit).toBe(64 * MiB);
    expect(s.memory.usage.usage).toBeGreaterThan(0);
    expect(s.memory.usage.usage).toBeLessThanOrEqual(Number(cgroupFile(memory, 'memory.max_usage_in_bytes')));
    expect(s.memory.raw.rss).toBe(cgroupCounters(memory, 'memory.stat').rss);
    // No kmem limit here: the kernel's "no limit", printed exactly (past 2^53).
    const kmem = cgroupFile(memory, 'memory.kmem.limit_in_bytes');
    const line = (await lc.cli(['events', '--stats', 'st'])).stdout;
    expect(line).toContain(`"kernel":{"limit":${kmem},`);
    expect(s.cpu.usage.total).toBeGreaterThan(0);
    expect(s.cpu.usage.percpu).toHaveLength(cgroupFile(dirOf(name, 'cpuacct'), 'cpuacct.usage_percpu').split(' ').length);
    expect(typeof s.cpu.usage.kernel).toBe('number');
    expect(s.cpuset.cpus).toEqual(expect.arrayContaining([0]));
    expect(s.blkio).toBeTypeOf('object');
    expect(s.hugetlb['2MB']).toEqual({ failcnt: 0 });
    expect(s.intel_rdt).toEqual({});
    expect(s.network_interfaces).toBeNull();
  });

  it('a fork loop stops at pids.max: stats say pids.current is the limit', async () => {
    const name = cg.name();
    const limit = 8;
    const b = cg.bundle(['sh', '-c', 'sh /forks.sh; echo "loop exit $?"; exec sleep 100'], name, { resources: { pids: { limit } }, scripts: {
      'forks.sh': 'for i in $(seq 1 100); do sleep 100 & done\necho "all forked"\nwait\n',
    } });
    const p = await cg.create('forks', b);
    await lc.ok(['start', 'forks']);
    await p.stdout.waitFor(/loop exit \d+\n/);
    expect(p.stdout.text).not.toContain('all forked');
    const s = await statsOf('forks');
    expect(s.pids.limit).toBe(limit);
    expect(s.pids.current).toBe(Number(cgroupFile(dirOf(name, 'pids'), 'pids.current')));
    expect(s.pids.current).toBeLessThanOrEqual(limit);
    expect(s.pids.current).toBeGreaterThanOrEqual(limit - 3);
    expect(cgroupCounters(dirOf(name, 'pids'), 'pids.events').max).toBeGreaterThan(0);
  });

  it('a busy loop under a 10% CPU quota: throttling in the cpu stats (throttledPeriods > 0)', async () => {
    const name = cg.name();
    const b = cg.bundle(['sh', '-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo spun; exec sleep 100'], name, { resources: { cpu: { quota: 10000, period: 100000 } } });
    const p = await cg.create('busy', b);
    await lc.ok(['start', 'busy']);
    await p.stdout.waitFor('spun\n', 30_000);
    // The counters can still move (a period ends while sleep starts): the
    // stats must lie between two reads of the file around them.
    const before = cgroupCounters(dirOf(name, 'cpu'), 'cpu.stat');
    const s = await statsOf('busy');
    const after = cgroupCounters(dirOf(name, 'cpu'), 'cpu.stat');
    expect(s.cpu.throttling.throttledPeriods).toBeGreaterThan(0);
    const between = (value: number, key: string) => {
      expect(value, key).toBeGreaterThanOrEqual(before[key]!);
      expect(value, key).toBeLessThanOrEqual(after[key]!);
    };
    between(s.cpu.throttling.throttledPeriods, 'nr_throttled');
    between(s.cpu.throttling.periods, 'nr_periods');
    between(s.cpu.throttling.throttledTime, 'throttled_time');
    expect(s.cpu.usage.user + s.cpu.usage.kernel).toBeGreaterThan(0);
  }, 60_000);

  it('events: stats every --interval and {"type":"oom"} when a hog is OOM-killed; the stream ends when the container stops', async () => {
    const name = cg.name();
    const tmp = lc.scratch();
    // One process that grows until it is killed (with a pipeline, head | tr
    // into $(...), the kernel at times killed a second member too).
    const hog = { 'hog.sh': 'x=a; while :; do x=$x$x; done\n' };
    // Waits for /tmp/go, runs the hog (killed at 32 MB), then lingers a little and ends.
    const b = cg.bundle(['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; sh /hog.sh; echo "hog exit $?"; sleep 0.5'], name, { resources: { memory: { limit: 32 * MiB, swap: 32 * MiB } }, scripts: hog, tmp });
    const p = await cg.create('oom', b);
    await lc.ok(['start', 'oom']);
    const events = lc.spawn(['events', '--interval', '200ms', 'oom']);
    // A couple of stats first, then the hog.
    await events.stdout.waitFor((t) => t.split('\n').filter((l) => l.includes('"type":"stats"')).length >= 2, 5000);
    fs.writeFileSync(path.join(tmp, 'go'), '');
    // The stream ends when the container stops. The report is 128 + SIGKILL,
    // or nothing: the kernel may kill the reporting shell too, though it holds
    // no memory, in a second OOM round before the hog's pages are released
    // (seen in a loaded full run of the same hog in cgroups.test.ts).
    expect(await events.exited).toEqual({ status: 0, signal: null });
    expect(['hog exit 137\n', '']).toContain(await p.stdout.end);
    const lines = (await events.stdout.end).trim().split('\n').map((l) => JSON.parse(l) as { type: string; id: string; data?: any });
    // One notification per OOM episode (the kernel may signal an episode more than once).
    const ooms = lines.filter((e) => e.type === 'oom');
    expect(ooms.length).toBeGreaterThanOrEqual(1);
    expect(ooms.every((e) => JSON.stringify(e) === '{"type":"oom","id":"oom"}')).toBe(true);
    expect(new Set(lines.map((e) => e.type))).toEqual(new Set(['stats', 'oom']));
    const stats = lines.filter((e) => e.type === 'stats');
    expect(stats.length).toBeGreaterThanOrEqual(3);
    expect(stats.every((e) => e.id === 'oom' && e.data.memory.usage.limit === 32 * MiB)).toBe(true);
    // The stats after the OOM show what happened: usage reached the limit.
    expect(Math.max(...stats.map((e) => e.data.memory.usage.max ?? 0))).toBeGreaterThan(31 * MiB);
    expect(events.stderr.text).toBe('');
    expect(cgroupCounters(dirOf(name, 'memory'), 'memory.oom_control').oom_kill).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('errors as runc\'s: unknown and stopped containers, a bad interval, a container without cgroups', async () => {
    const fails = async (args: string[], message: string) =>
      expect(await lc.cli(args), args.join(' ')).toEqual({ status: 1, signal: null, stdout: '', stderr: `tsbox: ${message}\n` });
    await fails(['events', 'nope'], 'container "nope" does not exist');
    await fails(['events', '--stats', 'nope'], 'container "nope" does not exist');
    const name = cg.name();
    await cg.create('done', cg.bundle(['true'], name, { resources: { pids: { limit: 10 } } }));
    await lc.ok(['start', 'done']);
    await lc.waitForStatus('done', 'stopped');
    await fails(['events', 'done'], 'cannot get stats of container "done": container not running');
    await fails(['events', '--stats', 'done'], 'cannot get stats of container "done": container not running');
    const bad = await lc.cli(['events', '--interval', '5', 'done']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('events: --interval takes a duration (5s, 500ms, 1m30s), got "5"');
    expect((await lc.cli(['events', '--interval', '0s', 'done'])).stderr).toContain('--interval must be greater than 0');
    cg.track('plain');
    await cg.create('plain', lc.bundle({ args: ['sleep', '100'] }));
    await fails(
      ['events', '--stats', 'plain'],
      'cannot get stats of container "plain": it has no cgroups of its own (its config sets no linux.cgroupsPath or linux.resources)',
    );
  });

  it('the library: Runtime.stats() and Runtime.events() (stopping early leaves nothing running)', async () => {
    const rt = new Runtime({ root: lc.root });
    const name = cg.name();
    const b = cg.bundle(['sleep', '100'], name, { resources: { pids: { limit: 30 }, memory: { limit: 48 * MiB } } });
    const id = cg.track('lib');
    const created = await rt.create(id, b.dir, { stdio: 'ignore' });
    lc.tolerateZombieChild(created.pid);
    await rt.start(id);
    const s = await rt.stats(id);
    expect(s.pids).toEqual({ current: 1, limit: 30 });
    expect(s.memory.usage.limit).toBe(48 * MiB);
    const seen: ContainerEvent[] = [];
    const t0 = Date.now();
    for await (const e of rt.events(id, { interval: 100 })) {
      seen.push(e);
      if (seen.length === 3) break;
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(seen.map((e) => e.type)).toEqual(['stats', 'stats', 'stats']);
    expect(seen[0]!.type === 'stats' && seen[0]!.data.pids.limit).toBe(30);
    await expect(rt.stats('nope')).rejects.toThrow('container "nope" does not exist');
    await expect(
      (async () => {
        for await (const _ of rt.events(id, { interval: 0 })) break;
      })(),
    ).rejects.toBeInstanceOf(TsboxError);
    // The stream ends by itself when the container stops.
    const stream = (async () => {
      const types: string[] = [];
      for await (const e of rt.events(id, { interval: 50 })) types.push(e.type);
      return types;
    })();
    await new Promise((r) => setTimeout(r, 200));
    rt.kill(id, 'KILL');
    const types = await stream;
    expect(types.length).toBeGreaterThan(0);
    expect(types.every((t) => t === 'stats')).toBe(true);
    await rt.delete(id);
  });
});
