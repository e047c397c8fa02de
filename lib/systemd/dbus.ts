import { once } from 'node:events';
import * as net from 'node:net';
import { TsboxError } from '../errors.js';
import { encodeMessage, Flags, MessageReader, type DbusMessage, type DbusValue } from './dbus-wire.js';

/**
 * A D-Bus client connection over a unix socket: EXTERNAL authentication,
 * method calls with replies matched by serial, signals, and (optionally)
 * answering calls made to us. Enough to drive systemd's manager, either on
 * the system bus or peer-to-peer on /run/systemd/private (hello: false).
 */

/** An error reply: `name` is the D-Bus error name, e.g. `org.freedesktop.systemd1.NoSuchUnit`. */
export class DbusError extends TsboxError {
  override readonly name: string;
  /** The error's own text (its first string argument), without the method. */
  readonly description: string;
  /** The method that failed: `interface.member on path`. */
  readonly method: string;
  constructor(name: string, description: string, method: string) {
    super(`${method}: ${description || name}`);
    this.name = name;
    this.description = description;
    this.method = method;
  }
}

export interface MethodCall {
  destination?: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: DbusValue[];
}

export interface ConnectOptions {
  /** Say Hello to a bus daemon (default). False for peer-to-peer sockets like /run/systemd/private. */
  hello?: boolean;
  /** For connecting, authenticating and Hello together (default 25 s). */
  timeoutMs?: number;
}

/** What a call handler answers; throwing a DbusError answers with that error name. */
export interface MethodReply {
  signature?: string;
  body?: DbusValue[];
}
export type CallHandler = (call: DbusMessage) => MethodReply | void | Promise<MethodReply | void>;

