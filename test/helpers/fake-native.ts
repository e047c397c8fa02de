// A fake native layer (lib/native/binding.ts's Binding) for unit tests of
// the lifecycle without root.
//
// It plays tsbox-helper's and the init's part of the sync protocol
// (native/helper/main.cc) from the plan it is given: "spawned" with a
// pidfd, "hooks" (waiting for "go" with the states, or "abort"), "ready"
// (waiting for "go", or with a start FIFO for `start` to open it), then
// the end of the stream; the compile mode answers "seccomp-program". The
// init is a real, unprivileged process: the host's /bin/sh, gated until the
// protocol lets it go on, which then executes the plan's args on the host
// (no namespaces, no rootfs: the fake isolates nothing). So the status,
// signals and exit statuses the runtime sees are the kernel's.
//
// Descriptors the fake hands out (pidfds, sync sockets) are numbers far
// above any real one; closing one twice, or never, shows in openFds().
// Failures are scripted (`failAt`, `spawnErrno`): the helper or the init
// then sends an "error" record instead of the message named, as the real
// ones do, and the process it made is killed.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, readFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import type { Binding, ExitInfo, ReceivedRecord } from '../../lib/native/binding.js';
import type { HelperMessage } from '../../lib/native/protocol.js';
import { wire } from '../../lib/wire.js';

/** A message the helper or init sends, at which a scripted failure happens instead. */
export type FailurePoint = 'spawned' | 'hooks' | 'ready' | 'exec';

export interface ScriptedFailure {
  /** The message the failing step would have sent next; 'exec': the execve of the process. */
  at: FailurePoint;
  /** In the words of the error record, e.g. `mount "proc" on "/proc"`. */
  step: string;
  errno: number;
  detail?: string;
}

/** What the runtime sent the fake helper, for tests to look at. */
export interface HelperRun {
  /** The decoded plan records. */
  plan: string[][];
  /** Messages the runtime sent on the sync socket ("go", "abort"). */
  replies: string[][];
  /** The init's pid, once it exists. */
  initPid?: number;
}

const FAKE_FD_BASE = 1 << 28;
const HELPER = '/fake/tsbox-helper';
const ESRCH = 3;
const EBADF = 9;
const ECHILD = 10;
const ECANCELED = 125;

/** A process as the fake's pidfds see it. */
interface Proc {
  pid: number;
  info?: ExitInfo;
  exited: Promise<ExitInfo>;
  reaped: boolean;
  child?: ChildProcess;
}

type FakeFd = { kind: 'pidfd'; proc: Proc } | { kind: 'sock'; conversation: Conversation } | { kind: 'stream'; stream: StreamReader };

/**
 * A connection made with connectStream, as readStream sees it: node:net
 * connects (asynchronously, so a refused connection shows at the first
 * read rather than at connectStream, which the runtime handles alike).
 */
class StreamReader {
  private readonly chunks: Array<Buffer | null> = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly conn: Socket;

  constructor(socketPath: string) {
    this.conn = createConnection(socketPath);
    this.conn.on('data', (chunk: Buffer) => this.push(chunk));
    this.conn.once('end', () => this.push(null));
    this.conn.once('error', (err) => {
      this.failure = err;
      this.push(null);
    });
  }

  private push(chunk: Buffer | null): void {
    this.chunks.push(chunk);
    this.wake?.();
  }

  async read(): Promise<Buffer | null> {
    while (this.chunks.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = undefined;
    if (this.failure) throw this.failure;
    const chunk = this.chunks.shift()!;
    if (chunk === null) this.chunks.unshift(null);
    return chunk;
  }

  close(): void {
    this.conn.destroy();
  }
}

/** One sync socket: the runtime's end of it. */
class Conversation {
  private readonly inbox: Array<ReceivedRecord | null> = [];
  private readonly replies: string[][] = [];
  private wakeRuntime: (() => void) | undefined;
  private wakeHelper: (() => void) | undefined;
  closed = false;
  private givePlan!: (plan: Buffer | null) => void;
  /** The plan sendPlan gives a helper spawned without one; null if the runtime closes its end first. */
  readonly planned = new Promise<Buffer | null>((resolve) => (this.givePlan = resolve));

