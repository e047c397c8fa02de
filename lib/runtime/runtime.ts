import { closeSync, constants, openSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getSystemErrorName } from 'node:util';
import type { Bundle } from '../bundle.js';
import type { RunningContainer, RunOptions } from '../run.js';
import { validateId } from '../container-id.js';
import { TsboxError } from '../errors.js';
import type { Cgroups } from '../cgroups/manager.js';
import { cgroupPids } from '../cgroups/pids.js';
import type { CgroupDriver as Driver } from '../cgroups/driver.js';
import type { Remains } from '../destroy.js';
import type { ResctrlGroup } from '../resctrl.js';
import type { CgroupDriver, Launched, Progress, StdioOption } from '../launch.js';
import type { Layout } from '../cgroups/layout.js';
import type { Hook, LinuxResources, Process, Spec } from '../oci/types.js';
import type { ContainerEvent, Stats } from '../cgroups/stats.js';
import type { CheckpointOptions, RestoreOptions } from '../criu/options.js';
import type { RestoreStdio } from '../criu/restore.js';
import type { KernelNamespace, PlannedNamespace } from '../plan/plan.js';
import { native, type Binding } from '../native/binding.js';
import { runHooks, runHooksWarning } from '../hooks.js';
import type { NotifyRelay } from '../notify-socket.js';
import { OCI_VERSION } from '../oci/version.js';
import { signalNumber } from '../signals.js';
import { sendPidfd } from '../pidfd-socket.js';
import { namespaceLink, processesOf, processStat } from '../host/proc.js';
import { defaultStateRoot } from './root.js';
import { checkStatus, NotFound } from './status.js';
import { ociState, type Status } from '../oci/state.js';
import { StateStore, writeFileAtomic, type ContainerRecord, type ContainerState, type ExecDefaults } from './state.js';
import { utcTimestamp } from '../utc-timestamp.js';

// Only what state, list, kill and delete need is imported above: every CLI
// call is a new process that loads its command's modules, and the set-up
// path (bundle validation, plans, launch, seccomp) is most of tsbox. The
// operations that set containers up import it where they need it.

export interface RuntimeOptions {
  /** Directory for container state (default /run/tsbox; for an unprivileged user $XDG_RUNTIME_DIR/tsbox: see ./root.ts). */
  root?: string;
  /**
   * Reap the processes this one starts and does not wait for (a created
   * container's init, a detached exec) when they exit (default true), so a
   * long-lived program collects no zombies. The CLI turns it off: an engine's
   * shim or conmon inherits those processes when tsbox exits and needs to
   * reap them itself to learn their exit status.
   */
  reapChildren?: boolean;
  /**
   * Who makes the cgroups of the containers this runtime creates and runs:
   * 'cgroupfs' (default), or 'systemd' (--systemd-cgroup: a transient scope
   * per container, pure cgroup v2 hosts only; lib/systemd/driver.ts).
   */
  cgroupDriver?: CgroupDriver;
  /**
   * The native layer: the addon (default), or a fake that plays the
   * helper's part without root (test/helpers/fake-native.ts).
   */
  native?: Binding;
  /**
   * Where linux.intelRdt's resctrl filesystem is (default: the first one in
   * mountinfo); tests give a directory laid out like one (lib/resctrl.ts).
   */
  resctrlRoot?: string;
}

export interface CreateOptions {
  /** Where the container's stdio goes (default: this process's, as runc). */
  stdio?: StdioOption | [StdioOption, StdioOption, StdioOption];
  /** Write the init's pid here (atomically) once it is ready. */
  pidFile?: string;
  /** A unix socket to send the terminal's master to (process.terminal). */
  consoleSocket?: string;
  /** Pass descriptors 3 .. 3+N-1 of this process on to the container. */
  preserveFds?: number;
  /** A unix socket to send a pidfd of the container's init to (runc's --pidfd-socket). */
  pidfdSocket?: string;
  /**
   * systemd's socket activation (see passedFds): this many descriptors from
   * 3 on are the sockets systemd passed, given to the container first.
   */
  listenFds?: number;
  /**
   * The caller's NOTIFY_SOCKET (systemd's, for a Type=notify unit): the
   * container gets a notify socket of its own, whose READY start() (or
   * run()) passes on to this one (lib/notify-socket.ts).
   */
  notifySocket?: string;
  /** runc's --no-pivot: enter the rootfs with a move over "/" and chroot (an initramfs root). */
  noPivot?: boolean;
  /** runc's --no-new-keyring: the init keeps the caller's session keyring instead of one of the container's own. */
  noNewKeyring?: boolean;
}

/** What start() takes: the caller's NOTIFY_SOCKET, to relay the container's READY to. */
export interface StartOptions {
  notifySocket?: string;
}

/** A created container's state, and what its set-up could not apply (warnings). */
export type Created = ContainerState & { warnings: string[] };

export interface ExecOptions {
  stdio?: StdioOption | [StdioOption, StdioOption, StdioOption];
  /** Size for a new terminal (process.terminal) when the process sets none. */
  terminalSize?: { rows: number; cols: number };
  /** Write the new process's host pid here. */
  pidFile?: string;
  /** Send the terminal's master to this unix socket instead of keeping it. */
  consoleSocket?: string;
  preserveFds?: number;
  /** A unix socket to send a pidfd of the new process to (runc's --pidfd-socket). */
  pidfdSocket?: string;
  /** Exec into a paused container too: the process runs once it is resumed (runc's --ignore-paused). */
  ignorePaused?: boolean;
  /** Existing sub-cgroups of the container's to run the process in, as runc's --cgroup takes them (lib/cgroups/sub-cgroups.ts). */
  subCgroups?: string[];
}

