import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import type { Linux, LinuxNamespace, LinuxSeccomp, Process, Spec } from '../oci/types.js';
import { planCapabilities } from './capabilities.js';
import { liveHost, type HostFacts } from '../host/facts.js';
import { hostCgroupMounts, parseProcCgroup } from '../host/mountinfo.js';
import { planCgroupMount } from './cgroup-mount.js';
import { MS, PROPAGATION_OPTIONS, parseMountOptions } from './mount-options.js';
import type {
  KernelNamespace,
  LaunchPlan,
  PlannedDevice,
  PlannedMount,
  PlannedHook,
  PlannedNamespace,
  PlannedSymlink,
  PlannedTimeOffset,
} from './plan.js';
import { parseCpuList } from './cpu-list.js';
import { planMemoryPolicy } from './memory-policy.js';
import { applyMountLabel } from './mount-label.js';
import { planNetDevices } from './net-devices.js';
import { planIoPriority, planPersonality, planScheduler, planSecurityLabels } from './process-attrs.js';
import { planRlimits } from './rlimits.js';
import { planSeccomp } from './seccomp.js';
import { currentCaller, planMountIdmap, planUserNamespace, rootlessDefaults, type Caller } from './userns.js';

export interface PlanInput {
  /** A config validated by validateSpec, with a process. */
  spec: Spec;
  /** Absolute bundle directory: relative bind sources resolve against it. */
  bundleDir: string;
  /** Absolute path of the root filesystem. */
  rootfs: string;
  /** Size for a new terminal when the config gives none (the caller's). */
  terminalSize?: { rows: number; cols: number };
  /** Stop the init before execve until told to go. */
  pause?: boolean;
  /** Stop the init before execve until `tsbox start` connects to its socket at this path. */
  startSocket?: string;
  /** LaunchPlan.sessionKeyring. */
  sessionKeyring?: string;
  /** cgroup.procs files of the container's cgroups (made by lib/cgroups), for the init to join. */
  cgroupProcs?: string[];
  /**
   * The container's own cgroup directory in each hierarchy, by hierarchy key
   * (lib/cgroups cgroupDirs): what a cgroup mount without a cgroup namespace
   * shows. Absent: the container stays in the runtime's cgroups.
   */
  cgroupDirs?: Record<string, string>;
  /** Who runs the container (default: this process's effective ids); not root means rootless. */
  caller?: Caller;
  /** --no-pivot: enter the rootfs by moving it over "/" and chroot, not pivot_root. */
  noPivot?: boolean;
}

const KERNEL_NAMESPACE: Record<LinuxNamespace['type'], KernelNamespace> = {
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  uts: 'uts',
  ipc: 'ipc',
  cgroup: 'cgroup',
  user: 'user',
  time: 'time',
};

/** The device nodes every container gets, as runc creates them. */
const DEFAULT_DEVICES: ReadonlyArray<[name: string, major: number, minor: number]> = [
  ['/dev/null', 1, 3],
  ['/dev/zero', 1, 5],
  ['/dev/full', 1, 7],
  ['/dev/random', 1, 8],
  ['/dev/urandom', 1, 9],
  ['/dev/tty', 5, 0],
];

const DEFAULT_SYMLINKS: readonly PlannedSymlink[] = [
  { target: '/proc/self/fd', path: '/dev/fd' },
  { target: '/proc/self/fd/0', path: '/dev/stdin' },
  { target: '/proc/self/fd/1', path: '/dev/stdout' },
  { target: '/proc/self/fd/2', path: '/dev/stderr' },
  // The container's own devpts instance provides ptmx; the host's /dev/ptmx
  // would allocate ptys in the host's instance.
  { target: 'pts/ptmx', path: '/dev/ptmx' },
];

