/**
 * The launch plan: everything the native helper needs to create a
 * container, as plain data. It is computed from a validated config.json by
 * ./build.ts (testable without root or a kernel) and executed by
 * native/helper in an order fixed there.
 */

/** Kernel names of namespaces, as in /proc/<pid>/ns. */
export type KernelNamespace = 'pid' | 'net' | 'mnt' | 'uts' | 'ipc' | 'cgroup' | 'user' | 'time';

export interface PlannedNamespace {
  type: KernelNamespace;
  /** Join this namespace; empty: create a new one. */
  path: string;
}

export interface PlannedMount {
  /** Host path for bind mounts (absolute), otherwise the fs source label. */
  source: string;
  /** Normalized absolute path inside the container. */
  destination: string;
  type: string;
  /** MS_* flags (MS_BIND, MS_REC, MS_RDONLY, ...), never propagation flags. */
  flags: number;
  /** Comma-separated fs-specific options. */
  data: string;
  /** MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE, with MS_REC; 0: leave as is. */
  propagation: number;
  /** MOUNT_ATTR_* set and cleared on the mount and every mount below it (rro, rnosuid, ...). */
  recursive?: { set: number; clear: number };
  /** An idmapped bind mount: the ids of the source as seen through the mount. */
  idmap?: { uids: IdRange[]; gids: IdRange[]; recursive: boolean };
  /** tmpcopyup: the image's content at the destination is copied into the new tmpfs. */
  copyUp?: true;
}

/** One line of a uid_map or gid_map (the OCI LinuxIDMapping). */
export interface IdRange {
  containerID: number;
  hostID: number;
  size: number;
}

/** The maps of a new user namespace and how the helper writes them. */
export interface PlannedUserNamespace {
  uidMappings: IdRange[];
  gidMappings: IdRange[];
  /** Write "deny" to setgroups first (an unprivileged caller mapping its own gid). */
  setgroupsDeny: boolean;
  /** Write the maps through these setuid tools instead of directly. */
  tools?: { newuidmap: string; newgidmap: string };
}

