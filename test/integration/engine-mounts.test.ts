// Mounts and root filesystems as engines write them (issue 13), through
// tsbox directly: configs that Docker, Podman and Kubernetes produce and
// runc accepts. Each runs a real container and checks what its process
// sees and what the host is left with.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { cgroupSession, hostHierarchies } from '../helpers/cgroups.js';
import { listTree, TSBOX } from '../helpers/cli.js';
import { lifecycleSession, spawnProc } from '../helpers/lifecycle.js';

/** The messages of one level in a --log-format json log. */
function logged(file: string, level: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: string; msg: string })
    .filter((m) => m.level === level)
    .map((m) => m.msg);
}

describe.skipIf(!isRoot)('mounts as engines write them', () => {
  const lc = lifecycleSession();

  it('a bind mount with filesystem options beside bind (mode=755, size=1k): mounted as asked, each option left out with a warning in the log', async () => {
    const host = lc.scratch();
    fs.writeFileSync(path.join(host, 'file'), 'from the host\n');
    const b = lc.bundle({
      args: ['sh', '-c', 'cat /mnt/file; touch /mnt/new 2>&1 | grep -c "Read-only file system"'],
      mutate: (c) => c.mounts.push({ destination: '/mnt', type: 'bind', source: host, options: ['rbind', 'ro', 'mode=755', 'size=1k'] }),
    });
    const log = path.join(lc.scratch(), 'log');
    const i = b.config.mounts.length - 1;
    const r = await lc.cli(['--log', log, '--log-format', 'json', 'run', '--bundle', b.dir, 'bindopts']);
    expect(r).toMatchObject({ status: 0, stdout: 'from the host\n1\n' });
    expect(logged(log, 'warning')).toEqual([
      `warning: mounts[${i}].options[2]: "mode=755" is ignored: a bind mount takes no filesystem options`,
      `warning: mounts[${i}].options[3]: "size=1k" is ignored: a bind mount takes no filesystem options`,
    ]);
    expect(fs.readdirSync(host)).toEqual(['file']);
  });

  it('a destination that is a dangling symlink in the image (/etc/localtime to a zone file it lacks, a directory link): made where the link points, inside the rootfs', async () => {
    const host = lc.scratch();
    fs.writeFileSync(path.join(host, 'zone'), 'TZif host zone\n');
    fs.mkdirSync(path.join(host, 'dir'));
    fs.writeFileSync(path.join(host, 'dir', 'inside'), 'dir content\n');
    // Where an absolute link would lead on the host: it must stay untouched.
    const hostTarget = path.join(lc.scratch(), 'not-here');
    const b = lc.bundle({
      args: ['sh', '-c', 'cat /etc/localtime /data/inside /etc/abs; for l in /etc/localtime /data /etc/abs; do readlink $l; done'],
      mutate: (c) =>
        c.mounts.push(
          { destination: '/etc/localtime', type: 'bind', source: path.join(host, 'zone'), options: ['rbind', 'ro'] },
          { destination: '/data', type: 'bind', source: path.join(host, 'dir'), options: ['rbind', 'ro'] },
          { destination: '/etc/abs', type: 'bind', source: path.join(host, 'zone'), options: ['rbind', 'ro'] },
        ),
    });
    fs.symlinkSync('/usr/share/zoneinfo/Etc/UTC', path.join(b.rootfs, 'etc', 'localtime'));
    fs.symlinkSync('../srv/./data', path.join(b.rootfs, 'data'));
    fs.symlinkSync(`../../../../../../..${hostTarget}`, path.join(b.rootfs, 'etc', 'abs'));
    const r = await lc.cli(['run', '--bundle', b.dir, 'dangling']);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout).toBe(
      ['TZif host zone', 'dir content', 'TZif host zone', '/usr/share/zoneinfo/Etc/UTC', '../srv/./data', `../../../../../../..${hostTarget}`, ''].join('\n'),
    );
    // The links are still links, now to what was made inside the rootfs (as runc leaves it).
    expect(fs.readlinkSync(path.join(b.rootfs, 'etc', 'localtime'))).toBe('/usr/share/zoneinfo/Etc/UTC');
    expect(fs.statSync(path.join(b.rootfs, 'usr/share/zoneinfo/Etc/UTC')).isFile()).toBe(true);
    expect(fs.statSync(path.join(b.rootfs, 'srv/data')).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(b.rootfs, hostTarget)).isFile()).toBe(true);
    expect(fs.existsSync(hostTarget)).toBe(false);
  });
});