/** Sysctl prefixes that a namespace isolates, and which one. */
const SYSCTL_NAMESPACES: ReadonlyArray<[prefix: string, ns: KernelNamespace]> = [
  ['net.', 'net'],
  ['fs.mqueue.', 'ipc'],
  ['kernel.msgmax', 'ipc'],
  ['kernel.msgmnb', 'ipc'],
  ['kernel.msgmni', 'ipc'],
  ['kernel.sem', 'ipc'],
  ['kernel.shmall', 'ipc'],
  ['kernel.shmmax', 'ipc'],
  ['kernel.shmmni', 'ipc'],
  ['kernel.shm_rmid_forced', 'ipc'],
  ['kernel.hostname', 'uts'],
  ['kernel.domainname', 'uts'],
];

/** Normalizes an absolute container path: no `.`, `..` or trailing slash. */
function containerPath(p: string): string {
  return path.posix.resolve('/', p);
}

/**
 * Computes the launch plan for a validated config. Everything that can be
 * wrong with the config (beyond its shape, which the validator checked) is
 * found here, before any process or mount exists.
 */
export function buildPlan(input: PlanInput, host: HostFacts = liveHost): LaunchPlan {
  const { spec } = input;
  const process = spec.process!;
  const linux = spec.linux ?? {};
  const warnings: string[] = [];

  const caller = input.caller ?? currentCaller();
  const configured = (linux.namespaces ?? []).map((ns) => ({ type: KERNEL_NAMESPACE[ns.type], path: ns.path ?? '' }));
  const { namespaces, ...mappings } = rootlessDefaults(spec, configured, caller);
  const has = (type: KernelNamespace) => namespaces.some((ns) => ns.type === type);
  const creates = (type: KernelNamespace) => namespaces.some((ns) => ns.type === type && ns.path === '');
  checkNamespaces(spec, namespaces.map((ns) => ns.type));
  const userns = planUserNamespace(spec, namespaces, mappings, caller, host, warnings);
  // In a user namespace no device node can be made (mknod), and sysfs can
  // be mounted only in a network namespace the user namespace owns: the
  // host's nodes and /sys are bind-mounted instead, as runc does. The same
  // when the runtime itself runs in a user namespace (rootless podman's).
  const inUserns = has('user') || caller.inUserNamespace === true;
  const sysfsByBind = inUserns && !creates('net');

  const mounts: PlannedMount[] = [];
  const symlinks: PlannedSymlink[] = [];
  const readonlyPaths: string[] = [];
  let devIsBind = false;
  (spec.mounts ?? []).forEach((m, i) => {
    const at = `mounts[${i}]`;
    const destination = containerPath(m.destination);
    // Allowed since spec 1.2 and taken from "/", with a warning, as runc does.
    if (!m.destination.startsWith('/')) warnings.push(`${at}.destination "${m.destination}" is relative: mounted at "${destination}"`);
    const parsed = parseMountOptions(m.type ?? '', m.options ?? [], `${at}.options`, warnings);
    if (parsed.flags & MS.REMOUNT) {
      throw new ConfigError(`${at}.options`, 'remount is not allowed in a mount list');
    }
    if (m.type === 'cgroup' && !parsed.bind) {
      const cg = planCgroupMount(
        destination,
        parsed.flags,
        parsed.propagation,
        hostCgroupMounts(host.mountinfo()),
        parseProcCgroup(host.ownCgroups()),
        has('cgroup'),
        input.cgroupDirs,
      );
      mounts.push(...cg.mounts);
      symlinks.push(...cg.symlinks);
      readonlyPaths.push(...cg.readonlyPaths);
      return;
    }
    if (!parsed.bind && !m.type) throw new ConfigError(`${at}.type`, 'is required for a mount that is not a bind mount');
    if (m.type === 'sysfs' && !parsed.bind && sysfsByBind) {
      mounts.push({
        source: '/sys',
        destination,
        type: 'bind',
        flags: parsed.flags | MS.BIND | MS.REC,
        data: '',
        propagation: parsed.propagation,
        ...(parsed.recursive && { recursive: parsed.recursive }),
      });
      return;
    }
    const idmap = planMountIdmap(m, at, parsed, mappings);
    // The kernel idmaps a mount only for CAP_SYS_ADMIN over its filesystem
    // (the host's user namespace for the host's files), which no
    // unprivileged caller has: said here, before anything exists.
    if (idmap && caller.uid !== 0) {
      throw new ConfigError(at, `an idmapped mount needs root (CAP_SYS_ADMIN over the filesystem of "${m.source ?? ''}"); uid ${caller.uid} cannot make one`);
    }
    let source = m.source ?? '';
    if (parsed.bind) {
      if (!source) throw new ConfigError(`${at}.source`, 'is required for a bind mount');
      // Relative bind sources are relative to the bundle, as runc has them.
      source = path.resolve(input.bundleDir, source);
      if (destination === '/dev') devIsBind = true;
    }
    mounts.push({
      source,
      destination,
      type: parsed.bind ? 'bind' : m.type!,
      flags: parsed.flags,
      data: parsed.data,
      propagation: parsed.propagation,
      ...(parsed.recursive && { recursive: parsed.recursive }),
      ...(idmap && { idmap }),
      ...(parsed.copyUp && { copyUp: true as const }),
    });
  });

  const devices: PlannedDevice[] = [];
  if (!devIsBind) {
    for (const [name, major, minor] of DEFAULT_DEVICES) {
      devices.push({ path: name, type: 'c', major, minor, mode: 0o666, uid: 0, gid: 0 });
    }
    symlinks.push(...DEFAULT_SYMLINKS);
    if (host.exists('/proc/kcore')) symlinks.push({ target: '/proc/kcore', path: '/dev/core' });
  }
  for (const d of linux.devices ?? []) {
    const planned: PlannedDevice = {
      path: containerPath(d.path),
      type: d.type === 'u' ? 'c' : d.type,
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      mode: d.fileMode ?? 0o666,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    };
    const same = devices.findIndex((x) => x.path === planned.path);
    if (same >= 0) devices[same] = planned;
    else devices.push(planned);
  }

  if (inUserns) {
    // Each node bound from the host's at the same path, onto a file the
    // init creates: after every configured mount, so over the /dev tmpfs.
    // A FIFO is made as it is (mknod of a FIFO needs no capability).
    for (const d of devices.splice(0)) {
      if (d.type === 'p') devices.push(d);
      else mounts.push({ source: d.path, destination: d.path, type: 'bind', flags: MS.BIND, data: '', propagation: 0 });
    }
  }

  const rootPropagation = PROPAGATION_OPTIONS[linux.rootfsPropagation ?? ''] ?? 0;
  const sysctls = Object.entries(linux.sysctl ?? {});
  for (const [key] of sysctls) {
    const owner = SYSCTL_NAMESPACES.find(([prefix]) => key.startsWith(prefix))?.[1];
    if (!owner) throw new ConfigError(`linux.sysctl.${key}`, 'is not isolated by any namespace; refusing to change it for the host');
    if (!has(owner)) throw new ConfigError(`linux.sysctl.${key}`, `needs the container to have its own ${owner} namespace`);
  }

  const timeOffsets = planTimeOffsets(linux.timeOffsets, namespaces);
  const netDevices = planNetDevices((linux as { netDevices?: unknown }).netDevices, namespaces);
  applyMountLabel(mounts, linux.mountLabel, host, warnings);

  const proc = planProcess(process, host, warnings, input.terminalSize, linux.seccomp);
  return {
    exec: false,
    namespaces,
    cgroupProcs: input.cgroupProcs ?? [],
    rootfs: input.rootfs,
    // As runc: "/" of the container's mount namespace gets the config's
    // rootfsPropagation before anything is mounted, else rslave, so that
    // the host's mounts reach the container but not the other way. Only a
    // shared one lets the container's mounts reach the host, through binds
    // of shared host mounts (Kubernetes' Bidirectional propagation).
    rootPropagation: rootPropagation || MS.SLAVE | MS.REC,
    mounts,
    devices,
    symlinks,
    mkdirs: [proc.cwd],
    maskedPaths: (linux.maskedPaths ?? []).map(containerPath),
    readonlyPaths: [...readonlyPaths, ...(linux.readonlyPaths ?? []).map(containerPath)],
    readonlyRoot: spec.root?.readonly === true,
    rootfsPropagation: rootPropagation,
    ...(input.noPivot && { noPivot: true }),
    sysctls,
    ...(spec.hostname !== undefined && { hostname: spec.hostname }),
    ...(spec.domainname !== undefined && { domainname: spec.domainname }),
    ...proc,
    ...(linux.personality && { personality: planPersonality(linux.personality, warnings) }),
    pause: input.pause === true || input.startSocket !== undefined,
    ...(input.startSocket !== undefined && { startSocket: input.startSocket }),
    ...(input.sessionKeyring !== undefined && { sessionKeyring: input.sessionKeyring }),
    ...planHooks(spec),
    warnings,
    ...(userns && { userns }),
    ...(timeOffsets.length > 0 && { timeOffsets }),
    ...(linux.memoryPolicy && { memoryPolicy: planMemoryPolicy(linux.memoryPolicy, host) }),
    ...(netDevices && { netDevices }),
  };
}

