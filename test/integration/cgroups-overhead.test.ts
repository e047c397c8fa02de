// What cgroups cost a container's start: `tsbox run` of /bin/true with the
// resources Docker typically sets (memory and swap, cpu shares, quota and
// period, pids, its default device rules) against the same run without
// cgroups. Measured and printed, not asserted: timings depend on the host.
// Same house rules as cgroups.test.ts (unique cgroup names, nothing left).

import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { cgroupSession, findCgroupDirs } from '../helpers/cgroups.js';

const RUNS = 20;

/** What `docker run --memory 512m --memory-swap 1g --cpus 1 --pids-limit 100` puts in linux.resources (blockIO aside). */
const DOCKER_RESOURCES = {
  devices: [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
    { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
    { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
    { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
    { allow: true, type: 'c', major: 136, access: 'rwm' },
    { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
    { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
    { allow: true, type: 'c', access: 'm' },
    { allow: true, type: 'b', access: 'm' },
  ],
  memory: { limit: 512 * 1024 * 1024, swap: 1024 * 1024 * 1024 },
  cpu: { shares: 1024, quota: 100000, period: 100000 },
  pids: { limit: 100 },
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

describe.skipIf(!isRoot)('cgroups: cost of a start', () => {
  const cg = cgroupSession();
  const lc = cg.lc;

  it(`tsbox run /bin/true, with a Docker-like resource set vs none (median of ${RUNS} each)`, async () => {
    const base = cg.name();
    const bare = lc.bundle({ args: ['/bin/true'], withProbe: false });
    const limited = lc.bundle({ args: ['/bin/true'], withProbe: false });
    const times = { none: [] as number[], resources: [] as number[] };

    const once = async (kind: 'none' | 'resources', i: number) => {
      const id = cg.track(`${kind}-${i}`);
      if (kind === 'resources') {
        limited.config.linux.cgroupsPath = `${base}-${i}`;
        limited.config.linux.resources = DOCKER_RESOURCES;
        limited.write();
      }
      const t = performance.now();
      const r = await lc.cli(['run', '--bundle', (kind === 'none' ? bare : limited).dir, id]);
      const ms = performance.now() - t;
      expect(r, `run ${id}`).toEqual({ status: 0, signal: null, stdout: '', stderr: '' });
      if (i >= 0) times[kind].push(ms);
    };

    // One of each to warm caches, then alternated so that drift hits both alike.
    await once('none', -1);
    await once('resources', -1);
    for (let i = 0; i < RUNS; i++) {
      await once('none', i);
      await once('resources', i);
    }
    expect(findCgroupDirs(base)).toEqual([]);
    const [none, res] = [median(times.none), median(times.resources)];
    console.log(
      `tsbox run /bin/true, median of ${RUNS}: no cgroups ${none.toFixed(1)} ms, Docker-like resources ${res.toFixed(1)} ms, ` +
        `overhead ${(res - none).toFixed(1)} ms (${(((res - none) / none) * 100).toFixed(0)}%); ` +
        `min ${Math.min(...times.none).toFixed(1)} / ${Math.min(...times.resources).toFixed(1)} ms`,
    );
  }, 120_000);
});
