import { describe, expect, it } from 'vitest';
import { defaultSpec, OCI_VERSION } from '../../lib/oci/default-spec.js';
import { validateSpec } from '../../lib/oci/validate.js';

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
const MASKED = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

describe('defaultSpec', () => {
  it('is what `runc spec` writes, with our hostname', () => {
    expect(OCI_VERSION).toBe('1.2.0');
    expect(defaultSpec()).toStrictEqual({
      ociVersion: '1.2.0',
      process: {
        terminal: true,
        user: { uid: 0, gid: 0 },
        args: ['sh'],
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
        cwd: '/',
        capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
        rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
        noNewPrivileges: true,
      },
      root: { path: 'rootfs', readonly: true },
      hostname: 'tsbox',
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
        {
          destination: '/dev/pts',
          type: 'devpts',
          source: 'devpts',
          options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
        },
        {
          destination: '/dev/shm',
          type: 'tmpfs',
          source: 'shm',
          options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
        },
        { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
        { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
        {
          destination: '/sys/fs/cgroup',
          type: 'cgroup',
          source: 'cgroup',
          options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
        },
      ],
      linux: {
        resources: { devices: [{ allow: false, access: 'rwm' }] },
        namespaces: [
          { type: 'pid' },
          { type: 'network' },
          { type: 'ipc' },
          { type: 'uts' },
          { type: 'mount' },
          { type: 'cgroup' },
        ],
        maskedPaths: MASKED,
        readonlyPaths: READONLY,
      },
    });
  });

  it('is what `runc spec --rootless` writes, for our euid and egid', () => {
    const spec = defaultSpec({ rootless: true });
    const uid = process.geteuid!();
    const gid = process.getegid!();
    expect(spec.linux).toStrictEqual({
      uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }, { type: 'user' }],
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
    });
    expect(spec.mounts?.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']);
    expect(spec.mounts?.[2]?.options).toEqual(['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']);
    expect(spec.mounts?.[5]).toStrictEqual({
      destination: '/sys',
      type: 'none',
      source: '/sys',
      options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
    });
    const { linux: _rootlessLinux, mounts: _rootlessMounts, ...rest } = spec;
    const { linux: _linux, mounts: _mounts, ...rootfulRest } = defaultSpec();
    expect(rest).toStrictEqual(rootfulRest);
  });

  it('runs the given args', () => {
    expect(defaultSpec({ args: ['/bin/echo', 'hi'] }).process?.args).toEqual(['/bin/echo', 'hi']);
  });

  it('returns a fresh object each time', () => {
    const args = ['a'];
    const first = defaultSpec({ args });
    first.process?.args?.push('changed');
    first.linux?.maskedPaths?.push('/changed');
    first.process?.capabilities?.bounding?.push('CAP_SYS_ADMIN');
    expect(args).toEqual(['a']);
    expect(defaultSpec().linux?.maskedPaths).toEqual(MASKED);
    expect(defaultSpec().process?.capabilities?.bounding).toEqual(CAPS);
    expect(defaultSpec().process?.capabilities?.effective).toEqual(CAPS);
  });

  it('survives a JSON round trip unchanged, and validates', () => {
    for (const spec of [defaultSpec(), defaultSpec({ rootless: true })]) {
      const copy: unknown = JSON.parse(JSON.stringify(spec));
      expect(copy).toStrictEqual(spec);
      expect(validateSpec(copy)).toStrictEqual(spec);
    }
  });
});