/**
 * The process to exec: given whole, or made from the container's own
 * process (its config.json's), as runc's exec with a command does.
 */
export type ExecProcess = Process | ((containerProcess: Process) => Process);

export { DEFAULT_ROOT } from './root.js';

/**
 * runc's lifecycle over a state directory: create, start, state, kill,
 * delete, list, ps. Each operation stands alone, as it does when the CLI
 * calls it from a new process, so they work across processes.
 */
export class Runtime {
  readonly store: StateStore;
  readonly native: Binding;
  private readonly reapChildren: boolean;
  private readonly cgroupDriver: CgroupDriver;
  private readonly resctrlRoot: string | undefined;

  constructor(options: RuntimeOptions = {}) {
    this.native = options.native ?? native();
    this.store = new StateStore(options.root ?? defaultStateRoot(), this.native);
    this.reapChildren = options.reapChildren ?? true;
    this.cgroupDriver = options.cgroupDriver ?? 'cgroupfs';
    this.resctrlRoot = options.resctrlRoot;
  }

  /** Lets go of a child this process does not wait for (see reapChildren). */
  private release(pidfd: number): void {
    if (this.reapChildren) this.native.reapInBackground(pidfd);
    else this.native.close(pidfd);
  }

  /**
   * Creates a container: its init is set up (namespaces, mounts, user) and
   * waits, just before executing the process, for start(). Returns once the
   * init is ready and its pid file is written; the init outlives this
   * process (the caller's subreaper inherits it, as engines expect).
   */
  async create(id: string, bundleDir: string, options: CreateOptions = {}): Promise<Created> {
    validateId(id);
    const { loadBundle } = await import('../bundle.js');
    const { launch } = await import('../launch.js');
    const { seccompCacheDir } = await import('../seccomp-cache.js');
    const bundle = loadBundle(bundleDir);
    if (bundle.spec.process?.terminal && !options.consoleSocket) {
      throw new TsboxError('process.terminal needs --console-socket to create a container (the terminal has to go somewhere)');
    }
    const store = this.store;
    store.claim(id);
    let pidfd = -1;
    let cgroups: Cgroups | undefined;
    let intelRdt: ResctrlGroup | undefined;
    try {
      return await store.locked(id, async () => {
        // Recorded before anything is made, and again as each part is (the
        // cgroups before they are made, the init once it exists): a create
        // killed half-way leaves a record by which delete --force removes
        // all it made (lib/destroy.ts).
        const creating: ContainerRecord = { ...newRecord(id, bundle, 0, undefined, undefined), creating: true };
        store.write(creating);
        let lastWritten: ContainerRecord | undefined;
        const notifyWarnings: string[] = [];
        const notify = await notifySetup(bundle, store.dir(id), options.notifySocket, notifyWarnings);
        const l = await launch(this.native, bundle, {
          id,
          stdio: options.stdio ?? 'inherit',
          startSocket: store.startSocket(id),
          ...passedFds(options, notify),
          seccompCacheDir: seccompCacheDir(store.root),
          cgroupDriver: this.cgroupDriver,
          ...(options.noPivot && { noPivot: true }),
          ...(options.noNewKeyring && { noNewKeyring: true }),
          ...(this.resctrlRoot !== undefined && { resctrlRoot: this.resctrlRoot }),
          record: (progress) => {
            cgroups = progress.cgroups;
            intelRdt = progress.intelRdt;
            lastWritten = inProgress(creating, progress, lastWritten);
            store.write(lastWritten);
          },
        });
        pidfd = l.pidfd;
        cgroups = l.cgroups;
        if (l.master >= 0) sendConsole(this.native, options.consoleSocket!, l.master);
        if (options.pidfdSocket !== undefined) sendPidfd(this.native, options.pidfdSocket, l.pidfd, 'standard');
        // delete runs the poststop hooks of a created container, start its poststart hooks.
        intelRdt = l.intelRdt;
        // The init's start time as the in-progress record has it (read
        // once it existed): the init is our child, unreaped, so its pid is
        // still its own, and reading /proc again would only say so.
        const known = lastWritten?.pid === l.pid ? lastWritten.pidStartTime : undefined;
        const record = {
          ...newRecord(id, bundle, l.pid, l.cgroups, bundle.spec.hooks?.poststop, l.intelRdt, known),
          poststart: bundle.spec.hooks?.poststart ?? [],
          ...(options.noNewKeyring && { noNewKeyring: true }),
        };
        store.write(record);
        if (options.pidFile) writePidFile(options.pidFile, l.pid);
        return { ...store.state(record), warnings: [...notifyWarnings, ...l.warnings] };
      });
    } catch (err) {
      try {
        await destroy(this.native, { init: pidfd, cgroups, intelRdt });
        store.remove(id);
      } catch {
        // What could not be removed stays recorded: delete --force tries again.
      }
      throw err;
    } finally {
      // The init stays, our child until this process ends.
      if (pidfd >= 0) this.release(pidfd);
    }
  }