  constructor(readonly run: HelperRun) {}

  sendPlan(plan: Buffer): void {
    this.givePlan(plan);
  }

  /** helper/init -> runtime; null: the end of the stream. */
  say(fields: [HelperMessage, ...string[]] | null, fd = -1): void {
    this.inbox.push(fields && { fields, fd });
    this.wakeRuntime?.();
  }

  async recv(): Promise<ReceivedRecord | null> {
    while (this.inbox.length === 0) await new Promise<void>((resolve) => (this.wakeRuntime = resolve));
    return this.inbox.shift()!;
  }

  /** runtime -> helper/init. */
  send(fields: string[]): void {
    this.run.replies.push(fields);
    this.replies.push(fields);
    this.wakeHelper?.();
  }

  /** The runtime's next message, or null once it has closed its end. */
  async hear(): Promise<string[] | null> {
    while (this.replies.length === 0 && !this.closed) await new Promise<void>((resolve) => (this.wakeHelper = resolve));
    return this.replies.shift() ?? null;
  }

  close(): void {
    this.closed = true;
    this.givePlan(null);
    this.wakeHelper?.();
  }
}

function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function notSimulated(name: string): never {
  throw new Error(`fake native layer: ${name} is not simulated`);
}

/** An Error as the addon throws them (native/addon.cc, system_error). */
function systemError(syscall: string, errno: number): Error {
  const [code, text] = getSystemErrorMap().get(-errno) ?? ['EUNKNOWN', 'unknown error'];
  return Object.assign(new Error(`${syscall}: ${text} (${code})`), { code, errno, syscall });
}

/**
 * The init's side of `tsbox start`: a listener on the start socket. A
 * connection lets the init execute its process and is closed (the real
 * execve closes it), or carries the scripted exec failure and the init
 * exits. The listener goes when the init does.
 */
async function listenForStart(socket: string, init: Proc, failure: ScriptedFailure | undefined, gate: (word: string) => void): Promise<void> {
  const server = createServer((conn) => {
    if (failure) {
      conn.end(wire.encodeRecords([['error', failure.step, String(failure.errno), failure.detail ?? '']]));
      gate('fail');
    } else {
      gate('go');
      conn.end();
    }
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve));
  void init.exited.then(() => server.close());
}

// The init: waits at its gate (fd 3) for a line; "go" lets it execute the
// process, anything else makes it exit 1. With a start socket, the fake
// listens on it for the init (listenForStart) and opens the gate when
// `start` connects, as the real init's accept and execve do.
const INIT_SCRIPT = `
read -r word <&3
exec 3<&-
[ "$word" = go ] || exit 1
exec "$@"
`;

export class FakeNative implements Binding {
  readonly helperPath = HELPER;
  /** Every helper started, in order. */
  readonly runs: HelperRun[] = [];
  /** Fails the next launches at this point (until unset). */
  failAt: ScriptedFailure | undefined;
  /** A message the init sends right after "spawned" (one the runtime does not expect, say). */
  strayMessage: string[] | undefined;
  /** spawnHelper itself fails with this errno (until unset). */
  spawnErrno: number | undefined;
  /** How often the state lock was taken. */
  locks = 0;
  /** Descriptors sent with sendFd: [socket path, what]. */
  readonly sentFds: Array<[string, string]> = [];

  private readonly fds = new Map<number, FakeFd>();
  private readonly procs = new Map<number, Proc>();
  private nextFd = FAKE_FD_BASE;
  private nextHelperPid = 1 << 30;

