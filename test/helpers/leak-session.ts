// A describe block whose every test must leave the host as it found it: no
// mount, child process, bundle process or scratch directory behind. The
// baseline is taken once the addon is loaded and the rootfs template is
// warm (so neither counts as a change); after each test what it kept is
// checked and removed, and after all of them the host is compared again.

import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { run } from '../../lib/run.js';
import { makeBundle, type TestBundle } from './bundle.js';
import { checkAndClean, hostState, type HostState } from './cli.js';

export interface LeakSession {
  /** A bundle the current test made: checked for leftovers, then removed. */
  keep(b: TestBundle): TestBundle;
  /** A scratch directory the current test made: removed after it. */
  scratch(dir: string): string;
}

export function leakSession(): LeakSession {
  let baseline: HostState;
  let dirs: string[] = [];
  let bundles: TestBundle[] = [];

  beforeAll(async () => {
    const b = makeBundle({ args: ['/bin/true'] });
    try {
      await (await run(b.dir, { stdio: 'ignore' })).exited;
    } finally {
      b.cleanup();
    }
    baseline = hostState();
  });

  afterEach(async () => {
    const [b, d] = [bundles, dirs];
    bundles = [];
    dirs = [];
    await checkAndClean(b, d, baseline);
  });

  afterAll(() => {
    expect(hostState()).toEqual(baseline);
  });

  return {
    keep(b) {
      bundles.push(b);
      dirs.push(b.dir);
      return b;
    },
    scratch(dir) {
      dirs.push(dir);
      return dir;
    },
  };
}
