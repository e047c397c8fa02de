/**
 * The OCI runtime-spec config.json (version 1.2.x) and state, Linux parts only.
 * Property names are exactly those of the JSON. The enum lists are values, not
 * just types, so that the validator checks against the same lists.
 */

// ---------------------------------------------------------------- enums

export const NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

/** Resource names setrlimit(2) knows on Linux. */
export const RLIMIT_TYPES = [
  'RLIMIT_AS',
  'RLIMIT_CORE',
  'RLIMIT_CPU',
  'RLIMIT_DATA',
  'RLIMIT_FSIZE',
  'RLIMIT_LOCKS',
  'RLIMIT_MEMLOCK',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_NOFILE',
  'RLIMIT_NPROC',
  'RLIMIT_RSS',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
  'RLIMIT_SIGPENDING',
  'RLIMIT_STACK',
] as const;
export type RlimitType = (typeof RLIMIT_TYPES)[number];

export const ROOTFS_PROPAGATIONS = [
  'private',
  'rprivate',
  'slave',
  'rslave',
  'shared',
  'rshared',
  'unbindable',
  'runbindable',
] as const;
export type RootfsPropagation = (typeof ROOTFS_PROPAGATIONS)[number];

/** `u` is an unbuffered character device, `p` a FIFO. */
export const DEVICE_TYPES = ['c', 'b', 'u', 'p'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

/** `a` means all devices. */
export const DEVICE_CGROUP_TYPES = ['a', 'c', 'b'] as const;
export type DeviceCgroupType = (typeof DEVICE_CGROUP_TYPES)[number];

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

export const SECCOMP_OPERATORS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
] as const;
export type SeccompOperator = (typeof SECCOMP_OPERATORS)[number];

export const SECCOMP_ARCHES = [
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_LOONGARCH64',
  'SCMP_ARCH_M68K',
  'SCMP_ARCH_SH',
  'SCMP_ARCH_SHEB',
] as const;
export type SeccompArch = (typeof SECCOMP_ARCHES)[number];

/** seccomp(2) filter flags a config may ask for (linux.seccomp.flags). */
export const SECCOMP_FLAGS = [
  'SECCOMP_FILTER_FLAG_TSYNC',
  'SECCOMP_FILTER_FLAG_LOG',
  'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
] as const;
export type SeccompFlag = (typeof SECCOMP_FLAGS)[number];

export const SCHEDULER_POLICIES = [
  'SCHED_OTHER',
  'SCHED_FIFO',
  'SCHED_RR',
  'SCHED_BATCH',
  'SCHED_ISO',
  'SCHED_IDLE',
  'SCHED_DEADLINE',
] as const;
export type SchedulerPolicy = (typeof SCHEDULER_POLICIES)[number];

export const SCHEDULER_FLAGS = [
  'SCHED_FLAG_RESET_ON_FORK',
  'SCHED_FLAG_RECLAIM',
  'SCHED_FLAG_DL_OVERRUN',
  'SCHED_FLAG_KEEP_POLICY',
  'SCHED_FLAG_KEEP_PARAMS',
  'SCHED_FLAG_UTIL_CLAMP_MIN',
  'SCHED_FLAG_UTIL_CLAMP_MAX',
] as const;
export type SchedulerFlag = (typeof SCHEDULER_FLAGS)[number];

export const IOPRIO_CLASSES = ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'] as const;
export type IOPriorityClass = (typeof IOPRIO_CLASSES)[number];

export const PERSONALITY_DOMAINS = ['LINUX', 'LINUX32'] as const;
export type PersonalityDomain = (typeof PERSONALITY_DOMAINS)[number];

/** Clocks a time namespace can offset (the keys of `linux.timeOffsets`). */
export const TIME_OFFSET_CLOCKS = ['monotonic', 'boottime'] as const;
export type TimeOffsetClock = (typeof TIME_OFFSET_CLOCKS)[number];

