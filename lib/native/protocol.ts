/**
 * The helper protocol, TypeScript side: the names of the sync messages
 * (drawn in native/helper/main.cc) and the records of a launch plan with
 * their number of fields. native/helper/protocol.h is the C++ side;
 * test/unit/protocol.test.ts holds the two together (`tsbox-helper
 * --protocol`) and round-trips plans through the helper's decoder
 * (`tsbox-helper --dump-plan`).
 */

/** Messages from the helper or the container's init to the runtime. */
export const HELPER_MESSAGES = [
  /** `<helper pid>`: systemd's scope is awaited (plan.awaitCgroup); answered by go/abort. */
  'cgroup-pending',
  /** `<init pid>`, with the init's pidfd. */
  'spawned',
  /** With the terminal's master (process.terminal). */
  'pty',
  /** The init stopped before pivot_root for the runtime's hooks; answered by go/abort. */
  'hooks',
  /** With the seccomp listener (SCMP_ACT_NOTIFY rules); answered by go/abort once the agent has it. */
  'seccomp',
  /** The init stopped before execve; answered by go (or the start FIFO). */
  'ready',
  /** `<text>`: something the init could not apply; the runtime passes it on as a warning. */
  'warning',
  /** `<step> <errno> <detail>`: the sender exits. */
  'error',
  /** The compile mode's answer: `<load flags> <program in hex> <unknown syscalls...>`. */
  'seccomp-program',
] as const;

/** Messages from the runtime. */
export const RUNTIME_MESSAGES = [
  /** Go on (with cgroup.procs files to join, or the states for the init's hooks). */
  'go',
  /** Stop: the runtime failed, and reports why itself. */
  'abort',
] as const;

export type HelperMessage = (typeof HELPER_MESSAGES)[number];
export type RuntimeMessage = (typeof RUNTIME_MESSAGES)[number];

/**
 * The records of a launch plan: how many fields follow the name, and
 * whether more may (`more`: the record says how many).
 */
export const PLAN_RECORDS = {
  exec: { fields: 0 },
  /** type, path ('': a new one) */
  ns: { fields: 2 },
  'cgroup-procs': { fields: 1 },
  'late-cgroup-procs': { fields: 1 },
  'await-cgroup': { fields: 0 },
  rootfs: { fields: 1 },
  'root-propagation': { fields: 1 },
  /** source, destination, type, flags, data, propagation */
  mount: { fields: 6 },
  /** MOUNT_ATTR_* set, cleared, on the mount before and every mount below it */
  'mount-recursive': { fields: 2 },
  'mount-copy-up': { fields: 0 },
  /** recursive, number of uid ranges, the uid ranges, the gid ranges (3 fields each) */
  'mount-idmap': { fields: 2, more: true },
  /** path, type, major, minor, mode, uid, gid */
  device: { fields: 7 },
  /** target, path */
  symlink: { fields: 2 },
  mkdir: { fields: 1 },
  masked: { fields: 1 },
  'readonly-path': { fields: 1 },
  'readonly-root': { fields: 0 },
  'rootfs-propagation': { fields: 1 },
  /** --no-pivot: move the rootfs over "/" and chroot, instead of pivot_root */
  'no-pivot': { fields: 0 },
  sysctl: { fields: 2 },
  hostname: { fields: 1 },
  domainname: { fields: 1 },
  /** rows, cols */
  terminal: { fields: 2 },
  /** name, resource, soft, hard */
  rlimit: { fields: 4 },
  'oom-score-adj': { fields: 1 },
  'no-new-privileges': { fields: 0 },
  'apparmor-profile': { fields: 1 },
  'selinux-label': { fields: 1 },
  ioprio: { fields: 1 },
  /** policy, flags, nice, priority, runtime, deadline, period */
  scheduler: { fields: 7 },
  personality: { fields: 1 },
  /** load flags, the program in hex */
  'seccomp-program': { fields: 2 },
  'seccomp-compile': { fields: 0 },
  /** default action, errno, number of architectures, the architectures, the flags */
  seccomp: { fields: 3, more: true },
  /** where, name, action, errno, number of conditions, 4 fields each */
  'seccomp-rule': { fields: 5, more: true },
  /** last cap, bounding, effective, permitted, inheritable, ambient */
  capabilities: { fields: 6 },
  /** uid, gid, additional gids */
  user: { fields: 2, more: true },
  umask: { fields: 1 },
  cwd: { fields: 1 },
  env: { fields: 0, more: true },
  args: { fields: 1, more: true },
  'hooks-pause': { fields: 0 },
  /** phase, path, timeout, number of args, the args, the env */
  hook: { fields: 4, more: true },
  /** the socket the init waits on for `tsbox start` */
  'start-socket': { fields: 1 },
  pause: { fields: 0 },
  /** the name of the session keyring to join */
  'session-keyring': { fields: 1 },
  /** inside, outside, count */
  'uid-map': { fields: 3 },
  'gid-map': { fields: 3 },
  'setgroups-deny': { fields: 0 },
  /** newuidmap, newgidmap */
  'idmap-tools': { fields: 2 },
  /** 'initial' or 'final', the CPUs (process.execCPUAffinity) */
  'exec-cpu-affinity': { fields: 1, more: true },
  /** clock, seconds, nanoseconds (linux.timeOffsets) */
  'time-offset': { fields: 3 },
  /** as configured (for messages), mode with its flags, the nodes (linux.memoryPolicy) */
  'memory-policy': { fields: 2, more: true },
  /** host interface, its name in the container (linux.netDevices) */
  'net-device': { fields: 2 },
  /** the joined network namespace to move the net-device records back from (the helper's move-back mode) */
  'net-devices-back': { fields: 1 },
} as const satisfies Record<string, { fields: number; more?: true }>;

export type PlanRecord = keyof typeof PLAN_RECORDS;