/**
 * linux.timeOffsets, for a new time namespace only: a joined one has its
 * offsets already, and without one the host's clocks would be changed.
 * Applied by the helper before the init enters the namespace.
 */
function planTimeOffsets(offsets: Linux['timeOffsets'], namespaces: PlannedNamespace[]): PlannedTimeOffset[] {
  const entries = Object.entries(offsets ?? {}) as Array<[PlannedTimeOffset['clock'], { secs?: number; nanosecs?: number }]>;
  if (entries.length === 0) return [];
  const time = namespaces.find((ns) => ns.type === 'time');
  if (!time) throw new ConfigError('linux.timeOffsets', 'needs a time namespace in linux.namespaces');
  if (time.path !== '') throw new ConfigError('linux.timeOffsets', `needs a new time namespace, not the one joined at "${time.path}" (its offsets are set already)`);
  return entries.map(([clock, o]) => ({ clock, secs: o.secs ?? 0, nanosecs: o.nanosecs ?? 0 }));
}

/**
 * The hooks the init runs (createContainer, startContainer), and whether it
 * must stop for the runtime's (prestart, createRuntime) or to be handed the
 * state its own hooks read.
 */
function planHooks(spec: Spec): Pick<LaunchPlan, 'hooksPause' | 'hooks'> {
  const h = spec.hooks ?? {};
  const hooks: PlannedHook[] = [];
  for (const phase of ['createContainer', 'startContainer'] as const) {
    for (const hook of h[phase] ?? []) {
      hooks.push({ phase, path: hook.path, args: hook.args ?? [hook.path], env: hook.env ?? [], timeout: hook.timeout ?? 0 });
    }
  }
  const hooksPause = hooks.length > 0 || (h.prestart?.length ?? 0) > 0 || (h.createRuntime?.length ?? 0) > 0;
  return { hooksPause, hooks };
}

