import { closeSync, fstatSync, openSync } from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import type { Bundle } from './bundle.js';
import type { CgroupDriverName } from './cgroups/driver.js';
import { hostLayout, type Layout } from './cgroups/layout.js';
import { cgroupDirs, type Cgroups } from './cgroups/manager.js';
import { prepareCgroups } from './cgroup-drivers.js';
import { generateId } from './container-id.js';
import { destroy } from './destroy.js';
import { ConfigError, isSystemCallError, SystemError, TsboxError } from './errors.js';
import { runHooks, type HookState } from './hooks.js';
import { sendSeccompListener } from './seccomp-listener.js';
import type { Binding, ExitInfo, ReceivedRecord } from './native/binding.js';
import type { HelperMessage } from './native/protocol.js';
import { buildPlan, sessionKeyringName } from './plan/build.js';
import { planIntelRdt, type IntelRdtRequest } from './plan/intel-rdt.js';
import { hostSnapshot, type HostFacts } from './host/facts.js';
import { ociState, type Status } from './oci/state.js';
import { encodeNetDevicesBack, encodePlan, encodeSeccompCompile } from './plan/encode.js';
import type { CompiledSeccomp, LaunchPlan, PlannedSeccomp } from './plan/plan.js';
import { compiledSeccomp } from './seccomp-cache.js';
import { checkResctrl, joinResctrl, resctrlRoot, type ResctrlGroup } from './resctrl.js';

/** Where one of the container's stdin/stdout/stderr goes. */
export type StdioOption = 'pipe' | 'inherit' | 'ignore' | number;

/** Who makes the container's cgroups: tsbox itself, or systemd (a transient scope): lib/cgroups/driver.ts. */
export type CgroupDriver = Exclude<CgroupDriverName, 'none'>;

/** What a container has on the host so far (see LaunchOptions.record). */
export interface Progress {
  cgroups: Cgroups | undefined;
  /** The init's pid, once it exists. */
  pid?: number;
  /** Its resctrl group (linux.intelRdt), before it is made. */
  intelRdt?: ResctrlGroup;
}

export interface LaunchOptions {
  /** 'cgroupfs' (default) or 'systemd' (--systemd-cgroup: lib/systemd/driver.ts). */
  cgroupDriver?: CgroupDriver;
  /**
   * Told what the container has on the host before each part is made (its
   * cgroups) and once its init exists: the runtime records it, so that a
   * create killed half-way leaves what lib/destroy.ts needs to remove it.
   */
  record?: (progress: Progress) => void;
  /** 'pipe' (default) gives streams; 'inherit' passes this process's. */
  stdio?: StdioOption | [StdioOption, StdioOption, StdioOption];
  /** Size of the terminal for process.terminal when the config sets no consoleSize. */
  terminalSize?: { rows: number; cols: number };
  /** The container's id, as hooks see it in the state (default: a generated one). */
  id?: string;
  /** Descriptors of this process the container gets as 3, 4, ... (--preserve-fds). */
  extraFds?: number[];
  /**
   * KEY=VALUE entries the runtime adds to the process's environment (in
   * place of the config's own for the same key): LISTEN_FDS for socket
   * activation, NOTIFY_SOCKET.
   */
  extraEnv?: string[];
  /**
   * Stop the init just before it executes the process, until `tsbox start`
   * connects to the unix socket it listens on at this path (create);
   * without it the process is executed at once.
   */
  startSocket?: string;
  /**
   * Where compiled seccomp programs are kept across processes (a state
   * root's .seccomp); without it, only in this process's memory.
   */
  seccompCacheDir?: string;
  /** runc's --no-pivot: the rootfs is moved over "/" and chrooted into (for an initramfs root). */
  noPivot?: boolean;
  /** runc's --no-new-keyring: the process keeps the caller's session keyring (LaunchPlan.sessionKeyring). */
  noNewKeyring?: boolean;
  /**
   * Where linux.intelRdt's resctrl filesystem is (default: the first one in
   * this process's mountinfo); tests give a directory laid out like one.
   */
  resctrlRoot?: string;
}

/** A launched container init: running its process, or (startSocket) ready to. */
export interface Launched {
  pid: number;
  /** Open until the caller closes it; the init is our child. */
  pidfd: number;
  /** The terminal's master, or -1. */
  master: number;
  stdio: Stdio;
  warnings: string[];
  /** The cgroups made for the container (config with cgroupsPath or resources). */
  cgroups?: Cgroups;
  /** What linux.intelRdt made in resctrl. */
  intelRdt?: ResctrlGroup;
}

