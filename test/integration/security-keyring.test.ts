// The session keyring: a container's processes must not share the
// caller's (here, as for most root processes, root's user-session keyring
// "_uid_ses.0"; a service's under systemd), nor one container another's. Each container gets one of
// its own, "_ses.<id>" as runc names it, which its exec'd processes join;
// `--no-new-keyring` keeps the caller's, as with runc. The attacker is
// test/fixtures/keyring.c (add_key and keyctl on @s), run inside real
// containers with no seccomp filter (as in a Kubernetes pod by default).

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { lifecycleSession, waitUntil } from '../helpers/lifecycle.js';
import { buildFixture, installFixture } from '../helpers/security.js';

describe.skipIf(!isRoot)('the session keyring (keys in @s)', () => {
  const lc = lifecycleSession();
  const host = (...args: string[]) => execFileSync(buildFixture('keyring'), args, { encoding: 'utf8' });
  const secret = `tsbox-secret-${process.pid}`;

  it('a key a container adds to its session keyring stays in its "_ses.<id>": neither the caller\'s keyring nor another container started from it has it; the container\'s exec\'d processes do', async () => {
    // The caller has a session keyring of its own (a shim under a systemd
    // service has its service's): without one of their own, both
    // containers would share it, and it would get the key.
    const caller = `tsbox-caller-${process.pid}`;
    const fromCaller = (args: string[]) => [buildFixture('keyring'), 'session', caller, process.execPath, TSBOX, '--root', lc.root, ...args];
    const b = lc.bundle({ args: ['sh', '-c', `/bin/keyring add ${secret} from-a > /added && exec sleep 100`] });
    installFixture(b.rootfs, 'keyring');
    lc.track('keys-a');
    const [cmd, ...args] = fromCaller(['run', '-d', '--bundle', b.dir, 'keys-a']);
    expect(spawnSync(cmd!, args, { stdio: 'ignore' }).status).toBe(0);
    await waitUntil('the key added', () => fs.existsSync(path.join(b.rootfs, 'added')) && fs.readFileSync(path.join(b.rootfs, 'added'), 'utf8') === 'added\n');
    expect(host('session', caller, buildFixture('keyring'), 'find', secret)).toBe('missing ENOKEY\n');
    const other = lc.bundle({ args: ['sh', '-c', `/bin/keyring describe; /bin/keyring find ${secret}`] });
    installFixture(other.rootfs, 'keyring');
    lc.track('keys-b');
    const [cmdB, ...argsB] = fromCaller(['run', '--bundle', other.dir, 'keys-b']);
    const r = spawnSync(cmdB!, argsB, { encoding: 'utf8' });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: 'keyring;0;0;3f1b0000;_ses.keys-b\nmissing ENOKEY\n', stderr: '' });
    const exec = await lc.cli(['exec', 'keys-a', 'sh', '-c', `/bin/keyring describe; /bin/keyring find ${secret}`]);
    expect(exec, exec.stderr).toMatchObject({ status: 0, stdout: 'keyring;0;0;3f1b0000;_ses.keys-a\nfound from-a\n' });
  });

  it('--no-new-keyring: the container keeps the caller\'s session keyring, as with runc', async () => {
    const b = lc.bundle({ args: ['/bin/keyring', 'describe'] });
    installFixture(b.rootfs, 'keyring');
    lc.track('keys-kept');
    const r = await lc.cli(['run', '--no-new-keyring', '--bundle', b.dir, 'keys-kept']);
    expect(r, r.stderr).toMatchObject({ status: 0, stdout: host('describe') });
  });

  it('--no-new-keyring at create holds for its exec\'d processes too (runc keeps the flag with the container): they keep their caller\'s keyring, no "_ses.<id>" is made', async () => {
    const b = lc.bundle({ args: ['sleep', '100'] });
    installFixture(b.rootfs, 'keyring');
    lc.track('keys-kept-exec');
    expect((await lc.cli(['run', '-d', '--no-new-keyring', '--bundle', b.dir, 'keys-kept-exec'])).status).toBe(0);
    const exec = await lc.cli(['exec', 'keys-kept-exec', '/bin/keyring', 'describe']);
    expect(exec, exec.stderr).toMatchObject({ status: 0, stdout: host('describe') });
  });
});
