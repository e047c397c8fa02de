import { describe, expect, it } from 'vitest';
import type { Layout } from '../../lib/cgroups/layout.js';
import { cpuWeight, ioWeight, resourceWrites, swapOnly, type CgroupFiles } from '../../lib/cgroups/resources.js';

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

const files = (ws: ReturnType<typeof resourceWrites>) => ws.writes.map((w) => `${w.key}/${w.file}=${w.value}`);

describe('resourceWrites', () => {
  it('zeros are "not set", as runc and the configs docker writes have them', () => {
    const r = {
      memory: { limit: 0, reservation: 0, swap: 0, swappiness: 0 },
      cpu: { shares: 0, quota: 0, period: 0, realtimeRuntime: 0, realtimePeriod: 0, burst: 0 },
      pids: { limit: 0 },
      blockIO: { weight: 0 },
    };
    // swappiness 0 is a real value, and so is pids.limit 0 since runc 1.4 (runtime-spec 1.3).
    expect(files(resourceWrites(V1, r))).toEqual(['memory/memory.swappiness=0', 'pids/pids.max=0']);
  });

  it('pids.limit as runc 1.4 has it: 0 is a limit, negative is "max", absent leaves pids.max alone', () => {
    expect(files(resourceWrites(V2, { pids: { limit: 0 } }))).toEqual(['/pids.max=0']);
    expect(files(resourceWrites(V2, { pids: { limit: -1 } }))).toEqual(['/pids.max=max']);
    expect(files(resourceWrites(V2, { pids: { limit: -5 } }))).toEqual(['/pids.max=max']);
    expect(files(resourceWrites(V2, { pids: {} }))).toEqual([]);
    expect(files(resourceWrites(V1, { pids: { limit: 7 } }))).toEqual(['pids/pids.max=7']);
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
    // Swap first, as runc writes them.
    expect(files(resourceWrites(V2, r))).toEqual([
      `/memory.swap.max=${64 << 20}`,
      `/memory.max=${64 << 20}`,
      '/cpu.weight=100',
      '/cpu.max=50000 100000',
      '/pids.max=max',
    ]);
  });

  it('device rules: the config\'s, then what every container needs (nothing for its linux.devices nodes: they get what the rules give, as with runc)', () => {
    const { writes: ws } = resourceWrites(V1, { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'r' }] });
    const rules = ws.map((w) => `${w.file} ${w.value}`);
    expect(rules.slice(0, 2)).toEqual(['devices.deny a', 'devices.allow c 10:229 r']);
    expect(rules).toContain('devices.allow c *:* m');
    expect(rules).toContain('devices.allow c 136:* rwm');
    expect(rules.filter((r) => r.includes('10:229'))).toEqual(['devices.allow c 10:229 r']);
  });

  it('device rules: a negative major or minor is "*" (docker\'s --device-cgroup-rule \'b 7:* rmw\' sends minor -1; the kernel refuses "7:-1")', () => {
    const { writes: ws } = resourceWrites(V1, { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'b', major: 7, minor: -1, access: 'rmw' }, { allow: true, type: 'c', major: -1, minor: -1, access: 'r' }] });
    expect(ws.map((w) => `${w.file} ${w.value}`).slice(0, 3)).toEqual(['devices.deny a', 'devices.allow b 7:* rmw', 'devices.allow c *:* r']);
  });
});

/** The project's hybrid hosts: every v1 controller tsbox knows, plus cgroup2 with hugetlb. */
const HYBRID: Layout = {
  kind: 'hybrid',
  hierarchies: [
    ...['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'].map((c) => ({
      key: c,
      own: '/',
      mount: { mountPoint: `/sys/fs/cgroup/${c}`, root: '/', fstype: 'cgroup' as const, controllers: [c] },
    })),
    { key: '', own: '/', mount: { mountPoint: '/sys/fs/cgroup/unified', root: '/', fstype: 'cgroup2' as const, controllers: [] } },
  ],
};

const PURE_V1: Layout = { kind: 'v1', hierarchies: HYBRID.hierarchies.filter((h) => h.key !== '') };

/** Fake cgroup files: `have` lists (key/file) the ones that exist, with their content. */
function fakeFiles(have: Record<string, string>): CgroupFiles {
  return { exists: (key, file) => `${key}/${file}` in have, read: (key, file) => have[`${key}/${file}`] };
}