/** Waits for the process behind a pidfd to exit and reaps it. */
export async function waitFor(native: Binding, pidfd: number): Promise<ExitInfo> {
  for (;;) {
    const r = await native.waitExit(pidfd);
    if (r !== 'again') return r;
  }
}

/** waitFor, then closes the pidfd: for processes nobody signals any more. */
async function reap(native: Binding, pidfd: number): Promise<ExitInfo> {
  try {
    return await waitFor(native, pidfd);
  } finally {
    native.close(pidfd);
  }
}

async function receive(native: Binding, sock: number): Promise<ReceivedRecord | null> {
  for (;;) {
    const r = await native.recv(sock);
    if (r !== 'again') return r;
  }
}

/**
 * libseccomp's program for a profile, from the helper's compile mode
 * (native/helper/main.cc); lib/seccomp-cache.ts keeps it. The helper
 * gets /dev/null as stdio: it answers on the sync socket only.
 */
async function compileSeccomp(native: Binding, seccomp: PlannedSeccomp): Promise<CompiledSeccomp> {
  const answer = await askHelper(native, encodeSeccompCompile(seccomp));
  const [kind = '', flags = '', hex = '', ...unknown] = answer?.fields ?? [];
  if (kind === 'error') throw setupError(native, answer!.fields);
  const program = Buffer.from(hex, 'hex');
  if (kind !== 'seccomp-program' || program.length === 0 || program.length % 8 !== 0 || program.length * 2 !== hex.length) {
    throw new TsboxError(`compile linux.seccomp: unexpected answer ${JSON.stringify(kind)} from tsbox-helper`);
  }
  return { program, loadFlags: Number(flags), unknown };
}

/**
 * The helper's move-back mode (native/helper/main.cc): linux.netDevices
 * from the network namespace joined at `netns` back into the runtime's,
 * under their host names, with their addresses.
 */
async function netDevicesBack(native: Binding, netns: string, devices: ReadonlyArray<{ host: string; name: string }>): Promise<void> {
  const answer = await askHelper(native, encodeNetDevicesBack(netns, devices));
  if (answer?.fields[0] === 'error') throw setupError(native, answer.fields);
}

/**
 * Runs the helper in one of its one-shot modes (the request says which),
 * with /dev/null for stdio, and returns its one answer (null if it sent
 * none) once it has exited.
 */
async function askHelper(native: Binding, request: Buffer): Promise<ReceivedRecord | null> {
  const devNull = openSync('/dev/null', 'r+');
  let spawned;
  try {
    spawned = native.spawnHelper(native.helperPath, request, [devNull, devNull, devNull], []);
  } catch (err) {
    throw isSystemCallError(err) ? new TsboxError(err.message, { cause: err }) : err;
  } finally {
    closeSync(devNull);
  }
  const exited = reap(native, spawned.pidfd);
  try {
    return await receive(native, spawned.sock);
  } finally {
    native.close(spawned.sock);
    await exited;
  }
}

/** An "error" record from the helper or init, as a one-line error. */
export function setupError(native: Binding, fields: string[]): SystemError {
  const [, step = 'container setup', errnoText = '0', detail = ''] = fields;
  const errno = Number(errnoText);
  const code = errno > 0 ? getSystemErrorName(-errno) : 'EUNKNOWN';
  const description = native.strerror(errno);
  const explanation = detail || `${description.charAt(0).toLowerCase()}${description.slice(1)} (${code})`;
  return new SystemError(step, errno, code, explanation);
}