  /** Fake descriptors not closed yet, e.g. `pidfd 1234`. */
  openFds(): string[] {
    return [...this.fds.values()].map((f) => (f.kind === 'pidfd' ? `pidfd ${f.proc.pid}` : f.kind === 'sock' ? 'sync socket' : 'stream socket'));
  }

  /** Pids of the inits (and exec'd processes) still running (dead ones Node has not reaped yet are not). */
  livePids(): number[] {
    return [...this.procs.values()].filter((p) => p.child && !p.info && running(p.pid)).map((p) => p.pid);
  }

  /** Kills whatever is still running (a test's cleanup). */
  async killAll(): Promise<void> {
    const live = [...this.procs.values()].filter((p) => p.child && !p.info);
    for (const p of live) p.child!.kill('SIGKILL');
    await Promise.all(live.map((p) => p.exited));
  }

  // --- the helper -----------------------------------------------------------

  /** Whether startHelperServer was called (and not stopped): the fake helper plays the same either way. */
  helperServer = false;

  startHelperServer(helper: string): number {
    if (helper !== HELPER) throw new Error(`fake native layer: asked to start ${helper}, not its own helper`);
    this.helperServer = true;
    return 0;
  }

  stopHelperServer(): void {
    this.helperServer = false;
  }

  spawnHelper(helper: string, plan: Buffer | null, stdio: [number, number, number], extra: number[]): { pid: number; pidfd: number; sock: number } {
    if (helper !== HELPER) throw new Error(`fake native layer: asked to start ${helper}, not its own helper`);
    if (this.spawnErrno !== undefined) throw systemError(`spawn "${helper}"`, this.spawnErrno);
    const run: HelperRun = { plan: [], replies: [] };
    const conversation = new Conversation(run);
    let finish!: (info: ExitInfo) => void;
    const helperProc: Proc = { pid: this.nextHelperPid++, exited: new Promise((resolve) => (finish = resolve)), reaped: false };
    helperProc.exited.then((info) => (helperProc.info = info));
    this.procs.set(helperProc.pid, helperProc);
    const { failAt, strayMessage } = this;
    if (plan) conversation.sendPlan(plan);
    // A helper counts in `runs` once it has its plan (as the real one acts
    // only then); one whose socket closes first exits, as the real one does.
    void conversation.planned
      .then((given) => {
        if (!given) return 1;
        run.plan = wire.decodeRecords(given);
        this.runs.push(run);
        return this.playHelper(run, conversation, helperProc.pid, stdio, extra, failAt, strayMessage);
      })
      .then(
      (code) => finish({ code, signal: null }),
      (err: Error) => {
        conversation.say(['error', 'fake helper', '5', err.message]);
        conversation.say(null);
        finish({ code: 1, signal: null });
      },
    );
    return { pid: helperProc.pid, pidfd: this.open({ kind: 'pidfd', proc: helperProc }), sock: this.open({ kind: 'sock', conversation }) };
  }

  spawnHelperEarly(helper: string, stdio: [number, number, number], extra: number[]): Promise<{ pid: number; pidfd: number; sock: number }> {
    return Promise.resolve().then(() => this.spawnHelper(helper, null, stdio, extra));
  }