describe.skipIf(!isRoot)('tmpcopyup (podman run --read-only, --tmpfs)', () => {
  const lc = lifecycleSession();

  /** An image directory /data: files with modes and owners, a subdirectory, links (one absolute, one climbing out), a FIFO. */
  function imageData(rootfs: string): string {
    const data = path.join(rootfs, 'data');
    fs.mkdirSync(path.join(data, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(data, 'file'), 'image content\n', { mode: 0o640 });
    fs.chownSync(path.join(data, 'file'), 5, 6);
    fs.chmodSync(path.join(data, 'file'), 0o4750);
    fs.writeFileSync(path.join(data, 'sub', 'deep'), 'deeper\n');
    fs.chmodSync(path.join(data, 'sub'), 0o701);
    fs.symlinkSync('/etc/passwd', path.join(data, 'abs-link'));
    fs.symlinkSync('../../../../../../../../tmp', path.join(data, 'out-link'));
    fs.lchownSync(path.join(data, 'out-link'), 7, 8);
    execFileSync('mkfifo', [path.join(data, 'fifo')]);
    fs.utimesSync(path.join(data, 'file'), 1_000_000, 1_000_000);
    return data;
  }

  const LIST = "cd /data && for f in file sub sub/deep abs-link out-link fifo; do stat -c '%n %F %a %u:%g' $f; done; stat -c '%Y' file; cat file sub/deep; readlink abs-link; readlink out-link; stat -f -c %T /data";

  it('a tmpfs over an image directory of a read-only root: the image content inside (modes, owners, links as links), writes go to the tmpfs, the image is unchanged', async () => {
    const b = lc.bundle({
      args: ['sh', '-c', `${LIST}; echo new > /data/new && echo changed > /data/file && cat /data/new /data/file`],
      mutate: (c) => {
        c.root.readonly = true;
        c.mounts.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'tmpcopyup', 'size=1m'] });
      },
    });
    const data = imageData(b.rootfs);
    const before = listTree(data);
    const r = await lc.cli(['run', '--bundle', b.dir, 'copyup']);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout.split('\n')).toEqual([
      'file regular file 4750 5:6',
      'sub directory 701 0:0',
      'sub/deep regular file 644 0:0',
      'abs-link symbolic link 777 0:0',
      'out-link symbolic link 777 7:8',
      'fifo fifo 644 0:0',
      '1000000',
      'image content',
      'deeper',
      '/etc/passwd',
      '../../../../../../../../tmp',
      'tmpfs',
      'new',
      'changed',
      '',
    ]);
    expect(listTree(data)).toEqual(before);
    expect(fs.readFileSync(path.join(data, 'file'), 'utf8')).toBe('image content\n');
  });

  it('a destination that is a symlink to a host directory (absolute and climbing): what is copied is the rootfs\'s, never the host\'s', async () => {
    const secret = lc.scratch();
    fs.writeFileSync(path.join(secret, 'secret'), 'host secret\n');
    const b = lc.bundle({
      args: ['sh', '-c', 'ls -A /abs /climb | sort; cat /abs/secret /climb/secret 2>&1 | grep -c "No such file"'],
      mutate: (c) =>
        c.mounts.push(
          { destination: '/abs', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] },
          { destination: '/climb', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] },
        ),
    });
    fs.symlinkSync(secret, path.join(b.rootfs, 'abs'));
    fs.symlinkSync(`../../../../../../../..${secret}`, path.join(b.rootfs, 'climb'));
    const r = await lc.cli(['run', '--bundle', b.dir, 'copyup-links']);
    // Both lead to the same missing directory inside the rootfs, made there, empty.
    expect(r).toMatchObject({ status: 0, stdout: '\n/abs:\n/climb:\n2\n', stderr: '' });
    expect(fs.readdirSync(secret)).toEqual(['secret']);
  });

  it('with ro: the copy is made, then the tmpfs is read-only; a tmpfs over a path the image lacks is empty', async () => {
    const b = lc.bundle({
      args: ['sh', '-c', 'cat /data/file; touch /data/x 2>&1 | grep -c "Read-only file system"; ls -A /none | wc -l'],
      mutate: (c) =>
        c.mounts.push(
          { destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'tmpcopyup'] },
          { destination: '/none', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] },
        ),
    });
    imageData(b.rootfs);
    const r = await lc.cli(['run', '--bundle', b.dir, 'copyup-ro']);
    expect(r).toMatchObject({ status: 0, stdout: 'image content\n1\n0\n', stderr: '' });
  });
  it('a tmpfs over an image directory takes its mode (not tmpfs\'s world-writable 1777), with and without tmpcopyup; a mode= option still wins', async () => {
    const b = lc.bundle({
      args: ['stat', '-c', '%a %n', '/data', '/copied', '/asked', '/none'],
      mutate: (c) =>
        c.mounts.push(
          { destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
          { destination: '/copied', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] },
          { destination: '/asked', type: 'tmpfs', source: 'tmpfs', options: ['mode=1777'] },
          { destination: '/none', type: 'tmpfs', source: 'tmpfs', options: ['mode=700'] },
        ),
    });
    for (const dir of ['data', 'copied', 'asked']) {
      fs.mkdirSync(path.join(b.rootfs, dir));
      fs.chmodSync(path.join(b.rootfs, dir), 0o750);
    }
    const r = await lc.cli(['run', '--bundle', b.dir, 'tmpfs-mode']);
    expect(r).toMatchObject({ status: 0, stdout: '750 /data\n750 /copied\n1777 /asked\n700 /none\n', stderr: '' });
    // The image's directories are as they were.
    expect((fs.statSync(path.join(b.rootfs, 'data')).mode & 0o7777).toString(8)).toBe('750');
  });
});