export interface Stdio {
  /** Descriptors the container gets as 0, 1, 2. */
  childFds: [number, number, number];
  /** Descriptors to close once the helper has them. */
  closeAfterSpawn: number[];
  /** Our ends of 'pipe' stdio, made into streams only once the container runs. */
  parentFds: [number, number, number];
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * The container's stdio. With a terminal the init replaces all three with
 * the pty, so no pipes are made for it.
 */
function openStdio(native: Binding, option: LaunchOptions['stdio'], terminal: boolean): Stdio {
  const options = Array.isArray(option) ? option : [option ?? 'pipe', option ?? 'pipe', option ?? 'pipe'];
  const stdio: Stdio = { childFds: [-1, -1, -1], closeAfterSpawn: [], parentFds: [-1, -1, -1] };
  const devNull = (i: number) => {
    const fd = openSync('/dev/null', i === 0 ? 'r' : 'w');
    stdio.closeAfterSpawn.push(fd);
    return fd;
  };
  options.forEach((o, i) => {
    if (o === 'pipe' && !terminal) {
      const [r, w] = native.pipe();
      stdio.parentFds[i] = i === 0 ? w : r;
      stdio.childFds[i] = i === 0 ? r : w;
      stdio.closeAfterSpawn.push(stdio.childFds[i]!);
    } else if (o === 'inherit') {
      // A caller started with a closed stdio descriptor gets /dev/null there.
      stdio.childFds[i] = isOpen(i) ? i : devNull(i);
    } else if (o === 'ignore' || o === 'pipe') {
      stdio.childFds[i] = devNull(i);
    } else {
      stdio.childFds[i] = o;
    }
  });
  return stdio;
}

function closeParentFds(native: Binding, stdio: Stdio): void {
  for (const fd of stdio.parentFds) if (fd >= 0) native.close(fd);
}

/**
 * Streams over our ends of the pipes. Made only when run() resolves: a
 * stream starts reading at once, and one made earlier could reach its end
 * (a container that exits at once) before the caller can listen to it.
 */
export function pipeStreams(stdio: Stdio): [Writable | null, Readable | null, Readable | null] {
  if (stdio.parentFds.every((fd) => fd < 0)) return [null, null, null];
  // Required here: node:net costs ~4 ms to load, and the CLI never pipes.
  const { Socket } = require('node:net') as typeof import('node:net');
  const stream = (i: number) =>
    stdio.parentFds[i]! < 0 ? null : new Socket({ fd: stdio.parentFds[i]!, readable: i !== 0, writable: i === 0 });
  return [stream(0), stream(1), stream(2)];
}

/**
 * Creates a container's init from a bundle and follows the sync protocol
 * (native/helper/main.cc) until the process has been executed, or with
 * `startSocket` until the init is ready and waits for `tsbox start`. Fails
 * with a one-line TsboxError, leaving no process, mount or file behind.
 */
export async function launch(native: Binding, bundle: Bundle, options: LaunchOptions = {}): Promise<Launched> {
  // The helper first, before the plan exists, executed from a thread of
  // the addon's own: its execution and start-up (glibc's, ~0.6 ms of CPU
  // in a virtual machine) run on another CPU while this thread validates,
  // plans and makes the cgroups; it waits for the plan on its sync socket.
  const early = startHelperEarly(native, options, bundle.spec.process?.terminal === true);
  // Its failure is launchPlan's to report; one that comes while this
  // process is still planning must not count as unhandled meanwhile.
  early.catch(() => undefined);
  try {
    return await launchStarted(native, bundle, options, early);
  } finally {
    // One that launchStarted did not get to hand to launchPlan (it failed
    // before): the helper reads the end of its socket and exits, and is
    // reaped before this fails (nothing is left behind).
    const helper = await early.catch(() => undefined);
    if (helper && !helper.handedOver) await abandonHelper(native, helper);
  }
}

async function launchStarted(native: Binding, bundle: Bundle, options: LaunchOptions, helper: Promise<StartedHelper>): Promise<Launched> {
  const id = options.id ?? generateId();
  const host = hostSnapshot();
  const linux = bundle.spec.linux;
  // Where the container's cgroups will be (cgroupfs driver): a cgroup mount
  // without a cgroup namespace shows these, not the runtime's own.
  const hasCgroups = options.cgroupDriver !== 'systemd' && (linux?.cgroupsPath !== undefined || linux?.resources !== undefined);
  const layout = hostLayout(host);
  const dirs = hasCgroups ? cgroupDirs(layout, linux?.cgroupsPath, id) : undefined;
  const planWith = (cgroups: Record<string, string> | undefined) => {
    try {
      const built = buildPlan(
        {
          spec: bundle.spec,
          bundleDir: bundle.dir,
          rootfs: bundle.rootfs,
          ...(options.terminalSize && { terminalSize: options.terminalSize }),
          ...(options.startSocket !== undefined && { startSocket: options.startSocket }),
          ...(cgroups && { cgroupDirs: cgroups }),
          ...(options.noPivot && { noPivot: true }),
          ...(!options.noNewKeyring && { sessionKeyring: sessionKeyringName(id) }),
        },
        host,
      );
      if (options.extraEnv) built.env = withEnv(built.env, options.extraEnv);
      return built;
    } catch (err) {
      throw err instanceof ConfigError ? err.inFile(bundle.configPath) : err;
    }
  };
  let plan = planWith(dirs);
  const rdt = intelRdtOf(bundle, id, host, options.resctrlRoot);
  // The container's cgroups, made and limited before its init exists: the
  // helper puts itself in them before it clones the init, so the init is
  // born there and nothing of the runtime is ever charged to them (with
  // systemd's driver, systemd makes the scope around the waiting helper).
  const warnings: string[] = [];
  const record = options.record ?? (() => undefined);
  const { cgroups, entry } = await prepareCgroups(options.cgroupDriver ?? 'cgroupfs', layout, linux, id, warnings, (cgroups) => record({ cgroups }));
  // No cgroups after all (rootless without delegation): the cgroup mount
  // shows the runtime's own, as runc's does then.
  if (dirs && !cgroups) plan = planWith(undefined);
  // At the init's stop before pivot_root: the runtime's hooks, then the
  // state for the init's own (createContainer, startContainer).
  const state = (pid: number, status: Status) => ociState({ id, pid, bundle: bundle.dir, annotations: bundle.spec.annotations }, status);
  const beforePivot = async (pid: number): Promise<[string, string]> => {
    await runHooks(bundle.spec.hooks, 'prestart', state(pid, 'creating'));
    await runHooks(bundle.spec.hooks, 'createRuntime', state(pid, 'creating'));
    return [JSON.stringify(state(pid, 'creating')), JSON.stringify(state(pid, 'created'))];
  };
  const seccompState = (pid: number): HookState => state(pid, 'creating');
  const joinCgroup = entry?.join
    ? async (helperPid: number): Promise<string[]> => {
        const procs = await entry.join!(helperPid);
        record({ cgroups });
        return procs;
      }
    : undefined;
  // Limits that would stop the init's birth (pids.limit 0) are written
  // once it is set up: it stops there (as for create) for them. So is its
  // resctrl group joined (only the init moves: it has no children yet, and
  // those it makes follow it), before it may execute the process.
  const atReady = entry?.atReady;
  let initPid = 0;
  let intelRdt: ResctrlGroup | undefined;
  const ready =
    atReady || rdt
      ? async () => {
          if (rdt) {
            intelRdt = joinResctrl(rdt.root, rdt.request, initPid, (g) => {
              intelRdt = g;
              record({ cgroups, pid: initPid, intelRdt: g });
            });
          }
          if (atReady) warnings.push(...(await atReady()));
        }
      : undefined;
  // With a new cgroup namespace every cgroup is joined before the clone,
  // v1 memory too (LaunchPlan.lateCgroupProcs): the namespace is rooted in
  // each hierarchy where the init is born.
  const joinLate = entry !== undefined && entry.lateProcs.length > 0 && !plan.namespaces.some((ns) => ns.type === 'cgroup' && ns.path === '');
  const planned: LaunchPlan = {
    ...plan,
    cgroupProcs: entry === undefined ? [] : joinLate ? entry.procs : [...entry.procs, ...entry.lateProcs],
    ...(joinLate && { lateCgroupProcs: entry.lateProcs }),
    ...(joinCgroup && { awaitCgroup: true }),
    ...(ready && { pause: true }),
  };
  try {
    const launched = await launchPlan(
      native,
      planned,
      {
        ...options,
        beforePivot,
        seccompState,
        onSpawned: (pid) => {
          initPid = pid;
          record({ cgroups, pid });
        },
        ...(joinCgroup && { joinCgroup }),
        ...(ready && { ready }),
      },
      helper,
    );
    // The plan's warnings, the cgroups', then those of the launch itself.
    launched.warnings.splice(plan.warnings.length, 0, ...warnings);
    return { ...launched, ...(cgroups && { cgroups }), ...(intelRdt && { intelRdt }) };
  } catch (err) {
    await destroy(native, { cgroups, intelRdt }).catch(() => undefined);
    // Devices moved into a namespace the container joined stay there when
    // it goes (as they would if it had run): a failed one gives them back.
    // The helper moves them before it clones the init: only once the init
    // exists have they all moved.
    const netns = plan.namespaces.find((ns) => ns.type === 'net')?.path;
    if (initPid > 0 && netns && plan.netDevices?.length) {
      const undone = await netDevicesBack(native, netns, plan.netDevices).then(
        () => '',
        (e: Error) => e.message,
      );
      if (undone && err instanceof Error) err.message += ` (and the devices of linux.netDevices were not all moved back: ${undone})`;
    }
    throw cgroups ? unjoinableCgroup2(err, layout, cgroups) : err;
  } finally {
    entry?.close();
  }
}

/** `env` with `extra`'s entries in place of those of the same keys, or added. */
/**
 * linux.intelRdt planned, and the resctrl mount it goes to, checked before
 * anything is made: without one (or without what the config asks of it)
 * it is one line naming the field.
 */
function intelRdtOf(bundle: Bundle, id: string, host: HostFacts, given: string | undefined): { request: IntelRdtRequest; root: string } | undefined {
  try {
    const request = planIntelRdt(bundle.spec.linux?.intelRdt, id);
    if (!request) return undefined;
    const root = given ?? resctrlRoot(host.mountinfo());
    if (root === undefined) {
      throw new ConfigError('linux.intelRdt', 'cannot be applied: no resctrl filesystem is mounted here (Intel RDT or AMD QoS hardware, and mount -t resctrl resctrl /sys/fs/resctrl)');
    }
    checkResctrl(root, request);
    return { request, root };
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(bundle.configPath) : err;
  }
}

function withEnv(env: string[], extra: string[]): string[] {
  const key = (e: string) => e.slice(0, e.indexOf('=') + 1);
  const replaced = new Set(extra.map(key));
  return [...env.filter((e) => !replaced.has(key(e))), ...extra];
}

/**
 * cgroup2 moves a process (CLONE_INTO_CGROUP included) only for a writer
 * of the cgroup.procs of the common ancestor of where it is and where it
 * goes: for an unprivileged caller, that means running inside the cgroup
 * delegated to it. Says so, naming the file, instead of a bare EACCES.
 */
function unjoinableCgroup2(err: unknown, layout: Layout, cgroups: Cgroups): unknown {
  const v2 = layout.hierarchies.find((h) => h.mount.fstype === 'cgroup2');
  const target = cgroups.dirs[v2?.key ?? ''];
  if (!v2 || target === undefined || !(err instanceof SystemError) || err.code !== 'EACCES' || !err.step.startsWith('clone into')) return err;
  const own = path.resolve(v2.mount.mountPoint, `.${v2.own}`);
  let ancestor = own;
  while (ancestor !== v2.mount.mountPoint && !`${target}/`.startsWith(`${ancestor}/`)) ancestor = path.dirname(ancestor);
  return new SystemError(
    `${err.step} "${target}"`,
    err.errno,
    err.code,
    `uid ${process.geteuid?.()} may not write ${path.join(ancestor, 'cgroup.procs')}, of the nearest cgroup holding both its own cgroup2 cgroup "${own}" and the container's (the kernel's rule for moving a process): run tsbox from inside the cgroup delegated to it, or give it that file`,
  );
}

/** What launchPlan takes beyond launch()'s options. */
type LaunchPlanOptions = Omit<LaunchOptions, 'startSocket' | 'terminalSize' | 'id'> & {
  beforePivot?: (pid: number) => Promise<[creating: string, created: string]>;
  /** The container's state for a seccomp agent (linux.seccomp.listenerPath), given the new process's pid. */
  seccompState?: (pid: number) => HookState;
  /** plan.awaitCgroup: puts the waiting helper (its pid) into the container's cgroup; the cgroup.procs files to join. */
  joinCgroup?: (helperPid: number) => Promise<string[]>;
  /** plan.pause: runs when the init is set up, before its process may run (limits that would have stopped its birth). */
  ready?: () => Promise<void>;
  /** Told the init's pid as soon as it exists. */
  onSpawned?: (pid: number) => void;
};

/** A launch while the helper and then the init talk to the runtime. */
interface Talk {
  native: Binding;
  sock: number;
  plan: LaunchPlan;
  options: LaunchPlanOptions;
  /** The plan's warnings and those of the launch (the plan is read, never written). */
  warnings: string[];
  pid: number;
  pidfd: number;
  master: number;
  /** The first thing that went wrong. */
  failure?: Error;
  /** Set by a handler when nothing more is to be read. */
  done?: boolean;
}

/**
 * What the runtime does at each message of the sync protocol
 * (native/helper/main.cc). The compile mode's answer (seccomp-program) is
 * compileSeccomp's alone.
 */
const HANDLERS: Record<Exclude<HelperMessage, 'seccomp-program'>, (talk: Talk, msg: ReceivedRecord) => void | Promise<void>> = {
  spawned(talk, msg) {
    talk.pid = Number(msg.fields[1]);
    talk.pidfd = msg.fd;
    try {
      talk.options.onSpawned?.(talk.pid);
    } catch (err) {
      talk.failure = err as Error;
      talk.done = true;
    }
  },
  pty(talk, msg) {
    talk.master = msg.fd;
  },
  seccomp(talk, msg) {
    // The filter is loaded; its listener goes to the agent now, while
    // `create` is still here, and the init waits until it has.
    try {
      const listener = talk.plan.seccomp?.listener;
      if (!listener || !talk.options.seccompState) {
        throw new TsboxError('container setup: a seccomp listener fd came, but no linux.seccomp.listenerPath is known');
      }
      sendSeccompListener(talk.native, listener, msg.fd, talk.pid, talk.options.seccompState(talk.pid));
      talk.native.send(talk.sock, ['go']);
    } catch (err) {
      talk.failure = err as Error;
      talk.done = true;
      try {
        talk.native.send(talk.sock, ['abort']);
      } catch {
        // The init is gone already: the teardown finds that.
      }
    }
  },
  async 'cgroup-pending'(talk, msg) {
    try {
      talk.native.send(talk.sock, ['go', ...(await talk.options.joinCgroup!(Number(msg.fields[1])))]);
    } catch (err) {
      talk.failure = err as Error;
      talk.native.send(talk.sock, ['abort']);
      talk.done = true;
    }
  },
  async ready(talk) {
    try {
      await talk.options.ready?.();
    } catch (err) {
      talk.failure = err as Error;
      talk.done = true;
      return;
    }
    // With a start socket the init now waits for `tsbox start`.
    if (talk.plan.startSocket !== undefined) talk.done = true;
    else talk.native.send(talk.sock, ['go']);
  },
  async hooks(talk) {
    try {
      const [creating, created] = await talk.options.beforePivot!(talk.pid);
      talk.native.send(talk.sock, ['go', creating, created]);
    } catch (err) {
      talk.failure = err as Error;
      talk.native.send(talk.sock, ['abort']);
    }
  },
  warning(talk, msg) {
    talk.plan.warnings.push(msg.fields[1] ?? '');
  },
  error(talk, msg) {
    // The first failure is the one to report (after a failed hook, the
    // init's own "stopped by the runtime" follows). The sender exits right
    // after an error; the end of the stream follows.
    talk.failure ??= setupError(talk.native, msg.fields);
  },
};

/** A helper spawned with the container's stdio, its plan to come (sendPlan) or queued. */
interface StartedHelper {
  sock: number;
  stdio: Stdio;
  /** Settles once the helper has exited and been reaped. */
  exited: Promise<unknown>;
  /** Why the helper's image is not read-only (a warning for the launch), or undefined. */
  imageWarning: string | undefined;
  /** Set once launchPlan owns it (and undoes it if the launch fails). */
  handedOver?: boolean;
}

type HelperStdio = Pick<LaunchOptions, 'stdio' | 'extraFds'>;

/** What the launch warns about how the helper is executed (see native/addon.cc, "the helper's image"). */
function imageWarning(native: Binding): string | undefined {
  const image = native.helperImage(native.helperPath);
  // Unprivileged, open_tree is refused, and it is not needed: the helper's
  // file is either the user's own (a rootless container's root is that
  // user, who could write it anyway) or not writable by the user at all.
  if (image.readOnly || process.geteuid?.() !== 0) return undefined;
  return `tsbox-helper is executed from its own (writable) mount: ${image.reason}; a container process could reach it through /proc/<pid>/exe while it runs`;
}

/**
 * The helper, spawned by `spawn` with the container's stdio and extra
 * descriptors (held open until it has them). It exits as soon as it has
 * cloned the init, or at the end of its socket without a plan.
 */
async function spawnWith(
  native: Binding,
  options: HelperStdio,
  terminal: boolean,
  spawn: (stdio: Stdio) => Spawned | Promise<Spawned>,
): Promise<StartedHelper> {
  const warning = imageWarning(native);
  const stdio = openStdio(native, options.stdio, terminal);
  try {
    const spawned = await spawn(stdio);
    return { sock: spawned.sock, stdio, exited: reap(native, spawned.pidfd), imageWarning: warning };
  } catch (err) {
    closeParentFds(native, stdio);
    throw isSystemCallError(err) ? new TsboxError(err.message, { cause: err }) : err;
  } finally {
    for (const fd of stdio.closeAfterSpawn) closeSync(fd);
  }
}

type Spawned = { pid: number; pidfd: number; sock: number };

/** The helper with its plan queued, spawned on this thread (exec's launches). */
function startHelper(native: Binding, plan: Buffer, options: HelperStdio, terminal: boolean): Promise<StartedHelper> {
  return spawnWith(native, options, terminal, (stdio) => native.spawnHelper(native.helperPath, plan, stdio.childFds, options.extraFds ?? []));
}

/** The helper before its plan exists (sendPlan gives it), spawned from the addon's own thread. */
function startHelperEarly(native: Binding, options: HelperStdio, terminal: boolean): Promise<StartedHelper> {
  return spawnWith(native, options, terminal, (stdio) => native.spawnHelperEarly(native.helperPath, stdio.childFds, options.extraFds ?? []));
}

/** A started helper that will get no plan: it exits at the end of its socket, and is reaped. */
async function abandonHelper(native: Binding, helper: StartedHelper): Promise<void> {
  native.close(helper.sock);
  closeParentFds(native, helper.stdio);
  await helper.exited.catch(() => undefined);
}

/**
 * launch() for a plan made already (exec's, from buildExecPlan), or
 * launch()'s own, for the helper it started (which this then owns).
 */
export async function launchPlan(native: Binding, plan: LaunchPlan, options: LaunchPlanOptions = {}, started?: Promise<StartedHelper>): Promise<Launched> {
  // The plan is read, never written: what launching adds goes beside it.
  const warnings = [...plan.warnings];
  let seccompProgram = plan.seccompProgram;
  if (plan.seccomp && !seccompProgram) {
    seccompProgram = await compiledSeccomp(plan.seccomp, native.helperPath, (s) => compileSeccomp(native, s), options.seccompCacheDir);
    const unknown = seccompProgram.unknown;
    if (unknown.length > 0) warnings.push(`linux.seccomp: rules for system calls unknown to libseccomp skipped: ${unknown.join(', ')}`);
  }
  const encoded = encodePlan(seccompProgram ? { ...plan, seccompProgram } : plan);
  let helper: StartedHelper;
  if (started) {
    // Ours from here on (launch() undoes it only if this never got it).
    helper = await started;
    helper.handedOver = true;
    try {
      native.sendPlan(helper.sock, encoded);
    } catch (err) {
      await abandonHelper(native, helper);
      throw isSystemCallError(err) ? new TsboxError(err.message, { cause: err }) : err;
    }
  } else {
    helper = await startHelper(native, encoded, options, plan.terminal !== undefined);
  }
  if (helper.imageWarning) warnings.push(helper.imageWarning);
  const { stdio } = helper;

  const talk: Talk = { native, sock: helper.sock, plan, options, warnings, pid: 0, pidfd: -1, master: -1 };
  try {
    while (!talk.done) {
      const msg = await receive(native, helper.sock);
      if (msg === null) break; // the init executed the process: success
      const kind = msg.fields[0] ?? '';
      const handle = Object.hasOwn(HANDLERS, kind) ? HANDLERS[kind as keyof typeof HANDLERS] : undefined;
      if (!handle) {
        talk.failure = new TsboxError(`container setup: unexpected message "${kind}" from the init`);
        break;
      }
      await handle(talk, msg);
    }
    if (!talk.failure && talk.pidfd < 0) talk.failure = new TsboxError('container setup: the helper exited without starting the init');
  } finally {
    native.close(helper.sock);
  }

  const { pid, pidfd, master, failure } = talk;
  if (failure) {
    if (master >= 0) native.close(master);
    closeParentFds(native, stdio);
    if (pidfd >= 0) {
      await destroy(native, { init: pidfd });
      native.close(pidfd);
    }
    throw failure;
  }
  return { pid, pidfd, master, stdio, warnings };
}
