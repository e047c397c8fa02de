import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { defaultSpec } from '../../lib/oci/default-spec.js';
import { validateProcess, validateSpec } from '../../lib/oci/validate.js';

// Configs are arbitrary JSON here: the point is to build wrong ones.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const CLIENT_CONFIGS = path.resolve(__dirname, '../fixtures/client-configs');

/** A valid config that sets nearly every field, so each case can break one. */
function validConfig(): Json {
  return {
    ociVersion: '1.2.0',
    root: { path: 'rootfs', readonly: true },
    process: {
      terminal: false,
      consoleSize: { height: 24, width: 80 },
      user: { uid: 1000, gid: 1000, umask: 0o022, additionalGids: [5, 6] },
      args: ['sh', '-c', 'true'],
      env: ['PATH=/bin', 'EMPTY='],
      cwd: '/',
      capabilities: {
        bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
        effective: ['CAP_KILL'],
        permitted: ['CAP_KILL'],
        inheritable: [],
        ambient: [],
      },
      rlimits: [
        { type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 },
        { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
      ],
      noNewPrivileges: true,
      apparmorProfile: 'tsbox-default',
      oomScoreAdj: 100,
      scheduler: { policy: 'SCHED_OTHER', nice: 5, flags: ['SCHED_FLAG_RESET_ON_FORK'] },
      selinuxLabel: 'system_u:system_r:container_t:s0',
      ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 },
      execCPUAffinity: { initial: '0', final: '0-3,7' },
    },
    hostname: 'box',
    domainname: 'example.org',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
      {
        destination: '/data',
        type: 'bind',
        source: '/srv/data',
        options: ['rbind', 'ro'],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      },
    ],
    hooks: {
      prestart: [{ path: '/usr/bin/hook', args: ['hook', 'prestart'], env: ['A=1'], timeout: 5 }],
      createRuntime: [{ path: '/usr/bin/hook' }],
      createContainer: [],
      startContainer: [{ path: '/bin/true' }],
      poststart: [],
      poststop: [{ path: '/usr/bin/hook' }],
    },
    annotations: { 'io.example.key': 'value' },
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'network', path: '/var/run/netns/test' },
        { type: 'mount' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'user' },
        { type: 'cgroup' },
        { type: 'time' },
      ],
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      timeOffsets: { monotonic: { secs: 10, nanosecs: 5 }, boottime: { secs: -3 } },
      devices: [
        { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
        { type: 'p', path: '/dev/fifo' },
      ],
      cgroupsPath: '/tsbox/test',
      resources: {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
        ],
        memory: { limit: 536870912, reservation: 1, swap: -1, swappiness: 0, disableOOMKiller: false },
        cpu: { shares: 1024, quota: -1, period: 100000, cpus: '0-1', mems: '0' },
        pids: { limit: 100 },
        blockIO: {
          weight: 500,
          weightDevice: [{ major: 8, minor: 0, weight: 100 }],
          throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        },
        hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
        network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 500 }] },
        rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 } },
        unified: { 'memory.high': '1G' },
      },
      rootfsPropagation: 'rslave',
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        architectures: ['SCMP_ARCH_X86_64'],
        flags: ['SECCOMP_FILTER_FLAG_LOG'],
        syscalls: [
          { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
          { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
          { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        ],
      },
      sysctl: { 'net.ipv4.ip_forward': '1' },
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
      mountLabel: 'system_u:object_r:container_file_t:s0',
      intelRdt: { closID: 'guaranteed', l3CacheSchema: 'L3:0=ff', memBwSchema: 'MB:0=50' },
      personality: { domain: 'LINUX', flags: [] },
    },
  };
}

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

