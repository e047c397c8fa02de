import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import { encodePlan, encodeSeccompCompile } from '../../lib/plan/encode.js';
import { wire } from '../../lib/wire.js';

import { MOUNT_ATTR, MS } from '../../lib/plan/mount-options.js';
import type { LaunchPlan } from '../../lib/plan/plan.js';

const { encodeRecords } = wire;

// The format itself is pinned byte by byte below ('writes u32 count, ...').
const decode = wire.decodeRecords;

function minimalPlan(): LaunchPlan {
  return {
    exec: false,
    hooksPause: false,
    hooks: [],
    namespaces: [],
    cgroupProcs: [],
    rootfs: '/r',
    rootPropagation: MS.SLAVE | MS.REC,
    mounts: [],
    devices: [],
    symlinks: [],
    mkdirs: [],
    maskedPaths: [],
    readonlyPaths: [],
    readonlyRoot: false,
    rootfsPropagation: 0,
    sysctls: [],
    rlimits: [],
    noNewPrivileges: false,
    user: { uid: 0, gid: 0, groups: [] },
    cwd: '/',
    env: [],
    args: ['sh'],
    pause: false,
    warnings: ['never encoded'],
  };
}

function fullPlan(): LaunchPlan {
  return {
    exec: false,
    hooksPause: true,
    hooks: [{ phase: 'createContainer', path: '/bin/hook', args: ['hook', '-v'], env: ['A=1'], timeout: 5 }],
    namespaces: [
      { type: 'mnt', path: '' },
      { type: 'net', path: '/var/run/netns/x' },
    ],
    cgroupProcs: ['/sys/fs/cgroup/a/cgroup.procs'],
    rootfs: '/bundle/rootfs',
    rootPropagation: MS.PRIVATE | MS.REC,
    mounts: [
      { source: 'proc', destination: '/proc', type: 'proc', flags: MS.NOSUID | MS.NODEV, data: '', propagation: 0 },
      {
        source: '/host/dir',
        destination: '/data',
        type: 'bind',
        flags: MS.BIND | MS.REC | MS.RDONLY,
        data: '',
        propagation: MS.PRIVATE | MS.REC,
        recursive: { set: MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOEXEC, clear: MOUNT_ATTR.ATIME_MASK },
      },
      { source: 'tmpfs', destination: '/tmp', type: 'tmpfs', flags: 0, data: 'mode=1777,size=1k', propagation: 0, copyUp: true },
    ],
    devices: [
      { path: '/dev/null', type: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/sda', type: 'b', major: 8, minor: 0, mode: 0o660, uid: 5, gid: 6 },
    ],
    symlinks: [{ target: '/proc/self/fd', path: '/dev/fd' }],
    mkdirs: ['/work'],
    maskedPaths: ['/proc/kcore', '/proc/keys'],
    readonlyPaths: ['/proc/sys'],
    readonlyRoot: true,
    rootfsPropagation: MS.SHARED,
    sysctls: [['net.ipv4.ip_forward', '1']],
    hostname: 'box',
    domainname: 'example.org',
    terminal: { rows: 24, cols: 80 },
    rlimits: [{ name: 'RLIMIT_NOFILE', resource: 7, soft: '1024', hard: '18446744073709551615' }],
    oomScoreAdj: -999,
    noNewPrivileges: true,
    apparmorProfile: 'docker-default',
    selinuxLabel: 'system_u:system_r:container_t:s0',
    ioPriority: (1 << 13) | 3,
    scheduler: { policy: 6, flags: 0x41n, nice: -5, priority: 0, runtime: 1000n, deadline: 2000n, period: 18446744073709551615n },
    personality: 8,
    seccomp: {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrno: 38,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      rules: [
        { where: 'linux.seccomp.syscalls[0].names[0]', name: 'read', action: 'SCMP_ACT_ALLOW', errno: 0, args: [] },
        {
          where: 'linux.seccomp.syscalls[1].names[0]',
          name: 'kill',
          action: 'SCMP_ACT_ERRNO',
          errno: 1,
          args: [
            { index: 1, op: 'SCMP_CMP_EQ', value: '9', valueTwo: '0' },
            { index: 0, op: 'SCMP_CMP_MASKED_EQ', value: '18446744073709551615', valueTwo: '1' },
          ],
        },
      ],
      listener: { path: '/run/agent.sock', metadata: 'not encoded' },
    },
    seccompProgram: {
      program: Buffer.from('0600000000000000060000000000ff7f', 'hex'),
      loadFlags: 2,
      unknown: ['not encoded either'],
    },
    capabilities: {
      lastCap: 40,
      bounding: (1n << 5n) | (1n << 40n),
      effective: 1n << 5n,
      permitted: 1n << 63n,
      inheritable: 0n,
      ambient: 1n,
    },
    user: { uid: 1000, gid: 100, groups: [5, 6] },
    umask: 0o022,
    cwd: '/work',
    env: ['PATH=/bin', 'GREETING=héllo wörld ✓'],
    args: ['sh', '-c', 'echo "$GREETING"'],
    pause: true,
    warnings: [],
  };
}

describe('encodeRecords', () => {
  it('writes u32 count, then u32 length and bytes per field, in host order', () => {
    const buf = encodeRecords([['ab', ''], ['é']]);
    const expected =
      endianness() === 'LE'
        ? [2, 0, 0, 0, 2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9]
        : [0, 0, 0, 2, 0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0xc3, 0xa9];
    expect([...buf]).toStrictEqual(expected);
  });

  it('round-trips', () => {
    const records = [['a'], [], ['x'.repeat(70000), '', 'ü'], ['\0nul']];
    expect(decode(encodeRecords(records))).toStrictEqual(records);
    expect(encodeRecords([]).length).toBe(0);
  });

  it('lengths are byte lengths, also for text that is not valid UTF-16', () => {
    // A lone surrogate becomes U+FFFD (3 bytes); the buffer holds exactly what the lengths say.
    const buf = encodeRecords([['\ud800', 'a\u{1F600}b']]);
    expect(buf.length).toBe(4 + 4 + 3 + 4 + 6);
    expect(decode(buf)).toStrictEqual([['\ufffd', 'a\u{1F600}b']]);
  });

  it('writes every byte of a long field\'s length, and text that is not ASCII as UTF-8', () => {
    const long = 'y'.repeat(0x10203);
    const buf = encodeRecords([[long, 'ä€\u{1F600}']]);
    const length = [...buf.subarray(4, 8)];
    expect(length).toStrictEqual(endianness() === 'LE' ? [0x03, 0x02, 0x01, 0x00] : [0x00, 0x01, 0x02, 0x03]);
    expect(buf.subarray(8 + 0x10203 + 4).toString('hex')).toBe(Buffer.from('ä€\u{1F600}', 'utf8').toString('hex'));
    expect(buf.length).toBe(4 + 4 + 0x10203 + 4 + 2 + 3 + 4);
  });
});

describe('encodePlan', () => {
  it('a minimal plan', () => {
    expect(decode(encodePlan(minimalPlan()))).toStrictEqual([
      ['rootfs', '/r'],
      ['root-propagation', String(MS.SLAVE | MS.REC)],
      ['user', '0', '0'],
      ['cwd', '/'],
      ['env'],
      ['args', 'sh'],
    ]);
  });

  it('every record, in the order the helper expects', () => {
    expect(decode(encodePlan(fullPlan()))).toStrictEqual([
      ['ns', 'mnt', ''],
      ['ns', 'net', '/var/run/netns/x'],
      ['cgroup-procs', '/sys/fs/cgroup/a/cgroup.procs'],
      ['rootfs', '/bundle/rootfs'],
      ['root-propagation', String(MS.PRIVATE | MS.REC)],
      ['mount', 'proc', '/proc', 'proc', String(MS.NOSUID | MS.NODEV), '', '0'],
      ['mount', '/host/dir', '/data', 'bind', String(MS.BIND | MS.REC | MS.RDONLY), '', String(MS.PRIVATE | MS.REC)],
      // Applies to the mount before it.
      ['mount-recursive', String(MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOEXEC), String(MOUNT_ATTR.ATIME_MASK)],
      ['mount', 'tmpfs', '/tmp', 'tmpfs', '0', 'mode=1777,size=1k', '0'],
      ['mount-copy-up'],
      ['device', '/dev/null', 'c', '1', '3', '438', '0', '0'],
      ['device', '/dev/sda', 'b', '8', '0', '432', '5', '6'],
      ['symlink', '/proc/self/fd', '/dev/fd'],
      ['mkdir', '/work'],
      ['masked', '/proc/kcore'],
      ['masked', '/proc/keys'],
      ['readonly-path', '/proc/sys'],
      ['readonly-root'],
      ['rootfs-propagation', String(MS.SHARED)],
      ['sysctl', 'net.ipv4.ip_forward', '1'],
      ['hostname', 'box'],
      ['domainname', 'example.org'],
      ['terminal', '24', '80'],
      ['rlimit', 'RLIMIT_NOFILE', '7', '1024', '18446744073709551615'],
      ['oom-score-adj', '-999'],
      ['no-new-privileges'],
      ['apparmor-profile', 'docker-default'],
      ['selinux-label', 'system_u:system_r:container_t:s0'],
      ['ioprio', '8195'],
      ['scheduler', '6', '65', '-5', '0', '1000', '2000', '18446744073709551615'],
      ['personality', '8'],
      // The init loads the compiled program; the rules went to the compile mode.
      ['seccomp-program', '2', '0600000000000000060000000000ff7f'],
      ['capabilities', '40', '1099511627808', '32', '9223372036854775808', '0', '1'],
      ['user', '1000', '100', '5', '6'],
      ['umask', '18'],
      ['cwd', '/work'],
      ['env', 'PATH=/bin', 'GREETING=héllo wörld ✓'],
      ['args', 'sh', '-c', 'echo "$GREETING"'],
      ['hooks-pause'],
      ['hook', 'createContainer', '/bin/hook', '5', '2', 'hook', '-v', 'A=1'],
      ['pause'],
    ]);
  });

  // That the helper decodes these records as meant: test/unit/protocol.test.ts.

  it('exec CPU affinity, time offsets and the memory policy: the records native/helper/plan.cc decodes (apply_spec_extras)', () => {
    const plan: LaunchPlan = {
      ...minimalPlan(),
      execCpuAffinity: { initial: [0, 2], final: [] },
      timeOffsets: [{ clock: 'boottime', secs: -86400, nanosecs: 5 }],
      memoryPolicy: { mode: 2 | (1 << 15), nodes: [0, 1], text: 'MPOL_BIND|MPOL_F_STATIC_NODES nodes "0-1"' },
    };
    const records = decode(encodePlan(plan)).filter((r) => ['exec-cpu-affinity', 'time-offset', 'memory-policy'].includes(r[0]!));
    expect(records).toEqual([
      ['exec-cpu-affinity', 'initial', '0', '2'],
      ['time-offset', 'boottime', '-86400', '5'],
      ['memory-policy', 'MPOL_BIND|MPOL_F_STATIC_NODES nodes "0-1"', String(2 | (1 << 15)), '0', '1'],
    ]);
  });

  it('a plan with linux.seccomp not compiled yet is refused', () => {
    const plan = fullPlan();
    delete plan.seccompProgram;
    expect(() => encodePlan(plan)).toThrow('linux.seccomp has not been compiled');
  });

  it("the compile mode's plan: only the rules, with their JSON paths for messages", () => {
    expect(decode(encodeSeccompCompile(fullPlan().seccomp!))).toStrictEqual([
      ['seccomp-compile'],
      ['seccomp', 'SCMP_ACT_ERRNO', '38', '2', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SECCOMP_FILTER_FLAG_LOG'],
      ['seccomp-rule', 'linux.seccomp.syscalls[0].names[0]', 'read', 'SCMP_ACT_ALLOW', '0', '0'],
      [
        'seccomp-rule', 'linux.seccomp.syscalls[1].names[0]', 'kill', 'SCMP_ACT_ERRNO', '1', '2',
        '1', 'SCMP_CMP_EQ', '9', '0',
        '0', 'SCMP_CMP_MASKED_EQ', '18446744073709551615', '1',
      ],
    ]);
  });

  it('optional records are left out when unset, present when zero', () => {
    const plan = minimalPlan();
    plan.oomScoreAdj = 0;
    plan.umask = 0;
    plan.hostname = '';
    plan.capabilities = { lastCap: 40, bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
    const records = decode(encodePlan(plan));
    expect(records).toContainEqual(['oom-score-adj', '0']);
    expect(records).toContainEqual(['umask', '0']);
    expect(records).toContainEqual(['hostname', '']);
    expect(records).toContainEqual(['capabilities', '40', '0', '0', '0', '0', '0']);
    expect(records.some((r) => r[0] === 'domainname' || r[0] === 'terminal' || r[0] === 'rootfs-propagation')).toBe(false);
  });

  it('the full mask of 41 capabilities', () => {
    const plan = minimalPlan();
    const all = (1n << 41n) - 1n;
    plan.capabilities = { lastCap: 40, bounding: all, effective: all, permitted: all, inheritable: all, ambient: all };
    const caps = decode(encodePlan(plan)).find((r) => r[0] === 'capabilities')!;
    expect(caps).toStrictEqual(['capabilities', '40', ...Array(5).fill('2199023255551')]);
  });
});

describe('decodeRecord', () => {
  it('reads back what encodeRecords wrote, one record', () => {
    for (const record of [['error', 'exec "nope"', '2', 'executable file not found in $PATH'], [], [''], ['é', '\u{1F600}']]) {
      expect(wire.decodeRecord(encodeRecords([record]))).toStrictEqual(record);
    }
  });

  it('refuses a buffer with more than one record, or a truncated one', () => {
    expect(() => wire.decodeRecord(encodeRecords([['a'], ['b']]))).toThrow(RangeError);
    expect(() => wire.decodeRecords(encodeRecords([['abc']]).subarray(0, 9))).toThrow(RangeError);
  });
});
