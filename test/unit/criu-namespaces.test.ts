// Namespaces joined by path at checkpoint and restore (lib/criu/namespaces.ts),
// as runc: network and pid are external (keyed extRootNetNS, extRootPidNS),
// ipc and uts are joined by path at restore, the others are refused.

import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { externalKey, externalNamespaces, restoreNamespaces } from '../../lib/criu/namespaces.js';
import { restoreOpts } from '../../lib/criu/options.js';
import type { LinuxNamespace } from '../../lib/oci/types.js';

const pod: LinuxNamespace[] = [
  { type: 'pid' },
  { type: 'network', path: '/run/netns/pod' },
  { type: 'ipc', path: '/proc/7/ns/ipc' },
  { type: 'uts', path: '/proc/7/ns/uts' },
  { type: 'mount' },
];

describe('namespaces joined by path', () => {
  it('runc\'s keys for the external ones', () => {
    expect(externalKey('network')).toBe('extRootNetNS');
    expect(externalKey('pid')).toBe('extRootPidNS');
  });

  it('checkpoint: the network namespace is external by the inode the init is in; ipc and uts are dumped; none joined, none external', () => {
    const ino = statSync(`/proc/${process.pid}/ns/net`).ino;
    expect(externalNamespaces(pod, process.pid, 'checkpoint')).toEqual([`net[${ino}]:extRootNetNS`]);
    expect(externalNamespaces([{ type: 'network' }, { type: 'pid', path: '' }], process.pid, 'checkpoint')).toEqual([]);
  });

  it('restore: network by a descriptor under its key, ipc and uts by path', () => {
    expect(restoreNamespaces(pod, 'restore')).toEqual({
      inherit: [{ key: 'extRootNetNS', path: '/run/netns/pod', at: 'linux.namespaces[1]' }],
      join: [{ ns: 'ipc', nsFile: '/proc/7/ns/ipc' }, { ns: 'uts', nsFile: '/proc/7/ns/uts' }],
    });
    const opts = restoreOpts({}, {
      imagesDirFd: 3, configFile: '/c', logFile: 'l', root: '/r', mounts: [], stdio: [{ fd: 5, key: 'pipe:[1]' }],
      namespaces: { inherit: [{ key: 'extRootNetNS', fd: 7 }], join: [{ ns: 'uts', nsFile: '/u' }] },
    });
    expect(opts.inheritFd).toEqual([{ key: 'pipe:[1]', fd: 5 }, { key: 'extRootNetNS', fd: 7 }]);
    expect(opts.joinNs).toEqual([{ ns: 'uts', nsFile: '/u' }]);
  });

  it('a mount, user, cgroup or time namespace joined by path is refused in one line naming it, at checkpoint and restore', () => {
    for (const type of ['mount', 'user', 'cgroup', 'time'] as const) {
      const ns: LinuxNamespace[] = [{ type: 'pid' }, { type, path: '/proc/9/ns/x' }];
      const msg = `linux.namespaces[1] joins the ${type} namespace "/proc/9/ns/x": CRIU cannot restore a container into an existing ${type} namespace (only network, pid, ipc and uts ones)`;
      expect(() => restoreNamespaces(ns, 'restore container "c"')).toThrow(`restore container "c": ${msg}`);
      expect(() => externalNamespaces(ns, process.pid, 'checkpoint container "c"')).toThrow(`checkpoint container "c": ${msg}`);
    }
  });
});