  /** The helper's and then the init's side of the protocol; resolves with the helper's exit code. */
  private async playHelper(
    run: HelperRun,
    c: Conversation,
    helperPid: number,
    stdio: [number, number, number],
    extra: number[],
    failure: ScriptedFailure | undefined,
    stray: string[] | undefined,
  ): Promise<number> {
    const plan = run.plan;
    const has = (kind: string) => plan.some((r) => r[0] === kind);
    const field = (kind: string) => plan.find((r) => r[0] === kind)?.[1];
    const fail = (f: ScriptedFailure, init?: Proc) => {
      c.say(['error', f.step, String(f.errno), f.detail ?? '']);
      c.say(null);
      init?.child?.kill('SIGKILL');
      return 1;
    };
    if (has('seccomp-compile')) {
      // One BPF instruction, "return ALLOW"; no syscall is unknown.
      c.say(['seccomp-program', '0', '060000000000ff7f']);
      c.say(null);
      return 0;
    }
    if (has('await-cgroup')) {
      c.say(['cgroup-pending', String(helperPid)]);
      const answer = await c.hear();
      if (answer?.[0] !== 'go') return 1; // "abort": the runtime reports why
    }
    if (failure?.at === 'spawned') return fail(failure);

    const startSocket = field('start-socket') ?? '';
    const env = Object.fromEntries((plan.find((r) => r[0] === 'env') ?? []).slice(1).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const args = plan.find((r) => r[0] === 'args')!.slice(1);
    const child = spawn('/bin/sh', ['-c', INIT_SCRIPT, 'init', ...args], {
      stdio: [stdio[0], stdio[1], stdio[2], 'pipe', ...extra],
      env,
    });
    const init = this.track(child);
    run.initPid = init.pid;
    const gate = (word: string) => (child.stdio[3] as Writable).end(`${word}\n`);
    c.say(['spawned', String(init.pid)], this.open({ kind: 'pidfd', proc: init }));
    // The helper is gone from here on: what follows is the init's.
    if (stray) {
      c.say(stray as [HelperMessage, ...string[]]);
      // Whatever the runtime makes of it, it closes its end or kills the init.
      await Promise.race([c.hear(), init.exited]);
      return 1;
    }

    if (has('hooks-pause')) {
      if (failure?.at === 'hooks') return fail(failure, init);
      c.say(['hooks']);
      const answer = await c.hear();
      if (answer?.[0] !== 'go') return fail({ at: 'hooks', step: 'container setup', errno: ECANCELED, detail: 'stopped by the runtime' }, init);
    }
    // A start socket implies the pause (as native/helper/plan.cc decodes it).
    if (has('pause') || startSocket) {
      if (failure?.at === 'ready') return fail(failure, init);
      if (startSocket) {
        const execFailure = failure?.at === 'exec' ? failure : undefined;
        await listenForStart(startSocket, init, execFailure, gate);
        c.say(['ready']);
        // The init waits for `tsbox start`; the runtime lets go of it.
        c.say(null);
        return 0;
      }
      c.say(['ready']);
      const answer = await c.hear();
      if (answer?.[0] !== 'go') return fail({ at: 'ready', step: 'wait for start', errno: 71, detail: 'expected "go"' }, init);
    }
    if (failure?.at === 'exec') return fail(failure, init);
    // The init goes on; its execve closes the socket.
    gate('go');
    c.say(null);
    return 0;
  }

  private track(child: ChildProcess): Proc {
    if (child.pid === undefined) throw new Error('fake native layer: /bin/sh did not start');
    const proc: Proc = {
      pid: child.pid,
      child,
      reaped: false,
      exited: new Promise((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal: signal === null ? null : osConstants.signals[signal] })),
      ),
    };
    // The gate: an init killed before it was let go breaks its end.
    child.stdio[3]!.on('error', () => undefined);
    void proc.exited.then((info) => (proc.info = info));
    this.procs.set(proc.pid, proc);
    return proc;
  }

  private open(fd: FakeFd): number {
    const n = this.nextFd++;
    this.fds.set(n, fd);
    return n;
  }

  private fd(n: number, kind: 'pidfd'): Proc;
  private fd(n: number, kind: 'sock'): Conversation;
  private fd(n: number, kind: 'stream'): StreamReader;
  private fd(n: number, kind: FakeFd['kind']): Proc | Conversation | StreamReader {
    const f = this.fds.get(n);
    if (!f || f.kind !== kind) throw systemError(`fake ${kind} ${n}`, EBADF);
    return f.kind === 'pidfd' ? f.proc : f.kind === 'sock' ? f.conversation : f.stream;
  }

  connectStream(socketPath: string): number {
    return this.open({ kind: 'stream', stream: new StreamReader(socketPath) });
  }