  /**
   * Runs a container in this process (see run() in lib/run.ts) and records
   * it under the state root while it runs, so that state, list, kill and ps
   * see it. The record is removed when it exits, unless `keep`.
   */
  async run(
    id: string,
    bundle: Bundle,
    options: RunOptions & { keep?: boolean; pidFile?: string; notifySocket?: string } = {},
  ): Promise<RunningContainer> {
    const { run } = await import('../run.js');
    const { seccompCacheDir } = await import('../seccomp-cache.js');
    const store = this.store;
    store.claim(id);
    let c: RunningContainer;
    let relay: NotifyRelay | undefined;
    try {
      const notifyWarnings: string[] = [];
      const notify = await notifySetup(bundle, store.dir(id), options.notifySocket, notifyWarnings);
      if (notify) relay = notify.relay.bind(this.native, store.dir(id));
      const extraEnv = [...(options.extraEnv ?? []), ...(notify ? [notify.env] : [])];
      c = await run(bundle, { cgroupDriver: this.cgroupDriver, ...(this.resctrlRoot !== undefined && { resctrlRoot: this.resctrlRoot }), ...options, extraEnv, id, seccompCacheDir: seccompCacheDir(store.root), native: this.native });
      c.warnings.unshift(...notifyWarnings);
      // run() itself runs the poststop hooks when the process exits.
      store.write(newRecord(id, bundle, c.pid, c.cgroups, undefined, c.intelRdt));
      if (options.pidFile) writePidFile(options.pidFile, c.pid);
    } catch (err) {
      relay?.close();
      store.remove(id);
      throw err;
    }
    if (relay) {
      // tsbox stays, waiting for the process: it is the main process systemd
      // watches (as runc's run tells it).
      let alive = true;
      void c.exited.then(() => (alive = false));
      const r = relay;
      void r
        .relayReady(options.notifySocket!, process.pid, () => alive)
        .then((warnings) => c.warnings.push(...warnings), (err: Error) => c.warnings.push(err.message))
        .finally(() => r.close());
    }
    if (!options.keep) void c.exited.then(() => store.remove(id));
    return c;
  }

  /**
   * Starts another process in a running container: it joins every
   * namespace of the container's init (and so its root) and gets the user,
   * environment, cwd, capabilities and limits of `process`. The handle is
   * like run()'s.
   */
  async exec(id: string, process: ExecProcess, options: ExecOptions = {}): Promise<RunningContainer> {
    const { launched, bundle } = await this.launchExec(id, process, options);
    const { started } = await import('../run.js');
    return started(this.native, bundle(), launched);
  }

  /**
   * exec() for a caller that will not wait: the process is left to whoever
   * inherits it when this process ends (the engine's shim).
   */
  async execDetached(id: string, process: ExecProcess, options: ExecOptions = {}): Promise<{ pid: number; warnings: string[] }> {
    const { launched } = await this.launchExec(id, process, options, (p) => {
      if (p.terminal && !options.consoleSocket) {
        throw new TsboxError('a detached exec with a terminal needs --console-socket (the terminal has to go somewhere)');
      }
    });
    this.release(launched.pidfd);
    return { pid: launched.pid, warnings: launched.warnings };
  }

  /**
   * The container's process and seccomp filter come from its record, as
   * they were at create; a record of an older tsbox has them read from the
   * bundle, at most once.
   */
  private async launchExec(
    id: string,
    exec: ExecProcess,
    options: ExecOptions,
    check?: (process: Process) => void,
  ): Promise<{ launched: Launched; bundle: () => Bundle }> {
    const record = this.store.read(id);
    const status = this.store.status(record);
    if (status === 'paused' && !options.ignorePaused) {
      throw new TsboxError(`cannot exec in container "${id}": it is paused (use --ignore-paused to override)`);
    }
    if (status !== 'paused') checkStatus('exec', id, status);
    const { loadBundle } = await import('../bundle.js');
    const { buildExecPlan, sessionKeyringName } = await import('../plan/build.js');
    const { launchPlan } = await import('../launch.js');
    const { seccompCacheDir } = await import('../seccomp-cache.js');
    // The process may be made from the container's own, and the
    // container's seccomp filter applies to this process too.
    const defaults = record.exec ?? execDefaults(loadBundle(record.bundle).spec);
    const bundle = () => execBundle(record, defaults);
    const process = typeof exec === 'function' ? exec(defaults.process) : exec;
    check?.(process);
    let cgroupProcs = record.cgroups && (await import('../cgroups/manager.js')).procsFiles(record.cgroups);
    if (options.subCgroups?.length) {
      const { subCgroupProcs } = await import('../cgroups/sub-cgroups.js');
      cgroupProcs = subCgroupProcs(record.cgroups, options.subCgroups);
    }
    const pidfd = openPidfd(this.native, record);
    if (pidfd < 0) throw new TsboxError(`cannot exec in container "${id}": its init is gone`);
    let launched: Launched;
    try {
      const seccomp = defaults.seccomp;
      const plan = buildExecPlan({
        process,
        namespaces: namespacesOf(record.pid),
        ...(cgroupProcs && { cgroupProcs }),
        ...(options.terminalSize && { terminalSize: options.terminalSize }),
        ...(seccomp && { seccomp }),
        ...(defaults.memoryPolicy && { memoryPolicy: defaults.memoryPolicy }),
        ...(!record.noNewKeyring && { sessionKeyring: sessionKeyringName(id) }),
      });
      launched = await launchPlan(this.native, plan, {
        stdio: options.stdio ?? 'inherit',
        extraFds: preservedFds(options.preserveFds),
        seccompCacheDir: seccompCacheDir(this.store.root),
        seccompState: () => ociState(record, 'running'),
      });
    } finally {
      this.native.close(pidfd);
    }
    if (options.pidfdSocket !== undefined) {
      try {
        sendPidfd(this.native, options.pidfdSocket, launched.pidfd, 'setns');
      } catch (err) {
        // Not handed over: the process is undone, as runc's exec fails.
        this.native.signal(launched.pidfd, os.constants.signals.SIGKILL);
        await this.native.readable(launched.pidfd);
        await this.native.waitExit(launched.pidfd).catch(() => undefined);
        this.native.close(launched.pidfd);
        if (launched.master >= 0) this.native.close(launched.master);
        for (const fd of launched.stdio.parentFds) if (fd >= 0) this.native.close(fd);
        throw err;
      }
    }
    if (launched.master >= 0 && options.consoleSocket) {
      sendConsole(this.native, options.consoleSocket, launched.master);
      launched.master = -1;
    }
    if (options.pidFile) writePidFile(options.pidFile, launched.pid);
    return { launched, bundle };
  }