/** set_mempolicy(2) modes (`linux.memoryPolicy.mode`, spec 1.3). */
export const MEMORY_POLICY_MODES = [
  'MPOL_DEFAULT',
  'MPOL_BIND',
  'MPOL_INTERLEAVE',
  'MPOL_WEIGHTED_INTERLEAVE',
  'MPOL_PREFERRED',
  'MPOL_PREFERRED_MANY',
  'MPOL_LOCAL',
] as const;
export type MemoryPolicyMode = (typeof MEMORY_POLICY_MODES)[number];

/** set_mempolicy(2) mode flags (`linux.memoryPolicy.flags`). */
export const MEMORY_POLICY_FLAGS = ['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES'] as const;
export type MemoryPolicyFlag = (typeof MEMORY_POLICY_FLAGS)[number];

export const HOOK_PHASES = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
] as const;
export type HookPhase = (typeof HOOK_PHASES)[number];

export const CONTAINER_STATUSES = ['creating', 'created', 'running', 'stopped'] as const;
export type ContainerStatus = (typeof CONTAINER_STATUSES)[number];

// ---------------------------------------------------------------- config.json

export interface Spec {
  /** SemVer of the runtime-spec the bundle was written for. */
  ociVersion: string;
  /** Optional in the spec; required by tsbox for create/run. */
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  /** Mounted in order, after the root filesystem. */
  mounts?: Mount[];
  hooks?: Hooks;
  /** The schema also allows `null`, meaning none. */
  annotations?: Record<string, string> | null;
  linux?: Linux;
}

export interface Process {
  /** Give the process a pseudo-terminal (sent over --console-socket). */
  terminal?: boolean;
  /** Initial size of that terminal, in characters. */
  consoleSize?: ConsoleSize;
  user?: User;
  /** argv; args[0] is looked up in the container's PATH when not absolute. */
  args?: string[];
  /** Windows only. */
  commandLine?: string;
  /** `KEY=value` strings. */
  env?: string[];
  /** Absolute path inside the container. */
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: POSIXRlimit[];
  /** Set PR_SET_NO_NEW_PRIVS, so exec cannot gain privileges (setuid, file caps). */
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  /** Written to /proc/self/oom_score_adj; -1000..1000. */
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  /** SELinux label the process runs with. */
  selinuxLabel?: string;
  ioPriority?: IOPriority;
  /** CPU affinity of `exec`'d processes while joining, and afterwards. */
  execCPUAffinity?: CPUAffinity;
}

export interface ConsoleSize {
  height: number;
  width: number;
}

export interface User {
  /** In the container's user namespace. */
  uid: number;
  gid: number;
  /** File mode creation mask; the runtime's default (0o022) when absent. */
  umask?: number;
  /** Supplementary groups, in the container's user namespace. */
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
}

export interface Capabilities {
  /** Upper limit: capabilities the process can ever gain. */
  bounding?: string[];
  effective?: string[];
  /** Preserved across execve for programs with matching file capabilities. */
  inheritable?: string[];
  /** Superset of effective; what the process may enable. */
  permitted?: string[];
  /** Kept across execve of unprivileged programs. */
  ambient?: string[];
}

export interface POSIXRlimit {
  type: RlimitType;
  /** Values beyond 2^53 arrive rounded by JSON.parse; 2^64 means unlimited. */
  hard: number;
  soft: number;
}

/** Arguments for sched_setattr(2). */
export interface Scheduler {
  policy: SchedulerPolicy;
  nice?: number;
  priority?: number;
  flags?: SchedulerFlag[];
  /** SCHED_DEADLINE: nanoseconds the process may run each period. */
  runtime?: number;
  /** SCHED_DEADLINE: nanoseconds from the period's start to finish the runtime. */
  deadline?: number;
  /** SCHED_DEADLINE: period length in nanoseconds. */
  period?: number;
}

/** Arguments for ioprio_set(2). */
export interface IOPriority {
  class: IOPriorityClass;
  /** Level within the class, 0 (highest) to 7. */
  priority?: number;
}

/** CPU lists in cpuset syntax, e.g. `0-3,7`. */
export interface CPUAffinity {
  initial?: string;
  final?: string;
}

export interface Root {
  /** Relative paths are relative to the bundle directory. */
  path: string;
  readonly?: boolean;
}

