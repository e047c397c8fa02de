// User namespaces and idmapped mounts, as root: the maps the container sees,
// its ids on the host, devices and /sys bound from the host, files it makes
// in a bind mount, joining a user namespace by path, exec into one, and the
// errors for maps that cannot work.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../../lib/runtime/runtime.js';
import { isRoot } from '../helpers/bundle.js';
import { containerSession, eventually, hostNamespace, mountAt, readAll } from '../helpers/containers.js';

/** Container ids 0..65535 are host ids BASE..BASE+65535: unused on this machine. */
const BASE = 100000 + 1000 * Math.floor(Math.random() * 100);
const MAPPED = { uidMappings: [{ containerID: 0, hostID: BASE, size: 65536 }], gidMappings: [{ containerID: 0, hostID: BASE, size: 65536 }] };

function withUserns(c: any, extra: Partial<typeof MAPPED> = {}): void {
  c.linux.namespaces.push({ type: 'user' });
  Object.assign(c.linux, MAPPED, extra);
}

/** A host field of /proc/<pid>/status, e.g. "Uid". */
function hostStatus(pid: number, field: string): string {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return (line ?? '').slice(field.length + 1).trim();
}

const CAP_SYS_ADMIN = 21n;
const CAP_SYS_RESOURCE = 24n;
/** Raising a hard limit needs CAP_SYS_RESOURCE, which root lacks on some machines (containers). */
const hasCapSysResource = ((BigInt(`0x${hostStatus(process.pid, 'CapEff')}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
const CAP_NET_BIND_SERVICE = 10n;

describe.skipIf(!isRoot)('user namespaces' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const s = containerSession();

  it('maps the container\'s ids as configured: root inside, the mapped ids on the host', async () => {
    const b = s.bundle({
      args: ['/bin/sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g; sleep 5'],
      mutate: (c) => {
        withUserns(c);
        c.process.capabilities = { bounding: ['CAP_NET_BIND_SERVICE'], effective: ['CAP_NET_BIND_SERVICE'], permitted: ['CAP_NET_BIND_SERVICE'] };
      },
    });
    const c = await s.start(b, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
    const err = readAll(c.stderr);
    // The host sees the process under the mapped host ids, in a namespace of its own.
    await eventually(() => expect(hostStatus(c.pid, 'Uid').split(/\s+/)).toEqual([`${BASE}`, `${BASE}`, `${BASE}`, `${BASE}`]));
    expect(hostStatus(c.pid, 'Gid').split(/\s+/)[0]).toBe(`${BASE}`);
    expect(fs.readlinkSync(`/proc/${c.pid}/ns/user`)).not.toBe(hostNamespace('user'));
    // Capabilities in its namespace are exactly the configured ones.
    const capEff = BigInt(`0x${hostStatus(c.pid, 'CapEff')}`);
    expect(capEff).toBe(1n << CAP_NET_BIND_SERVICE);
    expect(BigInt(`0x${hostStatus(c.pid, 'CapBnd')}`) & (1n << CAP_SYS_ADMIN)).toBe(0n);
    await eventually(() => expect(text.split('\n')).toHaveLength(6));
    c.kill('SIGKILL');
    await c.exited;
    const lines = text.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toEqual([`0 ${BASE} 65536`, `0 ${BASE} 65536`, 'allow', '0', '0']);
    expect(await err).toBe('');
  });

  it('lowers process.oomScoreAdj below the runtime\'s own in a new user namespace (written before it exists, as runc does)', async () => {
    const own = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
    const b = s.bundle({
      args: ['/bin/cat', '/proc/self/oom_score_adj'],
      mutate: (c) => {
        withUserns(c);
        c.process.oomScoreAdj = own - 100;
      },
    });
    if (hasCapSysResource) {
      expect(await s.collect(b)).toMatchObject({ status: 0, stdout: `${own - 100}\n`, stderr: '' });
    } else {
      // Root without CAP_SYS_RESOURCE (a container): the clear error.
      await expect(s.collect(b)).rejects.toThrow(
        `process.oomScoreAdj: write ${own - 100} to /proc/self/oom_score_adj: lowering it this far (the runtime's own is ${own}) needs CAP_SYS_RESOURCE in the host's user namespace, which uid 0 does not have`,
      );
    }
  });

  it('binds the host\'s device nodes and /sys: /dev/null works, sysfs is read-only', async () => {
    const b = s.bundle({
      args: ['/bin/sh', '-c', 'echo x > /dev/null && head -c 4 /dev/zero | wc -c && ls -ln /dev/null && touch /sys/x 2>/dev/null || echo ro-sys; grep " /sys " /proc/self/mountinfo | cut -d" " -f5,6; ls -lnd /dev /dev/shm | cut -c1-30'],
      mutate: (c) => {
        withUserns(c);
        // No network namespace: sysfs cannot be mounted, so it is bound.
        c.linux.namespaces = c.linux.namespaces.filter((ns: any) => ns.type !== 'network');
      },
    });
    const r = await s.collect(b);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]!.trim()).toBe('4');
    // The host's node, owned by host root: unmapped, so nobody here.
    expect(lines[1]).toMatch(/^crw-rw-rw-\s+1 65534\s+65534\s+1,\s+3 /);
    expect(lines[2]).toBe('ro-sys');
    expect(lines[3]).toMatch(/^\/sys ro,/);
    // tmpfs mounted in the namespace belongs to its root.
    expect(lines[4]).toMatch(/^drwxr-xr-x\s+\d+ 0\s+0/);
    expect(lines[5]).toMatch(/^drwxrwxrwt\s+\d+ 0\s+0/);
  });

  it('mounts sysfs itself when the container has its own network namespace', async () => {
    const b = s.bundle({ mutate: (c) => withUserns(c) });
    const r = await s.probe(b);
    expect(mountAt(r, '/sys')?.fstype).toBe('sysfs');
    expect(mountAt(r, '/dev/null')?.fstype).toBe('devtmpfs');
    // devpts takes gid=5 as an id of the container's namespace: the kernel
    // keeps (and shows, in the initial namespace's terms) host gid BASE + 5.
    expect(mountAt(r, '/dev/pts')?.superOptions).toMatch(new RegExp(`(^|,)gid=${BASE + 5}(,|$)`));
  });

  it('creates files in a bind mount as the mapped host ids', async () => {
    const dir = s.tempDir();
    fs.chmodSync(dir, 0o777);
    const b = s.bundle({
      args: ['/bin/sh', '-c', 'touch /data/by-root && su -s /bin/sh nobody -c "touch /data/by-nobody" 2>&1; ls -ln /data'],
      mutate: (c) => {
        withUserns(c);
        c.mounts.push({ destination: '/data', type: 'bind', source: dir, options: ['rbind', 'rw'] });
        c.process.capabilities = { bounding: ['CAP_SETUID', 'CAP_SETGID'], effective: ['CAP_SETUID', 'CAP_SETGID'], permitted: ['CAP_SETUID', 'CAP_SETGID'] };
        c.process.noNewPrivileges = false;
      },
    });
    // The rootfs belongs to host root, which the container's root is not:
    // what it would create there (a mount point) must exist already.
    fs.mkdirSync(path.join(b.rootfs, 'data'));
    const r = await s.collect(b);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const root = fs.statSync(path.join(dir, 'by-root'));
    expect([root.uid, root.gid]).toEqual([BASE, BASE]);
    // Container id 65534 is host id BASE + 65534.
    const nobody = fs.statSync(path.join(dir, 'by-nobody'));
    expect([nobody.uid, nobody.gid]).toEqual([BASE + 65534, BASE + 65534]);
    // Inside, the same files show the container's ids.
    expect(r.stdout).toMatch(/ 0\s+0\s+.* by-root/);
    expect(r.stdout).toMatch(/ 65534\s+65534\s+.* by-nobody/);
  });

  it('runs the process as a mapped non-root user with its groups (setgroups allowed)', async () => {
    const b = s.bundle({
      mutate: (c) => {
        withUserns(c);
        c.process.user = { uid: 1000, gid: 1000, additionalGids: [5, 2000] };
      },
    });
    const r = await s.probe(b);
    expect([r.uid, r.gid, r.euid]).toEqual([1000, 1000, 1000]);
    expect(r.groups.sort((x, y) => x - y)).toEqual([5, 2000]);
  });

  it.skipIf(!hasCapSysResource)('raises rlimits above the runtime\'s own hard limit (set while the helper is still privileged)' + (hasCapSysResource ? '' : ' (skipped: no CAP_SYS_RESOURCE here)'), async () => {
    const hard = Number(fs.readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\d+\s+(\d+)/)![1]) + 1000;
    const b = s.bundle({
      mutate: (c) => {
        withUserns(c);
        c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard }];
      },
    });
    const r = await s.probe(b);
    expect(r.rlimits.NOFILE).toEqual({ soft: 1024, hard });
  });

  it('joins an existing user namespace by path (before the other namespaces)', async () => {
    const a = s.bundle({ args: ['/bin/sleep', '10'], mutate: (c) => withUserns(c) });
    const A = await s.start(a, { stdio: 'ignore' });
    const b = s.bundle({
      args: ['/bin/sh', '-c', 'cat /proc/self/uid_map; id -u; readlink /proc/self/ns/user'],
      mutate: (c) => {
        c.linux.namespaces.push({ type: 'user', path: `/proc/${A.pid}/ns/user` });
      },
    });
    const r = await s.collect(b);
    expect(r.stderr).toBe('');
    const [map, uid, ns] = r.stdout.trim().split('\n');
    expect(map!.trim().split(/\s+/)).toEqual(['0', `${BASE}`, '65536']);
    expect(uid).toBe('0');
    expect(ns).toBe(fs.readlinkSync(`/proc/${A.pid}/ns/user`));
  });

  it('execs into a user namespace container: setns into its user namespace first', async () => {
    const root = s.tempDir('tsbox-state-');
    const rt = new Runtime({ root });
    const b = s.bundle({ args: ['/bin/sleep', '30'], mutate: (c) => withUserns(c) });
    const id = `userns-exec-${process.pid}`;
    s.onCleanup(async () => {
      await rt.delete(id, { force: true });
    });
    await rt.create(id, b.dir, { stdio: 'ignore' });
    await rt.start(id);
    const e = await rt.exec(
      id,
      { args: ['/bin/sh', '-c', 'cat /proc/self/uid_map; id -u; id -G; readlink /proc/self/ns/user'], cwd: '/', user: { uid: 0, gid: 0 } },
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const [out, err, status] = await Promise.all([readAll(e.stdout), readAll(e.stderr), e.exited]);
    expect(err).toBe('');
    expect(status.status).toBe(0);
    const [map, uid, groups, ns] = out.trim().split('\n');
    expect(map!.trim().split(/\s+/)).toEqual(['0', `${BASE}`, '65536']);
    expect(uid).toBe('0');
    expect(groups).toBe('0');
    expect(ns).toBe(fs.readlinkSync(`/proc/${rt.state(id).pid}/ns/user`));
  });

  it('writes oom_score_adj in a user namespace, and the waiting init is non-dumpable again (its /proc files are root\'s, not the mapped user\'s)', async () => {
    const root = s.tempDir('tsbox-state-');
    const rt = new Runtime({ root });
    const b = s.bundle({
      args: ['/bin/sleep', '30'],
      mutate: (c) => {
        withUserns(c);
        c.process.oomScoreAdj = 500;
      },
    });
    const id = `userns-oom-${process.pid}`;
    s.onCleanup(async () => {
      await rt.delete(id, { force: true });
    });
    const { pid } = await rt.create(id, b.dir, { stdio: 'ignore' });
    expect(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim()).toBe('500');
    expect(hostStatus(pid, 'Uid').split(/\s+/)[0]).toBe(`${BASE}`);
    // Waiting for start, the init is still the helper: non-dumpable, so its
    // /proc/<pid>/* belongs to the host's root and not to its own uid (the
    // directory itself always shows the process's euid).
    expect(fs.statSync(`/proc/${pid}`).uid).toBe(BASE);
    expect(fs.statSync(`/proc/${pid}/environ`).uid).toBe(0);
  });

  it('refuses maps that cannot work with one line naming the field, and leaves nothing behind', async () => {
    const cases: Array<[(c: any) => void, RegExp]> = [
      [(c) => c.linux.namespaces.push({ type: 'user' }), /linux\.uidMappings: is required when linux\.namespaces creates a user namespace$/],
      [(c) => withUserns(c, { gidMappings: [] }), /linux\.gidMappings: is required when/],
      [
        (c) => withUserns(c, { uidMappings: [{ containerID: 0, hostID: BASE, size: 10 }, { containerID: 5, hostID: BASE + 100, size: 10 }] }),
        /linux\.uidMappings\[1\]: overlaps linux\.uidMappings\[0\] in container ids$/,
      ],
      [
        (c) => withUserns(c, { uidMappings: [{ containerID: 0, hostID: 4294967290, size: 10 }] }),
        /linux\.uidMappings\[0\]: hostID 4294967290 \+ size 10 goes beyond id 4294967294/,
      ],
      [(c) => withUserns(c, { uidMappings: [{ containerID: 1, hostID: BASE, size: 10 }] }), /linux\.uidMappings: must map container id 0/],
      [
        (c) => {
          withUserns(c);
          c.process.user = { uid: 70000, gid: 0 };
        },
        /process\.user\.uid: 70000 is not mapped by linux\.uidMappings$/,
      ],
      [
        (c) => withUserns(c, { gidMappings: [{ containerID: 0, hostID: BASE, size: 1 }] }),
        /mounts\[2\]\.options\[5\]: gid=5: gid 5 is not mapped by linux\.gidMappings$/,
      ],
      [(c) => Object.assign(c.linux, MAPPED), /linux\.uidMappings: needs a user namespace in linux\.namespaces$/],
    ];
    for (const [mutate, message] of cases) {
      const b = s.bundle({ mutate });
      await expect(s.start(b), message.source).rejects.toThrow(message);
      expect(fs.readdirSync(b.rootfs).sort()).toEqual(['bin', 'dev', 'etc', 'proc', 'root', 'sys', 'tmp']);
    }
  });

  it('a setup step that fails after the maps are written kills the init and undoes its work', async () => {
    // A bind source the container's root cannot reach (a 0700 directory of
    // host root): the init fails after its maps were written and removes
    // the mount point it made.
    const dir = s.tempDir();
    fs.chmodSync(dir, 0o700);
    fs.mkdirSync(path.join(dir, 'sub'));
    const b = s.bundle({
      mutate: (c) => {
        withUserns(c);
        c.mounts.push({ destination: '/data', type: 'bind', source: path.join(dir, 'sub'), options: ['bind'] });
      },
    });
    fs.chmodSync(b.rootfs, 0o777);
    await expect(s.start(b)).rejects.toThrow(/^mount ".*\/sub" on "\/data": permission denied \(EACCES\)$/);
    expect(fs.readdirSync(b.rootfs).sort()).toEqual(['bin', 'dev', 'etc', 'proc', 'root', 'sys', 'tmp']);
  });
});

describe.skipIf(!isRoot)('idmapped mounts' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const s = containerSession();

  it('shows a bind mount\'s files under the mapped ids inside and leaves the host\'s unchanged', async () => {
    const dir = s.tempDir();
    // The kernel refuses writes to an inode whose owner the mount does not
    // map (host root's, here): the directory gets a mapped owner.
    fs.chownSync(dir, 1000, 1000);
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    fs.chownSync(path.join(dir, 'file'), 1000, 1001);
    const b = s.bundle({
      args: ['/bin/sh', '-c', 'ls -ln /data/file; touch /data/new; ls -ln /data/new'],
      mutate: (c) => {
        c.mounts.push({
          destination: '/data',
          type: 'bind',
          source: dir,
          options: ['bind'],
          // On-disk ids (containerID side) as the mount shows them (hostID side).
          uidMappings: [{ containerID: 1000, hostID: 5000, size: 10 }, { containerID: 7000, hostID: 0, size: 1 }],
          gidMappings: [{ containerID: 1000, hostID: 6000, size: 10 }, { containerID: 7000, hostID: 0, size: 1 }],
        });
      },
    });
    const r = await s.collect(b);
    expect(r.stderr).toBe('');
    const [file, created] = r.stdout.trim().split('\n');
    // 1000:1001 on disk shows as 5000:6001 through the mount.
    expect(file).toMatch(/^-rw-r--r--\s+1 5000\s+6001\s/);
    // Root creating a file through the mount writes on-disk id 7000.
    expect(created).toMatch(/^-rw-r--r--\s+1 0\s+0\s/);
    const st = fs.statSync(path.join(dir, 'file'));
    expect([st.uid, st.gid]).toEqual([1000, 1001]);
    const n = fs.statSync(path.join(dir, 'new'));
    expect([n.uid, n.gid]).toEqual([7000, 7000]);
  });

  it('with the idmap option, maps a host root\'s directory to the container\'s root in its user namespace', async () => {
    const dir = s.tempDir();
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    const b = s.bundle({
      args: ['/bin/sh', '-c', 'ls -lnd /data /data/file; touch /data/new && echo created'],
      mutate: (c) => {
        withUserns(c);
        c.mounts.push({ destination: '/data', type: 'bind', source: dir, options: ['bind', 'idmap'] });
      },
    });
    fs.mkdirSync(path.join(b.rootfs, 'data'));
    const r = await s.collect(b);
    expect(r.stderr).toBe('');
    const [d, file, created] = r.stdout.trim().split('\n');
    // Host root's files are the container root's, and what it writes stays host root's on disk.
    expect(d).toMatch(/^drwx------\s+\d+ 0\s+0\s/);
    expect(file).toMatch(/^-rw-r--r--\s+1 0\s+0\s/);
    expect(created).toBe('created');
    const st = fs.statSync(path.join(dir, 'new'));
    expect([st.uid, st.gid]).toEqual([0, 0]);
  });

  it('refuses an idmap on a mount that is not a bind mount, or with only one of the maps', async () => {
    for (const [mutate, message] of [
      [(c: any) => Object.assign(c.mounts[3], { uidMappings: MAPPED.uidMappings, gidMappings: MAPPED.gidMappings }), /mounts\[3\]\.uidMappings: only a bind mount can be idmapped$/],
      [
        (c: any) => c.mounts.push({ destination: '/data', type: 'bind', source: os.tmpdir(), options: ['bind'], uidMappings: MAPPED.uidMappings }),
        /mounts\[6\]\.gidMappings: is required for an idmapped mount/,
      ],
    ] as const) {
      const b = s.bundle({ mutate });
      await expect(s.start(b)).rejects.toThrow(message);
    }
  });
});
