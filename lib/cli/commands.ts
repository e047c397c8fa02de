/**
 * Every command and flag of the CLI, as data: the parser, the help text and
 * the dispatcher all read this table. Names, short forms and defaults follow
 * runc's, so that engines written for runc can call tsbox unchanged.
 *
 * Keep this module free of imports: it is loaded on every CLI call.
 */

export type FlagKind = 'string' | 'bool' | 'number' | 'list';

export interface FlagSpec {
  name: string;
  short?: string;
  kind: FlagKind;
  /** Placeholder shown in help, e.g. DIR. */
  value?: string;
  default?: string | number | boolean;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** Positional arguments, as shown in help. */
  args: string;
  summary: string;
  /** More help, shown by `tsbox COMMAND --help`. */
  description?: string;
  flags: FlagSpec[];
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', kind: 'string', value: 'DIR', default: '/run/tsbox', help: 'directory for container state (unprivileged: $XDG_RUNTIME_DIR/tsbox)' },
  { name: 'log', kind: 'string', value: 'FILE', help: 'also write log messages (errors, warnings) to FILE' },
  { name: 'log-format', kind: 'string', value: 'text|json', default: 'text', help: 'format of the messages written to --log' },
  { name: 'debug', kind: 'bool', help: 'log debug messages' },
  { name: 'systemd-cgroup', kind: 'bool', help: 'cgroups as systemd transient scopes (cgroupsPath "slice:prefix:name"; pure cgroup v2 hosts)' },
  { name: 'rootless', kind: 'string', value: 'true|false|auto', default: 'auto', help: 'ignore cgroup permission errors' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show help' },
  { name: 'version', short: 'v', kind: 'bool', help: 'print the version' },
];

const BUNDLE: FlagSpec = {
  name: 'bundle',
  short: 'b',
  kind: 'string',
  value: 'DIR',
  help: 'path to the bundle directory (default: the current directory)',
};

const PIDFD_SOCKET: FlagSpec = {
  name: 'pidfd-socket',
  kind: 'string',
  value: 'PATH',
  help: 'unix socket to send a pidfd of the container\'s process to (SCM_RIGHTS)',
};

const CREATE_FLAGS: FlagSpec[] = [
  BUNDLE,
  { name: 'console-socket', kind: 'string', value: 'PATH', help: 'unix socket to send the terminal\'s master to (process.terminal)' },
  { name: 'pid-file', kind: 'string', value: 'FILE', help: 'write the pid of the container\'s init to FILE' },
  { name: 'preserve-fds', kind: 'number', value: 'N', default: 0, help: 'pass descriptors 3 .. 3+N-1 on to the container' },
  { name: 'no-pivot', kind: 'bool', help: 'move the rootfs over / and chroot instead of pivot_root (for a ramdisk root)' },
  { name: 'no-new-keyring', kind: 'bool', help: 'keep the caller\'s session keyring (default: the container\'s own, "_ses.<id>")' },
  PIDFD_SOCKET,
];

/** The CRIU flags checkpoint and restore share (runc's). */
const CRIU_FLAGS: FlagSpec[] = [
  { name: 'image-path', kind: 'string', value: 'DIR', default: 'checkpoint', help: 'the checkpoint\'s image directory' },
  { name: 'work-path', kind: 'string', value: 'DIR', help: 'where CRIU writes its log (default: the image directory)' },
  { name: 'tcp-established', kind: 'bool', help: 'allow open TCP connections' },
  { name: 'ext-unix-sk', kind: 'bool', help: 'allow external unix sockets' },
  { name: 'shell-job', kind: 'bool', help: 'allow shell jobs (a session and terminal from outside the container)' },
  { name: 'file-locks', kind: 'bool', help: 'handle file locks' },
  { name: 'manage-cgroups-mode', kind: 'string', value: 'soft|full|strict|ignore', help: 'how CRIU treats the cgroups (default soft)' },
  { name: 'empty-ns', kind: 'list', value: 'NAMESPACE', help: 'make this namespace empty instead of restoring it (network only)' },
  { name: 'auto-dedup', kind: 'bool', help: 'deduplicate the images of a previous dump' },
  { name: 'lazy-pages', kind: 'bool', help: 'lazy migration: checkpoint serves the memory at --page-server until "criu lazy-pages" has taken it; restore takes it from that daemon (same --work-path)' },
];

const FORMAT: FlagSpec = { name: 'format', short: 'f', kind: 'string', value: 'table|json', default: 'table', help: 'output format' };

export const COMMANDS: CommandSpec[] = [
  {
    name: 'create',
    args: 'ID',
    summary: 'create a container, ready to run its process on start',
    description: [
      'The container\'s init is set up (namespaces, mounts, user, limits) and waits, just',
      'before executing the process, for "tsbox start ID". It keeps this command\'s stdio',
      'and outlives it. The pid file, if asked for, is written before create returns.',
    ].join('\n'),
    flags: CREATE_FLAGS,
  },
  {
    name: 'start',
    args: 'ID',
    summary: 'execute the process of a created container',
    flags: [],
  },
  {
    name: 'state',
    args: 'ID',
    summary: 'print the state of a container as JSON',
    flags: [],
  },
  {
    name: 'kill',
    args: 'ID [SIGNAL]',
    summary: 'send a signal (default SIGTERM) to a container\'s init',
    description: 'SIGNAL is a number (9) or a name (KILL, SIGKILL).',
    flags: [{ name: 'all', short: 'a', kind: 'bool', help: 'signal every process of the container' }],
  },
  {
    name: 'delete',
    args: 'ID',
    summary: 'remove a stopped or created container',
    flags: [{ name: 'force', short: 'f', kind: 'bool', help: 'kill a running container first; succeed if it does not exist' }],
  },
  {
    name: 'list',
    args: '',
    summary: 'list the containers under --root',
    flags: [FORMAT, { name: 'quiet', short: 'q', kind: 'bool', help: 'print only the ids' }],
  },
  {
    name: 'pause',
    args: 'ID',
    summary: 'freeze every process of a container',
    flags: [],
  },
  {
    name: 'resume',
    args: 'ID',
    summary: 'thaw a paused container',
    flags: [],
  },
  {
    name: 'update',
    args: 'ID',
    summary: 'change the resource limits of a container',
    description: [
      'Either --resources FILE (OCI linux.resources JSON; "-" reads it from stdin)',
      'or the flags below. Sizes take the suffixes k, m, g (as 512m).',
    ].join('\n'),
    flags: [
      { name: 'resources', short: 'r', kind: 'string', value: 'FILE', help: 'linux.resources JSON, or - for stdin' },
      { name: 'memory', kind: 'string', value: 'SIZE', help: 'memory limit (-1: unlimited)' },
      { name: 'memory-swap', kind: 'string', value: 'SIZE', help: 'memory plus swap limit (-1: unlimited)' },
      { name: 'memory-reservation', kind: 'string', value: 'SIZE', help: 'memory soft limit' },
      { name: 'kernel-memory', kind: 'string', value: 'SIZE', help: 'ignored (obsolete: kernels no longer have it)' },
      { name: 'kernel-memory-tcp', kind: 'string', value: 'SIZE', help: 'ignored (obsolete)' },
      { name: 'cpu-share', kind: 'string', value: 'N', help: 'relative CPU weight (cpu.shares; cpu.weight on cgroup2)' },
      { name: 'cpu-shares', kind: 'string', value: 'N', help: 'the same as --cpu-share' },
      { name: 'cpu-quota', kind: 'string', value: 'MICROSECONDS', help: 'CPU time allowed per period (-1: unlimited)' },
      { name: 'cpu-period', kind: 'string', value: 'MICROSECONDS', help: 'CPU period' },
      { name: 'cpu-burst', kind: 'string', value: 'MICROSECONDS', help: 'CPU time that may accumulate for bursts' },
      { name: 'cpu-rt-runtime', kind: 'string', value: 'MICROSECONDS', help: 'realtime CPU time per period' },
      { name: 'cpu-rt-period', kind: 'string', value: 'MICROSECONDS', help: 'realtime CPU period' },
      { name: 'cpu-idle', kind: 'string', value: '0|1', help: '1: the cgroup is SCHED_IDLE' },
      { name: 'cpuset-cpus', kind: 'string', value: 'LIST', help: 'CPUs allowed (0-3,5)' },
      { name: 'cpuset-mems', kind: 'string', value: 'LIST', help: 'memory nodes allowed' },
      { name: 'pids-limit', kind: 'string', value: 'N', help: 'maximum number of processes (-1: unlimited)' },
      { name: 'blkio-weight', kind: 'string', value: 'N', help: 'block IO weight (10-1000)' },
      { name: 'l3-cache-schema', kind: 'string', value: 'SCHEMA', help: 'Intel RDT L3 cache schema, written to the container\'s resctrl group' },
      { name: 'mem-bw-schema', kind: 'string', value: 'SCHEMA', help: 'Intel RDT memory bandwidth schema, written to the container\'s resctrl group' },
    ],
  },
  {
    name: 'events',
    args: 'ID',
    summary: 'print a container\'s resource usage and OOM events as JSON',
    description: [
      'Prints one JSON object per line, in runc\'s shape: {"type":"stats","id":ID,"data":{...}}',
      'every --interval (cpu, memory, pids, blkio, hugetlb from the container\'s cgroups),',
      'and {"type":"oom","id":ID} whenever the OOM killer acts in the container\'s memory',
      'cgroup. Ends when the container stops. With --stats: one stats object, then exit.',
    ].join('\n'),
    flags: [
      { name: 'interval', kind: 'string', value: 'DURATION', default: '5s', help: 'time between stats (1s, 500ms, 1m30s)' },
      { name: 'stats', kind: 'bool', help: 'print the stats once and exit' },
    ],
  },
  {
    name: 'ps',
    args: 'ID [-- PS-OPTIONS...]',
    summary: 'list the processes of a container',
    description: [
      'With --format json: a JSON array of host pids. With PS-OPTIONS (runc\'s form, e.g.',
      '"ps ID -- -o pid,user,comm"): the table of ps(1) run with them, keeping the',
      'header and the rows of the container\'s processes (the options must keep a PID column).',
    ].join('\n'),
    flags: [FORMAT],
  },
  {
    name: 'exec',
    args: 'ID [COMMAND [ARG...]]',
    summary: 'run another process in a running container',
    description: [
      'The process joins every namespace of the container. It is described by',
      '--process FILE (an OCI process JSON), or by COMMAND with the container\'s own',
      'process (user, env, cwd, capabilities, limits) as the base and the flags below',
      'applied on top. Without --detach, tsbox waits and exits with its status.',
    ].join('\n'),
    flags: [
      { name: 'process', short: 'p', kind: 'string', value: 'FILE', help: 'the process as OCI process JSON' },
      { name: 'detach', short: 'd', kind: 'bool', help: 'return once the process runs' },
      { name: 'tty', short: 't', kind: 'bool', help: 'give the process a terminal' },
      { name: 'console-socket', kind: 'string', value: 'PATH', help: 'unix socket to send the terminal\'s master to' },
      { name: 'pid-file', kind: 'string', value: 'FILE', help: 'write the process\'s pid to FILE' },
      { name: 'cwd', kind: 'string', value: 'DIR', help: 'working directory in the container' },
      { name: 'env', short: 'e', kind: 'list', value: 'KEY=VALUE', help: 'set an environment variable (repeatable)' },
      { name: 'user', short: 'u', kind: 'string', value: 'UID[:GID]', help: 'user (and group) to run as' },
      { name: 'additional-gids', short: 'g', kind: 'list', value: 'GID', help: 'an additional group (repeatable)' },
      { name: 'cap', short: 'c', kind: 'list', value: 'CAP', help: 'add a capability (repeatable)' },
      { name: 'no-new-privs', kind: 'bool', help: 'set no_new_privs for the process' },
      { name: 'preserve-fds', kind: 'number', value: 'N', default: 0, help: 'pass descriptors 3 .. 3+N-1 on to the process' },
      { name: 'ignore-paused', kind: 'bool', help: 'exec into a paused container too (the process runs once it is resumed)' },
      { name: 'cgroup', kind: 'list', value: '[CONTROLLER[,CONTROLLER]:]PATH', help: 'run the process in an existing sub-cgroup of the container\'s (repeatable, one per controller)' },
      { name: 'process-label', kind: 'string', value: 'LABEL', help: 'SELinux label for the process (hosts with SELinux)' },
      { name: 'apparmor', kind: 'string', value: 'PROFILE', help: 'AppArmor profile for the process (hosts with AppArmor)' },
      PIDFD_SOCKET,
    ],
  },
  {
    name: 'run',
    args: '[BUNDLE-DIR | ID]',
    summary: 'create and run a container, and wait for it to exit',
    description: [
      'Two forms:',
      '  tsbox run BUNDLE-DIR          run the bundle in BUNDLE-DIR under a generated id',
      '  tsbox run [-b DIR] ID         run the bundle in DIR (default: .) as container ID (runc\'s form)',
      'The argument is taken as a bundle directory when --bundle is not given and it',
      'contains a "/", is "." or "..", or is a directory holding a config.json.',
      'The exit status is the container process\'s: its exit code, or 128 + the signal',
      'that killed it. SIGINT, SIGTERM, SIGHUP and other signals sent to tsbox are',
      'forwarded to the container. Errors of tsbox itself exit with status 1.',
      'While it runs the container is listed under --root like a created one; its state',
      'is removed when it exits unless --keep is given. With --detach, tsbox returns',
      'once the process runs.',
    ].join('\n'),
    flags: [
      ...CREATE_FLAGS,
      { name: 'detach', short: 'd', kind: 'bool', help: 'create and start the container, then return' },
      { name: 'keep', kind: 'bool', help: 'keep the container\'s state after it exits (remove it with delete)' },
      { name: 'no-subreaper', kind: 'bool', help: 'accepted for runc\'s callers: tsbox never makes itself a subreaper' },
    ],
  },
  {
    name: 'checkpoint',
    args: 'ID',
    summary: 'checkpoint a running container with CRIU',
    description: [
      'CRIU dumps the container\'s processes into --image-path. Unless --leave-running (or',
      '--pre-dump), the container is then stopped and removed, as by delete. Where CRIU',
      'cannot run (missing, or "criu check" fails) or the dump fails, the container runs on',
      'and no images are left.',
    ].join('\n'),
    flags: [
      ...CRIU_FLAGS,
      { name: 'leave-running', kind: 'bool', help: 'leave the container running after the checkpoint' },
      { name: 'pre-dump', kind: 'bool', help: 'dump only the memory, for a later checkpoint with --parent-path' },
      { name: 'parent-path', kind: 'string', value: 'DIR', help: 'a previous pre-dump\'s images, relative to --image-path' },
      { name: 'page-server', kind: 'string', value: 'ADDRESS:PORT', help: 'with --lazy-pages, where the memory is served; else a "criu page-server" to send it to' },
      { name: 'status-fd', kind: 'number', value: 'FD', help: 'with --lazy-pages, written a \\0 and closed once the memory is served' },
    ],
  },
  {
    name: 'restore',
    args: 'ID',
    summary: 'restore a container from a CRIU checkpoint',
    description: [
      'The bundle gives the container\'s config and rootfs; its cgroups are made as by',
      'create, then CRIU restores the checkpoint\'s processes into them. Without --detach',
      'tsbox passes the signals it gets on to the container\'s process, waits for it and',
      'exits with its status, as run does.',
    ].join('\n'),
    flags: [
      BUNDLE,
      ...CRIU_FLAGS,
      { name: 'detach', short: 'd', kind: 'bool', help: 'return once the container is restored' },
      { name: 'pid-file', kind: 'string', value: 'FILE', help: 'write the restored init\'s pid to FILE' },
      { name: 'console-socket', kind: 'string', value: 'PATH', help: 'unix socket for the terminal\'s master (not supported yet: an error)' },
      { name: 'no-subreaper', kind: 'bool', help: 'accepted for runc\'s callers: tsbox never makes itself a subreaper' },
      { name: 'no-pivot', kind: 'bool', help: 'accepted for runc\'s callers: CRIU rebuilds the root itself' },
    ],
  },
  {
    name: 'features',
    args: '',
    summary: 'print what this runtime supports, as JSON (runc\'s shape)',
    flags: [],
  },
  {
    name: 'spec',
    args: '',
    summary: 'write a default config.json into the bundle directory',
    flags: [
      BUNDLE,
      { name: 'rootless', kind: 'bool', help: 'write a config for a container started by an unprivileged user' },
    ],
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