describe.skipIf(!isRoot)('rootfsPropagation rshared with an rshared bind (Kubernetes Bidirectional)', () => {
  const lc = lifecycleSession();

  it('a mount made inside reaches the host\'s shared mount; with the default propagation it does not; the rootfs never shows on the host', async () => {
    // The "host" side is a private mount namespace of the test's own, whose
    // mounts are then all made shared (as systemd has a host's), with a temp
    // directory bound onto itself as the volume: the real host's mounts and
    // propagation are never touched.
    const vol = lc.scratch();
    const bundle = (id: string, propagation?: string) => {
      fs.mkdirSync(path.join(vol, id));
      return lc.bundle({
        args: ['sh', '-c', `mount -t tmpfs tmpfs /vol/${id} && echo made > /vol/${id}/inside${propagation ? ' && exec sleep 100' : ''}`],
        mutate: (c) => {
          c.mounts.push({ destination: '/vol', type: 'bind', source: vol, options: ['rbind', 'rshared'] });
          if (propagation) c.linux.rootfsPropagation = propagation;
        },
      });
    };
    const shared = bundle('bidi', 'rshared');
    const plain = bundle('plain');
    // "slave" alone leaves the host's shared submounts shared in the container.
    const slave = lc.bundle({ args: ['sleep', '100'], mutate: (c) => (c.linux.rootfsPropagation = 'slave') });
    const tsbox = `"${process.execPath}" "${TSBOX}" --root "${lc.root}"`;
    const script = [
      'set -e',
      'mount --make-rshared /',
      // A peer group of its own (bound under a shared "/", it would be a peer of it).
      `mount --bind "${vol}" "${vol}" && mount --make-private "${vol}" && mount --make-shared "${vol}"`,
      `${tsbox} run -d --bundle "${shared.dir}" bidi >/dev/null 2>&1 </dev/null`,
      `for i in $(seq 200); do [ -e "${vol}/bidi/inside" ] && break; sleep 0.05; done`,
      // While it runs: its rootfs and the mounts in it stayed in its namespace.
      `grep -c " ${shared.rootfs}" /proc/self/mountinfo || true`,
      `${tsbox} delete -f bidi`,
      // Its bundle on a shared mount of its own, below "/".
      `mount --bind "${slave.dir}" "${slave.dir}" && mount --make-private "${slave.dir}" && mount --make-shared "${slave.dir}"`,
      `${tsbox} run -d --bundle "${slave.dir}" slave >/dev/null 2>&1 </dev/null`,
      `grep -c " ${slave.rootfs}" /proc/self/mountinfo || true`,
      `${tsbox} delete -f slave`,
      `${tsbox} run --bundle "${plain.dir}" plain`,
      // What this namespace (the "host") sees after both containers are gone.
      `cat "${vol}/bidi/inside"`,
      `grep -c " ${vol}/bidi " /proc/self/mountinfo`,
      `test ! -e "${vol}/plain/inside" && echo plain-not-seen`,
    ].join('\n');
    const p = spawnProc('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script]);
    const exit = await p.exited;
    expect({ ...exit, stdout: p.stdout.text, stderr: p.stderr.text }).toEqual({ status: 0, signal: null, stdout: '0\n0\nmade\n1\nplain-not-seen\n', stderr: '' });
    // The test's own namespace never saw any of it.
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(vol);
    expect(fs.readdirSync(path.join(vol, 'bidi'))).toEqual([]);
  });
});

describe.skipIf(!isRoot)('the cgroup mount under cgroup v1 (docker and podman run -m 64m)', () => {
  const cg = cgroupSession();
  const lc = cg.lc;
  const memory = isRoot ? hostHierarchies().find((h) => h.key.split(',').includes('memory') && h.fstype === 'cgroup') : undefined;

  function limited(name: string, args: string[], cgroupNs: boolean) {
    return lc.bundle({
      args,
      mutate: (c) => {
        c.linux.cgroupsPath = name;
        c.linux.resources = { memory: { limit: 64 * 1024 * 1024 } };
        c.mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
        if (cgroupNs) c.linux.namespaces.push({ type: 'cgroup' });
      },
    });
  }

  for (const cgroupNs of [false, true]) {
    it.skipIf(!memory)(`${cgroupNs ? 'with' : 'without'} a cgroup namespace: the container reads its own limit (67108864) and sees no other container's cgroup`, async () => {
      const other = cg.name('other');
      await lc.create(cg.track('other'), limited(other, ['sleep', '1000'], false));
      const name = cg.name();
      const b = limited(name, ['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ls /sys/fs/cgroup/memory /sys/fs/cgroup/pids | grep -c tsbox-test; grep -c "^$$\\$" /sys/fs/cgroup/memory/cgroup.procs'], cgroupNs);
      const r = await lc.cli(['run', '--bundle', b.dir, cg.track('limited')]);
      expect(r).toMatchObject({ status: 0, stdout: '67108864\n0\n1\n', stderr: '' });
    });
  }
});