describe('runc\'s v1 -> v2 conversions', () => {
  it('cpu shares -> cpu.weight as runc 1.4: both ends and the defaults meet (1024 -> 100), out of range clamped', () => {
    // runc's own table (opencontainers/cgroups), and values between.
    expect([1, 2, 3, 1024, 262143, 262144, 262145].map(cpuWeight)).toEqual([1, 1, 2, 100, 10000, 10000, 10000]);
    expect([512, 2048, 10000].map(cpuWeight)).toEqual([59, 174, 627]);
  });

  it('blkio weight -> io.weight: 10 -> 1, 500 -> 4950, 1000 -> 10000', () => {
    expect([10, 500, 1000].map(ioWeight)).toEqual([1, 4950, 10000]);
  });

  it('swap (memory+swap) -> memory.swap.max (swap alone), and what cannot be worked out', () => {
    expect(swapOnly(128, 64)).toBe(64);
    expect(swapOnly(64, 64)).toBe(0);
    expect(swapOnly(-1, 64)).toBe(-1);
    expect(swapOnly(0, -1)).toBe(-1); // unlimited memory, swap unsaid: unlimited too
    expect(swapOnly(0, 64)).toBe(0); // leave it
    expect(swapOnly(128, -1)).toBe(128);
    expect(() => swapOnly(128, 0)).toThrow('linux.resources.memory.swap: cgroup2 limits swap alone, and without memory.limit it cannot be worked out');
    expect(() => swapOnly(32, 64)).toThrow('linux.resources.memory.swap: 32 is below memory.limit 64');
  });

  it('v2: memory.low, swap "0" when swap equals the limit, cpu.max "max" without a quota, cpu.max.burst, cpu.idle, cpuset', () => {
    const r = { memory: { limit: 100, swap: 100, reservation: 50 }, cpu: { period: 50000, burst: 1000, idle: 1, cpus: '0-1', mems: '0' } };
    expect(files(resourceWrites(V2, r))).toEqual([
      '/memory.swap.max=0',
      '/memory.max=100',
      '/memory.low=50',
      '/cpu.max.burst=1000',
      '/cpu.max=max 50000',
      '/cpuset.cpus=0-1',
      '/cpuset.mems=0',
      '/cpu.idle=1',
    ]);
  });

  it('v2: cpu.max.burst before cpu.max when it fits the quota in force (a quota lowered with its burst), else after', () => {
    const at = (cpuMax: string) => fakeFiles({ '/cpu.max': cpuMax });
    const lower = { cpu: { quota: 10000, burst: 5000 } };
    expect(files(resourceWrites(V2, lower, at('50000 100000')))).toEqual(['/cpu.max.burst=5000', '/cpu.max=10000 100000']);
    expect(files(resourceWrites(V2, lower, at('max 100000')))).toEqual(['/cpu.max.burst=5000', '/cpu.max=10000 100000']);
    const raise = { cpu: { quota: 50000, burst: 40000 } };
    expect(files(resourceWrites(V2, raise, at('10000 100000')))).toEqual(['/cpu.max=50000 100000', '/cpu.max.burst=40000']);
  });

  it('v2: the swap alone is worked out against the memory.max in force', () => {
    expect(files(resourceWrites(V2, { memory: { swap: 300 } }, fakeFiles({ '/memory.max': '100' })))).toEqual(['/memory.swap.max=200']);
    expect(files(resourceWrites(V2, { memory: { swap: 300 } }, fakeFiles({ '/memory.max': 'max' })))).toEqual(['/memory.swap.max=300']);
    expect(() => resourceWrites(V2, { memory: { swap: 300 } })).toThrow(/without memory\.limit/);
  });

  it('v2: what cgroup2 has no file for is a warning (swappiness, disableOOMKiller, kernel, kernelTCP)', () => {
    const plan = resourceWrites(V2, { memory: { swappiness: 10, disableOOMKiller: true, kernel: 1 << 20, kernelTCP: 1 << 20, useHierarchy: false } });
    expect(plan.writes).toEqual([]);
    expect(plan.warnings.map((w) => w.split(' ')[0])).toEqual([
      'linux.resources.memory.kernel',
      'linux.resources.memory.kernelTCP',
      'linux.resources.memory.swappiness',
      'linux.resources.memory.disableOOMKiller',
      'linux.resources.memory.useHierarchy',
    ]);
  });

  it('v1 memory: memsw first when it grows past the current limit (or is -1), else the limit first', () => {
    const r = { memory: { limit: 64, swap: 256 } };
    expect(files(resourceWrites(HYBRID, r, fakeFiles({ 'memory/memory.limit_in_bytes': '128' })))).toEqual([
      'memory/memory.memsw.limit_in_bytes=256',
      'memory/memory.limit_in_bytes=64',
    ]);
    expect(files(resourceWrites(HYBRID, r, fakeFiles({ 'memory/memory.limit_in_bytes': '512' })))).toEqual([
      'memory/memory.limit_in_bytes=64',
      'memory/memory.memsw.limit_in_bytes=256',
    ]);
    // -1 with swap unsaid: both unlimited, memsw first.
    const unlimited = resourceWrites(HYBRID, { memory: { limit: -1 } }, fakeFiles({ 'memory/memory.memsw.limit_in_bytes': '9' }));
    expect(files(unlimited)).toEqual(['memory/memory.memsw.limit_in_bytes=-1', 'memory/memory.limit_in_bytes=-1']);
  });

  it('v1 memory: reservation, swappiness, OOM killer, use_hierarchy, kernelTCP where the file exists; kernel is a warning', () => {
    const r = { memory: { reservation: 32, swappiness: 0, disableOOMKiller: true, useHierarchy: true, kernel: 5, kernelTCP: 7 } };
    const plan = resourceWrites(HYBRID, r, fakeFiles({ 'memory/memory.kmem.tcp.limit_in_bytes': '1' }));
    expect(files(plan)).toEqual([
      'memory/memory.soft_limit_in_bytes=32',
      'memory/memory.kmem.tcp.limit_in_bytes=7',
      'memory/memory.swappiness=0',
      'memory/memory.oom_control=1',
      'memory/memory.use_hierarchy=1',
    ]);
    expect(plan.warnings).toEqual(['linux.resources.memory.kernel is ignored: kernels since 5.16 (and cgroup2) have no kernel memory limit']);
    expect(resourceWrites(HYBRID, { memory: { kernelTCP: 7 } }, fakeFiles({})).warnings[0]).toMatch(/^linux\.resources\.memory\.kernelTCP is ignored/);
  });

  it('checkBeforeUpdate refuses a limit at or below the current usage (v1 usage_in_bytes, v2 memory.current)', () => {
    const r = { memory: { limit: 1000, checkBeforeUpdate: true } };
    expect(() => resourceWrites(HYBRID, r, fakeFiles({ 'memory/memory.usage_in_bytes': '4096' }))).toThrow(
      'linux.resources.memory.limit: refusing 1000, below the current usage 4096 (memory.checkBeforeUpdate)',
    );
    expect(() => resourceWrites(V2, r, fakeFiles({ '/memory.current': '1000' }))).toThrow(/refusing 1000, below the current usage 1000/);
    expect(files(resourceWrites(HYBRID, r, fakeFiles({ 'memory/memory.usage_in_bytes': '999' })))).toEqual(['memory/memory.limit_in_bytes=1000']);
    // Without the flag the kernel decides.
    expect(files(resourceWrites(HYBRID, { memory: { limit: 1000 } }, fakeFiles({ 'memory/memory.usage_in_bytes': '4096' })))).toHaveLength(1);
  });

  it('v1 cpu: period before quota, rt period before rt runtime, burst, idle', () => {
    const r = { cpu: { quota: 20000, period: 100000, burst: 5000, realtimeRuntime: 1000, realtimePeriod: 10000, idle: 0 } };
    expect(files(resourceWrites(HYBRID, r))).toEqual([
      'cpu/cpu.cfs_period_us=100000',
      'cpu/cpu.cfs_quota_us=20000',
      'cpu/cpu.cfs_burst_us=5000',
      'cpu/cpu.rt_period_us=10000',
      'cpu/cpu.rt_runtime_us=1000',
      'cpu/cpu.idle=0',
    ]);
  });

  it('v1 blkio: blkio.weight or else BFQ\'s file, throttles per device; v2: io.bfq.weight or else io.weight, io.max', () => {
    const b = {
      blockIO: {
        weight: 500,
        weightDevice: [{ major: 8, minor: 0, weight: 300 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 20 }],
      },
    };
    const v1 = resourceWrites(HYBRID, b).writes;
    expect(v1.map((w) => [w.file, w.value, w.orElse?.file, w.resource])).toEqual([
      ['blkio.weight', '500', 'blkio.bfq.weight', 'blockIO.weight'],
      ['blkio.weight_device', '8:0 300', 'blkio.bfq.weight_device', 'blockIO.weightDevice[0]'],
      ['blkio.throttle.read_bps_device', '8:0 1000', undefined, 'blockIO.throttleReadBpsDevice[0]'],
      ['blkio.throttle.write_iops_device', '8:16 20', undefined, 'blockIO.throttleWriteIOPSDevice[0]'],
    ]);
    const v2 = resourceWrites(V2, { blockIO: { ...b.blockIO, throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 0 }] } }).writes;
    // A device weight needs BFQ (skipped without it, as runc); a 0 rate is "not set" (io.max would refuse it).
    expect(v2.map((w) => [w.file, w.value, w.orElse && `${w.orElse.file}=${w.orElse.value}`, !!w.skipIfMissing])).toEqual([
      ['io.bfq.weight', '500', 'io.weight=default 4950', false],
      ['io.bfq.weight', '8:0 300', undefined, true],
      ['io.max', '8:0 rbps=1000', undefined, false],
      ['io.max', '8:16 wiops=20', undefined, false],
    ]);
  });

  it('hugetlb: v1 limit_in_bytes, else cgroup2\'s .max (this project\'s hosts), each with its reservation limit where the kernel has one; JSON paths by index', () => {
    const r = { hugepageLimits: [{ pageSize: '2MB', limit: 4 << 20 }, { pageSize: '1GB', limit: 0 }] };
    const writes = resourceWrites(HYBRID, r).writes;
    expect(writes.map((w) => `${w.key}/${w.file}=${w.value} ${w.resource}`)).toEqual([
      `/hugetlb.2MB.max=${4 << 20} hugepageLimits[0]`,
      `/hugetlb.2MB.rsvd.max=${4 << 20} hugepageLimits[0]`,
      '/hugetlb.1GB.max=0 hugepageLimits[1]',
      '/hugetlb.1GB.rsvd.max=0 hugepageLimits[1]',
    ]);
    // Kernels before 5.7 have no reservation files: skipped, as runc skips them.
    expect(writes.map((w) => w.skipIfMissing === true)).toEqual([false, true, false, true]);
    const withV1: Layout = { ...HYBRID, hierarchies: [...PURE_V1.hierarchies, { ...HYBRID.hierarchies[0]!, key: 'hugetlb', mount: { ...HYBRID.hierarchies[0]!.mount, controllers: ['hugetlb'] } }] };
    expect(files(resourceWrites(withV1, r)).slice(0, 2)).toEqual([
      `hugetlb/hugetlb.2MB.limit_in_bytes=${4 << 20}`,
      `hugetlb/hugetlb.2MB.rsvd.limit_in_bytes=${4 << 20}`,
    ]);
  });

  it('network and rdma: v1 files where mounted; otherwise unwritable, saying why', () => {
    const r = { network: { classID: 0x100001, priorities: [{ name: 'eth0', priority: 5 }] }, rdma: { mlx4_0: { hcaHandles: 2, hcaObjects: 2000 } } };
    const withNet: Layout = {
      ...HYBRID,
      hierarchies: [...HYBRID.hierarchies, { key: 'net_cls,net_prio', own: '/', mount: { mountPoint: '/x', root: '/', fstype: 'cgroup', controllers: ['net_cls', 'net_prio'] } }],
    };
    const here = resourceWrites(withNet, r).writes;
    expect(here.slice(0, 2).map((w) => `${w.key}/${w.file}=${w.value}`)).toEqual(['net_cls,net_prio/net_cls.classid=1048577', 'net_cls,net_prio/net_prio.ifpriomap=eth0 5']);
    expect(here[2]).toMatchObject({ key: '', file: 'rdma.max', value: 'mlx4_0 hca_handle=2 hca_object=2000', resource: 'rdma["mlx4_0"]' });
    const none = resourceWrites(HYBRID, r).writes;
    expect(none.map((w) => [w.resource, w.unavailable])).toEqual([
      ['network.classID', 'this host has no cgroup v1 net_cls controller, and cgroup2 has no equivalent of net_cls.classid'],
      ['network.priorities[0]', 'this host has no cgroup v1 net_prio controller, and cgroup2 has no equivalent of net_prio.ifpriomap'],
      ['rdma["mlx4_0"]', undefined], // cgroup2 may have it: the write says if not
    ]);
    expect(resourceWrites(PURE_V1, { rdma: r.rdma }).writes[0]!.unavailable).toBe('this host has no rdma controller (neither cgroup v1 nor cgroup2)');
  });

  it('unified: cgroup2 files as given; an error on a pure v1 host or for a name that is no cgroup file', () => {
    expect(files(resourceWrites(HYBRID, { unified: { 'hugetlb.2MB.max': '0', 'memory.high': '1G' } }))).toEqual(['/hugetlb.2MB.max=0', '/memory.high=1G']);
    expect(() => resourceWrites(PURE_V1, { unified: { 'memory.high': '1G' } })).toThrow(
      'linux.resources.unified["memory.high"]: this host has no cgroup2 hierarchy (unified needs cgroup v2)',
    );
    expect(() => resourceWrites(V2, { unified: { '../memory.high': '1G' } })).toThrow(/unified\["\.\.\/memory\.high"\]: not a cgroup file name/);
  });
});
