// The container's filesystem through the library's run(): the mount list,
// bind mounts of host paths, propagation, cgroup mounts, read-only root,
// devices, pivot_root, masked and read-only paths.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { containerSession, mountAt, readAll, variant, type ProbeReport } from '../helpers/containers.js';

const EROFS = 30;

function opts(s: string): string[] {
  return s.split(',');
}

/** Mount points the host has directly under /sys/fs/cgroup, from its mountinfo. */
function hostCgroupDirs(): { v2only: boolean; names: string[] } {
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const names = new Set<string>();
  let v2only = false;
  for (const line of lines) {
    const fields = line.split(' ');
    const target = fields[4];
    const fstype = line.split(' - ')[1]?.split(' ')[0];
    if (target === '/sys/fs/cgroup' && fstype === 'cgroup2') v2only = true;
    if (!target || path.dirname(target) !== '/sys/fs/cgroup') continue;
    const name = path.basename(target);
    names.add(name);
    if (name.includes(',')) for (const c of name.split(',')) names.add(c);
  }
  return { v2only, names: [...names].sort() };
}

describe.skipIf(!isRoot)('run(): mounts and the root filesystem' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const s = containerSession();

  it('mounts the config\'s list in order, with its options, and bind mounts of host paths', async () => {
    const hostDir = s.tempDir();
    fs.writeFileSync(path.join(hostDir, 'hello.txt'), 'from host\n');
    const fileDir = s.tempDir();
    const hostFile = path.join(fileDir, 'single.txt');
    fs.writeFileSync(hostFile, 'a single file\n');

    const b = s.bundle({
      mutate: (c) => {
        c.mounts = [
          { destination: '/proc', type: 'proc', source: 'proc' },
          { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
          { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
          {
            destination: '/dev/pts', type: 'devpts', source: 'devpts',
            options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
          },
          { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
          { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
          { destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['nodev', 'mode=1770', 'size=1m', 'uid=1000'] },
          { destination: '/host-ro', type: 'bind', source: hostDir, options: ['bind', 'ro'] },
          // No type: a bind mount is known by its options.
          { destination: '/host-rbind', source: hostDir, options: ['rbind'] },
          { destination: '/etc/single.txt', type: 'bind', source: hostFile, options: ['bind', 'ro'] },
          { destination: '/shared', type: 'bind', source: hostDir, options: ['rbind', 'rshared'] },
          { destination: '/private', type: 'bind', source: hostDir, options: ['bind', 'rprivate'] },
          // A host directory with submounts: rbind brings them, bind does not.
          { destination: '/cg-rbind', type: 'bind', source: '/sys/fs/cgroup', options: ['rbind', 'ro'] },
          { destination: '/cg-bind', type: 'bind', source: '/sys/fs/cgroup', options: ['bind', 'ro'] },
        ];
      },
    });
    const cmd = (args: string[]) => variant(b, (spec) => (spec.process.args = args));
    const [seen, readRo, readFile, writeRo, writeRbind, writeFile, pts] = await Promise.all([
      s.probe(b),
      s.collect(cmd(['cat', '/host-ro/hello.txt'])),
      s.collect(cmd(['cat', '/etc/single.txt'])),
      s.probe(cmd(['/bin/probe', 'write', '/host-ro/new.txt', 'x'])),
      s.probe(cmd(['/bin/probe', 'write', '/host-rbind/new.txt', 'written inside'])),
      s.probe(cmd(['/bin/probe', 'write', '/etc/single.txt', 'x'])),
      s.collect(cmd(['ls', '-A', '/dev/pts'])),
    ]);

    const m = (target: string) => {
      const found = mountAt(seen, target);
      expect(found, `mount at ${target}`).toBeDefined();
      return found!;
    };
    // In the order of the config.
    const order = ['/proc', '/sys', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/data', '/host-ro', '/host-rbind', '/etc/single.txt', '/shared', '/private', '/cg-rbind', '/cg-bind'];
    const positions = order.map((t) => seen.mounts.findIndex((x) => x.target === t));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);

    expect(m('/proc').fstype).toBe('proc');
    expect(m('/sys').fstype).toBe('sysfs');
    expect(opts(m('/sys').options)).toContain('ro');
    expect(opts(m('/sys').options)).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(m('/dev').fstype).toBe('tmpfs');
    expect(opts(m('/dev').options)).not.toContain('ro');

    expect(m('/data').fstype).toBe('tmpfs');
    expect(opts(m('/data').superOptions)).toEqual(expect.arrayContaining(['size=1024k', 'mode=1770', 'uid=1000']));
    expect(opts(m('/data').options)).toContain('nodev');

    expect(m('/dev/pts').fstype).toBe('devpts');
    expect(opts(m('/dev/pts').superOptions)).toEqual(expect.arrayContaining(['ptmxmode=666', 'mode=620', 'gid=5']));
    // A new devpts instance: none of the host's ptys, only ptmx.
    expect(pts.stdout.split('\n').filter(Boolean)).toEqual(['ptmx']);
    expect(m('/dev/shm').fstype).toBe('tmpfs');
    expect(m('/dev/mqueue').fstype).toBe('mqueue');

    // Bind mounts of a host directory and a host file.
    expect(readRo.stdout).toBe('from host\n');
    expect(readFile.stdout).toBe('a single file\n');
    expect(opts(m('/host-ro').options)).toContain('ro');
    expect(m('/host-ro').root.endsWith(path.basename(hostDir))).toBe(true);
    expect(writeRo).toMatchObject({ ok: false, errno: EROFS });
    expect(writeFile).toMatchObject({ ok: false, errno: EROFS });
    expect(opts(m('/host-rbind').options)).not.toContain('ro');
    expect(writeRbind).toMatchObject({ ok: true });
    expect(fs.readFileSync(path.join(hostDir, 'new.txt'), 'utf8')).toBe('written inside');
    expect(fs.existsSync(path.join(hostDir, 'x'))).toBe(false);
    expect(fs.readFileSync(hostFile, 'utf8')).toBe('a single file\n');

    // Propagation.
    expect(m('/shared').propagation).toMatch(/\bshared:\d+/);
    expect(m('/private').propagation).toBe('');

    // rbind brings the source's submounts, bind only the top.
    const under = (dir: string) => seen.mounts.filter((x) => x.target.startsWith(dir + '/')).map((x) => x.target.slice(dir.length + 1));
    const hostSub = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((t) => t.startsWith('/sys/fs/cgroup/'))
      .map((t) => t.slice('/sys/fs/cgroup/'.length));
    expect(under('/cg-rbind').sort()).toEqual([...new Set(hostSub)].sort());
    expect(under('/cg-bind')).toEqual([]);
  });

  it('resolves a relative bind source against the bundle directory', async () => {
    const b = s.bundle({
      args: ['cat', '/rel/file.txt'],
      mutate: (c) => {
        c.mounts.push({ destination: '/rel', type: 'bind', source: 'hostdata', options: ['bind', 'ro'] });
      },
    });
    fs.mkdirSync(path.join(b.dir, 'hostdata'));
    fs.writeFileSync(path.join(b.dir, 'hostdata', 'file.txt'), 'next to config.json\n');
    expect(await s.collect(b)).toMatchObject({ status: 0, stdout: 'next to config.json\n', stderr: '' });
  });

  it('keeps mount points and cwd reached through rootfs symlinks inside the rootfs, dangling ones too', async () => {
    const hostDir = s.tempDir();
    const b = s.bundle({
      args: ['sh', '-c', 'pwd && ls -1 /escape'],
      mutate: (c) => {
        c.mounts.push({ destination: '/escape/sub', type: 'tmpfs', source: 'tmpfs' });
        c.process.cwd = '/escape/cwd';
      },
    });
    // An absolute symlink to a host directory: inside the container it means
    // the same path under the rootfs. Dangling there, what is missing is
    // made there (as runc does), never on the host.
    fs.symlinkSync(hostDir, path.join(b.rootfs, 'escape'));
    const r = await s.collect(b);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${hostDir}/cwd\ncwd\nsub\n`);
    expect(fs.readdirSync(hostDir)).toEqual([]);
    expect(fs.readdirSync(path.join(b.rootfs, hostDir)).sort()).toEqual(['cwd', 'sub']);
  });

  it('a start that fails at a later mount removes the mount points it made: under an existing directory (made at once) and through a symlink (made by the walk)', async () => {
    const hostDir = s.tempDir();
    const b = s.bundle({
      mutate: (c) => {
        c.mounts.push(
          { destination: '/fresh', type: 'tmpfs', source: 'tmpfs' },
          { destination: '/fresh-parent/sub', type: 'tmpfs', source: 'tmpfs' },
          { destination: '/escape/sub', type: 'tmpfs', source: 'tmpfs' },
          { destination: '/fails', type: 'tmpfs', source: 'tmpfs', options: ['size=not-a-size'] },
        );
      },
    });
    fs.symlinkSync(hostDir, path.join(b.rootfs, 'escape'));
    const before = fs.readdirSync(b.rootfs).sort();
    const err = (await s.collect(b).then(
      () => new Error('it ran'),
      (e: unknown) => e,
    )) as Error;
    expect(err.message).toMatch(/^mount "tmpfs" on "\/fails": /);
    expect(fs.readdirSync(b.rootfs).sort()).toEqual(before);
    expect(fs.readdirSync(hostDir)).toEqual([]);
    expect(fs.existsSync(path.join(b.rootfs, hostDir))).toBe(false);
  });

  it('expands a cgroup mount at /sys/fs/cgroup into the host\'s hierarchies, with and without a cgroup namespace', async () => {
    const host = hostCgroupDirs();
    const cgroupMount = (ro: boolean) => ({
      destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', ...(ro ? ['ro'] : [])],
    });
    const make = (cgroupNs: boolean, ro: boolean) =>
      s.bundle({
        args: ['ls', '-1', '/sys/fs/cgroup'],
        mutate: (c) => {
          c.mounts.push(cgroupMount(ro));
          if (cgroupNs) c.linux.namespaces.push({ type: 'cgroup' });
        },
      });
    const plain = make(false, false);
    const withNs = make(true, false);
    const ro = make(false, true);
    const procs = (b: ReturnType<typeof make>, dir: string) =>
      variant(b, (spec) => (spec.process.args = ['ls', path.posix.join('/sys/fs/cgroup', dir)]));
    const someDir = host.v2only ? '' : host.names.find((n) => n === 'memory') ?? host.names[0]!;
    const [lsPlain, lsNs, lsRo, inPlain, inNs, seenRo, writeRo] = await Promise.all([
      s.collect(plain),
      s.collect(withNs),
      s.collect(ro),
      s.collect(procs(plain, someDir)),
      s.collect(procs(withNs, someDir)),
      s.probe(variant(ro, (spec) => (spec.process.args = ['/bin/probe']))),
      s.probe(variant(ro, (spec) => (spec.process.args = ['/bin/probe', 'write', '/sys/fs/cgroup/new', 'x']))),
    ]);
    for (const r of [lsPlain, lsNs, lsRo, inPlain, inNs]) {
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    if (host.v2only) {
      expect(lsPlain.stdout.split('\n')).toContain('cgroup.procs');
      expect(lsNs.stdout.split('\n')).toContain('cgroup.procs');
    } else {
      const names = (out: string) => out.split('\n').filter(Boolean).sort();
      expect(names(lsPlain.stdout)).toEqual(host.names);
      expect(names(lsNs.stdout)).toEqual(host.names);
      expect(names(lsRo.stdout)).toEqual(host.names);
      // Each hierarchy is a real cgroup directory.
      expect(inPlain.stdout.split('\n')).toContain('cgroup.procs');
      expect(inNs.stdout.split('\n')).toContain('cgroup.procs');
      const sub = mountAt(seenRo, path.posix.join('/sys/fs/cgroup', someDir));
      expect(sub?.fstype).toMatch(/^cgroup2?$/);
      expect(opts(sub!.options)).toContain('ro');
    }
    expect(opts(mountAt(seenRo, '/sys/fs/cgroup')!.options)).toContain('ro');
    // Made read-only where it is, not by a read-only copy of the whole tree
    // stacked on top (which left every hierarchy mounted twice).
    const below = seenRo.mounts.map((m) => m.target).filter((t) => t === '/sys/fs/cgroup' || t.startsWith('/sys/fs/cgroup/'));
    expect(below.length, below.join(' ')).toBe(new Set(below).size);
    expect(writeRo).toMatchObject({ ok: false, errno: EROFS });
  });

  it('sets rootfsPropagation on the container\'s root', async () => {
    const make = (propagation?: string) =>
      s.bundle({
        mutate: (c) => {
          if (propagation) c.linux.rootfsPropagation = propagation;
        },
      });
    const [dflt, shared, priv] = await Promise.all([s.probe(make()), s.probe(make('shared')), s.probe(make('private'))]);
    const root = (r: ProbeReport) => r.mounts.find((m) => m.target === '/')!;
    expect(root(shared).propagation).toMatch(/\bshared:\d+/);
    expect(root(priv).propagation).toBe('');
    expect(root(dflt).propagation).not.toMatch(/shared:/);
  });

  it('makes the root read-only with root.readonly, leaving the tmpfs mounts writable', async () => {
    const b = s.bundle({
      mutate: (c) => {
        c.root.readonly = true;
        c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
      },
    });
    const cmd = (args: string[]) => variant(b, (spec) => (spec.process.args = args));
    const [seen, toRoot, toEtc, toTmp, toShm] = await Promise.all([
      s.probe(b),
      s.probe(cmd(['/bin/probe', 'write', '/file', 'x'])),
      s.probe(cmd(['/bin/probe', 'write', '/etc/passwd', 'x'])),
      s.probe(cmd(['/bin/probe', 'write', '/tmp/file', 'x'])),
      s.probe(cmd(['/bin/probe', 'write', '/dev/shm/file', 'x'])),
    ]);
    expect(opts(seen.mounts.find((m) => m.target === '/')!.options)).toContain('ro');
    expect(toRoot).toMatchObject({ ok: false, errno: EROFS });
    expect(toEtc).toMatchObject({ ok: false, errno: EROFS });
    expect(toTmp).toEqual({ ok: true });
    expect(toShm).toEqual({ ok: true });
    // Only the container's view is read-only.
    fs.writeFileSync(path.join(b.rootfs, 'after.txt'), 'host can still write');
    expect(fs.existsSync(path.join(b.rootfs, 'file'))).toBe(false);
  });

  it('creates the default devices, the /dev symlinks, and linux.devices entries', async () => {
    const b = s.bundle({
      args: [
        'sh', '-c',
        "stat -c '%n %t:%T %a %u:%g %F' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/mynull /dev/myloop /dev/myfifo" +
          ' && echo --- && for l in /dev/fd /dev/stdin /dev/stdout /dev/stderr /dev/ptmx; do readlink $l || exit 1; done' +
          " && echo --- && stat -c '%n %F' /dev/pts /dev/shm /dev/mqueue" +
          ' && echo --- && head -c 5 /dev/zero | wc -c && echo data > /dev/null && echo ok',
      ],
      mutate: (c) => {
        c.linux.devices = [
          { path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o600, uid: 1000, gid: 1000 },
          { path: '/dev/myloop', type: 'b', major: 7, minor: 0, fileMode: 0o640, uid: 0, gid: 6 },
          { path: '/dev/myfifo', type: 'p', fileMode: 0o644 },
        ];
      },
    });
    const r = await s.collect(b);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [stats, links, dirs, use] = r.stdout.split('---\n').map((part) => part.split('\n').filter(Boolean));
    expect(stats).toEqual([
      '/dev/null 1:3 666 0:0 character special file',
      '/dev/zero 1:5 666 0:0 character special file',
      '/dev/full 1:7 666 0:0 character special file',
      '/dev/random 1:8 666 0:0 character special file',
      '/dev/urandom 1:9 666 0:0 character special file',
      '/dev/tty 5:0 666 0:0 character special file',
      '/dev/mynull 1:3 600 1000:1000 character special file',
      '/dev/myloop 7:0 640 0:6 block special file',
      '/dev/myfifo 0:0 644 0:0 fifo',
    ]);
    expect(links).toEqual(['/proc/self/fd', '/proc/self/fd/0', '/proc/self/fd/1', '/proc/self/fd/2', 'pts/ptmx']);
    expect(dirs).toEqual(['/dev/pts directory', '/dev/shm directory', '/dev/mqueue directory']);
    expect(use).toEqual(['5', 'ok']);
  });

  it('pivots into the rootfs: host paths are invisible and the process\'s root is the rootfs', async () => {
    const b = s.bundle();
    const [seen, ls] = await Promise.all([s.probe(b), s.collect(variant(b, (spec) => (spec.process.args = ['ls', '-1a', '/'])))]);
    const configured = new Set(['/', ...b.config.mounts.map((m: { destination: string }) => m.destination)]);
    expect(seen.mounts.map((m) => m.target).filter((t) => !configured.has(t))).toEqual([]);
    expect(seen.mounts[0]!.target).toBe('/');
    expect(ls.stdout.split('\n').filter((n) => n && n !== '.' && n !== '..').sort()).toEqual(fs.readdirSync(b.rootfs).sort());
    // Nothing of the host's filesystem is reachable by name.
    expect(fs.readdirSync(b.rootfs)).not.toContain(path.basename(process.cwd()));

    // From outside, while it runs: its root is the rootfs, not the host's /.
    const c = await s.start(variant(b, (spec) => (spec.process.args = ['/bin/probe', 'cat'])), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = readAll(c.stdout);
    try {
      const root = fs.statSync(`/proc/${c.pid}/root/`);
      const rootfs = fs.statSync(b.rootfs);
      const hostRoot = fs.statSync('/');
      expect(`${root.dev}:${root.ino}`).toBe(`${rootfs.dev}:${rootfs.ino}`);
      expect(`${root.dev}:${root.ino}`).not.toBe(`${hostRoot.dev}:${hostRoot.ino}`);
      expect(fs.readdirSync(`/proc/${c.pid}/root/`).sort()).toEqual(fs.readdirSync(b.rootfs).sort());
    } finally {
      c.stdin!.end();
    }
    expect((await c.exited).status).toBe(0);
    expect(await out).toBe('');
  });

  it('masks maskedPaths and makes readonlyPaths read-only', async () => {
    const volume = s.tempDir();
    const b = s.bundle({
      mutate: (c) => {
        c.mounts.push({ destination: '/vol', type: 'bind', source: volume, options: ['rbind'] });
        c.linux.maskedPaths = ['/secret.txt', '/secretdir', '/does-not-exist', '/proc/kcore'];
        c.linux.readonlyPaths = ['/rodir', '/proc/sys', '/missing', '/etc/group', '/vol'];
      },
    });
    fs.writeFileSync(path.join(b.rootfs, 'secret.txt'), 'top secret\n');
    fs.mkdirSync(path.join(b.rootfs, 'secretdir'));
    fs.writeFileSync(path.join(b.rootfs, 'secretdir', 'inside'), 'hidden\n');
    fs.mkdirSync(path.join(b.rootfs, 'rodir'));
    fs.writeFileSync(path.join(b.rootfs, 'rodir', 'file'), 'readable\n');
    const cmd = (...args: string[]) => variant(b, (spec) => (spec.process.args = args));
    const [seen, catSecret, lsSecret, statSecret, writeMaskedDir, writeMaskedFile, writeRo, catRo, writeProcSys, openRoFile, writeVolume] = await Promise.all([
      s.probe(b),
      s.collect(cmd('cat', '/secret.txt')),
      s.collect(cmd('ls', '-A', '/secretdir')),
      s.collect(cmd('stat', '-c', '%t:%T %F', '/secret.txt')),
      s.probe(cmd('/bin/probe', 'write', '/secretdir/x', 'y')),
      s.probe(cmd('/bin/probe', 'write', '/secret.txt', 'overwritten')),
      s.probe(cmd('/bin/probe', 'write', '/rodir/x', 'y')),
      s.collect(cmd('cat', '/rodir/file')),
      s.probe(cmd('/bin/probe', 'write', '/proc/sys/kernel/domainname', 'x')),
      s.probe(cmd('/bin/probe', 'open', '/etc/group', 'w')),
      s.probe(cmd('/bin/probe', 'write', '/vol/x', 'y')),
    ]);
    expect(catSecret).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(statSecret.stdout).toBe('1:3 character special file\n');
    expect(lsSecret).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const dir = mountAt(seen, '/secretdir')!;
    expect(dir.fstype).toBe('tmpfs');
    expect(opts(dir.options)).toContain('ro');
    expect(writeMaskedDir).toMatchObject({ ok: false, errno: EROFS });
    // Writes to a masked file go to /dev/null, not to the file.
    expect(writeMaskedFile).toEqual({ ok: true });
    expect(fs.readFileSync(path.join(b.rootfs, 'secret.txt'), 'utf8')).toBe('top secret\n');
    if (fs.existsSync('/proc/kcore')) expect(mountAt(seen, '/proc/kcore')).toBeDefined();
    expect(seen.mounts.some((m) => m.target === '/does-not-exist' || m.target === '/missing')).toBe(false);

    expect(opts(mountAt(seen, '/rodir')!.options)).toContain('ro');
    expect(opts(mountAt(seen, '/proc/sys')!.options)).toContain('ro');
    expect(writeRo).toMatchObject({ ok: false, errno: EROFS });
    expect(catRo.stdout).toBe('readable\n');
    expect(writeProcSys).toMatchObject({ ok: false, errno: EROFS });
    // A read-only file.
    expect(openRoFile).toMatchObject({ ok: false, errno: EROFS });
    expect(opts(mountAt(seen, '/etc/group')!.options)).toContain('ro');
    // The rest of /proc stays writable.
    expect(opts(mountAt(seen, '/proc')!.options)).not.toContain('ro');
    expect(fs.existsSync(path.join(b.rootfs, 'does-not-exist'))).toBe(false);
    // A mount point in readonlyPaths is made read-only where it is: mounted
    // once, read-only inside, and the host's directory stays writable.
    expect(seen.mounts.filter((m) => m.target === '/vol')).toHaveLength(1);
    expect(opts(mountAt(seen, '/vol')!.options)).toContain('ro');
    expect(writeVolume).toMatchObject({ ok: false, errno: EROFS });
    fs.writeFileSync(path.join(volume, 'from-host'), 'x');
  });

  it('recursive options (rro, rnosuid, rnodev, rnoexec, rnoatime, rnosymfollow) reach a submount of the bound tree; ro does not; the host\'s mounts keep their flags', async () => {
    // A host tree with a submount of its own.
    const tree = s.tempDir('tsbox-tree-');
    fs.mkdirSync(path.join(tree, 'sub'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsbox-test-sub', path.join(tree, 'sub')]);
    s.onCleanup(() => {
      execFileSync('umount', [path.join(tree, 'sub')]);
    });
    const b = s.bundle();
    b.config.mounts.push(
      { destination: '/rro', type: 'bind', source: tree, options: ['rbind', 'rro'] },
      { destination: '/ro', type: 'bind', source: tree, options: ['rbind', 'ro'] },
      { destination: '/rflags', type: 'bind', source: tree, options: ['rbind', 'rnosuid', 'rnodev', 'rnoexec', 'rnoatime', 'rnosymfollow'] },
      { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'rro'] },
    );
    b.config.process.args = ['sh', '-c', `for f in /rro/a /rro/sub/a /ro/a /ro/sub/a /t/a; do echo "$f $(/bin/probe write $f x)"; done
      stat -f -c "%n %T" /rro/sub`];
    b.write();
    const [r, seen] = await Promise.all([s.collect(b), s.probe(variant(b, (spec) => (spec.process.args = ['/bin/probe'])))]);
    const rofs = '{"ok":false,"errno":30,"error":"Read-only file system"}';
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout).toBe(
      `/rro/a ${rofs}\n/rro/sub/a ${rofs}\n/ro/a ${rofs}\n/ro/sub/a {"ok":true}\n/t/a ${rofs}\n/rro/sub tmpfs\n`,
    );
    const flags = (target: string) => opts(mountAt(seen, target)!.options);
    for (const target of ['/rro', '/rro/sub', '/t']) expect(flags(target), target).toContain('ro');
    expect(flags('/ro')).toContain('ro');
    expect(flags('/ro/sub')).toContain('rw');
    for (const target of ['/rflags', '/rflags/sub']) {
      expect(flags(target), target).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'noexec', 'noatime', 'nosymfollow']));
    }
    // The flags went to the container's copies only.
    const host = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === path.join(tree, 'sub'))!;
    expect(opts(host.split(' ')[5]!)).toEqual(['rw', 'relatime']);
  });
});