  /**
   * Lets a created container's init execute its process, then runs the
   * poststart hooks. Returns warnings (failed poststart hooks).
   */
  async start(id: string, options: StartOptions = {}): Promise<string[]> {
    const store = this.store;
    let relay: NotifyRelay | undefined;
    const record = await store.locked(id, async () => {
      const record = store.read(id);
      const status = store.status(record);
      checkStatus('start', id, status);
      const pidfd = openPidfd(this.native, record);
      try {
        // Bound before the process runs, so that nothing it says is lost.
        if (options.notifySocket !== undefined) relay = (await import('../notify-socket.js')).NotifyRelay.bind(this.native, store.dir(id));
        const socket = store.startSocket(id);
        // Connecting is what the init waits for. Refused: its init has died
        // (the socket is closed with it).
        const report = await startThrough(this.native, socket).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ECONNREFUSED') throw new TsboxError(`cannot start container "${id}": connect to "${socket}": ${err.message}`, { cause: err });
          throw new TsboxError(`cannot start container "${id}": its init exited before it was started`);
        });
        // Gone already if its init is (and a listener that closed took it along).
        rmSync(socket, { force: true });
        if (report.length > 0) {
          const { wire } = await import('../wire.js');
          const { setupError } = await import('../launch.js');
          const fields = wire.decodeRecord(report);
          throw fields[0] === 'error' ? setupError(this.native, fields) : new TsboxError(`cannot start container "${id}": unexpected report`);
        }
        return record;
      } finally {
        this.native.close(pidfd);
      }
    }).catch((err: unknown) => {
      relay?.close();
      throw err;
    });
    // A record of an older tsbox has no poststart: read the bundle.
    const poststart = record.poststart ?? (await import('../bundle.js')).loadBundle(record.bundle).spec.hooks?.poststart ?? [];
    const warnings = await runHooksWarning({ poststart }, 'poststart', ociState(record, 'running'));
    if (relay) {
      // As runc's start: returns once the container is ready (or gone),
      // having told systemd which process to watch from now on, its init.
      try {
        warnings.push(...(await relay.relayReady(options.notifySocket!, record.pid, () => store.status(record) !== 'stopped')));
      } catch (err) {
        warnings.push((err as Error).message);
      } finally {
        relay.close();
      }
    }
    return warnings;
  }

  state(id: string): ContainerState {
    return this.store.containerState(id);
  }

  list(): ContainerState[] {
    return this.store.states();
  }

  /**
   * Signals the container's init, or with `all` every process in it: for a
   * container with cgroups, through them (lib/cgroups/kill.ts), which
   * reaches processes that left its process tree too, and those in cgroups
   * below its own. A container without a pid namespace of its own (host
   * pid, a shared-pid pod) keeps its other processes when the init dies:
   * there, as in runc 1.2, KILL goes to every process, and `all` still
   * reaches them after the init has exited. Rejects for a stopped
   * container (with nothing left to signal) or an unknown signal; resolves
   * once all are signalled.
   */
  async kill(id: string, signal: string | number = 'SIGTERM', options: { all?: boolean } = {}): Promise<void> {
    const record = this.store.read(id);
    const cg = record.cgroups;
    const status = this.store.status(record);
    if (!(options.all && cg && cgroupPids(cg).length > 0)) checkStatus('kill', id, status);
    const sig = signalNumber(signal);
    const every = options.all || (sig === os.constants.signals.SIGKILL && record.ownPidNamespace === false);
    if (every && cg) return (await driverOf(cg)).signalAll(cg, sig);
    const pids = every ? this.pids(id) : [record.pid];
    for (const pid of pids) {
      const pidfd = pid === record.pid ? openPidfd(this.native, record) : this.native.pidfdOpen(pid);
      if (pidfd < 0) continue; // gone meanwhile
      const err = this.native.signal(pidfd, sig);
      this.native.close(pidfd);
      if (err !== 0 && pid === record.pid) {
        throw new TsboxError(`kill container "${id}": ${this.native.strerror(err)}`, { code: getSystemErrorName(-err), errno: err, syscall: 'pidfd_send_signal' });
      }
    }
  }

  /**
   * Removes a stopped (or created) container. A running one is refused
   * unless forced, when it is killed first; forcing a container that does
   * not exist succeeds, as engines expect.
   */
  async delete(id: string, options: { force?: boolean } = {}): Promise<string[]> {
    const store = this.store;
    if (!store.exists(id)) {
      if (!options.force) throw new NotFound(id);
      // A create killed before it recorded anything leaves its directory
      // alone: nothing else was made by then.
      if (store.hasDir(id)) await store.locked(id, () => store.exists(id) || store.remove(id)).catch(() => undefined);
      return [];
    }
    const record = await store.locked(id, async () => {
      // Another delete may have removed it while we waited for the lock.
      if (!store.exists(id)) {
        if (options.force) return undefined;
        throw new NotFound(id);
      }
      const record = store.read(id);
      const status = store.status(record);
      if (!options.force) checkStatus('delete', id, status);
      const pidfd = status === 'stopped' ? -1 : openPidfd(this.native, record);
      try {
        await destroy(this.native, { init: pidfd, cgroups: record.cgroups, intelRdt: record.intelRdt });
      } finally {
        if (pidfd >= 0) this.native.close(pidfd);
      }
      store.remove(id);
      return record;
    }).catch((err: unknown) => {
      // The directory itself vanished before we could lock it.
      if (options.force && !store.exists(id)) return undefined;
      throw err;
    });
    if (!record) return [];
    // After the container is gone and before delete returns, as the spec
    // has it; failures are warnings.
    return runHooksWarning({ poststop: record.poststop ?? [] }, 'poststop', ociState(record, 'stopped'));
  }

  /**
   * runc's checkpoint: CRIU dumps the container's processes into
   * `options.imagePath` (default ./checkpoint; lib/criu/). Unless
   * `leaveRunning` (or `preDump`), the container is then gone, as after
   * delete (its processes, cgroups and state; poststop hooks run). Where
   * CRIU cannot run, or the dump fails, the container runs on and no
   * images are left. Returns warnings (failed poststop hooks).
   */
  async checkpoint(id: string, options: CheckpointOptions = {}): Promise<string[]> {
    const store = this.store;
    const record = await store.locked(id, async () => {
      const record = store.read(id);
      checkStatus('checkpoint', id, store.status(record));
      const pidfd = openPidfd(this.native, record);
      if (pidfd < 0) throw new TsboxError(`cannot checkpoint container "${id}": its init is gone`);
      try {
        const { loadBundle } = await import('../bundle.js');
        const { dumpContainer } = await import('../criu/checkpoint.js');
        const cg = record.cgroups;
        const freezer = cg && (cg.dirs.freezer ?? cg.dirs['']);
        await dumpContainer(this.native, id, record.pid, record.bundle, loadBundle(record.bundle).spec, freezer, options);
        if (options.leaveRunning || options.preDump) return undefined;
        await destroy(this.native, { init: pidfd, cgroups: record.cgroups });
      } finally {
        this.native.close(pidfd);
      }
      store.remove(id);
      return record;
    });
    if (!record) return [];
    return runHooksWarning({ poststop: record.poststop ?? [] }, 'poststop', ociState(record, 'stopped'));
  }

  /**
   * runc's restore: a container `id` from the bundle in `bundleDir` whose
   * processes come back from a checkpoint's images instead of being
   * started. Its cgroups are made and limited as create makes them; CRIU
   * then restores the process tree into the rootfs (lib/criu/restore.ts).
   * The state records the restored init, running; the init is this
   * process's child until it ends (as a created container's init).
   */
  async restore(id: string, bundleDir: string, options: RestoreOptions & { stdio?: RestoreStdio } = {}): Promise<Created> {
    validateId(id);
    const { checkShared } = await import('../criu/options.js');
    const { criuUnusable } = await import('../criu/criu.js');
    const { checkImages } = await import('../criu/images.js');
    const { restoreContainer } = await import('../criu/restore.js');
    const { loadBundle } = await import('../bundle.js');
    const { prepareCgroups } = await import('../cgroup-drivers.js');
    checkShared(options);
    const unusable = criuUnusable();
    if (unusable) throw new TsboxError(`restore container "${id}": ${unusable}`);
    const bundle = loadBundle(bundleDir);
    // A namespace CRIU cannot restore into is refused before anything is made.
    const { restoreNamespaces } = await import('../criu/namespaces.js');
    restoreNamespaces(bundle.spec.linux?.namespaces, `restore container "${id}"`);
    if (bundle.spec.process?.terminal && options.consoleSocket === undefined) {
      throw new TsboxError('process.terminal needs --console-socket to restore a container (its terminal\'s new master has to go somewhere)');
    }
    checkImages(path.resolve(options.imagePath ?? 'checkpoint'));
    const store = this.store;
    store.claim(id);
    let cgroups: Cgroups | undefined;
    let pidfd = -1;
    try {
      return await store.locked(id, async () => {
        const creating: ContainerRecord = { ...newRecord(id, bundle, 0, undefined, undefined), creating: true };
        store.write(creating);
        const warnings: string[] = [];
        const linux = bundle.spec.linux;
        ({ cgroups } = await prepareCgroups(this.cgroupDriver, await hostLayout(), linux, id, warnings, (cg) => {
          cgroups = cg;
          store.write(inProgress(creating, { cgroups: cg }));
        }));
        // As runc: prestart and createRuntime once CRIU made the namespaces
        // (the restored pid, the tree not yet running on), poststart once
        // it runs, poststop at delete.
        const hooks = bundle.spec.hooks;
        const state = (pid: number, status: Status) => ociState({ id, pid, bundle: bundle.dir, annotations: bundle.spec.annotations }, status);
        const setupNamespaces = async (pid: number) => {
          try {
            await runHooks(hooks, 'prestart', state(pid, 'creating'));
            await runHooks(hooks, 'createRuntime', state(pid, 'creating'));
          } catch (err) {
            throw new TsboxError(`restore container "${id}": ${(err as Error).message}`, { cause: err });
          }
        };
        const { cgroupRoots } = await import('../criu/cgroup-roots.js');
        const restoreOptions = { ...options, cgroupRoots: cgroupRoots(await hostLayout(), cgroups) };
        const { pid, sentMaster } = await restoreContainer(this.native, id, bundle.rootfs, bundle.dir, bundle.spec, restoreOptions, setupNamespaces);
        pidfd = this.native.pidfdOpen(pid);
        if (options.consoleSocket !== undefined && !sentMaster) {
          // Whoever listens on the socket would wait for a master that never comes.
          throw new TsboxError(`restore container "${id}": --console-socket: the checkpoint has no terminal of the container's own (its config had no process.terminal)`);
        }
        const record = newRecord(id, bundle, pid, cgroups, hooks?.poststop);
        store.write(record);
        if (options.pidFile) writePidFile(options.pidFile, pid);
        warnings.push(...(await runHooksWarning(hooks, 'poststart', state(pid, 'running'))));
        // The restored init's pid even when it has exited already (the
        // state's is then 0): it runs on from the checkpoint as soon as
        // CRIU lets it, and may be done before we get here. It is our
        // child, unreaped, so the pid is still its own.
        return { ...store.state(record), pid, warnings };
      });
    } catch (err) {
      try {
        await destroy(this.native, { init: pidfd, cgroups });
        store.remove(id);
      } catch {
        // What could not be removed stays recorded: delete --force tries again.
      }
      throw err;
    } finally {
      if (pidfd >= 0) this.release(pidfd);
    }
  }

  /** Freezes every process of the container (its cgroup's freezer). */
  async pause(id: string): Promise<void> {
    await this.store.locked(id, async () => {
      const record = this.store.read(id);
      const status = this.store.status(record);
      checkStatus('pause', id, status);
      const cg = this.cgroupsOf(record, 'pause');
      await (await driverOf(cg)).setFrozen(cg, true);
    });
  }

  /** Thaws a paused container. */
  async resume(id: string): Promise<void> {
    await this.store.locked(id, async () => {
      const record = this.store.read(id);
      const status = this.store.status(record);
      checkStatus('resume', id, status);
      const cg = this.cgroupsOf(record, 'resume');
      await (await driverOf(cg)).setFrozen(cg, false);
    });
  }

  /**
   * Changes the resource limits of a created, running or paused container.
   * Returns warnings (values this kernel no longer has, which are ignored).
   */
  async update(id: string, resources: LinuxResources): Promise<string[]> {
    return this.store.locked(id, async () => {
      const record = this.store.read(id);
      checkStatus('update', id, this.store.status(record));
      const layout = await hostLayout();
      const cgroups = this.cgroupsOf(record, 'update');
      return (await driverOf(cgroups)).update(layout, cgroups, resources);
    });
  }

  /**
   * New schemata lines (runc's update --l3-cache-schema, --mem-bw-schema)
   * for the resctrl group the container's linux.intelRdt made.
   */
  async updateIntelRdt(id: string, lines: string[]): Promise<void> {
    await this.store.locked(id, async () => {
      const record = this.store.read(id);
      checkStatus('update', id, this.store.status(record));
      if (!record.intelRdt) throw new TsboxError(`update: container "${id}" has no resctrl group (its config has no linux.intelRdt)`);
      (await import('../resctrl.js')).updateSchemata(record.intelRdt, lines.join('\n'));
    });
  }

  /**
   * The container's resource usage from its cgroups, in the shape of runc's
   * `events --stats` data.
   */
  async stats(id: string): Promise<Stats> {
    const cg = this.runningCgroups(id);
    return (await driverOf(cg)).stats(await hostLayout(), cg);
  }

  /**
   * runc's events: stats every `interval` ms (default 5000), the first
   * after one interval, and an "oom" event whenever the OOM killer acts in
   * the container's memory cgroup (see watchOom). Ends when the container
   * stops, or when the caller stops iterating.
   */
  async *events(id: string, options: { interval?: number } = {}): AsyncGenerator<ContainerEvent> {
    const interval = options.interval ?? 5000;
    if (!(interval > 0)) throw new TsboxError(`events: the interval must be greater than 0, got ${interval}`);
    const cg = this.runningCgroups(id);
    const record = this.store.read(id);
    const { readStats } = await import('../cgroups/stats.js');
    const { watchOom } = await import('../cgroups/oom.js');
    const layout = await hostLayout();
    const oom = watchOom(this.native, layout, cg);
    const queue: ContainerEvent[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const push = (e: ContainerEvent) => {
      queue.push(e);
      wake?.();
    };
    const ticker = setInterval(() => {
      try {
        push({ type: 'stats', id, data: readStats(layout, cg) });
      } catch {
        // The cgroup went away between ticks: the stop check ends the stream.
      }
    }, interval);
    // A timer, not a poll of a pidfd: that could not be cancelled if the
    // caller stops iterating, and would hold this process open.
    const stopCheck = setInterval(() => {
      if (this.store.status(record) === 'stopped') {
        ended = true;
        wake?.();
      }
    }, 50);
    void (async () => {
      for (let n = await oom?.next(); n; n = await oom!.next()) for (let i = 0; i < n; i++) push({ type: 'oom', id });
    })();
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (ended) {
          // OOM kills that came just before the end are still told.
          for (let n = oom?.pending() ?? 0; n > 0; n--) yield { type: 'oom', id };
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      clearInterval(ticker);
      clearInterval(stopCheck);
      await oom?.stop();
    }
  }

  /** The cgroups of a container that is not stopped (runc's events and stats refuse a stopped one). */
  private runningCgroups(id: string): Cgroups {
    const record = this.store.read(id);
    checkStatus('stats', id, this.store.status(record));
    return this.cgroupsOf(record, 'get stats of');
  }

  private cgroupsOf(record: ContainerRecord, what: string): Cgroups {
    if (!record.cgroups) {
      throw new TsboxError(`cannot ${what} container "${record.id}": it has no cgroups of its own (its config sets no linux.cgroupsPath or linux.resources)`);
    }
    return record.cgroups;
  }

  /**
   * Host pids of the container's processes: everything in its pid
   * namespace when it has its own, else the init and its descendants.
   */
  pids(id: string): number[] {
    const record = this.store.read(id);
    if (record.cgroups) return cgroupPids(record.cgroups);
    if (this.store.status(record) === 'stopped') return [];
    return processesOf(record.pid);
  }
}

