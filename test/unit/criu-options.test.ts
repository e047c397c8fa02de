// The CRIU command lines checkpoint and restore build (lib/criu/options.ts),
// CRIU's reason taken from its output (lib/criu/criu.ts), and the flag checks.

import { describe, expect, it } from 'vitest';
import { cgroupRoots } from '../../lib/criu/cgroup-roots.js';
import { criuReason } from '../../lib/criu/criu.js';
import { checkCheckpoint, checkShared, dumpRequest, externalMounts, restoreOpts } from '../../lib/criu/options.js';
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
  const common = (logFile: string, mode = 3) => ({ ...dirs, logFile, logLevel: 4, manageCgroupsMode: mode, notifyScripts: true, orphanPtsMaster: true });

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
      ...common('restore.log', 4), workDirFd: undefined, configFile: '/t/restore.conf', rstSibling: true, root: '/b/rootfs', mntnsCompatMode: true,
      external: ['mnt[/data]:/b2/vol', 'mnt[/etc/hosts]:/srv/hosts'],
      inheritFd: [{ key: 'file[1a:2b]', fd: 4 }, { key: 'pipe:[9]', fd: 6 }],
    });
  });

  it('one file on two descriptors is marked external once', () => {
    const k = { key: 'file[1:2]', external: 'file[1:2]' };
    expect(uniqueExternals([{ fd: 0, ...k }, { fd: 1, ...k }, { fd: 2, key: 'pipe:[3]' }])).toEqual([{ fd: 0, ...k }, { fd: 1, key: 'file[1:2]' }, { fd: 2, key: 'pipe:[3]' }]);
  });

  it('flags CRIU cannot honour are refused in one line', () => {
    expect(() => checkShared({ emptyNs: ['network', 'mount'] })).toThrow('--empty-ns: only "network" can be left empty, got "mount"');
    expect(() => checkShared({ manageCgroupsMode: 'x' })).toThrow('--manage-cgroups-mode must be one of soft, full, strict, ignore, got "x"');
    expect(() => checkShared({ emptyNs: ['network'], manageCgroupsMode: 'strict' })).not.toThrow();
  });

  it('lazy migration: the dump serves the memory at the page server (ADDRESS:PORT, IPv6 in brackets); the flags that go with it are checked', () => {
    const base = { pid: 1, ...dirs, logFile: 'l', mounts: [], stdio: [] };
    expect(dumpRequest({ lazyPages: true, pageServer: '127.0.0.1:27000' }, base).opts).toMatchObject({ lazyPages: true, ps: { address: '127.0.0.1', port: 27000 } });
    expect(dumpRequest({ pageServer: '[::1]:1' }, base).opts.ps).toEqual({ address: '::1', port: 1 });
    expect(restoreOpts({ lazyPages: true }, { imagesDirFd: 3, configFile: '/c', logFile: 'l', root: '/r', mounts: [], stdio: [] }).lazyPages).toBe(true);
    expect(() => checkCheckpoint({ lazyPages: true })).toThrow("--lazy-pages needs --page-server ADDRESS:PORT (where the dump serves the memory to CRIU's lazy-pages daemon)");
    expect(() => checkCheckpoint({ lazyPages: true, pageServer: 'host' })).toThrow('--page-server must be ADDRESS:PORT, got "host"');
    expect(() => checkCheckpoint({ lazyPages: true, pageServer: 'h:70000' })).toThrow('--page-server must be ADDRESS:PORT, got "h:70000"');
    expect(() => checkCheckpoint({ lazyPages: true, preDump: true, pageServer: 'h:1' })).toThrow('--lazy-pages and --pre-dump cannot go together');
    expect(() => checkCheckpoint({ statusFd: 3 })).toThrow('--status-fd goes with --lazy-pages');
    expect(() => checkCheckpoint({ lazyPages: true, pageServer: 'h:1', statusFd: 3 })).not.toThrow();
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

describe('cgroup roots at restore', () => {
  const mount = (mountPoint: string, controllers: string[], fstype: 'cgroup' | 'cgroup2' = 'cgroup') => ({ mountPoint, root: '/', fstype, controllers });

  it('one root for every hierarchy when the container\'s cgroup has the same path in each (pure cgroup2, or v1 alike)', () => {
    const layout = { kind: 'v2' as const, hierarchies: [{ mount: mount('/sys/fs/cgroup', [], 'cgroup2'), key: '', own: '/' }] };
    expect(cgroupRoots(layout, { dirs: { '': '/sys/fs/cgroup/pod/c1' }, created: [] })).toEqual([{ path: '/pod/c1' }]);
    const v1 = {
      kind: 'v1' as const,
      hierarchies: [
        { mount: mount('/sys/fs/cgroup/memory', ['memory']), key: 'memory', own: '/' },
        { mount: mount('/sys/fs/cgroup/cpu,cpuacct', ['cpu', 'cpuacct']), key: 'cpu,cpuacct', own: '/' },
      ],
    };
    expect(cgroupRoots(v1, { dirs: { memory: '/sys/fs/cgroup/memory/c1', 'cpu,cpuacct': '/sys/fs/cgroup/cpu,cpuacct/c1' }, created: [] })).toEqual([{ path: '/c1' }]);
    // Paths that differ: one root per hierarchy, named as CRIU names it.
    expect(cgroupRoots(v1, { dirs: { memory: '/sys/fs/cgroup/memory/a/c1', 'cpu,cpuacct': '/sys/fs/cgroup/cpu,cpuacct/c1' }, created: [] })).toEqual([
      { ctrl: 'memory', path: '/a/c1' },
      { ctrl: 'cpu,cpuacct', path: '/c1' },
    ]);
    expect(cgroupRoots(layout, undefined)).toEqual([]);
  });

  it('restore gives them to CRIU as cg_root', () => {
    const opts = restoreOpts({ cgroupRoots: [{ path: '/c1' }] }, { imagesDirFd: 3, configFile: '/c', logFile: 'l', root: '/r', mounts: [], stdio: [] });
    expect(opts.cgRoot).toEqual([{ path: '/c1' }]);
  });
});
