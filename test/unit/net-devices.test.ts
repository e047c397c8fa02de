import { describe, expect, it } from 'vitest';
import { planNetDevices } from '../../lib/plan/net-devices.js';
import type { KernelNamespace } from '../../lib/plan/plan.js';

const NEW_NET: Array<{ type: KernelNamespace; path: string }> = [{ type: 'mnt', path: '' }, { type: 'net', path: '' }];

describe('planNetDevices (linux.netDevices)', () => {
  it('each host interface with its name in the container (default: the same)', () => {
    expect(planNetDevices({ eth0: { name: 'ctr0' }, ens3: {}, 'veth.1': { name: '' } }, NEW_NET)).toEqual([
      { host: 'eth0', name: 'ctr0' },
      { host: 'ens3', name: 'ens3' },
      { host: 'veth.1', name: 'veth.1' },
    ]);
    expect(planNetDevices(undefined, NEW_NET)).toBeUndefined();
    expect(planNetDevices({}, NEW_NET)).toBeUndefined();
    // A joined one (the helper moves them before it joins).
    expect(planNetDevices({ eth0: {} }, [{ type: 'net', path: '/run/netns/x' }])).toEqual([{ host: 'eth0', name: 'eth0' }]);
  });

  it.each([
    ['no network namespace', { eth0: {} }, [{ type: 'mnt', path: '' }], "linux.netDevices: needs a network namespace of the container's own"],
    ['not an object', ['eth0'], NEW_NET, 'linux.netDevices: must be an object'],
    ['a host name too long', { abcdefghijklmnop: {} }, NEW_NET, 'linux.netDevices["abcdefghijklmnop"]: is not a valid network interface name'],
    ['a host name with a slash', { 'a/b': {} }, NEW_NET, 'linux.netDevices["a/b"]: is not a valid network interface name'],
    ['a device that is not an object', { eth0: 'x' }, NEW_NET, 'linux.netDevices["eth0"]: must be an object'],
    ['a name that is not a string', { eth0: { name: 5 } }, NEW_NET, 'linux.netDevices["eth0"].name: must be a string'],
    ['a bad new name', { eth0: { name: 'a b' } }, NEW_NET, 'linux.netDevices["eth0"].name: "a b" is not a valid network interface name'],
    ['the loopback name', { eth0: { name: 'lo' } }, NEW_NET, 'linux.netDevices["eth0"].name: "lo" is the container\'s own loopback device'],
    ['one name twice', { eth0: { name: 'x0' }, eth1: { name: 'x0' } }, NEW_NET, 'linux.netDevices["eth1"].name: "x0" is given to two devices'],
  ] as const)('%s: an error naming the field', (_, devices, namespaces, message) => {
    expect(() => planNetDevices(devices, namespaces as Array<{ type: KernelNamespace; path: string }>)).toThrow(message);
  });
});