interface PendingCall {
  resolve: (body: DbusValue[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  method: string;
}

const DEFAULT_TIMEOUT_MS = 25_000;
const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
/** The longest auth line we wait for; a server sending more is not speaking D-Bus. */
const MAX_AUTH_LINE = 16 * 1024;

function shownPath(socketPath: string): string {
  return socketPath.startsWith('\0') ? `@${socketPath.slice(1)}` : socketPath;
}

function describeCall(m: MethodCall): string {
  return `${m.interface}.${m.member} on ${m.path}${m.destination ? ` at ${m.destination}` : ''}`;
}

export class DbusConnection {
  /** Our name on the bus, from Hello; undefined on a peer-to-peer connection. */
  uniqueName: string | undefined;
  private serial = 0;
  private readonly pending = new Map<number, PendingCall>();
  private readonly signalListeners = new Set<(m: DbusMessage) => void>();
  private callHandler: CallHandler | undefined;
  private readonly reader = new MessageReader();
  /** Set once the connection is unusable: why, for every later call. */
  private closedBy: Error | undefined;

  private constructor(
    private readonly socket: net.Socket,
    /** The socket path as shown in errors (`@name` for an abstract one). */
    readonly where: string,
    /** The server's GUID from authentication. */
    readonly guid: string,
    alreadyRead: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.fail(new TsboxError(`D-Bus connection to ${where} failed: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new TsboxError(`D-Bus connection to ${where} was closed by the other side`)));
    if (alreadyRead.length > 0) this.receive(alreadyRead);
    socket.resume();
  }

  static async connect(socketPath: string, opts: ConnectOptions = {}): Promise<DbusConnection> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const where = shownPath(socketPath);
    const socket = net.createConnection({ path: socketPath });
    let phase = 'connecting';
    const timer = setTimeout(
      () => socket.destroy(new Error(`timed out after ${timeoutMs} ms while ${phase}`)),
      timeoutMs,
    );
    let conn: DbusConnection | undefined;
    try {
      try {
        await once(socket, 'connect');
      } catch (e) {
        // Node 20's libuv pads an abstract name to the whole sun_path, so it
        // misses sockets bound with the exact name (as dbus-daemon does).
        const hint = socketPath.startsWith('\0')
          ? ` (Node.js ${process.version} may pad abstract socket names and miss sockets bound by other programs; use a unix:path= address)`
          : '';
        // Node's text repeats the path: the errno's name says it all.
        const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        throw new TsboxError(`cannot connect to D-Bus socket ${where}: ${why}${hint}`, { cause: e });
      }
      phase = 'authenticating';
      const { guid, rest } = await authenticate(socket, where);
      conn = new DbusConnection(socket, where, guid, rest);
      if (opts.hello ?? true) {
        phase = 'saying Hello';
        const [name] = await conn.call({ ...BUS, member: 'Hello' }, timeoutMs);
        conn.uniqueName = name as string;
      }
      return conn;
    } catch (e) {
      socket.destroy();
      conn?.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Calls a method; resolves with the reply's body, rejects with a DbusError for an error reply. */
  call(m: MethodCall, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<DbusValue[]> {
    const method = describeCall(m);
    if (this.closedBy) return Promise.reject(new TsboxError(`D-Bus call ${method}: ${this.closedBy.message}`, { cause: this.closedBy }));
    const serial = this.nextSerial();
    let bytes: Buffer;
    try {
      bytes = encodeMessage({
        type: 'method_call',
        serial,
        destination: m.destination,
        path: m.path,
        interface: m.interface,
        member: m.member,
        signature: m.signature ?? '',
        body: m.body ?? [],
      });
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        reject(new TsboxError(`D-Bus call ${method} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(serial, { resolve, reject, timer, method });
      this.socket.write(bytes);
    });
  }

  /** Hears every signal this connection receives (after an AddMatch on a bus); returns the unsubscribe. */
  onSignal(listener: (m: DbusMessage) => void): () => void {
    this.signalListeners.add(listener);
    return () => this.signalListeners.delete(listener);
  }

  /**
   * Answers method calls made to this connection. Without a handler every
   * call (but org.freedesktop.DBus.Peer.Ping) gets UnknownMethod.
   */
  handleCalls(handler: CallHandler | undefined): void {
    this.callHandler = handler;
  }

  close(): void {
    this.fail(new TsboxError(`D-Bus connection to ${this.where} was closed`));
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  private nextSerial(): number {
    // Serials are u32 and never 0.
    this.serial = this.serial >= 0xffffffff ? 1 : this.serial + 1;
    return this.serial;
  }

  /** Ends the connection once: pending calls are rejected with why, later calls too. */
  private fail(why: Error): void {
    if (this.closedBy) return;
    this.closedBy = why;
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new TsboxError(`D-Bus call ${call.method}: ${why.message}`, { cause: why }));
    }
    this.pending.clear();
    this.signalListeners.clear();
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    if (this.closedBy) return;
    let messages: DbusMessage[];
    try {
      messages = this.reader.push(chunk);
    } catch (e) {
      this.fail(new TsboxError(`D-Bus connection to ${this.where} received a malformed message: ${(e as Error).message}`, { cause: e }));
      return;
    }
    for (const m of messages) this.dispatch(m);
  }

  private dispatch(m: DbusMessage): void {
    if (m.type === 'method_return' || m.type === 'error') {
      const call = this.pending.get(m.replySerial!);
      // A reply to a call that already timed out: nobody is waiting.
      if (!call) return;
      this.pending.delete(m.replySerial!);
      clearTimeout(call.timer);
      if (m.type === 'method_return') {
        call.resolve(m.body);
      } else {
        const text = typeof m.body[0] === 'string' ? m.body[0] : '';
        call.reject(new DbusError(m.errorName!, text, call.method));
      }
    } else if (m.type === 'signal') {
      for (const listener of [...this.signalListeners]) {
        try {
          listener(m);
        } catch (e) {
          // A listener's bug must not stop the other messages of this chunk
          // from being handled, nor go unnoticed.
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    } else {
      void this.answer(m);
    }
  }

  private async answer(call: DbusMessage): Promise<void> {
    let reply: MethodReply | void = undefined;
    let error: { name: string; text: string } | undefined;
    try {
      if (call.interface === 'org.freedesktop.DBus.Peer' && call.member === 'Ping') {
        reply = {};
      } else if (this.callHandler) {
        reply = await this.callHandler(call);
      } else {
        error = { name: 'org.freedesktop.DBus.Error.UnknownMethod', text: `no handler for ${call.interface}.${call.member}` };
      }
    } catch (e) {
      error = {
        name: e instanceof DbusError ? e.name : 'org.freedesktop.DBus.Error.Failed',
        text: e instanceof DbusError ? e.description : (e as Error).message,
      };
    }
    if (this.closedBy || ((call.flags ?? 0) & Flags.NO_REPLY_EXPECTED) !== 0) return;
    const to = { replySerial: call.serial, destination: call.sender };
    let bytes: Buffer;
    try {
      bytes = error
        ? encodeMessage({ type: 'error', serial: this.nextSerial(), ...to, errorName: error.name, signature: 's', body: [error.text] })
        : encodeMessage({ type: 'method_return', serial: this.nextSerial(), ...to, signature: reply?.signature ?? '', body: reply?.body ?? [] });
    } catch (e) {
      // The handler's reply did not fit its signature: the caller hears why.
      bytes = encodeMessage({
        type: 'error', serial: this.nextSerial(), ...to,
        errorName: 'org.freedesktop.DBus.Error.Failed', signature: 's', body: [(e as Error).message],
      });
    }
    this.socket.write(bytes);
  }
}

/** EXTERNAL authentication as our uid; resolves with the server's GUID and any bytes after its OK line. */
function authenticate(socket: net.Socket, where: string): Promise<{ guid: string; rest: Buffer }> {
  const uid = process.getuid!();
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const done = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      // Held until the connection listens, so no byte is dropped in between.
      socket.pause();
    };
    const onError = (err: Error) => {
      done();
      reject(new TsboxError(`D-Bus authentication with ${where} failed: ${err.message}`, { cause: err }));
    };
    const onClose = () => {
      done();
      reject(new TsboxError(`D-Bus server at ${where} closed the connection during authentication`));
    };
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf('\r\n');
      if (end < 0) {
        if (got.length > MAX_AUTH_LINE) onError(new Error(`no end of line in ${got.length} bytes`));
        return;
      }
      done();
      const line = got.subarray(0, end).toString('latin1');
      const ok = /^OK ([0-9A-Fa-f]+)$/.exec(line);
      if (!ok) {
        reject(new TsboxError(`D-Bus server at ${where} refused EXTERNAL authentication as uid ${uid}: it answered ${JSON.stringify(line)}`));
        return;
      }
      socket.write('BEGIN\r\n');
      resolve({ guid: ok[1]!, rest: got.subarray(end + 2) });
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    // The NUL byte first (it can carry credentials), then the uid as its
    // decimal string, hex-encoded.
    socket.write(`\0AUTH EXTERNAL ${Buffer.from(String(uid), 'ascii').toString('hex')}\r\n`);
  });
}

/**
 * The socket path of a D-Bus address such as `unix:path=/run/dbus/system_bus_socket`:
 * the first unix address among `;`-separated ones; `unix:abstract=name` gives
 * `\0name`. Throws when there is none.
 */
export function socketPathOf(address: string): string {
  for (const entry of address.split(';')) {
    if (entry === '') continue;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new TsboxError(`malformed D-Bus address '${address}': '${entry}' has no transport`);
    if (entry.slice(0, colon) !== 'unix') continue;
    const params = new Map<string, string>();
    for (const pair of entry.slice(colon + 1).split(',')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (eq < 0) throw new TsboxError(`malformed D-Bus address '${address}': '${pair}' is not key=value`);
      let value: string;
      try {
        value = decodeURIComponent(pair.slice(eq + 1));
      } catch {
        throw new TsboxError(`malformed D-Bus address '${address}': bad %-escape in '${pair}'`);
      }
      params.set(pair.slice(0, eq), value);
    }
    const path = params.get('path');
    if (path) return path;
    const abstract = params.get('abstract');
    if (abstract) return `\0${abstract}`;
  }
  throw new TsboxError(`D-Bus address '${address}' has no unix:path= or unix:abstract= socket to connect to`);
}