/** What the state root keeps about a container whose init (or process) is `pid`. */
function newRecord(
  id: string,
  bundle: Bundle,
  pid: number,
  cgroups: Cgroups | undefined,
  poststop: Hook[] | undefined,
  intelRdt?: ResctrlGroup,
  pidStartTime: string = startTimeOf(pid),
): ContainerRecord {
  return {
    id,
    pid,
    pidStartTime,
    bundle: bundle.dir,
    rootfs: bundle.rootfs,
    created: utcTimestamp(),
    owner: ownerName(),
    annotations: bundle.spec.annotations ?? {},
    ...(poststop && { poststop }),
    exec: execDefaults(bundle.spec),
    ownPidNamespace: ownsPidNamespace(bundle.spec),
    ...(cgroups && { cgroups }),
    ...(intelRdt && { intelRdt }),
  };
}

/**
 * The start time of a container's init (/proc/<pid>/stat): '' for none yet
 * (pid 0) or one gone already, which no live process matches (stopped).
 */
function startTimeOf(pid: number): string {
  return pid > 0 ? (processStat(pid)?.startTime ?? '') : '';
}

/**
 * The record of a create in progress, with what its container has so far
 * (the init's start time read once: `previous` may have it).
 */
function inProgress(creating: ContainerRecord, { cgroups, pid, intelRdt }: Progress, previous?: ContainerRecord): ContainerRecord {
  const { cgroups: _, ...rest } = creating;
  return {
    ...rest,
    ...(cgroups && { cgroups }),
    ...(intelRdt && { intelRdt }),
    ...(pid !== undefined && { pid, pidStartTime: previous?.pid === pid ? previous.pidStartTime : startTimeOf(pid) }),
  };
}

