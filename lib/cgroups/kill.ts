import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import { isFrozen } from './frozen.js';
import { removeCreated, setFrozen, writeExisting, type Cgroups } from './manager.js';
import { cgroupTree, pidsIn, treePids } from './pids.js';

/**
 * Signalling every process of a container through its cgroup (kill --all,
 * delete), and removing the cgroup once it is empty.
 *
 * SIGKILL goes through cgroup2's cgroup.kill where there is one (pure v2,
 * and the unified directory of a hybrid host, which holds the same
 * processes): the kernel kills the whole cgroup at once, including what is
 * forking at that moment. Otherwise, as runc, the cgroup is frozen, every
 * pid in it signalled and the cgroup thawed: frozen, nothing can fork or
 * move away between reading cgroup.procs and the signal. Processes that
 * left the container's process tree (double forks, setsid daemons,
 * reparented orphans) are still in its cgroup, so they are caught too.
 */

/** How long delete waits for a killed cgroup to empty. */
const EMPTY_TIMEOUT_MS = 5000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Every pid in any of the container's cgroup directories, or in a cgroup below one. */
function allPids(cg: Cgroups): number[] {
  return [...new Set(Object.values(cg.dirs).flatMap(treePids))].sort((a, b) => a - b);
}

/** Writes "1" to cgroup.kill; false where the file does not exist. */
function cgroupKill(dir: string | undefined): boolean {
  if (dir === undefined) return false;
  try {
    writeExisting(path.join(dir, 'cgroup.kill'), '1');
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new TsboxError(`kill cgroup ${dir}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

function hasFreezer(cg: Cgroups): boolean {
  return cg.dirs.freezer !== undefined || (cg.dirs[''] !== undefined && existsSync(path.join(cg.dirs[''], 'cgroup.freeze')));
}

function signalPids(pids: number[], signal: number): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone meanwhile.
    }
  }
}

/**
 * Sends `signal` to every process in the container's cgroups; a paused
 * container is thawed afterwards, as runc thaws after signalling all (its
 * engines then see it run or end, as under runc). A process the v1 freezer
 * holds would never act on the signal, not even die of the hybrid host's
 * cgroup.kill.
 */
export async function signalAll(cg: Cgroups, signal: number): Promise<void> {
  const kill = signal === osConstants.signals.SIGKILL;
  const paused = isFrozen(cg);
  if (!(kill && cgroupKill(cg.dirs['']))) {
    const freeze = hasFreezer(cg) && !paused;
    if (freeze) await setFrozen(cg, true);
    try {
      signalPids(allPids(cg), signal);
    } finally {
      if (freeze) await setFrozen(cg, false);
    }
  }
  if (paused && isFrozen(cg)) await setFrozen(cg, false);
}

/**
 * The cgroupfs driver's destroy (the systemd driver's too, before it
 * stops the scope): removes exactly the directories tsbox made, deepest first, after killing
 * everything still in the container's cgroups: a bounded wait (at most
 * `timeoutMs`), then an error naming the cgroup and what is left in it. A
 * directory that existed before is emptied but stays.
 *
 * The usual case is a container whose processes are all gone, and then the
 * removal is just the rmdirs: a cgroup with processes refuses (EBUSY), and
 * as every process is in every hierarchy, the first directory tried is
 * busy whenever any is, so nothing is removed from under a live process.
 */
export async function destroyCgroups(cg: Cgroups, timeoutMs = EMPTY_TIMEOUT_MS): Promise<void> {
  await emptyAndRemove(cg, timeoutMs);
}

async function emptyAndRemove(cg: Cgroups, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Directories that existed before cannot tell us by EBUSY: look into them.
  const kept = Object.values(cg.dirs).some((d) => !cg.created.includes(d));
  for (let round = 0; ; round++) {
    const left = round === 0 && !kept ? [] : allPids(cg);
    if (left.length === 0) {
      const busy = removeCreated(cg);
      if (busy === undefined) return;
      // Emptied, yet busy: (briefly) an exiting process.
      if (treePids(busy).length === 0 && Date.now() > deadline) throw new TsboxError(`remove cgroup ${busy}: it is still busy`);
    } else if (Date.now() > deadline) {
      const dir = Object.values(cg.dirs).flatMap(cgroupTree).find((d) => pidsIn(d).length > 0) ?? cg.created[0];
      throw new TsboxError(`cgroup ${dir} still has processes ${left.join(', ')} ${timeoutMs / 1000} s after SIGKILL`);
    }
    // Again now and then: a process that was forking when the first signal
    // came may have a child the first round did not see.
    if (round % 10 === 0) await signalAll(cg, osConstants.signals.SIGKILL);
    await sleep(round < 10 ? 1 : 10);
  }
}
