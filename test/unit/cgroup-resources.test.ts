import { describe, expect, it } from 'vitest';
import type { Layout } from '../../lib/cgroups/layout.js';
import { resourceWrites } from '../../lib/cgroups/resources.js';

/** v1 hierarchies for cpu, memory, pids, devices (this project's machines), no cgroup2 controllers. */
const V1: Layout = {
  kind: 'hybrid',
  hierarchies: [
    ...['cpu', 'memory', 'pids', 'devices'].map((c) => ({
      key: c,
      own: '/',
      mount: { mountPoint: `/sys/fs/cgroup/${c}`, root: '/', fstype: 'cgroup' as const, controllers: [c] },
    })),
    { key: '', own: '/', mount: { mountPoint: '/sys/fs/cgroup/unified', root: '/', fstype: 'cgroup2' as const, controllers: [] } },
  ],
};

const V2: Layout = {
  kind: 'v2',
  hierarchies: [{ key: '', own: '/', mount: { mountPoint: '/sys/fs/cgroup', root: '/', fstype: 'cgroup2', controllers: [] } }],
};

const files = (ws: ReturnType<typeof resourceWrites>) => ws.map((w) => `${w.key}/${w.file}=${w.value}`);

describe('resourceWrites', () => {
  it('zeros are "not set", as runc and the configs docker writes have them', () => {
    const r = {
      memory: { limit: 0, reservation: 0, swap: 0, swappiness: 0 },
      cpu: { shares: 0, quota: 0, period: 0, realtimeRuntime: 0, realtimePeriod: 0, burst: 0 },
      pids: { limit: 0 },
      blockIO: { weight: 0 },
    };
    // swappiness 0 is a real value.
    expect(files(resourceWrites(V1, r))).toEqual(['memory/memory.swappiness=0']);
  });

  it('v1 files, in the order they must be written', () => {
    const r = { memory: { limit: 64 << 20, swap: 128 << 20 }, cpu: { shares: 512, period: 100000, quota: 50000 }, pids: { limit: 20 } };
    expect(files(resourceWrites(V1, r))).toEqual([
      `memory/memory.limit_in_bytes=${64 << 20}`,
      `memory/memory.memsw.limit_in_bytes=${128 << 20}`,
      'cpu/cpu.shares=512',
      'cpu/cpu.cfs_period_us=100000',
      'cpu/cpu.cfs_quota_us=50000',
      'pids/pids.max=20',
    ]);
  });

  it('cgroup2 files with runc\'s conversions', () => {
    const r = { memory: { limit: 64 << 20, swap: 128 << 20 }, cpu: { shares: 1024, period: 100000, quota: 50000 }, pids: { limit: -1 } };
    expect(files(resourceWrites(V2, r))).toEqual([
      `/memory.max=${64 << 20}`,
      `/memory.swap.max=${64 << 20}`,
      '/cpu.weight=39',
      '/cpu.max=50000 100000',
      '/pids.max=max',
    ]);
  });

  it('device rules: the config\'s, then what every container needs, then its own nodes', () => {
    const ws = resourceWrites(V1, { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] }, [
      { type: 'c', major: 10, minor: 229 },
    ]);
    const rules = ws.map((w) => `${w.file} ${w.value}`);
    expect(rules.slice(0, 2)).toEqual(['devices.deny a', 'devices.allow c 1:3 rw']);
    expect(rules).toContain('devices.allow c *:* m');
    expect(rules).toContain('devices.allow c 136:* rwm');
    expect(rules[rules.length - 1]).toBe('devices.allow c 10:229 rwm');
  });
});