/** Whether a config gives the container a new pid namespace (not the host's, nor one joined by path). */
function ownsPidNamespace(spec: Spec): boolean {
  return spec.linux?.namespaces?.some((ns) => ns.type === 'pid' && !ns.path) ?? false;
}

/** What exec uses of a config (ContainerRecord.exec). */
function execDefaults(spec: Spec): ExecDefaults {
  const { seccomp, memoryPolicy } = spec.linux ?? {};
  return { process: spec.process!, ...(seccomp && { seccomp }), ...(memoryPolicy && { memoryPolicy }) };
}

/**
 * The bundle an exec'd process's handle names: the container's, with the
 * config parts the exec used (the file itself may have changed since create).
 */
function execBundle(record: ContainerRecord, defaults: ExecDefaults): Bundle {
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: defaults.process,
    root: { path: record.rootfs },
    annotations: record.annotations,
    ...(defaults.seccomp && { linux: { seccomp: defaults.seccomp } }),
  };
  return { dir: record.bundle, configPath: path.join(record.bundle, 'config.json'), rootfs: record.rootfs, spec };
}

/**
 * The last owner looked up, by effective uid: a create records its
 * container two or three times, and each lookup reads the passwd database
 * (~0.25 ms of CPU).
 */
let lastOwner: { uid: number | undefined; name: string } | undefined;