export interface PlannedDevice {
  path: string;
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

export interface PlannedSymlink {
  target: string;
  path: string;
}

export interface PlannedRlimit {
  name: string;
  resource: number;
  /** Decimal text: u64 values do not fit a JS number. */
  soft: string;
  hard: string;
}

/** Capability sets as bit masks (bit N = capability number N). */
export interface PlannedCapabilities {
  /** The highest capability number this kernel knows: every one above the bounding set is dropped up to it. */
  lastCap: number;
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

/** A hook the container's init runs itself, inside the container. */
export interface PlannedHook {
  phase: 'createContainer' | 'startContainer';
  path: string;
  args: string[];
  env: string[];
  /** Seconds; 0: no limit. */
  timeout: number;
}

export interface PlannedSeccompArg {
  index: number;
  op: string;
  /** Decimal text: u64 values do not fit a JS number. */
  value: string;
  valueTwo: string;
}

/** One filter rule for one syscall name (see ./seccomp.ts). */
export interface PlannedSeccompRule {
  /** JSON path of the name in the config, for messages. */
  where: string;
  name: string;
  action: string;
  /** For SCMP_ACT_ERRNO and SCMP_ACT_TRACE; 0 otherwise. */
  errno: number;
  /** All must match. */
  args: PlannedSeccompArg[];
}

export interface PlannedSeccomp {
  defaultAction: string;
  defaultErrno: number;
  architectures: string[];
  flags: string[];
  rules: PlannedSeccompRule[];
  /** Where the runtime hands a SCMP_ACT_NOTIFY listener fd (not sent to the helper). */
  listener?: { path: string; metadata: string };
}

/** libseccomp's program for a PlannedSeccomp (lib/seccomp-cache.ts). */
export interface CompiledSeccomp {
  /** struct sock_filter[]. */
  program: Buffer;
  /** The seccomp(2) SECCOMP_FILTER_FLAG_* to load it with. */
  loadFlags: number;
  /** Syscall names libseccomp does not know: their rules were skipped. */
  unknown: string[];
}

/** sched_setattr(2) arguments. */
export interface PlannedScheduler {
  policy: number;
  flags: bigint;
  nice: number;
  priority: number;
  runtime: bigint;
  deadline: bigint;
  period: bigint;
}

/** linux.timeOffsets, one clock (./build.ts). */
export interface PlannedTimeOffset {
  clock: 'monotonic' | 'boottime';
  secs: number;
  nanosecs: number;
}

/** set_mempolicy(2)'s arguments (./memory-policy.ts). */
export interface PlannedMemoryPolicy {
  /** The mode with its MPOL_F_* flags. */
  mode: number;
  nodes: number[];
  /** As the config has it, for messages. */
  text: string;
}

export interface LaunchPlan {
  /**
   * A process joining a running container (exec): its namespaces, root
   * included, exist already, and everything about the container's
   * filesystem below is left as it is.
   */
  exec: boolean;
  namespaces: PlannedNamespace[];
  /** cgroup.procs files the container's init joins before it is created. */
  cgroupProcs: string[];
  /**
   * cgroup v1 memory cgroups, joined by the init itself once the container
   * is set up, just before it waits for start (or executes the process):
   * v1 keeps a charge where it was made, and the kernel memory of the new
   * namespaces, mounts and the rest of the set-up (~250 KiB on kernel 6.18)
   * would otherwise count against the container's limit. crun, which moves
   * its process in after setting it up, is charged the same way. None with
   * a new cgroup namespace (lib/launch.ts): that is rooted where the init
   * is born, so every cgroup is joined before the clone.
   */
  lateCgroupProcs?: string[];
  /**
   * The cgroup is made around the helper by someone else (the systemd
   * driver): the helper sends "cgroup-pending" with its pid and joins the
   * cgroup.procs files the runtime's "go" names.
   */
  awaitCgroup?: boolean;
  rootfs: string;
  /** Propagation applied to "/" before mounting: rootfsPropagation's, else MS_REC | MS_SLAVE. */
  rootPropagation: number;
  mounts: PlannedMount[];
  devices: PlannedDevice[];
  symlinks: PlannedSymlink[];
  /** Directories created inside the rootfs (the cwd, so that it exists). */
  mkdirs: string[];
  maskedPaths: string[];
  readonlyPaths: string[];
  readonlyRoot: boolean;
  /** Propagation of "/" after pivot_root; 0: none requested. */
  rootfsPropagation: number;
  /**
   * --no-pivot: the rootfs mount is moved over "/" and chrooted into, for
   * a root pivot_root cannot leave (an initramfs).
   */
  noPivot?: boolean;
  sysctls: Array<[key: string, value: string]>;
  hostname?: string;
  domainname?: string;
  terminal?: { rows: number; cols: number };
  rlimits: PlannedRlimit[];
  oomScoreAdj?: number;
  noNewPrivileges: boolean;
  /** AppArmor profile the process is executed under (the host has AppArmor). */
  apparmorProfile?: string;
  /** SELinux label the process is executed under (the host has SELinux). */
  selinuxLabel?: string;
  /** ioprio_set(2) value (class and level). */
  ioPriority?: number;
  scheduler?: PlannedScheduler;
  /** personality(2) value; only for a container's first process. */
  personality?: number;
  seccomp?: PlannedSeccomp;
  /** The compiled `seccomp`, what the init loads (set by launchPlan). */
  seccompProgram?: CompiledSeccomp;
  capabilities?: PlannedCapabilities;
  user: { uid: number; gid: number; groups: number[] };
  umask?: number;
  cwd: string;
  env: string[];
  args: string[];
  /** Stop before execve until the runtime says "go". */
  pause: boolean;
  /**
   * With pause: listen on a unix socket at this path and wait for `tsbox
   * start` to connect rather than for a "go" (the runtime that creates the
   * container does not stay).
   */
  startSocket?: string;
  /**
   * The session keyring the process joins (made if none of that name is
   * there: "_ses.<id>", as runc names it), so that a container does not
   * share the caller's, nor another container's; absent: the caller's is
   * kept (--no-new-keyring).
   */
  sessionKeyring?: string;
  /**
   * Stop before pivot_root for the runtime's prestart and createRuntime
   * hooks; the runtime's "go" brings the state the init's own hooks read.
   */
  hooksPause: boolean;
  /** createContainer and startContainer hooks, in order. */
  hooks: PlannedHook[];
  /** Parts of the config that tsbox does not apply (yet), for the caller to report. */
  warnings: string[];
  /** A new user namespace's maps; absent when none is created. */
  userns?: PlannedUserNamespace;
  /** process.execCPUAffinity of an exec'd process: CPUs while joining the cgroups, and after. */
  execCpuAffinity?: { initial: number[]; final: number[] };
  /** Offsets of the new time namespace, written before anything enters it. */
  timeOffsets?: PlannedTimeOffset[];
  memoryPolicy?: PlannedMemoryPolicy;
  /** linux.netDevices: host interfaces the helper moves into the container's network namespace. */
  netDevices?: Array<{ host: string; name: string }>;
}
