// Config fields of runtime-spec 1.2 and 1.3 that tsbox applies, each through
// a real container: what its processes see inside, what the host sees, and
// the one-line error where the host cannot apply one (nothing left behind:
// the session checks processes, mounts and state after every test).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostMounts, isRoot } from '../helpers/bundle.js';
import { lifecycleSession } from '../helpers/lifecycle.js';

describe.skipIf(!isRoot)('runtime-spec 1.2/1.3 fields', () => {
  const lc = lifecycleSession();

  describe('relative mount destinations (spec 1.2)', () => {
    it('are mounted under the container\'s "/", with runc\'s warning', async () => {
      const b = lc.bundle({
        args: ['sh', '-c', 'grep " /scratch " /proc/self/mounts; echo inside > /scratch/f; cat /scratch/f'],
        mutate: (c) => c.mounts.push({ destination: 'data/../scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }),
      });
      fs.mkdirSync(path.join(b.rootfs, 'scratch'));
      const before = hostMounts();
      const r = await lc.cli(['run', '--bundle', b.dir, 'rel']);
      const n = JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')).mounts.length - 1;
      expect(r).toEqual({
        status: 0,
        signal: null,
        stdout: expect.stringMatching(/^tmpfs \/scratch tmpfs rw,.*\ninside\n$/),
        stderr: `tsbox: warning: mounts[${n}].destination "data/../scratch" is relative: mounted at "/scratch"\n`,
      });
      // On the host: nothing mounted, nothing written where the path would lead outside the rootfs.
      expect(hostMounts()).toEqual(before);
      expect(fs.existsSync(path.join(b.dir, 'scratch'))).toBe(false);
      expect(fs.readdirSync(path.join(b.rootfs, 'scratch'))).toEqual([]);
    });
  });
});