/** The user's name, or its uid when it has none (a rootless user missing from /etc/passwd). */
function ownerName(): string {
  const uid = process.geteuid?.();
  if (lastOwner === undefined || lastOwner.uid !== uid) lastOwner = { uid, name: lookUpOwner(uid) };
  return lastOwner.name;
}

function lookUpOwner(uid: number | undefined): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(uid ?? '');
  }
}

/** Descriptors 3 .. 3+n-1 of this process, for --preserve-fds. */
export function preservedFds(n: number | undefined): number[] {
  return Array.from({ length: n ?? 0 }, (_, i) => 3 + i);
}

/**
 * The descriptors a new container gets from 3 on, as runc passes them:
 * systemd's socket-activation sockets first (listenFds of them, with
 * LISTEN_FDS=N and LISTEN_PID=1 in the process's environment: the
 * container's process is pid 1 of its namespace, and the one to take them),
 * then --preserve-fds more.
 */
export function passedFds(
  options: { listenFds?: number; preserveFds?: number },
  notify?: { env: string },
): { extraFds: number[]; extraEnv?: string[] } {
  const listen = options.listenFds ?? 0;
  const extraFds = preservedFds(listen + (options.preserveFds ?? 0));
  const extraEnv = [...(listen > 0 ? [`LISTEN_FDS=${listen}`, 'LISTEN_PID=1'] : []), ...(notify ? [notify.env] : [])];
  return extraEnv.length > 0 ? { extraFds, extraEnv } : { extraFds };
}