  readStream(sock: number): Promise<Buffer | null> {
    return this.fd(sock, 'stream').read();
  }

  helperImage(): { readOnly: boolean; reason: string } {
    return { readOnly: true, reason: '' };
  }

  // --- descriptors ----------------------------------------------------------

  readable(fd: number): Promise<void> {
    return this.fd(fd, 'pidfd').exited.then(() => undefined);
  }

  recv(sock: number): Promise<ReceivedRecord | null | 'again'> {
    return this.fd(sock, 'sock').recv();
  }

  send(sock: number, fields: string[]): void {
    this.fd(sock, 'sock').send(fields);
  }

  sendPlan(sock: number, plan: Buffer): void {
    this.fd(sock, 'sock').sendPlan(plan);
  }

  async waitExit(pidfd: number): Promise<ExitInfo | 'again'> {
    const proc = this.fd(pidfd, 'pidfd');
    const info = await proc.exited;
    if (proc.reaped) throw systemError('waitid', ECHILD);
    proc.reaped = true;
    return info;
  }

  reapInBackground(pidfd: number): void {
    this.close(pidfd);
  }

  signal(pidfd: number, signal: number): number {
    const proc = this.fd(pidfd, 'pidfd');
    if (proc.info || !proc.child) return ESRCH;
    try {
      process.kill(proc.pid, signal);
      return 0;
    } catch (err) {
      return -((err as NodeJS.ErrnoException).errno ?? -ESRCH);
    }
  }

  close(fd: number): void {
    if (fd < FAKE_FD_BASE) return closeSync(fd);
    const f = this.fds.get(fd);
    if (!f) throw systemError(`close ${fd}`, EBADF);
    this.fds.delete(fd);
    if (f.kind === 'sock') f.conversation.close();
    if (f.kind === 'stream') f.stream.close();
  }

  pidfdOpen(pid: number): number {
    const proc = this.procs.get(pid);
    if (!proc?.child || proc.info) return -ESRCH;
    return this.open({ kind: 'pidfd', proc });
  }

  strerror(errno: number): string {
    return getSystemErrorMap().get(-errno)?.[1] ?? `Unknown error ${errno}`;
  }


  lock(): void {
    // One process: the container lock's callers take turns anyway.
    this.locks++;
  }

  sendFd(socketPath: string, _fd: number, _message: string, what: string): void {
    this.sentFds.push([socketPath, what]);
  }

  pipe(): [number, number] {
    return notSimulated('pipe (give stdio as "ignore", "inherit" or descriptors)');
  }

  eventfd(): number {
    return notSimulated('eventfd');
  }

  setWindowSize(): void {
    notSimulated('setWindowSize');
  }

  makeRaw(): Buffer {
    return notSimulated('makeRaw');
  }

  restoreTerminal(): void {
    notSimulated('restoreTerminal');
  }

  attachDeviceProgram(): void {
    notSimulated('attachDeviceProgram');
  }

  deviceProgramIds(): number[] {
    return notSimulated('deviceProgramIds');
  }

  bindDatagram(): number {
    return notSimulated('bindDatagram (NOTIFY_SOCKET)');
  }

  recvDatagram(): Buffer | null {
    return notSimulated('recvDatagram (NOTIFY_SOCKET)');
  }

  sendDatagram(): void {
    notSimulated('sendDatagram (NOTIFY_SOCKET)');
  }

  notifyBarrier(): number {
    return notSimulated('notifyBarrier (NOTIFY_SOCKET)');
  }

  pipeEnded(): boolean {
    return notSimulated('pipeEnded (NOTIFY_SOCKET)');
  }

  seqpacketPair(): [number, number] {
    return notSimulated('seqpacketPair (criu swrk)');
  }

  recvPacket(): Promise<{ data: Buffer; fd: number } | null | 'again'> {
    return notSimulated('recvPacket (criu swrk)');
  }

  sendPacket(): void {
    notSimulated('sendPacket (criu swrk)');
  }
}
