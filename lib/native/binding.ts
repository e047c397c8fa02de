/**
 * The one place that loads the addon (native/addon.cc) and says what it
 * offers. Nothing else in tsbox loads it: the operations take a Binding
 * (Runtime's `native` option, run()'s), which is the real addon unless a
 * test gives a fake (test/helpers/fake-native.ts).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';

export interface ExitInfo {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  /** Signal number, or null when it exited. */
  signal: number | null;
}

export interface ReceivedRecord {
  fields: string[];
  /** A descriptor that came with the message (SCM_RIGHTS), or -1. */
  fd: number;
}

/** The addon's functions (native/addon.cc). */
export interface Addon {
  /**
   * Starts tsbox-helper with the encoded plan queued on its sync socket
   * (null: none yet, sendPlan gives it); the container gets stdio as 0-2
   * and `extra` as 3, 4, ...
   */
  spawnHelper(
    helper: string,
    plan: Buffer | null,
    stdio: [number, number, number],
    extra: number[],
  ): { pid: number; pidfd: number; sock: number };
  /**
   * spawnHelper without a plan (sendPlan gives it), done on a thread of
   * a thread of the addon's own: this thread is not held while the helper is executed.
   * The descriptors must stay open until the promise settles.
   */
  spawnHelperEarly(helper: string, stdio: [number, number, number], extra: number[]): Promise<{ pid: number; pidfd: number; sock: number }>;
  /**
   * How spawnHelper executes the helper: from a read-only, detached clone of
   * its directory (readOnly), or by its path, with the reason (see
   * native/addon.cc, "the helper's image").
   */
  helperImage(helper: string): { readOnly: boolean; reason: string };
  /**
   * Starts the pre-started helper (native/helper/spawner.cc), or keeps the
   * running one; from then on spawnHelper forks it instead of executing the
   * helper. Returns its pid (a child of this process until stopHelperServer).
   */
  startHelperServer(helper: string): number;
  /** Ends the pre-started helper, if any: spawnHelper executes the helper again. */
  stopHelperServer(): void;
  /** The encoded plan, to a helper spawned without one (its sync socket). */
  sendPlan(sock: number, plan: Buffer): void;
  /** Resolves when fd is readable (a pidfd: when its process has exited). */
  readable(fd: number): Promise<void>;
  /**
   * A non-blocking unix stream socket connected to path (`tsbox start` to
   * the init's start socket); errors carry the errno's code.
   */
  connectStream(path: string): number;
  /** What a stream socket has to read once readable; null at end of stream; "again" when woken without any. */
  readStream(sock: number): Promise<Buffer | null | 'again'>;
  /** The next message; null at end of stream; "again" when woken without one. */
  recv(sock: number): Promise<ReceivedRecord | null | 'again'>;
  send(sock: number, fields: string[]): void;
  /** A SOCK_SEQPACKET pair, both close-on-exec: [ours (non-blocking), theirs (for a child)]. */
  seqpacketPair(): [ours: number, theirs: number];
  /** The next packet as raw bytes, with a descriptor that came with it (or -1); null at end of stream; "again" when woken without one. */
  recvPacket(sock: number): Promise<{ data: Buffer; fd: number } | null | 'again'>;
  /** One packet of raw bytes. */
  sendPacket(sock: number, data: Buffer): void;
  /** Reaps the process behind a pidfd once it exits ("again": not yet). */
  waitExit(pidfd: number): Promise<ExitInfo | 'again'>;
  /**
   * Reaps a child nobody waits for whenever it exits and closes its pidfd,
   * without keeping Node running (see native/addon.cc).
   */
  reapInBackground(pidfd: number): void;
  /** pidfd_send_signal; returns 0 or an errno value. */
  signal(pidfd: number, signal: number): number;
  close(fd: number): void;
  pipe(): [read: number, write: number];
  /** A non-blocking, close-on-exec eventfd (cgroup v1 OOM notifications). */
  eventfd(): number;
  strerror(errno: number): string;
  setWindowSize(fd: number, rows: number, cols: number): void;
  /** Raw mode without output processing; returns the settings to restore. */
  makeRaw(fd: number): Buffer;
  restoreTerminal(fd: number, saved: Buffer): void;
  /** An exclusive flock on fd, waiting for it. */
  lock(fd: number): void;
  /** A pidfd for pid, or -errno. */
  pidfdOpen(pid: number): number;
  /**
   * Connects to a unix socket and sends fd with `message` (runc's
   * --console-socket, a seccomp listener); `what` names the socket in errors.
   */
  sendFd(socketPath: string, fd: number, message: string, what: string): void;
  /**
   * Loads a cgroup device program (struct bpf_insn[]) and attaches it to a
   * cgroup2 directory; with `replace`, in place of tsbox's previous one there.
   */
  attachDeviceProgram(cgroupDir: string, insns: Buffer, replace: boolean): void;
  /** Ids of tsbox's device programs attached to a cgroup2 directory. */
  deviceProgramIds(cgroupDir: string): number[];
  /** A non-blocking unix datagram socket bound at path, the file given mode (a notify socket). */
  bindDatagram(path: string, mode: number): number;
  /** The next datagram waiting on fd, or null. */
  recvDatagram(fd: number): Buffer | null;
  /** One datagram to the unix socket at path ("@name": abstract), e.g. systemd's NOTIFY_SOCKET. */
  sendDatagram(path: string, data: string): void;
  /** sd_notify_barrier: BARRIER=1 with a pipe's write end to path; the read end (non-blocking), for pipeEnded. */
  notifyBarrier(path: string): number;
  /** Whether the non-blocking read end of a pipe reads end of file (its writers are gone). */
  pipeEnded(fd: number): boolean;
}

/** What tsbox uses of the native layer: the addon, and the helper executable it starts. */
export interface Binding extends Addon {
  /** The tsbox-helper executable spawnHelper starts (the one built beside the addon). */
  readonly helperPath: string;
}

let loaded: Binding | undefined;

/** The addon's file: a local build if there is one, else the matching prebuild. */
function addonFile(): string {
  const root = path.join(__dirname, '..', '..');
  const local = path.join(root, 'build', 'Release', 'tsbox.node');
  // Checked first and directly: loading node-gyp-build alone costs ~3 ms,
  // which every CLI call would pay.
  if (existsSync(local)) return local;
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  try {
    return nodeGypBuild.resolve(root);
  } catch {
    // No prebuild for this machine, and the install built none (no compiler,
    // or npm skipped install scripts): say what would make one.
    const libc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime ? 'glibc' : 'not glibc';
    throw new TsboxError(
      `no native build of tsbox for ${process.platform}-${process.arch} (${libc}) in ${root}: install a C++ compiler and libseccomp (Debian: apt-get install build-essential libseccomp-dev), then run npm rebuild tsbox`,
    );
  }
}

function load(): Binding {
  if (!loaded) {
    const file = addonFile();
    // tsbox-helper is built and shipped beside the .node file.
    // process.dlopen is what require() does with a .node file, without the
    // module loader's search for a package.json around it (~1 ms of CPU
    // per CLI call that loads the addon). Loaded once: `loaded` keeps it.
    const addon = { exports: {} as Addon };
    process.dlopen(addon, file);
    loaded = { ...addon.exports, helperPath: path.join(path.dirname(file), 'tsbox-helper') };
  }
  return loaded;
}

/**
 * The real binding, loaded at its first use: a CLI call that needs none of
 * it (state, list) does not pay for loading the addon.
 */
const real: Binding = new Proxy({} as Binding, { get: (_, name) => load()[name as keyof Binding] });

export function native(): Binding {
  return real;
}