type ProcessPlan = Pick<
  LaunchPlan,
  | 'terminal'
  | 'rlimits'
  | 'oomScoreAdj'
  | 'noNewPrivileges'
  | 'apparmorProfile'
  | 'selinuxLabel'
  | 'ioPriority'
  | 'scheduler'
  | 'seccomp'
  | 'capabilities'
  | 'user'
  | 'umask'
  | 'cwd'
  | 'env'
  | 'args'
>;

/**
 * The process part of a plan: the same for a container's first process and
 * for exec, which runs under the container's seccomp filter too.
 */
function planProcess(
  process: Process,
  host: HostFacts,
  warnings: string[],
  terminalSize: { rows: number; cols: number } | undefined,
  seccomp: LinuxSeccomp | undefined,
): ProcessPlan {
  const { apparmorProfile, selinuxLabel } = planSecurityLabels(process, host);
  const user = process.user ?? { uid: 0, gid: 0 };
  const terminal = process.terminal
    ? process.consoleSize
      ? { rows: process.consoleSize.height, cols: process.consoleSize.width }
      : terminalSize ?? { rows: 0, cols: 0 }
    : undefined;
  return {
    ...(terminal && { terminal }),
    rlimits: planRlimits(process.rlimits ?? []),
    ...(process.oomScoreAdj !== undefined && { oomScoreAdj: process.oomScoreAdj }),
    noNewPrivileges: process.noNewPrivileges === true,
    ...(apparmorProfile && { apparmorProfile }),
    ...(selinuxLabel && { selinuxLabel }),
    ...(process.ioPriority && { ioPriority: planIoPriority(process.ioPriority) }),
    ...(process.scheduler && { scheduler: planScheduler(process.scheduler) }),
    ...(seccomp && { seccomp: planSeccomp(seccomp) }),
    ...(process.capabilities && { capabilities: planCapabilities(process.capabilities, host.lastCap(), warnings) }),
    user: { uid: user.uid, gid: user.gid, groups: user.additionalGids ?? [] },
    ...(user.umask !== undefined && { umask: user.umask }),
    cwd: containerPath(process.cwd),
    env: process.env ?? [],
    args: process.args!,
  };
}

