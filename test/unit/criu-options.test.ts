// The CRIU command lines checkpoint and restore build (lib/criu/options.ts),
// CRIU's reason taken from its output (lib/criu/criu.ts), and the flag checks.

import { describe, expect, it } from 'vitest';
import { criuReason } from '../../lib/criu/criu.js';
import { checkShared, dumpArgs, externalMounts, restoreArgs } from '../../lib/criu/options.js';
import { uniqueExternals } from '../../lib/criu/stdio.js';

const mounts = [
  { destination: '/proc', type: 'proc', source: 'proc' },
  { destination: '/data', type: 'bind', source: 'vol', options: ['rbind', 'rw'] },
  { destination: 'etc/hosts', source: '/srv/hosts', options: ['bind', 'ro'] },
  { destination: '/tmp', type: 'tmpfs', source: 'tmpfs' },
];

describe('CRIU command lines', () => {
  it('bind mounts are external, keyed by their destination, bound again from their source (relative to the bundle)', () => {
    expect(externalMounts(mounts, '/b')).toEqual([
      { key: '/data', source: '/b/vol' },
      { key: '/etc/hosts', source: '/srv/hosts' },
    ]);
  });

  it('dump: the tree, its freezer cgroup, runc\'s flags, soft cgroups by default, external mounts and stdio', () => {
    const stdio = [{ fd: 0, key: 'file[1a:2b]', external: 'file[1a:2b]' }, { fd: 1, key: 'pipe:[77]' }];
    const args = dumpArgs(
      { tcpEstablished: true, extUnixSk: true, shellJob: true, fileLocks: true, leaveRunning: true, emptyNs: ['network'], autoDedup: true },
      { pid: 42, images: '/img', work: '/w', log: '/w/dump.log', mounts: externalMounts(mounts, '/b'), stdio, freezeCgroup: '/sys/fs/cgroup/c' },
    );
    expect(args).toEqual([
      'dump', '--tree', '42', '--freeze-cgroup', '/sys/fs/cgroup/c', '--images-dir', '/img', '--work-dir', '/w', '--log-file', '/w/dump.log', '-v4',
      '--tcp-established', '--ext-unix-sk', '--shell-job', '--file-locks', '--auto-dedup', '--empty-ns', 'net', '--manage-cgroups=soft',
      '--leave-running', '--external', 'mnt[/data]:/data', '--external', 'mnt[/etc/hosts]:/etc/hosts', '--external', 'file[1a:2b]',
    ]);
  });

  it('pre-dump tracks memory and leaves the tree running; a dump after it names its parent; ignore drops --manage-cgroups', () => {
    const base = { pid: 1, images: '/i', work: '/i', log: '/i/l', mounts: [], stdio: [] };
    expect(dumpArgs({ preDump: true, leaveRunning: true }, base)).toEqual(['pre-dump', '--tree', '1', '--images-dir', '/i', '--work-dir', '/i', '--log-file', '/i/l', '-v4', '--manage-cgroups=soft', '--track-mem']);
    expect(dumpArgs({ parentPath: '../pre', manageCgroupsMode: 'ignore' }, base)).toEqual(['dump', '--tree', '1', '--images-dir', '/i', '--work-dir', '/i', '--log-file', '/i/l', '-v4', '--prev-images-dir', '../pre', '--track-mem']);
  });

  it('restore: detached, the init as criu\'s sibling, on the rootfs, mounts from the restoring bundle, stdio inherited', () => {
    const args = restoreArgs(
      { manageCgroupsMode: 'full' },
      { images: '/img', work: '/img', log: '/img/restore.log', root: '/b/rootfs', pidFile: '/s/criu.pid', mounts: externalMounts(mounts, '/b2'), stdio: [{ fd: 0, key: 'file[1a:2b]' }, { fd: 2, key: 'pipe:[9]' }] },
    );
    expect(args).toEqual([
      'restore', '--restore-detached', '--restore-sibling', '--root', '/b/rootfs', '--pidfile', '/s/criu.pid', '--mntns-compat-mode',
      '--images-dir', '/img', '--work-dir', '/img', '--log-file', '/img/restore.log', '-v4', '--manage-cgroups=full',
      '--external', 'mnt[/data]:/b2/vol', '--external', 'mnt[/etc/hosts]:/srv/hosts',
      '--inherit-fd', 'fd[0]:file[1a:2b]', '--inherit-fd', 'fd[2]:pipe:[9]',
    ]);
  });

  it('one file on two descriptors is marked external once', () => {
    const k = { key: 'file[1:2]', external: 'file[1:2]' };
    expect(uniqueExternals([{ fd: 0, ...k }, { fd: 1, ...k }, { fd: 2, key: 'pipe:[3]' }])).toEqual([{ fd: 0, ...k }, { fd: 1, key: 'file[1:2]' }, { fd: 2, key: 'pipe:[3]' }]);
  });

  it('flags CRIU cannot honour are refused in one line', () => {
    expect(() => checkShared({ lazyPages: true })).toThrow(/^--lazy-pages is not supported/);
    expect(() => checkShared({ emptyNs: ['network', 'mount'] })).toThrow('--empty-ns: only "network" can be left empty, got "mount"');
    expect(() => checkShared({ manageCgroupsMode: 'x' })).toThrow('--manage-cgroups-mode must be one of soft, full, strict, ignore, got "x"');
    expect(() => checkShared({ emptyNs: ['network'], manageCgroupsMode: 'strict' })).not.toThrow();
  });

  it('CRIU\'s reason is its first error, without the source position', () => {
    const out = [
      'Warn  (criu/kerndat.c:1): something',
      'Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable',
      'Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.',
    ].join('\n');
    expect(criuReason(out)).toBe('vdso: Failed to fill self vdso symtable');
    expect(criuReason('(00.932058) Error (criu/files-reg.c:1710): Can\'t lookup mount=24 for fd=0 path=/dev/null\n')).toBe('Can\'t lookup mount=24 for fd=0 path=/dev/null');
    expect(criuReason('all fine')).toBeUndefined();
  });
});