/**
 * With the caller's NOTIFY_SOCKET: the container's notify socket directory
 * made in its state directory and bound into `bundle`'s config (see
 * lib/notify-socket.ts); the NOTIFY_SOCKET entry for its process. Not for
 * a container in a user namespace of root's making: its root, another uid
 * on the host, cannot reach into root's state directory (0700) to mount
 * it; said in a warning.
 */
async function notifySetup(
  bundle: Bundle,
  stateDir: string,
  notifySocket: string | undefined,
  warnings: string[],
): Promise<{ env: string; relay: typeof NotifyRelay } | undefined> {
  if (notifySocket === undefined) return undefined;
  if ((process.geteuid?.() ?? 0) === 0 && bundle.spec.linux?.namespaces?.some((ns) => ns.type === 'user')) {
    warnings.push('NOTIFY_SOCKET is not passed on to a container with a user namespace (its root cannot reach the state directory); it will not report READY');
    return undefined;
  }
  const { prepareNotify, NotifyRelay: relay } = await import('../notify-socket.js');
  const { mount, env } = prepareNotify(stateDir);
  bundle.spec.mounts = [...(bundle.spec.mounts ?? []), mount];
  return { env, relay };
}

/** Hands a terminal's master to a --console-socket listener, and lets go of it. */
function sendConsole(native: Binding, socket: string, master: number): void {
  try {
    native.sendFd(socket, master, '/dev/ptmx', 'console socket');
  } finally {
    native.close(master);
  }
}

/** The pid file engines ask for: written whole, then renamed into place. */
function writePidFile(file: string, pid: number): void {
  writeFileAtomic(path.resolve(file), String(pid), 0o644);
}

/** Kernel names of namespaces, as in /proc/<pid>/ns, in the order they are listed. */
const NAMESPACES: readonly KernelNamespace[] = ['user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup', 'time'];

/** The namespaces a process has that this one does not share, as paths to join. */
function namespacesOf(pid: number): PlannedNamespace[] {
  return NAMESPACES.filter((ns) => namespaceLink(pid, ns) !== namespaceLink('self', ns)).map(
    (type) => ({ type, path: `/proc/${pid}/ns/${type}` }),
  );
}

/** A pidfd for the container's init, checked to be that very process. */
function openPidfd(native: Binding, record: ContainerRecord): number {
  const pidfd = native.pidfdOpen(record.pid);
  if (pidfd < 0) return pidfd;
  // Checked after opening: from here on the pidfd pins the process, so a
  // matching start time means it is the init and not a reused pid.
  if (processStat(record.pid)?.startTime !== record.pidStartTime) {
    native.close(pidfd);
    return -1;
  }
  return pidfd;
}

// fs's callbacks as promises, for start: node:fs/promises would do, but
// loading it (it pulls in readline and the file watchers) costs more than
// the rest of start.
/**
 * Connects to a created container's start socket, which lets its init go
 * on, and reads until the init closes the connection: nothing once it has
 * executed the process (CLOEXEC), else its error report. The socket is
 * reached through its directory's descriptor: a unix socket's path may be
 * at most 107 bytes, and the state root is the caller's choice.
 */
async function startThrough(native: Binding, socket: string): Promise<Buffer> {
  // Through the addon rather than node:net: loading node:net and the stream
  // modules for this one connection cost `start` ~4 ms of CPU.
  const dir = openSync(path.dirname(socket), constants.O_RDONLY | constants.O_DIRECTORY);
  let conn: number;
  try {
    conn = native.connectStream(`/proc/self/fd/${dir}/${path.basename(socket)}`);
  } finally {
    closeSync(dir);
  }
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = await native.readStream(conn);
      if (chunk === null) return Buffer.concat(chunks);
      if (chunk !== 'again') chunks.push(chunk);
    }
  } finally {
    native.close(conn);
  }
}

// The cgroup drivers, lib/destroy.ts (which loads them) and the host's
// cgroup layout, loaded when first needed: kill and start need none of them
// on their common path, and each CLI call pays for every module it loads.

/** The driver that made a container's cgroups (lib/cgroup-drivers.ts). */
async function driverOf(cg: Cgroups | undefined): Promise<Driver> {
  return (await import('../cgroup-drivers.js')).driverOf(cg);
}

/** Kills and removes what a container was made of (lib/destroy.ts). */
async function destroy(native: Binding, remains: Remains): Promise<void> {
  return (await import('../destroy.js')).destroy(native, remains);
}

/** The host's cgroup hierarchies (lib/cgroups/layout.ts). */
async function hostLayout(): Promise<Layout> {
  return (await import('../cgroups/layout.js')).hostLayout();
}
