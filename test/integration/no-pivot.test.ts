// --no-pivot (create and run): the rootfs is moved over "/" and chrooted
// into instead of pivot_root, for a root pivot_root cannot leave (an
// initramfs; here, a runtime started inside a chroot on a ramfs, where
// pivot_root fails with EINVAL). Checked from inside (what the container's
// processes see, and what an escape attempt reaches) and from outside.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { lifecycleSession, type Proc } from '../helpers/lifecycle.js';
import { buildFixture, installFixture } from '../helpers/security.js';

const REPO = path.resolve(__dirname, '..', '..');
const PROC_SUPER_MAGIC = '9fa0';
const SYSFS_MAGIC = '62656572';

function devIno(p: string): string {
  const st = fs.statSync(p);
  return `${st.dev}:${st.ino}`;
}

/** The fixture's lines as { what: value }. */
function attempts(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
}

describe.skipIf(!isRoot)('--no-pivot' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const lc = lifecycleSession();

  /** `tsbox run [--no-pivot] ID` of `b` to completion. */
  async function run(b: TestBundle, id: string, noPivot = true) {
    return lc.cli(['run', ...(noPivot ? ['--no-pivot'] : []), '--bundle', b.dir, lc.track(id)]);
  }

  /** A bundle running the escape fixture with a tmpfs /tmp to work in. */
  function escapeBundle(mutate: (c: any) => void = () => {}): TestBundle {
    const b = lc.bundle({
      args: ['/bin/chroot-escape', '/tmp'],
      mutate: (c) => {
        c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] });
        mutate(c);
      },
    });
    installFixture(b.rootfs, 'chroot-escape');
    return b;
  }

  it('create --no-pivot: the process\'s root is the rootfs, from inside (exec too) and outside, and the root can be read-only', async () => {
    const b = lc.bundle({
      args: ['sh', '-c', 'ls -1a /; echo --; ls -1a /..; echo --; touch /x 2>&1; echo --end; sleep 100'],
      mutate: (c) => (c.root.readonly = true),
    });
    const id = lc.track('np-create');
    const proc: Proc = await lc.create(id, b, { flags: ['--no-pivot'], stdio: ['ignore', 'pipe', 'pipe'] });
    await lc.ok(['start', id]);
    const out = await proc.stdout.waitFor(/--end\n/);
    const { pid } = await lc.state(id);
    // From outside: its root is the rootfs, not the host's /.
    expect(devIno(`/proc/${pid}/root/`)).toBe(devIno(b.rootfs));
    expect(devIno(`/proc/${pid}/root/`)).not.toBe(devIno('/'));
    // Its mount table starts at the rootfs, with nothing of the host's.
    const mounts = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').trim().split('\n').map((l) => l.split(' ')[4]);
    const configured = new Set(['/', ...b.config.mounts.map((m: { destination: string }) => m.destination)]);
    expect(mounts[0]).toBe('/');
    expect(mounts.filter((t) => !configured.has(t))).toEqual([]);
    // From inside: ".." of "/" is "/", both list the rootfs; "/" is read-only.
    const [root, parent, touch] = out.split('--\n').map((part) => part.trim().split('\n'));
    const names = ['.', '..', ...fs.readdirSync(b.rootfs)].sort();
    expect(root!.sort()).toEqual(names);
    expect(parent!.sort()).toEqual(names);
    expect(touch).toEqual(['touch: /x: Read-only file system', '--end']);
    // An exec'd process joins the same root.
    const exec = await lc.cli(['exec', id, 'ls', '-1a', '/..']);
    expect(exec).toMatchObject({ status: 0, stderr: '' });
    expect(exec.stdout.trim().split('\n').sort()).toEqual(names);
    await lc.ok(['kill', id, 'KILL']);
    await lc.waitForStatus(id, 'stopped');
  });

  it('from inside: ".." from / is /, chroot is refused without CAP_SYS_CHROOT, and with it the classic escape stays in the rootfs (in a user namespace too)', async () => {
    // runc's (and `tsbox spec`'s) default capabilities: no CAP_SYS_CHROOT.
    const defaults = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    const plain = escapeBundle((c) => (c.process.capabilities = { bounding: defaults, effective: defaults, permitted: defaults }));
    const r1 = await run(plain, 'np-escape-default');
    expect(r1).toMatchObject({ status: 0, stderr: '' });
    const a1 = attempts(r1.stdout);
    expect(a1).toMatchObject({ root: devIno(plain.rootfs), dotdot: 'same', chroot: 'EPERM', after: devIno(plain.rootfs) });

    // Root with CAP_SYS_CHROOT (and CAP_SYS_ADMIN): chroot works, but ".."
    // climbs no higher than the moved rootfs, whose mount covers the old "/".
    const caps = ['CAP_SYS_CHROOT', 'CAP_SYS_ADMIN'];
    const strong = escapeBundle((c) => (c.process.capabilities = { bounding: caps, effective: caps, permitted: caps }));
    for (let i = 0; i < 20; i++) {
      const r = await run(strong, `np-escape-${i}`);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      const a = attempts(r.stdout);
      expect(a, r.stdout).toMatchObject({ root: devIno(strong.rootfs), dotdot: 'same', chroot: 'ok', after: devIno(strong.rootfs) });
      expect(a.after).not.toBe(devIno('/'));
    }

    // The same as root of a user namespace (its mount namespace's host
    // mounts are locked: the host's procfs and sysfs are covered, not detached).
    const base = 100000 + 1000 * Math.floor(Math.random() * 100);
    const userns = escapeBundle((c) => {
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
      c.linux.namespaces.push({ type: 'user' });
      c.linux.uidMappings = [{ containerID: 0, hostID: base, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: base, size: 65536 }];
    });
    const r3 = await run(userns, 'np-escape-userns');
    expect(r3).toMatchObject({ status: 0, stderr: '' });
    expect(attempts(r3.stdout)).toMatchObject({ root: devIno(userns.rootfs), dotdot: 'same', chroot: 'ok', after: devIno(userns.rootfs) });
  });

  it('leaves none of the host\'s procfs and sysfs mounts hidden under the moved rootfs (runc\'s msMoveRoot)', async () => {
    const nsMounts = buildFixture('ns-mounts');
    /** The procfs and sysfs mounts of a running container's mount namespace, hidden ones included. */
    async function pseudoMounts(id: string, noPivot: boolean): Promise<number> {
      const b = lc.bundle({ args: ['sleep', '100'] });
      expect(await lc.cli(['run', '-d', ...(noPivot ? ['--no-pivot'] : []), '--bundle', b.dir, lc.track(id)])).toMatchObject({ status: 0, stderr: '' });
      const { pid } = await lc.state(id);
      const magics = execFileSync(nsMounts, [String(pid)], { encoding: 'utf8' }).trim().split('\n');
      await lc.ok(['delete', '--force', id]);
      return magics.filter((m) => m === PROC_SUPER_MAGIC || m === SYSFS_MAGIC).length;
    }
    const host = execFileSync(nsMounts, [String(process.pid)], { encoding: 'utf8' }).trim().split('\n');
    expect(host.filter((m) => m === PROC_SUPER_MAGIC || m === SYSFS_MAGIC).length).toBeGreaterThan(0);
    // The same as under pivot_root, which detaches the whole old root.
    const pivoted = await pseudoMounts('np-mounts-pivot', false);
    expect(pivoted).toBeGreaterThan(0);
    expect(await pseudoMounts('np-mounts-moved', true)).toBe(pivoted);
  });

  it('a runtime in a chroot on a ramfs: pivot_root fails (EINVAL, nothing left), --no-pivot runs the container', () => {
    const b = lc.bundle({ args: ['sh', '-c', 'ls -1 /; echo done'] });
    const scratch = lc.scratch();
    const stateRoot = path.join(scratch, 'state');
    // In a private mount namespace of its own (gone with the shell): a
    // ramfs root on a shared mount, with the host directories node and
    // tsbox need bound into it. pivot_root refuses a root whose parent
    // mount is shared (as it refuses an initramfs, which has no parent).
    const jail = path.join(scratch, 'ramfs');
    fs.mkdirSync(jail);
    const script = [
      'set -e',
      `mount -t ramfs ramfs "${jail}"`,
      `mount --make-shared "${jail}"`,
      `R="${jail}/root"; mkdir "$R"; mount -t ramfs ramfs "$R"`,
      'for e in /*; do if [ -L "$e" ]; then cp -P "$e" "$R$e"; fi; done',
      `for d in /usr /etc /dev /proc /sys /tmp "${REPO}"; do [ -L "$d" ] && continue; mkdir -p "$R$d"; mount --rbind "$d" "$R$d"; done`,
      `for d in /lib /lib64; do if [ -d "$d" ] && [ ! -L "$d" ]; then mkdir -p "$R$d"; mount --rbind "$d" "$R$d"; fi; done`,
      `cd /; chroot "$R" "${process.execPath}" "${TSBOX}" --root "${stateRoot}" run --bundle "${b.dir}" np-ramfs-pivot && exit 90 || true`,
      `echo "state: $(ls -A "${stateRoot}" 2>/dev/null | grep -v '^.seccomp$' || true)" >&2`,
      `chroot "$R" "${process.execPath}" "${TSBOX}" --root "${stateRoot}" run --no-pivot --bundle "${b.dir}" np-ramfs`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    const stderr = r.stderr.split('\n');
    expect(stderr[0]).toMatch(/^tsbox: .*pivot_root .*EINVAL/);
    expect(stderr[1]).toBe('state: ');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([...fs.readdirSync(b.rootfs).sort(), 'done']);
  });
});