export interface Mount {
  /** Absolute path inside the container. */
  destination: string;
  /** File system type for mount(2); `bind` or absent for bind mounts. */
  type?: string;
  source?: string;
  /** fstab-style options, including tsbox/runc extras like `rbind`, `rprivate`. */
  options?: string[];
  /** Idmapped mount: owners seen through this mount are mapped like this. */
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
}

export interface Hooks {
  /** Deprecated: runs in the runtime namespace after create, before pivot_root. */
  prestart?: Hook[];
  /** Runs in the runtime namespace after namespaces exist, before pivot_root. */
  createRuntime?: Hook[];
  /** Runs in the container namespaces before pivot_root. */
  createContainer?: Hook[];
  /** Runs in the container right before the user process is executed. */
  startContainer?: Hook[];
  /** Runs in the runtime namespace after the user process has started. */
  poststart?: Hook[];
  /** Runs in the runtime namespace after the container is deleted. */
  poststop?: Hook[];
}

export interface Hook {
  /** Absolute path of the executable, on the host. */
  path: string;
  /** Full argv, including argv[0]. */
  args?: string[];
  env?: string[];
  /** Seconds before the hook is killed and counted as failed. */
  timeout?: number;
}

export interface Linux {
  namespaces?: LinuxNamespace[];
  /** Only meaningful with a user namespace. */
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
  /** Offsets for a new time namespace, keyed by clock. */
  timeOffsets?: Partial<Record<TimeOffsetClock, LinuxTimeOffset>>;
  /** Device nodes to create in the container's /dev. */
  devices?: LinuxDevice[];
  /** Absolute: relative to the cgroup root; relative: to the runtime's own cgroup. `slice:prefix:name` for systemd. */
  cgroupsPath?: string;
  resources?: LinuxResources;
  /** Propagation of the container's root mount. */
  rootfsPropagation?: RootfsPropagation;
  seccomp?: LinuxSeccomp;
  /** Keys like `net.ipv4.ip_forward`, written under /proc/sys. */
  sysctl?: Record<string, string>;
  /** Paths hidden from the container (bind of /dev/null, or an empty tmpfs for directories). */
  maskedPaths?: string[];
  /** Paths remounted read-only in the container. */
  readonlyPaths?: string[];
  /** SELinux context for the container's mounts. */
  mountLabel?: string;
  intelRdt?: LinuxIntelRdt;
  personality?: LinuxPersonality;
  /** NUMA memory policy of the container's process (spec 1.3). */
  memoryPolicy?: LinuxMemoryPolicy;
}

/** set_mempolicy(2) for the container's process. */
export interface LinuxMemoryPolicy {
  mode: MemoryPolicyMode;
  /** NUMA nodes in list form, e.g. `0-3,7`; none for MPOL_DEFAULT and MPOL_LOCAL. */
  nodes?: string;
  flags?: MemoryPolicyFlag[];
}

export interface LinuxNamespace {
  type: NamespaceType;
  /** Join this existing namespace (e.g. /proc/123/ns/net) instead of creating one. */
  path?: string;
}

export interface IDMapping {
  /** First ID inside the container. */
  containerID: number;
  /** First ID on the host that containerID maps to. */
  hostID: number;
  /** Number of consecutive IDs mapped. */
  size: number;
}

export interface LinuxTimeOffset {
  secs?: number;
  nanosecs?: number;
}

