import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../lib/run.js';
import { childPids, hostMounts, isRoot, makeBundle, type TestBundle } from '../helpers/bundle.js';

/** What the launcher leaves in the calling process: descriptors, children. */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

async function probe(bundle: TestBundle): Promise<{ status: number; out: string }> {
  const c = await run(bundle.dir, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const ended = new Promise((resolve) => c.stdout!.on('close', resolve));
  const { status } = await c.exited;
  await ended;
  return { status, out };
}

describe.skipIf(!isRoot)('launcher hygiene', () => {
  const bundles: TestBundle[] = [];
  const mountsBefore = hostMounts();
  afterEach(() => {
    for (const b of bundles.splice(0)) b.cleanup();
    expect(hostMounts()).toEqual(mountsBefore);
  });

  it('leaves no descriptor and no child behind, after successes and failures', async () => {
    const ok = makeBundle({ args: ['/bin/true'] });
    const bad = makeBundle({ args: ['/bin/nope'] });
    bundles.push(ok, bad);
    const children = childPids();
    // Warm up once: the first run loads the addon, which opens nothing that
    // stays, but node itself may lazily open descriptors (e.g. for stdio).
    await (await run(ok.dir, { stdio: 'ignore' })).exited;
    const fds = openFds();
    for (let i = 0; i < 10; i++) {
      const c = await run(ok.dir, { stdio: 'pipe' });
      // Like child_process: stdout and stderr close once drained.
      c.stdout!.resume();
      c.stderr!.resume();
      await c.exited;
      await expect(run(bad.dir, { stdio: 'pipe' })).rejects.toThrow('exec "/bin/nope": no such file or directory (ENOENT)');
    }
    // Pipe streams close asynchronously.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(openFds()).toBe(fds);
    expect(childPids()).toEqual(children);
  });

  it('gives the container only stdio, default signal dispositions and an empty mask', async () => {
    const b = makeBundle();
    bundles.push(b);
    const { status, out } = await probe(b);
    expect(status).toBe(0);
    const seen = JSON.parse(out);
    // Node keeps many descriptors open and ignores SIGPIPE; none of that may
    // reach the container.
    expect(seen.fds).toEqual([0, 1, 2]);
    expect(seen.sigignore).toBe('0000000000000000');
    expect(seen.sigmask).toBe('0000000000000000');
  });

  it('reports the pid that the container process has on the host', async () => {
    const b = makeBundle({ args: ['/bin/probe', 'sleep', '5'] });
    bundles.push(b);
    const c = await run(b.dir, { stdio: 'ignore' });
    try {
      // NSpid: the host pid first, then the pid inside the container.
      const status = (await import('node:fs')).readFileSync(`/proc/${c.pid}/status`, 'utf8');
      expect(status).toMatch(new RegExp(`^NSpid:\\s+${c.pid}\\s+1$`, 'm'));
      expect(c.kill('SIGKILL')).toBe(true);
    } finally {
      const { signal } = await c.exited;
      expect(signal).toBe('SIGKILL');
    }
    expect(c.kill()).toBe(false);
  });
});