/** Arrays nested `depth` deep, built without recursion. */
function nestedArrays(depth: number): Json {
  let value: Json = 'bottom';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

const RLIMIT_LIST =
  'RLIMIT_AS, RLIMIT_CORE, RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_LOCKS, RLIMIT_MEMLOCK, ' +
  'RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS, RLIMIT_RTPRIO, RLIMIT_RTTIME, ' +
  'RLIMIT_SIGPENDING, RLIMIT_STACK';
const SECCOMP_ACTION_LIST =
  'SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, ' +
  'SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY';
const U32_RANGE = 'must be an integer from 0 to 4294967295';
const U64_RANGE = 'must be an integer from 0 to 18446744073709551615';
const I64_RANGE = 'must be an integer from -9223372036854775808 to 9223372036854775807';

/** [what is wrong, how to break the valid config (a return value replaces it), jsonPath, problem] */
const MALFORMED: [string, (c: Json) => Json, string, string][] = [
  // top level
  ['config is an array', () => [], '', 'config must be a JSON object'],
  ['config is null', () => null, '', 'config must be a JSON object'],
  ['config is a string', () => '{}', '', 'config must be a JSON object'],
  ['ociVersion missing', (c) => void delete c.ociVersion, 'ociVersion', 'is required'],
  ['ociVersion a number', (c) => void (c.ociVersion = 1), 'ociVersion', 'must be a string, got 1'],
  ['ociVersion not SemVer', (c) => void (c.ociVersion = 'banana'), 'ociVersion', 'must be a SemVer 2.0.0 version such as "1.2.0", got "banana"'],
  ['ociVersion with two parts', (c) => void (c.ociVersion = '1.0'), 'ociVersion', 'must be a SemVer 2.0.0 version such as "1.2.0", got "1.0"'],
  ['ociVersion with a leading zero', (c) => void (c.ociVersion = '1.02.0'), 'ociVersion', 'must be a SemVer 2.0.0 version such as "1.2.0", got "1.02.0"'],
  // root
  ['root missing', (c) => void delete c.root, 'root', 'is required'],
  ['root a string', (c) => void (c.root = 'rootfs'), 'root', 'must be an object, got "rootfs"'],
  ['root.path empty', (c) => void (c.root.path = ''), 'root.path', 'must be a non-empty string, got ""'],
  ['root.path missing', (c) => void delete c.root.path, 'root.path', 'is required'],
  ['root.readonly a string', (c) => void (c.root.readonly = 'yes'), 'root.readonly', 'must be a boolean, got "yes"'],
  // process
  ['process missing', (c) => void delete c.process, 'process', 'is required'],
  ['process an array', (c) => void (c.process = []), 'process', 'must be an object, got []'],
  ['process.args missing', (c) => void delete c.process.args, 'process.args', 'is required'],
  ['process.args empty', (c) => void (c.process.args = []), 'process.args', 'must be a non-empty array, got []'],
  ['process.args a string', (c) => void (c.process.args = 'sh'), 'process.args', 'must be a non-empty array, got "sh"'],
  ['process.args[1] a number', (c) => void (c.process.args[1] = 1), 'process.args[1]', 'must be a string, got 1'],
  ['process.args[0] with NUL', (c) => void (c.process.args[0] = 'sh\0x'), 'process.args[0]', 'must not contain a NUL byte'],
  ['process.cwd missing', (c) => void delete c.process.cwd, 'process.cwd', 'is required'],
  ['process.cwd relative', (c) => void (c.process.cwd = 'tmp'), 'process.cwd', 'must be an absolute path, got "tmp"'],
  [
    'process.cwd long and relative',
    (c) => void (c.process.cwd = 'x'.repeat(100)),
    'process.cwd',
    `must be an absolute path, got "${'x'.repeat(40)}..."`,
  ],
  ['process.user a number', (c) => void (c.process.user = 0), 'process.user', 'must be an object, got 0'],
  ['process.user.uid missing', (c) => void delete c.process.user.uid, 'process.user.uid', 'is required'],
  ['process.user.uid negative', (c) => void (c.process.user.uid = -1), 'process.user.uid', `${U32_RANGE}, got -1`],
  [
    'process.user.gid too big',
    (c) => void (c.process.user.gid = 4294967296),
    'process.user.gid',
    `${U32_RANGE}, got 4294967296`,
  ],
  ['process.user.uid fractional', (c) => void (c.process.user.uid = 1.5), 'process.user.uid', `${U32_RANGE}, got 1.5`],
  ['process.user.uid a string', (c) => void (c.process.user.uid = '0'), 'process.user.uid', `${U32_RANGE}, got "0"`],
  [
    'process.user.additionalGids[1] negative',
    (c) => void (c.process.user.additionalGids = [0, -5]),
    'process.user.additionalGids[1]',
    `${U32_RANGE}, got -5`,
  ],
  [
    'process.user.umask above 0o7777',
    (c) => void (c.process.user.umask = 0o10000),
    'process.user.umask',
    'must be an integer from 0 to 4095, got 4096',
  ],
  [
    'process.env entry without =',
    (c) => void c.process.env.push('FOO'),
    'process.env[2]',
    'must be of the form KEY=value, got "FOO"',
  ],
  ['process.env an object', (c) => void (c.process.env = {}), 'process.env', 'must be an array, got an object'],
  [
    'process.terminal a string',
    (c) => void (c.process.terminal = 'true'),
    'process.terminal',
    'must be a boolean, got "true"',
  ],
  [
    'process.noNewPrivileges a number',
    (c) => void (c.process.noNewPrivileges = 1),
    'process.noNewPrivileges',
    'must be a boolean, got 1',
  ],
  [
    'process.consoleSize.width missing',
    (c) => void delete c.process.consoleSize.width,
    'process.consoleSize.width',
    'is required',
  ],
  [
    'process.consoleSize.height negative',
    (c) => void (c.process.consoleSize.height = -1),
    'process.consoleSize.height',
    `${U32_RANGE}, got -1`,
  ],
  [
    'process.oomScoreAdj above 1000',
    (c) => void (c.process.oomScoreAdj = 1001),
    'process.oomScoreAdj',
    'must be an integer from -1000 to 1000, got 1001',
  ],
  [
    'capability without CAP_ prefix',
    (c) => void c.process.capabilities.bounding.push('NET_ADMIN'),
    'process.capabilities.bounding[2]',
    'must be a capability name like CAP_KILL, got "NET_ADMIN"',
  ],
  [
    'capability set a string',
    (c) => void (c.process.capabilities.ambient = 'CAP_KILL'),
    'process.capabilities.ambient',
    'must be an array, got "CAP_KILL"',
  ],
  [
    'unknown rlimit type',
    (c) => void (c.process.rlimits[0].type = 'RLIMIT_FOO'),
    'process.rlimits[0].type',
    `unknown rlimit type "RLIMIT_FOO" (expected one of: ${RLIMIT_LIST})`,
  ],
  [
    'lowercase rlimit type',
    (c) => void (c.process.rlimits[1].type = 'nofile'),
    'process.rlimits[1].type',
    `unknown rlimit type "nofile" (expected one of: ${RLIMIT_LIST})`,
  ],
  [
    'duplicate rlimit type',
    (c) => void (c.process.rlimits[1].type = 'RLIMIT_NOFILE'),
    'process.rlimits[1].type',
    'duplicate rlimit type "RLIMIT_NOFILE"',
  ],
  [
    'rlimit soft above hard',
    (c) => void (c.process.rlimits[0].soft = 2048),
    'process.rlimits[0].soft',
    'must not be greater than hard (2048 > 1024)',
  ],
  ['rlimit hard negative', (c) => void (c.process.rlimits[0].hard = -1), 'process.rlimits[0].hard', `${U64_RANGE}, got -1`],
  ['rlimit soft missing', (c) => void delete c.process.rlimits[1].soft, 'process.rlimits[1].soft', 'is required'],
  [
    'scheduler.policy unknown',
    (c) => void (c.process.scheduler.policy = 'SCHED_FAST'),
    'process.scheduler.policy',
    'unknown scheduler policy "SCHED_FAST" (expected one of: SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_ISO, SCHED_IDLE, SCHED_DEADLINE)',
  ],
  [
    'scheduler.nice out of range',
    (c) => void (c.process.scheduler.nice = 20),
    'process.scheduler.nice',
    'must be an integer from -20 to 19, got 20',
  ],
  [
    'scheduler.priority for a policy without one',
    (c) => void (c.process.scheduler.priority = 5),
    'process.scheduler.priority',
    'can only be set for the SCHED_FIFO and SCHED_RR policies, not SCHED_OTHER',
  ],
  [
    'scheduler.runtime without SCHED_DEADLINE',
    (c) => void ((c.process.scheduler.policy = 'SCHED_FIFO'), (c.process.scheduler.runtime = 1000)),
    'process.scheduler.runtime',
    'can only be set for the SCHED_DEADLINE policy, not SCHED_FIFO',
  ],
  [
    'ioPriority.class missing',
    (c) => void delete c.process.ioPriority.class,
    'process.ioPriority.class',
    'is required',
  ],
  [
    'ioPriority.priority above 7',
    (c) => void (c.process.ioPriority.priority = 8),
    'process.ioPriority.priority',
    'must be an integer from 0 to 7, got 8',
  ],
  [
    'execCPUAffinity.final not a CPU list',
    (c) => void (c.process.execCPUAffinity.final = 'all'),
    'process.execCPUAffinity.final',
    'must be a CPU list like "0-3,7", got "all"',
  ],
  // hostname, domainname
  [
    'hostname longer than 64 bytes',
    (c) => void (c.hostname = 'h'.repeat(65)),
    'hostname',
    'must be at most 64 bytes long, got 65',
  ],
  [
    'hostname of 33 two-byte characters',
    (c) => void (c.hostname = 'é'.repeat(33)),
    'hostname',
    'must be at most 64 bytes long, got 66',
  ],
  ['domainname a number', (c) => void (c.domainname = 5), 'domainname', 'must be a string, got 5'],
  // mounts
  ['mounts an object', (c) => void (c.mounts = {}), 'mounts', 'must be an array, got an object'],
  ['mounts[1] null', (c) => void (c.mounts[1] = null), 'mounts[1]', 'must be an object, got null'],
  ['mount destination missing', (c) => void delete c.mounts[1].destination, 'mounts[1].destination', 'is required'],
  ['mount destination empty', (c) => void (c.mounts[2].destination = ''), 'mounts[2].destination', 'must be a non-empty string, got ""'],
  [
    'mount option empty',
    (c) => void (c.mounts[1].options[0] = ''),
    'mounts[1].options[0]',
    'must be a non-empty string, got ""',
  ],
  [
    'mount option with a comma',
    (c) => void (c.mounts[2].options[1] = 'ro,nosuid'),
    'mounts[2].options[1]',
    'must not contain a comma, got "ro,nosuid"',
  ],
  ['mount option a number', (c) => void (c.mounts[2].options[0] = 5), 'mounts[2].options[0]', 'must be a string, got 5'],
  ['mount type a boolean', (c) => void (c.mounts[0].type = true), 'mounts[0].type', 'must be a string, got true'],
  [
    'mount uidMappings size 0',
    (c) => void (c.mounts[2].uidMappings[0].size = 0),
    'mounts[2].uidMappings[0].size',
    'must be an integer from 1 to 4294967295, got 0',
  ],
  // hooks
  ['hooks a string', (c) => void (c.hooks = 'x'), 'hooks', 'must be an object, got "x"'],
  ['hooks.prestart an object', (c) => void (c.hooks.prestart = {}), 'hooks.prestart', 'must be an array, got an object'],
  [
    'hook path relative',
    (c) => void (c.hooks.poststop[0].path = 'hook'),
    'hooks.poststop[0].path',
    'must be an absolute path, got "hook"',
  ],
  ['hook path missing', (c) => void delete c.hooks.createRuntime[0].path, 'hooks.createRuntime[0].path', 'is required'],
  [
    'hook timeout 0',
    (c) => void (c.hooks.startContainer[0].timeout = 0),
    'hooks.startContainer[0].timeout',
    'must be an integer from 1 to 2147483647, got 0',
  ],
  ['hook arg null', (c) => void (c.hooks.prestart[0].args = [null]), 'hooks.prestart[0].args[0]', 'must be a string, got null'],
  // annotations
  ['annotation value a number', (c) => void (c.annotations.a = 1), 'annotations.a', 'must be a string, got 1'],
  ['annotations an array', (c) => void (c.annotations = []), 'annotations', 'must be an object, got []'],
  [
    'dotted annotation key with boolean value',
    (c) => void (c.annotations['io.x'] = true),
    'annotations.io.x',
    'must be a string, got true',
  ],
  // linux
  ['linux a string', (c) => void (c.linux = 'x'), 'linux', 'must be an object, got "x"'],
  [
    'unknown namespace type',
    (c) => void (c.linux.namespaces[1].type = 'foo'),
    'linux.namespaces[1].type',
    'unknown namespace type "foo" (expected one of: pid, network, mount, ipc, uts, user, cgroup, time)',
  ],
  [
    'duplicate namespace type',
    (c) => void c.linux.namespaces.push({ type: 'pid' }),
    'linux.namespaces[8].type',
    'duplicate namespace type "pid"',
  ],
  ['namespace type missing', (c) => void delete c.linux.namespaces[0].type, 'linux.namespaces[0].type', 'is required'],
  [
    'namespace path relative',
    (c) => void (c.linux.namespaces[0].path = 'proc/1/ns/pid'),
    'linux.namespaces[0].path',
    'must be an absolute path, got "proc/1/ns/pid"',
  ],
  [
    'uidMappings hostID negative',
    (c) => void (c.linux.uidMappings[0].hostID = -1),
    'linux.uidMappings[0].hostID',
    `${U32_RANGE}, got -1`,
  ],
  ['gidMappings size missing', (c) => void delete c.linux.gidMappings[0].size, 'linux.gidMappings[0].size', 'is required'],
  [
    'unknown time offset clock',
    (c) => void (c.linux.timeOffsets.realtime = { secs: 1 }),
    'linux.timeOffsets.realtime',
    'unknown clock "realtime" (expected one of: monotonic, boottime)',
  ],
  [
    'time offset nanosecs too big',
    (c) => void (c.linux.timeOffsets.monotonic.nanosecs = 1e9),
    'linux.timeOffsets.monotonic.nanosecs',
    'must be an integer from 0 to 999999999, got 1000000000',
  ],
  [
    'unknown device type',
    (c) => void (c.linux.devices[0].type = 'x'),
    'linux.devices[0].type',
    'unknown device type "x" (expected one of: c, b, u, p)',
  ],
  [
    'char device without major',
    (c) => void delete c.linux.devices[0].major,
    'linux.devices[0].major',
    'is required for device type "c"',
  ],
  [
    'device path relative',
    (c) => void (c.linux.devices[1].path = 'dev/fifo'),
    'linux.devices[1].path',
    'must be an absolute path, got "dev/fifo"',
  ],
  [
    'device path leaving /dev through ..',
    (c) => void (c.linux.devices[0].path = '/dev/../../escape'),
    'linux.devices[0].path',
    'must be a path under /dev, got "/dev/../../escape" ("/escape")',
  ],
  ['device path outside /dev', (c) => void (c.linux.devices[0].path = '/etc/null'), 'linux.devices[0].path', 'must be a path under /dev, got "/etc/null"'],
  ['device path /dev itself', (c) => void (c.linux.devices[0].path = '/dev/'), 'linux.devices[0].path', 'must be a path under /dev, got "/dev/" ("/dev")'],
  ['device fileMode negative', (c) => void (c.linux.devices[0].fileMode = -1), 'linux.devices[0].fileMode', `${U32_RANGE}, got -1`],
  [
    'unknown rootfsPropagation',
    (c) => void (c.linux.rootfsPropagation = 'bogus'),
    'linux.rootfsPropagation',
    'unknown rootfs propagation "bogus" (expected one of: private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable)',
  ],
  [
    'maskedPaths entry relative',
    (c) => void (c.linux.maskedPaths = ['proc/kcore']),
    'linux.maskedPaths[0]',
    'must be an absolute path, got "proc/kcore"',
  ],
  ['readonlyPaths entry a number', (c) => void (c.linux.readonlyPaths = [1]), 'linux.readonlyPaths[0]', 'must be a string, got 1'],
  [
    'sysctl value a number',
    (c) => void (c.linux.sysctl['net.core.somaxconn'] = 256),
    'linux.sysctl.net.core.somaxconn',
    'must be a string, got 256',
  ],
  ['cgroupsPath a number', (c) => void (c.linux.cgroupsPath = 7), 'linux.cgroupsPath', 'must be a string, got 7'],
  // linux.resources
  [
    'memory.limit a string',
    (c) => void (c.linux.resources.memory.limit = '1G'),
    'linux.resources.memory.limit',
    `${I64_RANGE}, got "1G"`,
  ],
  [
    'memory.limit fractional',
    (c) => void (c.linux.resources.memory.limit = 1.5),
    'linux.resources.memory.limit',
    `${I64_RANGE}, got 1.5`,
  ],
  [
    'memory.swappiness above 100',
    (c) => void (c.linux.resources.memory.swappiness = 101),
    'linux.resources.memory.swappiness',
    'must be an integer from 0 to 100, got 101',
  ],
  [
    'cpu.shares negative',
    (c) => void (c.linux.resources.cpu.shares = -1),
    'linux.resources.cpu.shares',
    `${U64_RANGE}, got -1`,
  ],
  ['cpu.cpus a number', (c) => void (c.linux.resources.cpu.cpus = 3), 'linux.resources.cpu.cpus', 'must be a string, got 3'],
  ['pids.limit a string', (c) => void (c.linux.resources.pids = { limit: '5' }), 'linux.resources.pids.limit', 'must be an integer from -9223372036854775808 to 9223372036854775807, got "5"'],
  [
    'device rule allow missing',
    (c) => void delete c.linux.resources.devices[1].allow,
    'linux.resources.devices[1].allow',
    'is required',
  ],
  [
    'device rule access rwx',
    (c) => void (c.linux.resources.devices[0].access = 'rwx'),
    'linux.resources.devices[0].access',
    'must be one to three of the letters r, w, m, got "rwx"',
  ],
  [
    'device rule type d',
    (c) => void (c.linux.resources.devices[1].type = 'd'),
    'linux.resources.devices[1].type',
    'unknown device type "d" (expected one of: a, c, b)',
  ],
  [
    'blockIO.weight above u16',
    (c) => void (c.linux.resources.blockIO.weight = 70000),
    'linux.resources.blockIO.weight',
    'must be an integer from 0 to 65535, got 70000',
  ],
  [
    'throttle device rate missing',
    (c) => void delete c.linux.resources.blockIO.throttleReadBpsDevice[0].rate,
    'linux.resources.blockIO.throttleReadBpsDevice[0].rate',
    'is required',
  ],
  [
    'weight device minor missing',
    (c) => void delete c.linux.resources.blockIO.weightDevice[0].minor,
    'linux.resources.blockIO.weightDevice[0].minor',
    'is required',
  ],
  [
    'hugepage pageSize missing',
    (c) => void delete c.linux.resources.hugepageLimits[0].pageSize,
    'linux.resources.hugepageLimits[0].pageSize',
    'is required',
  ],
  [
    'network priority a string',
    (c) => void (c.linux.resources.network.priorities[0].priority = 'high'),
    'linux.resources.network.priorities[0].priority',
    `${U32_RANGE}, got "high"`,
  ],
  [
    'rdma hcaHandles negative',
    (c) => void (c.linux.resources.rdma.mlx5_1.hcaHandles = -1),
    'linux.resources.rdma.mlx5_1.hcaHandles',
    `${U32_RANGE}, got -1`,
  ],
  [
    'unified value a number',
    (c) => void (c.linux.resources.unified['memory.max'] = 5),
    'linux.resources.unified.memory.max',
    'must be a string, got 5',
  ],
  // linux.seccomp
  ['seccomp defaultAction missing', (c) => void delete c.linux.seccomp.defaultAction, 'linux.seccomp.defaultAction', 'is required'],
  [
    'seccomp defaultAction unknown',
    (c) => void (c.linux.seccomp.defaultAction = 'SCMP_ACT_NOPE'),
    'linux.seccomp.defaultAction',
    `unknown seccomp action "SCMP_ACT_NOPE" (expected one of: ${SECCOMP_ACTION_LIST})`,
  ],
  [
    'seccomp syscall names empty',
    (c) => void (c.linux.seccomp.syscalls[0].names = []),
    'linux.seccomp.syscalls[0].names',
    'must be a non-empty array, got []',
  ],
  ['seccomp syscall action missing', (c) => void delete c.linux.seccomp.syscalls[2].action, 'linux.seccomp.syscalls[2].action', 'is required'],
  [
    'seccomp arg op unknown',
    (c) => void (c.linux.seccomp.syscalls[1].args[0].op = 'SCMP_CMP_XX'),
    'linux.seccomp.syscalls[1].args[0].op',
    'unknown seccomp operator "SCMP_CMP_XX" (expected one of: SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)',
  ],
  [
    'seccomp arg index negative',
    (c) => void (c.linux.seccomp.syscalls[1].args[0].index = -1),
    'linux.seccomp.syscalls[1].args[0].index',
    'must be an integer from 0 to 5, got -1',
  ],
  [
    'seccomp arg index beyond the sixth argument',
    (c) => void (c.linux.seccomp.syscalls[1].args[0].index = 6),
    'linux.seccomp.syscalls[1].args[0].index',
    'must be an integer from 0 to 5, got 6',
  ],
  [
    'seccomp flag unknown',
    (c) => void (c.linux.seccomp.flags = ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_FAST']),
    'linux.seccomp.flags[1]',
    'unknown seccomp flag "SECCOMP_FILTER_FLAG_FAST" (expected one of: SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, ' +
      'SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)',
  ],
  [
    'seccomp NOTIFY as the default action',
    (c) => void ((c.linux.seccomp.defaultAction = 'SCMP_ACT_NOTIFY'), (c.linux.seccomp.listenerPath = '/run/agent.sock')),
    'linux.seccomp.defaultAction',
    'SCMP_ACT_NOTIFY cannot be the default action (the runtime could not hand over the listener)',
  ],
  [
    'seccomp NOTIFY without listenerPath',
    (c) => void (c.linux.seccomp.syscalls[2].action = 'SCMP_ACT_NOTIFY'),
    'linux.seccomp.listenerPath',
    'is required when a rule uses SCMP_ACT_NOTIFY',
  ],
  [
    'seccomp NOTIFY for sendmsg',
    (c) =>
      void ((c.linux.seccomp.listenerPath = '/run/agent.sock'),
      (c.linux.seccomp.syscalls[2] = { names: ['getpid', 'sendmsg'], action: 'SCMP_ACT_NOTIFY' })),
    'linux.seccomp.syscalls[2].names[1]',
    'SCMP_ACT_NOTIFY cannot be used for sendmsg, which the runtime needs to hand over the listener',
  ],
  [
    'seccomp arg value negative',
    (c) => void (c.linux.seccomp.syscalls[1].args[0].value = -1),
    'linux.seccomp.syscalls[1].args[0].value',
    `${U64_RANGE}, got -1`,
  ],
  [
    'seccomp architecture unknown',
    (c) => void (c.linux.seccomp.architectures = ['SCMP_ARCH_Z80']),
    'linux.seccomp.architectures[0]',
    'unknown seccomp architecture "SCMP_ARCH_Z80" (expected one of: SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32, ' +
      'SCMP_ARCH_ARM, SCMP_ARCH_AARCH64, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, SCMP_ARCH_MIPSEL, ' +
      'SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PPC, SCMP_ARCH_PPC64, SCMP_ARCH_PPC64LE, SCMP_ARCH_S390, ' +
      'SCMP_ARCH_S390X, SCMP_ARCH_PARISC, SCMP_ARCH_PARISC64, SCMP_ARCH_RISCV64, SCMP_ARCH_LOONGARCH64, SCMP_ARCH_M68K, ' +
      'SCMP_ARCH_SH, SCMP_ARCH_SHEB)',
  ],
  // linux.intelRdt, personality
  [
    'intelRdt.enableCMT a string',
    (c) => void (c.linux.intelRdt.enableCMT = 'yes'),
    'linux.intelRdt.enableCMT',
    'must be a boolean, got "yes"',
  ],
  [
    'intelRdt.schemata a line not a string',
    (c) => void (c.linux.intelRdt.schemata = ['L3:0=f', 7]),
    'linux.intelRdt.schemata[1]',
    'must be a string, got 7',
  ],
  [
    'intelRdt.enableMonitoring a string',
    (c) => void (c.linux.intelRdt.enableMonitoring = 'yes'),
    'linux.intelRdt.enableMonitoring',
    'must be a boolean, got "yes"',
  ],
  [
    'personality domain unknown',
    (c) => void (c.linux.personality.domain = 'LINUX64'),
    'linux.personality.domain',
    'unknown personality domain "LINUX64" (expected one of: LINUX, LINUX32)',
  ],
  // size limits and garbage
  [
    'args with 100001 entries',
    (c) => void (c.process.args = new Array(100_001).fill('x')),
    'process.args',
    'must have at most 100000 entries, got 100001',
  ],
  [
    'mounts with 100001 entries',
    (c) => void (c.mounts = new Array(100_001).fill(c.mounts[0])),
    'mounts',
    'must have at most 100000 entries, got 100001',
  ],
  [
    'arg longer than 1 MiB',
    (c) => void (c.process.args[0] = 'a'.repeat(1024 * 1024 + 1)),
    'process.args[0]',
    'must be at most 1048576 characters long, got 1048577',
  ],
  [
    'annotations with 100001 keys',
    (c) => void (c.annotations = Object.fromEntries(Array.from({ length: 100_001 }, (_, i) => [`k${i}`, 'v']))),
    'annotations',
    'must have at most 100000 entries, got 100001',
  ],
  [
    'process.user as 100000 nested arrays',
    (c) => void (c.process.user = nestedArrays(100_000)),
    'process.user',
    'must be an object, got an array',
  ],
  [
    'namespaces[0] as nested arrays',
    (c) => void (c.linux.namespaces[0] = nestedArrays(50_000)),
    'linux.namespaces[0]',
    'must be an object, got an array',
  ],
  [
    'seccomp syscall args as nested objects',
    (c) => {
      let garbage: Json = {};
      for (let i = 0; i < 50_000; i++) garbage = { args: garbage };
      c.linux.seccomp.syscalls[1].args = garbage;
    },
    'linux.seccomp.syscalls[1].args',
    'must be an array, got an object',
  ],
];

describe('validateSpec', () => {
  it('accepts a config that sets nearly every field, and returns the same object', () => {
    const config = validConfig();
    expect(validateSpec(config)).toBe(config);
  });

  const clientConfigs = fs.readdirSync(CLIENT_CONFIGS).filter((name) => name.endsWith('.json'));

  it('finds the client configs', () => {
    expect(clientConfigs).toEqual(expect.arrayContaining(['ctr.json', 'docker-bridge.json', 'docker.json', 'podman.json']));
  });

  for (const name of clientConfigs) {
    it(`accepts the real client config ${name}`, () => {
      const config: unknown = JSON.parse(fs.readFileSync(path.join(CLIENT_CONFIGS, name), 'utf8'));
      expect(validateSpec(config)).toBe(config);
    });
  }

  it('accepts the default spec, and its rootless form', () => {
    expect(() => validateSpec(defaultSpec())).not.toThrow();
    expect(() => validateSpec(defaultSpec({ rootless: true, args: ['/bin/true'] }))).not.toThrow();
  });

  it('ignores unknown fields at every level, however they nest', () => {
    const config = validConfig();
    config.vendorThing = nestedArrays(100_000);
    config.process.x = { y: 1 };
    config.linux.resources.memory.futureKnob = 'yes';
    config.linux.seccomp.syscalls[0].comment = 42;
    config.hooks.futurePhase = 'not an array';
    config.windows = { layerFolders: 5 };
    expect(() => validateSpec(config)).not.toThrow();
  });

  it('accepts the minimal config tsbox can run', () => {
    const minimal = { ociVersion: '1.0.0', root: { path: '/r' }, process: { args: ['x'], cwd: '/' } };
    expect(() => validateSpec(minimal)).not.toThrow();
  });

  it('accepts null annotations, which the schema allows', () => {
    const config = validConfig();
    config.annotations = null;
    expect(() => validateSpec(config)).not.toThrow();
  });

  it('accepts 64-bit "unlimited" values as written by real clients', () => {
    const config = JSON.parse(
      JSON.stringify(validConfig())
        .replace('"hard":1024', '"hard":18446744073709551615')
        .replace('"limit":536870912', '"limit":9223372036854775807'),
    );
    expect(config.process.rlimits[0].hard).toBe(2 ** 64);
    expect(() => validateSpec(config)).not.toThrow();
  });

  it('accepts a FIFO device without device numbers', () => {
    const config = validConfig();
    config.linux.devices = [{ type: 'p', path: '/dev/fifo', fileMode: 0o600 }];
    expect(() => validateSpec(config)).not.toThrow();
  });

  it('walks 100000-entry arrays quickly', () => {
    const config = validConfig();
    config.process.env = Array.from({ length: 100_000 }, (_, i) => `V${i}=${i}`);
    config.linux.maskedPaths = Array.from({ length: 100_000 }, (_, i) => `/m/${i}`);
    const started = Date.now();
    validateSpec(config);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  describe('rejects malformed configs with the exact path and problem', () => {
    it(`has at least 60 cases (${MALFORMED.length})`, () => {
      expect(MALFORMED.length).toBeGreaterThanOrEqual(60);
    });

    for (const [what, breakIt, jsonPath, problem] of MALFORMED) {
      it(what, () => {
        const config = validConfig();
        const replaced = breakIt(config);
        const err = thrown(() => validateSpec(replaced === undefined ? config : replaced));
        expect({ jsonPath: err.jsonPath, message: err.message }).toEqual({
          jsonPath,
          message: jsonPath ? `${jsonPath}: ${problem}` : problem,
        });
      });
    }
  });
});

describe('validateProcess', () => {
  it('accepts a process.json and returns it', () => {
    const proc = validConfig().process;
    expect(validateProcess(proc)).toBe(proc);
  });

  it('names paths under "process" by default', () => {
    const err = thrown(() => validateProcess({ args: ['sh'], cwd: '/', user: { uid: 0 } }));
    expect(err.message).toBe('process.user.gid: is required');
  });

  it('uses the given base path, or none', () => {
    expect(thrown(() => validateProcess({ args: [], cwd: '/' }, '')).message).toBe(
      'args: must be a non-empty array, got []',
    );
    expect(thrown(() => validateProcess('nope', '')).message).toBe('must be an object, got "nope"');
    expect(thrown(() => validateProcess({ args: ['a'] }, 'exec')).message).toBe('exec.cwd: is required');
  });
});