export interface LinuxDevice {
  /** Absolute path inside the container. */
  path: string;
  type: DeviceType;
  /** Required unless type is `p`. */
  major?: number;
  minor?: number;
  /** Permission bits (e.g. 0o666). */
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxResources {
  /** Device cgroup rules, applied in order; later rules win. */
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  /** Keyed by RDMA device name. */
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 files to write as-is, e.g. `{"memory.high": "1G"}`. */
  unified?: Record<string, string>;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: DeviceCgroupType;
  /** Absent (or -1) means any. */
  major?: number;
  minor?: number;
  /** Some of `r`, `w`, `m` (mknod). */
  access?: string;
}

/** Byte counts; -1 means unlimited. */
export interface LinuxMemory {
  limit?: number;
  /** Soft limit (memory.low / memory.soft_limit_in_bytes). */
  reservation?: number;
  /** Memory plus swap. */
  swap?: number;
  /** Deprecated: cgroup v1 kernel memory. */
  kernel?: number;
  /** cgroup v1 kernel TCP buffer memory. */
  kernelTCP?: number;
  /** 0..100. */
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  /** Refuse an update that sets the limit below current usage. */
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  /** Relative weight (cgroup v1 cpu.shares; converted for v2). */
  shares?: number;
  /** Microseconds per period; -1 means unlimited. */
  quota?: number;
  /** Extra microseconds that may accumulate for bursts. */
  burst?: number;
  /** Microseconds. */
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  /** cpuset syntax, e.g. `0-3,7`. */
  cpus?: string;
  /** Memory nodes, cpuset syntax. */
  mems?: string;
  /** 1 makes the cgroup SCHED_IDLE. */
  idle?: number;
}

export interface LinuxPids {
  /** Maximum number of tasks; negative means unlimited, 0 no new task (spec 1.3); absent: pids.max is left alone. */
  limit?: number;
}

export interface LinuxBlockIO {
  /** 10..1000 (0 means unset in some clients). */
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  /** Bytes per second. */
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  /** I/O operations per second. */
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface LinuxHugepageLimit {
  /** e.g. `2MB`, `1GB`. */
  pageSize: string;
  /** Bytes. */
  limit: number;
}

export interface LinuxNetwork {
  /** net_cls class id. */
  classID?: number;
  priorities?: LinuxInterfacePriority[];
}

export interface LinuxInterfacePriority {
  name: string;
  priority: number;
}

export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

export interface LinuxSeccomp {
  /** Action for syscalls no rule matches. */
  defaultAction: SeccompAction;
  /** errno for a SCMP_ACT_ERRNO default action (EPERM when absent). */
  defaultErrnoRet?: number;
  /** Extra architectures the filter also covers (the native one always is). */
  architectures?: SeccompArch[];
  /** seccomp(2) filter flags, e.g. SECCOMP_FILTER_FLAG_LOG. */
  flags?: SeccompFlag[];
  /** Unix socket that receives the notify fd for SCMP_ACT_NOTIFY. */
  listenerPath?: string;
  /** Opaque data sent along with the notify fd. */
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface LinuxSyscall {
  names: string[];
  action: SeccompAction;
  /** errno for SCMP_ACT_ERRNO (EPERM when absent). */
  errnoRet?: number;
  /** All must match for the rule to apply. */
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccompArg {
  /** Which syscall argument, 0-based. */
  index: number;
  value?: number;
  /** Second operand; for SCMP_CMP_MASKED_EQ, `value` is the mask. */
  valueTwo?: number;
  op: SeccompOperator;
}

/** Intel RDT (resctrl: also AMD QoS) cache and memory-bandwidth allocation, and monitoring. */
export interface LinuxIntelRdt {
  /** resctrl group name (default: the container's id); shared by containers using the same one. */
  closID?: string;
  /** Lines written as they are to the group's schemata file (spec 1.3), e.g. `L2:0=ff`, `L3CODE:0=f`. */
  schemata?: string[];
  /** e.g. `L3:0=ffff0;1=3ff`. */
  l3CacheSchema?: string;
  /** e.g. `MB:0=20;1=70`. */
  memBwSchema?: string;
  /** A monitoring group of the container's own (mon_groups/<id>) (spec 1.3). */
  enableMonitoring?: boolean;
  /** Cache occupancy monitoring (before spec 1.3): needs it offered by the host. */
  enableCMT?: boolean;
  /** Memory bandwidth monitoring (before spec 1.3): needs it offered by the host. */
  enableMBM?: boolean;
}

/** Arguments for personality(2). */
export interface LinuxPersonality {
  domain: PersonalityDomain;
  flags?: string[];
}

// ---------------------------------------------------------------- state

/** What `state` prints, and what hooks read on stdin. */
export interface State {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /** Container init's pid as seen from the host; absent once stopped. */
  pid?: number;
  /** Absolute path of the bundle directory. */
  bundle: string;
  annotations?: Record<string, string>;
}
