import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { validateId } from '../container-id.js';
import { TsboxError } from '../errors.js';
import type { Binding } from '../native/binding.js';
import { ociState, type Status } from '../oci/state.js';
import { processStat } from '../host/proc.js';
import { NotFound } from './status.js';
import type { Hook, LinuxMemoryPolicy, LinuxSeccomp, Process } from '../oci/types.js';
import { isFrozen } from '../cgroups/frozen.js';
import type { Cgroups } from '../cgroups/manager.js';
import type { ResctrlGroup } from '../resctrl.js';

export type { Status } from '../oci/state.js';

/** What tsbox keeps about a container, in <root>/<id>/state.json. */
export interface ContainerRecord {
  id: string;
  /** Host pid of the container's init. */
  pid: number;
  /**
   * The init's start time (clock ticks since boot, /proc/<pid>/stat field
   * 22): with the pid it names the process, so a reused pid is not taken for
   * the container.
   */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  /** ISO 8601. */
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** The config's poststop hooks, kept for delete: the bundle may be gone by then. */
  poststop?: Hook[];
  /**
   * A created container's poststart hooks, kept for start, which need not
   * read the bundle again (runc, too, runs the config it created with).
   * Absent in a record written by an older tsbox.
   */
  poststart?: Hook[];
  /**
   * What exec takes from the config, as it was at create: the process an
   * exec'd one is made from, and the seccomp filter it gets too. Changing
   * or removing config.json later does not change them (as in runc).
   * Absent in a record written by an older tsbox: exec reads the bundle.
   */
  exec?: ExecDefaults;
  /**
   * Created with --no-new-keyring: its exec'd processes, as its init, keep
   * their caller's session keyring instead of joining the container's (as
   * in runc, where the flag is part of the container's configuration).
   */
  noNewKeyring?: boolean;
  /**
   * Whether the container has a pid namespace of its own, whose processes
   * all die with its init (kill: see Runtime.kill). Absent in a record of
   * an older tsbox: taken as true.
   */
  ownPidNamespace?: boolean;
  /** The container's cgroups, when it has its own (with the driver that made them). */
  cgroups?: Cgroups;
  /** What linux.intelRdt made in resctrl, removed with the container. */
  intelRdt?: ResctrlGroup;
  /**
   * Set while create is still making the container: the record then holds
   * what is made so far (cgroups before they are made, the init once it
   * exists), which is what delete --force removes after a killed create.
   */
  creating?: boolean;
}

/** The parts of a container's config that exec uses (see ContainerRecord.exec). */
export interface ExecDefaults {
  process: Process;
  seccomp?: LinuxSeccomp;
  /** linux.memoryPolicy: an exec'd process gets the container's, as its cgroups. */
  memoryPolicy?: LinuxMemoryPolicy;
}

/** The state as `tsbox state` prints it: the OCI state plus runc's extra fields. */
export interface ContainerState {
  ociVersion: string;
  id: string;
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
}


/**
 * Container state on disk, one directory per container under the state
 * root. Every write is a new file renamed into place, so a crash leaves the
 * old state or the new one, never half of either.
 */
export class StateStore {
  readonly root: string;
  /** For the container's lock (an flock). */
  private readonly native: Binding;

  constructor(root: string, native: Binding) {
    this.root = path.resolve(root);
    this.native = native;
  }

  dir(id: string): string {
    return path.join(this.root, validateId(id));
  }

  /** The unix socket a created container's init listens on until `start` connects. */
  startSocket(id: string): string {
    return path.join(this.dir(id), 'start.sock');
  }

  /** Whether the container's directory is there (with or without a state file: see Runtime.delete). */
  hasDir(id: string): boolean {
    return lstatOrUndefined(this.dir(id)) !== undefined;
  }

  exists(id: string): boolean {
    return lstatOrUndefined(path.join(this.dir(id), 'state.json')) !== undefined;
  }

  /**
   * The container's directory, checked to be a real directory and not a
   * symlink: state names processes that signals go to and hooks that
   * delete runs, so nothing planted in the state root may redirect where
   * it is read or written.
   */
  private checkedDir(id: string): string {
    const dir = this.realDir(id);
    if (dir === undefined) throw new NotFound(id);
    return dir;
  }

