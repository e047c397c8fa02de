import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Binding } from './native/binding.js';
import type { Mount } from './oci/types.js';

/**
 * systemd's notify protocol for a container, as runc passes it on: when
 * tsbox runs with NOTIFY_SOCKET (a Type=notify unit), the container gets a
 * socket of its own, tsbox's, at /run/notify/notify.sock (a directory of
 * the container's state directory bound read-only at /run/notify), and
 * tsbox sends the READY=... the container says there on to its own
 * NOTIFY_SOCKET, with MAINPID: the process systemd should watch from then
 * on. `create` sets the container up for it; `start` (or `run`) binds the
 * socket and relays.
 */

/** Where the container's process finds the socket (runc's path). */
export const NOTIFY_SOCKET_IN_CONTAINER = '/run/notify/notify.sock';

function notifyDir(stateDir: string): string {
  return path.join(stateDir, 'notify');
}

/**
 * Makes the socket's directory in a container's state directory; returns
 * what the container gets: the mount of that directory and NOTIFY_SOCKET
 * for its process's environment.
 */
export function prepareNotify(stateDir: string): { mount: Mount; env: string } {
  const dir = notifyDir(stateDir);
  mkdirSync(dir, { mode: 0o755 });
  return {
    mount: { destination: path.dirname(NOTIFY_SOCKET_IN_CONTAINER), type: 'bind', source: dir, options: ['bind', 'nosuid', 'noexec', 'nodev', 'ro'] },
    env: `NOTIFY_SOCKET=${NOTIFY_SOCKET_IN_CONTAINER}`,
  };
}

/** The container's notify socket, bound, and the relay of its READY. */
export class NotifyRelay {
  private constructor(
    private readonly native: Binding,
    private readonly fd: number,
  ) {}

  /**
   * Binds the socket in a container's state directory, or undefined when
   * the container was not set up for one (created without NOTIFY_SOCKET).
   * Writable for all: the container's process may run as any uid.
   */
  static bind(native: Binding, stateDir: string): NotifyRelay | undefined {
    const dir = notifyDir(stateDir);
    if (!existsSync(dir)) return undefined;
    return new NotifyRelay(native, native.bindDatagram(path.join(dir, path.basename(NOTIFY_SOCKET_IN_CONTAINER)), 0o777));
  }

  /**
   * Waits for the container's READY=... and sends it to `host` (tsbox's own
   * NOTIFY_SOCKET) with MAINPID=mainPid, in one datagram, then waits (at
   * most 30 s, as runc) for systemd to have processed it (BARRIER=1): tsbox
   * may exit right after, and systemd attributes a message to a unit
   * through its sender. Gives up, sending nothing, once `alive()` says the
   * container is gone. Polled on a timer (as runc does): nothing stays
   * pending in the event loop after it. Returns warnings.
   */
  async relayReady(host: string, mainPid: number, alive: () => boolean): Promise<string[]> {
    for (;;) {
      for (let d = this.native.recvDatagram(this.fd); d !== null; d = this.native.recvDatagram(this.fd)) {
        const ready = d.toString('utf8').split('\n').find((line) => line.startsWith('READY='));
        if (ready !== undefined) {
          this.native.sendDatagram(host, `${ready}\nMAINPID=${mainPid}\n`);
          return barrier(this.native, host);
        }
      }
      if (!alive()) return [];
      await sleep(POLL_MS);
    }
  }

  close(): void {
    this.native.close(this.fd);
  }
}

const POLL_MS = 20;
const BARRIER_MS = 30_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** sd_notify_barrier against `host`: a warning if it is not answered in time. */
async function barrier(native: Binding, host: string): Promise<string[]> {
  const fd = native.notifyBarrier(host);
  try {
    for (let waited = 0; !native.pipeEnded(fd); waited += POLL_MS) {
      if (waited >= BARRIER_MS) return [`NOTIFY_SOCKET "${host}" did not answer BARRIER=1 within ${BARRIER_MS / 1000} s; going on`];
      await sleep(POLL_MS);
    }
    return [];
  } finally {
    native.close(fd);
  }
}
