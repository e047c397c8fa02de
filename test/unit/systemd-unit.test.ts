// The systemd driver's pure parts: which unit a cgroupsPath names
// (lib/systemd/unit-name.ts) and which unit properties a container's
// cgroup2 limits become (lib/systemd/properties.ts).

import { describe, expect, it } from 'vitest';
import type { Layout } from '../../lib/cgroups/layout.js';
import { EMPTY_CGROUP, resourceWrites } from '../../lib/cgroups/resources.js';
import { Variant } from '../../lib/systemd/dbus-wire.js';
import { cpuMask, unitProperties } from '../../lib/systemd/properties.js';
import { isSystemdPath, systemdUnitFor } from '../../lib/systemd/unit-name.js';

describe('systemdUnitFor', () => {
  it('"slice:prefix:name" is the scope "prefix-name.scope" in the slice', () => {
    expect(systemdUnitFor('machine.slice:libpod:abc', 'x')).toStrictEqual({ slice: 'machine.slice', unit: 'libpod-abc.scope' });
    expect(systemdUnitFor('system.slice:docker:0123', 'x')).toStrictEqual({ slice: 'system.slice', unit: 'docker-0123.scope' });
  });

  it('no cgroupsPath is ":tsbox:<id>", an empty slice system.slice, no prefix the bare name', () => {
    expect(systemdUnitFor(undefined, 'web')).toStrictEqual({ slice: 'system.slice', unit: 'tsbox-web.scope' });
    expect(systemdUnitFor('', 'web')).toStrictEqual({ slice: 'system.slice', unit: 'tsbox-web.scope' });
    expect(systemdUnitFor('::web', 'x')).toStrictEqual({ slice: 'system.slice', unit: 'web.scope' });
    expect(systemdUnitFor('a-b.slice::web.scope', 'x')).toStrictEqual({ slice: 'a-b.slice', unit: 'web.scope' });
  });

  it('refuses cgroupfs paths, slices as containers and bad names, naming the path', () => {
    expect(() => systemdUnitFor('/docker/abc', 'x')).toThrow('linux.cgroupsPath "/docker/abc": with --systemd-cgroup it must have the form "slice:prefix:name"');
    expect(() => systemdUnitFor('relative/dir', 'x')).toThrow('must have the form "slice:prefix:name"');
    expect(() => systemdUnitFor('system.slice:tsbox:', 'x')).toThrow('the name (after the second ":") is empty');
    expect(() => systemdUnitFor('system.slice:tsbox:pod.slice', 'x')).toThrow('a container in a slice of its own');
    expect(() => systemdUnitFor('system:tsbox:a', 'x')).toThrow('"system" is not a slice unit name');
    expect(() => systemdUnitFor('a--b.slice:tsbox:a', 'x')).toThrow('is not a slice unit name');
    expect(() => systemdUnitFor('system.slice:tsbox:a b', 'x')).toThrow('"tsbox-a b.scope" is not a valid unit name');
  });

  it('tells the systemd form from cgroupfs paths', () => {
    expect(isSystemdPath('system.slice:tsbox:a')).toBe(true);
    expect(isSystemdPath(':tsbox:a')).toBe(true);
    expect(isSystemdPath('/a:b:c')).toBe(false);
    expect(isSystemdPath('a:b')).toBe(false);
  });
});

describe('unitProperties', () => {
  const V2: Layout = {
    kind: 'v2',
    hierarchies: [{ key: '', own: '/', mount: { mountPoint: '/sys/fs/cgroup', root: '/', fstype: 'cgroup2', controllers: [] } } as unknown as Layout['hierarchies'][number]],
  };
  const props = (resources: Parameters<typeof resourceWrites>[1], version = 252) =>
    Object.fromEntries(unitProperties(resourceWrites(V2, resources, EMPTY_CGROUP).writes, version).map(([k, v]) => [k, v]));

  it('a Docker-like resource set becomes the matching properties, converted as the cgroup files are', () => {
    const p = props({
      memory: { limit: 64 * 1024 * 1024, reservation: 32 * 1024 * 1024, swap: 128 * 1024 * 1024 },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1,3' },
      pids: { limit: 100 },
      blockIO: { weight: 500 },
    });
    expect(p.MemoryMax).toStrictEqual(new Variant('t', 64n * 1024n * 1024n));
    expect(p.MemoryLow).toStrictEqual(new Variant('t', 32n * 1024n * 1024n));
    expect(p.MemorySwapMax).toStrictEqual(new Variant('t', 64n * 1024n * 1024n)); // swap is memory+swap in the spec
    expect(p.TasksMax).toStrictEqual(new Variant('t', 100n));
    expect(p.CPUWeight?.signature).toBe('t');
    expect(Number(p.CPUWeight?.value)).toBeGreaterThan(1);
    expect(p.CPUQuotaPerSecUSec).toStrictEqual(new Variant('t', 500000n));
    expect(p.CPUQuotaPeriodUSec).toStrictEqual(new Variant('t', 100000n));
    expect(p.AllowedCPUs).toStrictEqual(new Variant('ay', Buffer.from([0b1011])));
    expect(p.IOWeight?.signature).toBe('t');
  });

  it('unlimited is systemd\'s infinity; quotas round up to 10 ms per second as systemd rounds them', () => {
    const p = props({ memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: 12345, period: 100000 } });
    expect(p.MemoryMax).toStrictEqual(new Variant('t', 2n ** 64n - 1n));
    expect(p.TasksMax).toStrictEqual(new Variant('t', 2n ** 64n - 1n));
    expect(p.CPUQuotaPerSecUSec).toStrictEqual(new Variant('t', 130000n));
  });

  it('pids.limit 0 is TasksMax 1 (systemd refuses 0; with the init in the scope 1 admits no new process either)', () => {
    expect(props({ pids: { limit: 0 } }).TasksMax).toStrictEqual(new Variant('t', 1n));
  });

  it('leaves out what an older systemd does not know', () => {
    const p = props({ cpu: { quota: 50000, period: 50000, cpus: '1' } }, 240);
    expect(p.CPUQuotaPeriodUSec).toBeUndefined();
    expect(p.AllowedCPUs).toBeUndefined();
    expect(p.CPUQuotaPerSecUSec).toStrictEqual(new Variant('t', 1000000n));
  });

  it('cpuMask sets one bit per cpu, low bit first', () => {
    expect(cpuMask('0')).toStrictEqual(Buffer.from([1]));
    expect(cpuMask('8-9')).toStrictEqual(Buffer.from([0, 3]));
    expect(cpuMask('')).toStrictEqual(Buffer.alloc(0));
    expect(() => cpuMask('a-b')).toThrow('"a-b" is not a cpu or node list');
  });
});