/** The session keyring of container `id`'s processes (runc's name for it). */
export function sessionKeyringName(id: string): string {
  return `_ses.${id}`;
}

export interface ExecPlanInput {
  /** A validated process (validateProcess), with args. */
  process: Process;
  /** The namespaces of the running container, to join by path. */
  namespaces: PlannedNamespace[];
  /** The container's cgroup.procs files: an exec'd process is limited, frozen and killed with it. */
  cgroupProcs?: string[];
  /** The container's linux.seccomp: an exec'd process is filtered like the container's (as in runc). */
  seccomp?: LinuxSeccomp;
  /** The container's linux.memoryPolicy: an exec'd process allocates like the container's. */
  memoryPolicy?: Linux['memoryPolicy'];
  terminalSize?: { rows: number; cols: number };
  /** LaunchPlan.sessionKeyring: the container's, joined. */
  sessionKeyring?: string;
}

/**
 * The plan for a new process in a running container: it joins the
 * container's namespaces (its root comes with the mount namespace) and sets
 * up only the process itself.
 */
export function buildExecPlan(input: ExecPlanInput, host: HostFacts = liveHost): LaunchPlan {
  const warnings: string[] = [];
  return {
    exec: true,
    namespaces: input.namespaces,
    cgroupProcs: input.cgroupProcs ?? [],
    rootfs: '',
    rootPropagation: 0,
    mounts: [],
    devices: [],
    symlinks: [],
    mkdirs: [],
    maskedPaths: [],
    readonlyPaths: [],
    readonlyRoot: false,
    rootfsPropagation: 0,
    sysctls: [],
    ...planProcess(input.process, host, warnings, input.terminalSize, input.seccomp),
    ...(input.process.execCPUAffinity && { execCpuAffinity: planExecCpuAffinity(input.process.execCPUAffinity) }),
    ...(input.memoryPolicy && { memoryPolicy: planMemoryPolicy(input.memoryPolicy, host) }),
    pause: false,
    ...(input.sessionKeyring !== undefined && { sessionKeyring: input.sessionKeyring }),
    hooksPause: false,
    hooks: [],
    warnings,
  };
}

/** process.execCPUAffinity as CPU numbers; CPU_SETSIZE (1024) bounds them. */
function planExecCpuAffinity(affinity: NonNullable<Process['execCPUAffinity']>): { initial: number[]; final: number[] } {
  return {
    initial: parseCpuList(affinity.initial ?? '', 'process.execCPUAffinity.initial'),
    final: parseCpuList(affinity.final ?? '', 'process.execCPUAffinity.final'),
  };
}

function checkNamespaces(spec: Spec, types: KernelNamespace[]): void {
  if (!types.includes('mnt')) {
    // Without its own mount namespace, the rootfs setup would happen on the
    // host's mount table.
    throw new ConfigError('linux.namespaces', 'must include a mount namespace');
  }
  if (spec.hostname !== undefined && !types.includes('uts')) {
    throw new ConfigError('hostname', 'needs a uts namespace in linux.namespaces (it would rename the host)');
  }
  if (spec.domainname !== undefined && !types.includes('uts')) {
    throw new ConfigError('domainname', 'needs a uts namespace in linux.namespaces (it would rename the host)');
  }
}
