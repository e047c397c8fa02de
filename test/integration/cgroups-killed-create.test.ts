// `tsbox create` SIGKILLed half-way (issue 11 item 5): while the init waits
// at a prestart hook, as soon as the container's cgroups are made, as soon
// as its init exists, before its state is complete, and at random moments.
// Each time `delete --force` must exit 0 and leave nothing: no state
// directory, no cgroup directory in any hierarchy, no process of the
// container, no mount. Before lib/destroy.ts and the record a create keeps
// while it works (lib/runtime/runtime.ts), delete --force exited 0 and left
// the state directory and every cgroup directory (and a container killed
// after its init existed left that too).
//
// House rules as in cgroups.test.ts: unique cgroup names under our own
// cgroup, checked for and removed after each test.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostMounts, isRoot, type TestBundle } from '../helpers/bundle.js';
import { settledProcessesUnder } from '../helpers/cli.js';
import { cgroupSession, findCgroupDirs, resolvedDirs } from '../helpers/cgroups.js';
import { isAlive, waitUntil, type Proc } from '../helpers/lifecycle.js';

/** How many times each point is tried. */
const TRIES = 4;

describe.skipIf(!isRoot)('delete --force after a create killed half-way', () => {
  const cg = cgroupSession();
  const lc = cg.lc;

  function stateDir(id: string): string {
    return path.join(lc.root, id);
  }

  /** The create's record as it stands (undefined before it is written). */
  function record(id: string): { pid: number; creating?: boolean; cgroups?: unknown } | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(stateDir(id), 'state.json'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** Spins (the event loop is not needed meanwhile) until `ready` holds, for at most 10 s. */
  function spinUntil(what: string, ready: () => boolean): void {
    const deadline = Date.now() + 10_000;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    }
  }

  /**
   * Starts `tsbox create`, waits for `point`, SIGKILLs it, then deletes
   * with --force and checks that nothing of the container is left.
   */
  async function killAt(
    id: string,
    b: TestBundle,
    name: string | undefined,
    point: (p: Proc) => void | Promise<void>,
  ): Promise<void> {
    const mountsBefore = hostMounts();
    const p = lc.spawn(['create', '--bundle', b.dir, id]);
    await point(p);
    p.child.kill('SIGKILL');
    await p.exited;
    // What the killed create had recorded: its init, if it got that far.
    const pid = record(id)?.pid ?? 0;
    const r = await lc.cli(['delete', '--force', id]);
    expect(r, `delete --force ${id}`).toEqual({ status: 0, signal: null, stdout: '', stderr: '' });
    expect(fs.existsSync(stateDir(id)), `state directory of ${id}`).toBe(false);
    if (name !== undefined) expect(findCgroupDirs(name), `cgroup directories of ${id}`).toEqual([]);
    if (pid > 0) expect(isAlive(pid), `the init (pid ${pid}) of ${id}`).toBe(false);
    expect(await settledProcessesUnder(b.dir), `processes in ${b.dir}`).toEqual([]);
    expect(hostMounts(), 'host mounts').toEqual(mountsBefore);
    // The id is free again: a create with it works and is removed as usual.
    await lc.create(id, b);
    await lc.ok(['delete', '--force', id]);
  }

  /** A bundle whose cgroups are `name` (with a pids limit), whose prestart hook records its pid in `hookPid` and waits. */
  function bundle(name: string | undefined, hookPid?: string): TestBundle {
    return lc.bundle({
      args: ['sleep', '100'],
      mutate: (c) => {
        if (name !== undefined) {
          c.linux.cgroupsPath = name;
          c.linux.resources = { pids: { limit: 50 } };
        }
        // Waits the first time only: the create that checks the id is free again goes through.
        if (hookPid !== undefined) {
          c.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `[ -e ${hookPid} ] && exit 0; echo $$ > ${hookPid}; exec sleep 60`] }] };
        }
      },
    });
  }

  it(`while the init waits at a prestart hook (${TRIES} times, with and without cgroups)`, async () => {
    for (let i = 0; i < TRIES; i++) {
      const name = i % 2 === 0 ? cg.name() : undefined;
      const hookPid = path.join(lc.scratch(), 'hook.pid');
      const b = bundle(name, hookPid);
      await killAt(`hook-${i}`, b, name, async () => {
        await waitUntil('the prestart hook', () => fs.existsSync(hookPid) && fs.readFileSync(hookPid, 'utf8').endsWith('\n'));
      });
      // The hook is a process of the runtime's on the host, not of the
      // container: it outlives a killed runtime (as with runc).
      const hook = Number(fs.readFileSync(hookPid, 'utf8'));
      if (isAlive(hook)) process.kill(hook, 'SIGKILL');
    }
  });

  it(`as soon as the container's cgroups are there (${TRIES} times)`, async () => {
    for (let i = 0; i < TRIES; i++) {
      const name = cg.name();
      const dirs = Object.values(resolvedDirs(name));
      await killAt(`cg-${i}`, bundle(name), name, () => spinUntil('a cgroup directory', () => dirs.some((d) => fs.existsSync(d))));
    }
  });

  it(`as soon as its state is first recorded, and once its init exists (${TRIES} times each)`, async () => {
    for (let i = 0; i < TRIES; i++) {
      const name = cg.name();
      await killAt(`rec-${i}`, bundle(name), name, () => spinUntil('the first record', () => record(`rec-${i}`) !== undefined));
    }
    for (let i = 0; i < TRIES; i++) {
      const name = cg.name();
      await killAt(`init-${i}`, bundle(name), name, () => spinUntil('the init in the record', () => (record(`init-${i}`)?.pid ?? 0) > 0));
    }
  });

  it('at random moments of the create (20 times)', async () => {
    // How long a whole create takes here: the kills fall within it (after
    // Node's start-up, when the state directory is there).
    const b = bundle(cg.name());
    const t = Date.now();
    await lc.create('timed', b);
    const took = Date.now() - t;
    await lc.ok(['delete', '--force', 'timed']);
    for (let i = 0; i < 20; i++) {
      const name = cg.name();
      const id = `rnd-${i}`;
      const delay = Math.floor(Math.random() * took * 0.6);
      await killAt(id, bundle(name), name, async () => {
        spinUntil('the state directory', () => fs.existsSync(stateDir(id)));
        await new Promise((r) => setTimeout(r, delay));
      });
    }
  });

  it('a killed create shows as "creating" while its init lives, and plain delete refuses it', async () => {
    const name = cg.name();
    const hookPid = path.join(lc.scratch(), 'hook.pid');
    const b = bundle(name, hookPid);
    const id = cg.track('shown');
    const p = lc.spawn(['create', '--bundle', b.dir, id]);
    await waitUntil('the prestart hook', () => fs.existsSync(hookPid) && fs.readFileSync(hookPid, 'utf8').endsWith('\n'));
    p.child.kill('SIGKILL');
    await p.exited;
    const hook = Number(fs.readFileSync(hookPid, 'utf8'));
    if (isAlive(hook)) process.kill(hook, 'SIGKILL');
    const state = await lc.state(id);
    // The init waited at the hook on the socket the killed create held: it ends too.
    expect(['creating', 'stopped']).toContain(state.status);
    if (state.status === 'creating') {
      expect(await lc.cli(['delete', id])).toMatchObject({ status: 1, stderr: `tsbox: cannot delete container "${id}" that is not stopped: it is creating (use --force)\n` });
    }
    await lc.ok(['delete', '--force', id]);
    expect(findCgroupDirs(name)).toEqual([]);
  });
});