  /** As checkedDir, but undefined when there is no such directory. */
  private realDir(id: string): string | undefined {
    const dir = this.dir(id);
    const st = lstatOrUndefined(dir);
    if (st === undefined) return undefined;
    if (!st.isDirectory()) throw new TsboxError(`state of container "${id}": "${dir}" is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; refusing to follow it`);
    return dir;
  }

  /**
   * Makes the container's directory, failing if the id is taken. The root
   * is private to root (0700): state names processes that signals go to.
   */
  claim(id: string): string {
    const dir = this.dir(id);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    // A symlink planted as the root would redirect every state write.
    if (lstatSync(this.root).isSymbolicLink()) throw new TsboxError(`state root "${this.root}" is a symlink`);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new TsboxError(`container "${id}" already exists`);
      throw err;
    }
    return dir;
  }

  /**
   * Runs `fn` holding the container's lock, so that commands on one
   * container (two deletes, a start and a kill) take turns. The lock is an
   * flock on the directory: it goes away with the process that held it.
   */
  async locked<T>(id: string, fn: () => Promise<T> | T): Promise<T> {
    let fd: number;
    try {
      fd = openSync(this.checkedDir(id), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFound(id);
      throw err;
    }
    try {
      this.native.lock(fd);
      return await fn();
    } finally {
      closeSync(fd);
    }
  }

  write(record: ContainerRecord): void {
    writeFileAtomic(path.join(this.checkedDir(record.id), 'state.json'), JSON.stringify(record));
  }

  read(id: string): ContainerRecord {
    const file = path.join(this.checkedDir(id), 'state.json');
    let text: string;
    try {
      const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        text = readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new NotFound(id);
      if (code === 'ELOOP') throw new TsboxError(`state of container "${id}": "${file}" is a symlink; refusing to follow it`);
      throw err;
    }
    try {
      return JSON.parse(text) as ContainerRecord;
    } catch {
      throw new TsboxError(`state of container "${id}": "${file}" is not valid JSON`);
    }
  }

  remove(id: string): void {
    // The files tsbox put there, then the directory. rmSync's recursive
    // removal loads a module of its own on Node 20 (~1 ms of every delete
    // and run): it is only for the unexpected (a subdirectory, a race).
    // Never through a symlink planted in its place (readdir would follow it).
    const dir = this.realDir(id);
    if (dir === undefined) return;
    try {
      for (const name of readdirSync(dir)) unlinkSync(path.join(dir, name));
      rmdirSync(dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Ids with a state file, in name order. */
  ids(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.root);
    } catch {
      return [];
    }
    return names
      .filter((n) => /^[\w+.-]+$/.test(n) && lstatOrUndefined(path.join(this.root, n))?.isDirectory() && lstatOrUndefined(path.join(this.root, n, 'state.json'))?.isFile())
      .sort();
  }

  /** The container's status, from its live init rather than from a file. */
  status(record: ContainerRecord): Status {
    const stat = processStat(record.pid);
    if (!stat || stat.startTime !== record.pidStartTime || stat.state === 'Z' || stat.state === 'X') return 'stopped';
    if (record.creating) return 'creating';
    // The init holds off its execve until `start` has connected to its
    // socket, which start removes.
    if (lstatOrUndefined(this.startSocket(record.id))?.isSocket()) return 'created';
    return record.cgroups && isFrozen(record.cgroups) ? 'paused' : 'running';
  }

  /** The state of container `id` as `tsbox state` prints it (Runtime.state). */
  containerState(id: string): ContainerState {
    return this.state(this.read(id));
  }

  /** The state of every container, in id order (Runtime.list). */
  states(): ContainerState[] {
    const out: ContainerState[] = [];
    for (const id of this.ids()) {
      try {
        out.push(this.containerState(id));
      } catch {
        // Deleted while we looked.
      }
    }
    return out;
  }

  state(record: ContainerRecord): ContainerState {
    const status = this.status(record);
    const { annotations, ...oci } = ociState(record, status);
    return { ...oci, pid: status === 'stopped' ? 0 : record.pid, rootfs: record.rootfs, created: record.created, owner: record.owner, annotations };
  }
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Writes a file by renaming a complete temporary one into place, so that a
 * reader (or a crash of tsbox) sees the old content or the new, never half.
 * No fsync: container state does not outlive a reboot (its processes do
 * not), and an fsync would cost every container start a disk flush.
 */
export function writeFileAtomic(file: string, content: string, mode = 0o600): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
