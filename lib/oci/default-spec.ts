/**
 * The config.json that `tsbox spec` writes: the same starting point as
 * `runc spec` (and `runc spec --rootless`), with our hostname.
 */
import type { IDMapping, LinuxNamespace, Mount, Spec } from './types.js';
import { OCI_VERSION } from './version.js';

export { OCI_VERSION, OCI_VERSION_MAX } from './version.js';

const CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

const MASKED_PATHS = [
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

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function defaultSpec(opts: { rootless?: boolean; args?: string[] } = {}): Spec {
  const rootless = opts.rootless ?? false;
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: [...(opts.args ?? ['sh'])],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...CAPABILITIES],
        effective: [...CAPABILITIES],
        permitted: [...CAPABILITIES],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'tsbox',
    mounts: defaultMounts(rootless),
    linux: rootless
      ? {
          uidMappings: [currentIdMapping(process.geteuid?.() ?? 0)],
          gidMappings: [currentIdMapping(process.getegid?.() ?? 0)],
          namespaces: namespaces(['pid', 'ipc', 'uts', 'mount', 'cgroup', 'user']),
          maskedPaths: [...MASKED_PATHS],
          readonlyPaths: [...READONLY_PATHS],
        }
      : {
          resources: { devices: [{ allow: false, access: 'rwm' }] },
          namespaces: namespaces(['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']),
          maskedPaths: [...MASKED_PATHS],
          readonlyPaths: [...READONLY_PATHS],
        },
  };
}

function namespaces(types: LinuxNamespace['type'][]): LinuxNamespace[] {
  return types.map((type) => ({ type }));
}

/** Without privileges, a user namespace can map only our own effective id. */
function currentIdMapping(hostID: number): IDMapping {
  return { containerID: 0, hostID, size: 1 };
}

function defaultMounts(rootless: boolean): Mount[] {
  const mounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      // gid 5 (tty) does not exist in a user namespace that maps only us.
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(rootless ? [] : ['gid=5'])],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  ];
  if (rootless) {
    // sysfs cannot be mounted without owning the network namespace, which a
    // rootless container shares with the host; bind the host's instead.
    mounts.push({
      destination: '/sys',
      type: 'none',
      source: '/sys',
      options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
    });
  } else {
    mounts.push(
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      {
        destination: '/sys/fs/cgroup',
        type: 'cgroup',
        source: 'cgroup',
        options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
      },
    );
  }
  return mounts;
}
