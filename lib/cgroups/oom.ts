import { closeSync, constants, existsSync, openSync, readFileSync, readSync, watch, writeSync, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import type { Binding } from '../native/binding.js';
import type { Layout } from './layout.js';
import type { Cgroups } from './manager.js';

/** OOM notifications of a container's memory cgroup. */
export interface OomWatch {
  /** Waits for the next OOM event(s): their count, or 0 once stopped. */
  next(): Promise<number>;
  /** OOM events that have arrived and not been taken yet, without waiting. */
  pending(): number;
  stop(): Promise<void>;
}

/**
 * Watches for OOM events in the container's memory cgroup: on v1 through
 * an eventfd registered for memory.oom_control in cgroup.event_control (the
 * kernel signals it at every OOM), on cgroup2 through inotify on
 * memory.events, whose oom_kill count says how many were killed. Undefined
 * when the container has no memory cgroup.
 */
export function watchOom(native: Binding, layout: Layout, cg: Cgroups): OomWatch | undefined {
  const h = layout.hierarchies.find((x) => x.mount.fstype === 'cgroup' && x.mount.controllers.includes('memory'));
  if (h && cg.dirs[h.key]) return watchV1(native, cg.dirs[h.key]!);
  const v2 = cg.dirs[''];
  if (v2 && existsSync(path.join(v2, 'memory.events'))) return watchV2(v2);
  return undefined;
}

function watchV1(native: Binding, dir: string): OomWatch {
  const efd = native.eventfd();
  let ofd = -1;
  try {
    ofd = openSync(path.join(dir, 'memory.oom_control'), 'r');
    const control = openSync(path.join(dir, 'cgroup.event_control'), constants.O_WRONLY);
    try {
      writeSync(control, `${efd} ${ofd}`);
    } finally {
      closeSync(control);
    }
  } catch (err) {
    if (ofd >= 0) closeSync(ofd);
    native.close(efd);
    throw err;
  }
  let stopped = false;
  let waiting: Promise<void> | undefined;
  /** The eventfd's count (0 if nothing arrived). The kernel also signals it when the cgroup is removed: that is no OOM. */
  const take = (): number => {
    const buf = Buffer.alloc(8);
    try {
      readSync(efd, buf, 0, 8, null);
    } catch {
      return 0; // EAGAIN: nothing yet
    }
    return existsSync(path.join(dir, 'memory.oom_control')) ? Number(buf.readBigUInt64LE(0)) : 0;
  };
  return {
    async next() {
      while (!stopped) {
        waiting = native.readable(efd);
        await waiting;
        waiting = undefined;
        if (stopped) return 0;
        const n = take();
        if (n > 0) return n;
        if (!existsSync(dir)) return 0;
      }
      return 0;
    },
    pending: () => (stopped ? 0 : take()),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (waiting) {
        // Wake the poll (there is no cancelling it), then let go of the fds.
        const one = Buffer.alloc(8);
        one.writeBigUInt64LE(1n, 0);
        writeSync(efd, one);
        await waiting.catch(() => undefined);
      }
      native.close(efd);
      closeSync(ofd);
    },
  };
}

function watchV2(dir: string): OomWatch {
  const file = path.join(dir, 'memory.events');
  // Declared before kills() first runs: an unreadable file reads as the count seen so far.
  let seen = 0;
  const kills = (): number => {
    try {
      return Number(/^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
    } catch {
      return seen;
    }
  };
  seen = kills();
  let wake: (() => void) | undefined;
  let stopped = false;
  const watcher: FSWatcher = watch(file, () => wake?.());
  const take = () => {
    const now = kills();
    const n = Math.max(0, now - seen);
    seen = now;
    return n;
  };
  return {
    async next() {
      while (!stopped) {
        const n = take();
        if (n > 0) return n;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      return 0;
    },
    pending: () => (stopped ? 0 : take()),
    async stop() {
      stopped = true;
      watcher.close();
      wake?.();
    },
  };
}
