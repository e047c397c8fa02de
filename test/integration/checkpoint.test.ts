// checkpoint and restore where CRIU cannot run (this project's hosts:
// Debian's CRIU 3.17 refuses kernel 6.18, `criu check` fails on its vDSO;
// or criu is missing): checkpoint fails in one line naming CRIU's reason,
// and nothing changes: the container runs on, its counter going up, and no
// image directory is left. A checkpoint that works is checked in the pure
// cgroup v2 VM (kernel 6.1), test/v2/criu-checks.js.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { start, TSBOX } from '../helpers/cli.js';
import { criuCheck } from '../helpers/criu.js';
import { isAlive, lifecycleSession, waitUntil } from '../helpers/lifecycle.js';

const criu = isRoot ? criuCheck() : { ok: false };
const criuFails = !criu.ok && criu.error !== undefined;

describe.skipIf(!isRoot)('checkpoint where CRIU cannot run' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const lc = lifecycleSession();

  /** A running counter container: its rootfs's /count goes up every 50 ms. */
  async function counter(name: string) {
    const b = lc.bundle({ args: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.05; done'], mutate: (c) => (c.root.readonly = false) });
    const id = lc.track(name);
    await lc.ok(['run', '--detach', '--bundle', b.dir, id]);
    const count = () => Number(fs.readFileSync(path.join(b.rootfs, 'count'), 'utf8'));
    await waitUntil('the counter to count', () => fs.existsSync(path.join(b.rootfs, 'count')) && count() > 0);
    return { id, count };
  }

  /** `tsbox checkpoint` with `env`, in a scratch directory (its default image path is ./checkpoint). */
  async function checkpoint(id: string, env: NodeJS.ProcessEnv, flags: string[] = []) {
    const cwd = lc.scratch();
    const r = await start(process.execPath, [TSBOX, '--root', lc.root, 'checkpoint', ...flags, id], { cwd, env }).done;
    return { ...r, cwd };
  }

  /** The container runs on (same pid, counting) and no image directory was left. */
  async function unchanged(id: string, pid: number, count: () => number, imageDir: string) {
    expect(fs.existsSync(imageDir), `${imageDir} left behind`).toBe(false);
    const st = await lc.state(id);
    expect(st.status).toBe('running');
    expect(st.pid).toBe(pid);
    expect(isAlive(pid)).toBe(true);
    const before = count();
    await waitUntil('the counter to go on', () => count() > before);
  }

  it.skipIf(!criuFails)(`fails in one line naming CRIU's reason (criu check: ${criu.error ?? 'passes or is missing here'}) and the container runs on; restore says the same and makes nothing`, async () => {
    const { id, count } = await counter('cp-criu-check');
    const { pid } = await lc.state(id);
    const r = await checkpoint(id, process.env);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`tsbox: checkpoint container "${id}": criu check failed: ${criu.error}\n`);
    await unchanged(id, pid, count, path.join(r.cwd, 'checkpoint'));
    // restore says the same, before it makes anything.
    const b = lc.bundle({ args: ['true'] });
    const rr = await start(process.execPath, [TSBOX, '--root', lc.root, 'restore', '--detach', '--bundle', b.dir, 'cp-restored'], { cwd: r.cwd }).done;
    expect(rr.status).toBe(1);
    expect(rr.stderr).toBe(`tsbox: restore container "cp-restored": criu check failed: ${criu.error}\n`);
    expect(fs.existsSync(path.join(lc.root, 'cp-restored'))).toBe(false);
  });

  it('with criu missing ($TSBOX_CRIU names no file), fails in one line and the container runs on; restore refuses too and makes nothing', async () => {
    const { id, count } = await counter('cp-no-criu');
    const { pid } = await lc.state(id);
    const env = { ...process.env, TSBOX_CRIU: '/nonexistent/criu' };
    const r = await checkpoint(id, env, ['--image-path', 'images', '--leave-running']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`tsbox: checkpoint container "${id}": criu is not at "/nonexistent/criu" ($TSBOX_CRIU)\n`);
    await unchanged(id, pid, count, path.join(r.cwd, 'images'));
    const b = lc.bundle({ args: ['true'] });
    const rr = await start(process.execPath, [TSBOX, '--root', lc.root, 'restore', '--detach', '--bundle', b.dir, '--image-path', r.cwd, 'cp-restored'], { env }).done;
    expect(rr.status).toBe(1);
    expect(rr.stderr).toBe('tsbox: restore container "cp-restored": criu is not at "/nonexistent/criu" ($TSBOX_CRIU)\n');
    expect(fs.existsSync(path.join(lc.root, 'cp-restored'))).toBe(false);
  });

  it('flags CRIU cannot honour are one-line errors before anything happens (--lazy-pages without --page-server, --empty-ns other than network, a bad --manage-cgroups-mode)', async () => {
    const { id, count } = await counter('cp-flags');
    const { pid } = await lc.state(id);
    for (const [flags, message] of [
      [['--lazy-pages'], "--lazy-pages needs --page-server ADDRESS:PORT (where the dump serves the memory to CRIU's lazy-pages daemon)"],
      [['--empty-ns', 'pid'], '--empty-ns: only "network" can be left empty, got "pid"'],
      [['--manage-cgroups-mode', 'loose'], '--manage-cgroups-mode must be one of soft, full, strict, ignore, got "loose"'],
    ] as const) {
      const r = await checkpoint(id, process.env, [...flags]);
      expect(r.status, flags.join(' ')).toBe(1);
      expect(r.stderr).toBe(`tsbox: ${message}\n`);
      await unchanged(id, pid, count, path.join(r.cwd, 'checkpoint'));
    }
  });

  it('a stopped container is refused, naming its status', async () => {
    const b = lc.bundle({ args: ['true'] });
    const id = lc.track('cp-stopped');
    await lc.ok(['create', '--bundle', b.dir, id]);
    const r = await checkpoint(id, process.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`tsbox: cannot checkpoint container "${id}": it is created, not running\n`);
  });
});
