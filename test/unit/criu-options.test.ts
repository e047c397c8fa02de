// The CRIU command lines checkpoint and restore build (lib/criu/options.ts),
// CRIU's reason taken from its output (lib/criu/criu.ts), and the flag checks.

import { describe, expect, it } from 'vitest';
import { criuReason } from '../../lib/criu/criu.js';
import { checkShared, dumpRequest, externalMounts, restoreOpts } from '../../lib/criu/options.js';
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

  const dirs = { imagesDirFd: 20, workDirFd: 21 };
  /** What every request carries: the directories, the log, and orphan_pts_master (the container's own terminal). */
  const common = (logFile: string, mode = 3) => ({ ...dirs, logFile, logLevel: 4, manageCgroupsMode: mode, orphanPtsMaster: true });

  it('dump: the tree, its freezer cgroup, runc\'s flags, soft cgroups by default, external mounts and stdio', () => {
    const stdio = [{ fd: 0, key: 'file[1a:2b]', external: 'file[1a:2b]' }, { fd: 1, key: 'pipe:[77]' }];
    const r = dumpRequest(
      { tcpEstablished: true, extUnixSk: true, shellJob: true, fileLocks: true, leaveRunning: true, emptyNs: ['network'], autoDedup: true },
      { pid: 42, ...dirs, logFile: 'dump.log', mounts: externalMounts(mounts, '/b'), stdio, freezeCgroup: '/sys/fs/cgroup/c' },
    );
    expect(r).toEqual({
      type: 1,
      opts: {
        ...common('dump.log'), pid: 42, freezeCgroup: '/sys/fs/cgroup/c',
        tcpEstablished: true, extUnixSk: true, shellJob: true, fileLocks: true, autoDedup: true, emptyNs: 0x40000000, leaveRunning: true,
        external: ['mnt[/data]:/data', 'mnt[/etc/hosts]:/etc/hosts', 'file[1a:2b]'],
      },
    });
  });

  it('pre-dump tracks memory and leaves the tree running; a dump after it names its parent; ignore is CRIU\'s IGNORE mode', () => {
    const base = { pid: 1, ...dirs, logFile: 'l', mounts: [], stdio: [] };
    expect(dumpRequest({ preDump: true, leaveRunning: true }, base)).toEqual({ type: 4, opts: { ...common('l'), pid: 1, trackMem: true, external: [] } });
    expect(dumpRequest({ parentPath: '../pre', manageCgroupsMode: 'ignore' }, base)).toEqual({ type: 1, opts: { ...common('l', 0), pid: 1, trackMem: true, parentImg: '../pre', external: [] } });
  });

  it('restore: the init as criu\'s sibling, on the rootfs, every action notified, mounts from the restoring bundle, stdio inherited', () => {
    const opts = restoreOpts(
      { manageCgroupsMode: 'full' },
      { imagesDirFd: 20, configFile: '/t/restore.conf', logFile: 'restore.log', root: '/b/rootfs', mounts: externalMounts(mounts, '/b2'), stdio: [{ fd: 4, key: 'file[1a:2b]' }, { fd: 6, key: 'pipe:[9]' }] },
    );
    expect(opts).toEqual({
      ...common('restore.log', 4), workDirFd: undefined, configFile: '/t/restore.conf', rstSibling: true, root: '/b/rootfs', notifyScripts: true, mntnsCompatMode: true,
      external: ['mnt[/data]:/b2/vol', 'mnt[/etc/hosts]:/srv/hosts'],
      inheritFd: [{ key: 'file[1a:2b]', fd: 4 }, { key: 'pipe:[9]', fd: 6 }],
    });
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
