// The default device policy: a container whose config has no
// linux.resources.devices gets runc's (every device denied but the standard
// nodes), never its parent cgroup's "a *:* rwm". Attacked from inside, as
// root with CAP_MKNOD: a node of a device outside the list is made (mknod
// stays allowed, as in runc) but cannot be opened. Through v1's devices
// controller (this host), and through the cgroup2 program: tsbox run in a
// mount namespace of the test's own where the v1 devices hierarchy is
// unmounted, so tsbox sees the layout of a host without it.
//
// House rules as in cgroups.test.ts (see test/helpers/cgroups.ts).

import { describe, expect, it } from 'vitest';
import { native } from '../../lib/native/binding.js';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { cgroupFile, cgroupSession, dirOf, hostHierarchies } from '../helpers/cgroups.js';
import { spawnProc } from '../helpers/lifecycle.js';

const hierarchies = isRoot ? hostHierarchies() : [];
const v1Devices = hierarchies.find((h) => h.key.split(',').includes('devices'));
const hasUnified = hierarchies.some((h) => h.key === '');

const EPERM = '{"ok":false,"errno":1,"error":"Operation not permitted"}';
const OK = '{"ok":true}';

/** runc's default rules (libcontainer/specconv AllowedDevices), as devices.list shows them. */
const DEFAULT_LIST = [
  'b *:* m', 'c *:* m',
  'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm',
  'c 10:200 rwm', 'c 136:* rwm', 'c 5:0 rwm', 'c 5:2 rwm',
].sort();

describe.skipIf(!isRoot)('no linux.resources.devices: runc\'s default device policy', () => {
  const cg = cgroupSession();
  const lc = cg.lc;

  const bundle = (cgroupsPath: string): TestBundle =>
    lc.bundle({
      args: ['sleep', '1000'],
      mutate: (c) => {
        c.linux.cgroupsPath = cgroupsPath;
        // No process.capabilities: root keeps every capability, CAP_MKNOD included.
        delete c.linux.resources;
        delete c.process.capabilities;
      },
    });

  async function exec(id: string, script: string): Promise<string[]> {
    const r = await lc.cli(['exec', id, 'sh', '-c', script]);
    expect(r.status, `exec ${script}: ${r.stderr}`).toBe(0);
    return r.stdout.trim().split('\n');
  }

  /**
   * What root with CAP_MKNOD inside achieves: mknod of kmsg (1:11), a disk
   * (8:0) and the host's system console (5:1: what is typed there, and
   * what the kernel prints), then opening them and /dev/null.
   */
  const ATTACK = [
    'mknod /dev/kmsg2 c 1 11 && echo made',
    'mknod /dev/disk0 b 8 0 && echo made',
    'mknod /dev/console2 c 5 1 && echo made',
    '/bin/probe open /dev/kmsg2 r',
    '/bin/probe open /dev/disk0 r',
    '/bin/probe open /dev/console2 r',
    '/bin/probe open /dev/null rw',
    '/bin/probe open /dev/zero r',
  ].join('; ');
  const DENIED = ['made', 'made', 'made', EPERM, EPERM, EPERM, OK, OK];

  it.skipIf(!v1Devices)('v1 devices: the container\'s devices.list is the policy; kmsg and a disk made inside cannot be opened, /dev/null can', async () => {
    const name = cg.name();
    const id = cg.track('v1');
    await lc.create(id, bundle(name));
    await lc.ok(['start', id]);
    expect(await exec(id, ATTACK)).toEqual(DENIED);
    const list = cgroupFile(dirOf(name, 'devices'), 'devices.list').split('\n').sort();
    expect(list).toEqual(DEFAULT_LIST);
    // The parent (the test's own cgroup) is untouched.
    expect(cgroupFile(v1Devices!.own, 'devices.list')).toBe('a *:* rwm');
  });

  it.skipIf(!v1Devices || !hasUnified)('cgroup2 (no v1 devices hierarchy in tsbox\'s mount namespace): the program is attached and denies the same', async () => {
    const name = cg.name();
    const id = cg.track('v2');
    const b = bundle(name);
    // Only the test's own mount namespace loses the v1 devices mount.
    const create = spawnProc('unshare', [
      '-m', '--propagation', 'private', 'sh', '-c', `umount -l ${v1Devices!.mountPoint} && exec "$0" "$@"`,
      process.execPath, TSBOX, '--root', lc.root, 'create', '--bundle', b.dir, id,
    ]);
    expect(await create.exited).toMatchObject({ status: 0 });
    expect(create.stderr.text).toBe('');
    await lc.ok(['start', id]);
    expect(await exec(id, ATTACK)).toEqual(DENIED);
    expect(native().deviceProgramIds(dirOf(name, ''))).toHaveLength(1);
    // v1 did not restrict it: the init stayed in the test's devices cgroup, which allows everything.
    expect(cgroupFile(v1Devices!.own, 'devices.list')).toBe('a *:* rwm');
  });
});

describe.skipIf(!isRoot)('a FIFO in linux.devices (type "p")', () => {
  const cg = cgroupSession();
  const lc = cg.lc;

  it('is made (mode and owner as configured) and works, with no device rule for it: devices.list has only the policy', async () => {
    const name = cg.name();
    const id = cg.track('fifo');
    const b = lc.bundle({
      args: ['sleep', '1000'],
      mutate: (c) => {
        c.linux.cgroupsPath = name;
        c.linux.devices = [{ path: '/dev/myfifo', type: 'p', fileMode: 0o620, uid: 5, gid: 6 }];
      },
    });
    await lc.create(id, b);
    await lc.ok(['start', id]);
    const r = await lc.cli(['exec', id, 'sh', '-c', "stat -c '%F %a %u:%g' /dev/myfifo && (echo through > /dev/myfifo &) && cat /dev/myfifo"]);
    expect(r).toMatchObject({ status: 0, stdout: 'fifo 620 5:6\nthrough\n', stderr: '' });
    if (v1Devices) {
      const list = cgroupFile(dirOf(name, 'devices'), 'devices.list').split('\n').sort();
      expect(list).toEqual(DEFAULT_LIST);
    }
  });
});
