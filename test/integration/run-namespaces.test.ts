// Namespaces, hostnames, sysctls and many containers at once, through the
// library's run(): checked from inside (the probe's report) and outside.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../lib/bundle.js';
import { childPids, isRoot } from '../helpers/bundle.js';
import { containerSession, eventually, hostNamespace, variant } from '../helpers/containers.js';

const KINDS = ['pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'] as const;
const CONFIG_TYPE: Record<(typeof KINDS)[number], string> = {
  pid: 'pid', mnt: 'mount', uts: 'uts', ipc: 'ipc', net: 'network', cgroup: 'cgroup',
};

describe.skipIf(!isRoot)('run(): namespaces' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const s = containerSession();

  it('creates each requested namespace and shares the host\'s for each one omitted', async () => {
    const all = s.bundle({
      mutate: (c) => {
        c.linux.namespaces = KINDS.map((k) => ({ type: CONFIG_TYPE[k] }));
      },
    });
    // Without network, ipc and cgroup (hostname needs uts, mount is required).
    const some = s.bundle({
      mutate: (c) => {
        c.linux.namespaces = [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }];
      },
    });
    const noPid = s.bundle({
      mutate: (c) => {
        c.linux.namespaces = [{ type: 'mount' }];
        delete c.hostname;
      },
    });
    const [a, b, n] = await Promise.all([s.probe(all), s.probe(some), s.probe(noPid)]);

    for (const k of KINDS) expect(a.namespaces[k], k).not.toBe(hostNamespace(k));
    // Never requested: always the host's.
    expect(a.namespaces.user).toBe(hostNamespace('user'));
    expect(a.namespaces.time).toBe(hostNamespace('time'));
    expect(a.pid).toBe(1);
    expect(a.ppid).toBe(0);

    for (const k of ['pid', 'mnt', 'uts'] as const) expect(b.namespaces[k], k).not.toBe(hostNamespace(k));
    for (const k of ['ipc', 'net', 'cgroup', 'user', 'time'] as const) expect(b.namespaces[k], k).toBe(hostNamespace(k));
    expect(b.pid).toBe(1);

    expect(n.namespaces.mnt).not.toBe(hostNamespace('mnt'));
    for (const k of ['pid', 'uts', 'ipc', 'net', 'cgroup'] as const) expect(n.namespaces[k], k).toBe(hostNamespace(k));
    expect(n.pid).toBeGreaterThan(1);
    expect(n.hostname).toBe(os.hostname());
  });

  it('gives two containers distinct namespaces of the same kinds', async () => {
    // Both must be alive at once: the kernel reuses a freed namespace's
    // inode number, so two containers that merely follow each other may
    // show the same one. `probe sleep 1` reports after a second.
    const b = s.bundle({ args: ['/bin/probe', 'sleep', '1'] });
    const [x, y] = await Promise.all([s.probe(b), s.probe(b)]);
    for (const k of ['pid', 'mnt', 'uts', 'ipc', 'net'] as const) expect(x.namespaces[k], k).not.toBe(y.namespaces[k]);
  });

  it('joins an existing namespace given by path', async () => {
    const a = s.bundle({
      args: ['/bin/probe', 'sleep', '5'],
      mutate: (c) => {
        c.hostname = 'a-host';
      },
    });
    const A = await s.start(a, { stdio: 'ignore' });
    try {
      const b = s.bundle({
        mutate: (c) => {
          delete c.hostname;
          c.linux.namespaces = [
            { type: 'pid' }, { type: 'mount' }, { type: 'network' },
            { type: 'uts', path: `/proc/${A.pid}/ns/uts` },
          ];
        },
      });
      const seen = await s.probe(b);
      expect(seen.hostname).toBe('a-host');
      expect(seen.namespaces.uts).toBe(fs.readlinkSync(`/proc/${A.pid}/ns/uts`));
      expect(seen.namespaces.uts).not.toBe(hostNamespace('uts'));
      // The other namespaces are B's own.
      expect(seen.namespaces.net).not.toBe(fs.readlinkSync(`/proc/${A.pid}/ns/net`));
      expect(seen.pid).toBe(1);
    } finally {
      expect(A.kill('SIGKILL')).toBe(true);
      expect((await A.exited).signal).toBe('SIGKILL');
    }
    expect(os.hostname()).not.toBe('a-host');
  });

  it('joins an existing pid namespace given by path', async () => {
    const A = await s.start(s.bundle({ args: ['/bin/probe', 'sleep', '5'] }), { stdio: 'ignore' });
    try {
      const b = s.bundle({
        args: ['sh', '-c', 'ps -o pid,args; exec /bin/probe'],
        mutate: (c) => {
          c.linux.namespaces = [{ type: 'mount' }, { type: 'uts' }, { type: 'pid', path: `/proc/${A.pid}/ns/pid` }];
        },
      });
      const r = await s.collect(b);
      const at = r.stdout.lastIndexOf('\n{') + 1;
      const [ps, seen] = [r.stdout.slice(0, at), JSON.parse(r.stdout.slice(at))];
      expect(seen.namespaces.pid).toBe(fs.readlinkSync(`/proc/${A.pid}/ns/pid`));
      expect(seen.pid).toBeGreaterThan(1);
      // Its /proc shows A's processes: A's probe is pid 1 there.
      expect(ps).toMatch(/^\s*1\s+\/bin\/probe sleep 5$/m);
    } finally {
      A.kill('SIGKILL');
      await A.exited;
    }
  });

  it('joins a network namespace by path and sees the sysctl another container set there', async () => {
    const a = s.bundle({
      args: ['/bin/probe', 'sleep', '5'],
      mutate: (c) => {
        c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
      },
    });
    const A = await s.start(a, { stdio: 'ignore' });
    try {
      const b = s.bundle({
        args: ['cat', '/proc/sys/net/ipv4/ip_forward'],
        mutate: (c) => {
          c.linux.namespaces = [{ type: 'mount' }, { type: 'uts' }, { type: 'network', path: `/proc/${A.pid}/ns/net` }];
        },
      });
      const r = await s.collect(b);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('1\n');
    } finally {
      A.kill('SIGKILL');
      await A.exited;
    }
  });

  it('fails cleanly when a namespace path does not exist', async () => {
    const b = s.bundle({
      mutate: (c) => {
        c.linux.namespaces = [{ type: 'mount' }, { type: 'uts', path: '/proc/999999999/ns/uts' }];
      },
    });
    await expect(s.start(b)).rejects.toThrow(/uts namespace.*no such file or directory/i);
  });

  it('sets hostname and domainname in the new uts namespace only', async () => {
    const hostBefore = os.hostname();
    const domainBefore = fs.readFileSync('/proc/sys/kernel/domainname', 'utf8');
    const b = s.bundle({
      mutate: (c) => {
        c.hostname = 'box-1';
        c.domainname = 'example.org';
      },
    });
    const seen = await s.probe(b);
    expect(seen.hostname).toBe('box-1');
    expect(seen.domainname).toBe('example.org');
    expect(os.hostname()).toBe(hostBefore);
    expect(fs.readFileSync('/proc/sys/kernel/domainname', 'utf8')).toBe(domainBefore);
  });

  it('refuses a hostname without a uts namespace', async () => {
    const b = s.bundle({
      mutate: (c) => {
        c.linux.namespaces = [{ type: 'mount' }];
      },
    });
    await expect(s.start(b)).rejects.toThrow(/hostname.*uts namespace/);
  });

  it('applies a network sysctl inside a new network namespace, not on the host', async () => {
    const hostValue = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const wanted = hostValue.trim() === '1' ? '0' : '1';
    const b = s.bundle({
      args: ['cat', '/proc/sys/net/ipv4/ip_forward'],
      mutate: (c) => {
        c.linux.sysctl = { 'net.ipv4.ip_forward': wanted };
      },
    });
    const r = await s.collect(b);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${wanted}\n`);
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostValue);
  });

  it('refuses a network sysctl without a network namespace', async () => {
    const b = s.bundle({
      mutate: (c) => {
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
        c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
      },
    });
    await expect(s.start(b)).rejects.toThrow(/net\.ipv4\.ip_forward.*network|own net namespace/);
  });

  it('starts 50 containers concurrently from one process', async () => {
    // All alive at once (each reports after a second), so that their pid
    // namespaces must differ: a freed namespace's inode number is reused,
    // and with the pre-started helper a plain probe can exit before the
    // last of the 50 starts (CI saw 49 distinct of 50).
    const base = s.bundle({ args: ['/bin/probe', 'sleep', '1'] });
    const loaded = loadBundle(base.dir);
    const childrenBefore = childPids();
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        s.probe(
          variant(loaded, (spec) => {
            spec.hostname = `c${i}`;
          }),
        ),
      ),
    );
    const elapsed = Date.now() - started;
    console.log(`50 concurrent containers: ${elapsed} ms`);
    results.forEach((r, i) => {
      expect(r.pid).toBe(1);
      expect(r.hostname).toBe(`c${i}`);
    });
    expect(new Set(results.map((r) => r.namespaces.pid)).size).toBe(50);
    await eventually(() => expect(childPids()).toEqual(childrenBefore));
  });
});
