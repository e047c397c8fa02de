// Issue 13's workloads as users of podman 4.3 and docker 20.10 run them,
// with tsbox as the engine's runtime: what each engine puts in the config
// for these flags is what tsbox must accept and carry out.
//  - podman --read-only and --tmpfs (tmpcopyup: the image's content at the
//    path is copied into the new tmpfs), -m 64m read back from inside the
//    container on this hybrid (v1 memory) host, -v with rshared / rslave;
//  - docker -v FILE:/etc/localtime onto an image whose /etc/localtime is a
//    dangling symlink, and --pid host or --pid container:OTHER stopped
//    promptly when its init forked children (the shim's kill --all after the
//    init exited, in a container without a pid namespace of its own).
// How the engines are set up (a sandbox, a private mount namespace each) is
// in ../helpers/engines.ts; every container is checked to be tsbox's where
// it lives long enough, and nothing may be left on the host after the file.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCKER_CLI,
  EngineSandbox,
  TEST_TIMEOUT,
  expectProcessGone,
  expectRunByTsbox,
  expectTsboxStateGone,
  memoryLimit,
  readTsboxRecord,
  skipReason,
  startDockerd,
  startPodman,
  suiteTitle,
  useEngineSuite,
  type Docker,
  type Podman,
} from '../helpers/engines.js';
import { childPids } from '../helpers/bundle.js';
import { isAlive, waitUntil } from '../helpers/lifecycle.js';

/** A container script that only ends on SIGTERM (then with 0): pid 1 ignores signals it has no handler for. */
const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';

/**
 * A tar of the sandbox's busybox root filesystem (built by the engine's
 * start) changed by `change`, for an image with something the plain one
 * lacks. The copy is the sandbox's <name> directory.
 */
function variantTar(sb: EngineSandbox, name: string, change: (rootfs: string) => void): string {
  const rootfs = sb.path(name);
  execFileSync('cp', ['-a', sb.path('rootfs'), rootfs], { stdio: 'pipe' });
  change(rootfs);
  const tar = sb.path(`${name}.tar`);
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.'], { stdio: 'pipe' });
  return tar;
}

/** The mountinfo line of mount point `target` in `text`, or undefined. */
function mountinfoLine(text: string, target: string): string | undefined {
  return text.split('\n').find((l) => l.split(' ')[4] === target);
}

const podmanReason = skipReason(['podman', ['conmon', '/usr/libexec/podman/conmon', '/usr/lib/podman/conmon'], 'unshare', 'nsenter', 'script', 'chroot', 'tar', 'cp', 'mount', 'umount']);

describe.skipIf(podmanReason !== undefined)(suiteTitle('podman workloads with tsbox as its runtime', podmanReason), () => {
  let sb: EngineSandbox;
  let pm: Podman;
  const dataImage = 'localhost/tsbox-busybox-data:latest';

  useEngineSuite('podman-workloads', async (sandbox) => {
    sb = sandbox;
    pm = await startPodman(sb);
    // An image with content at /data, for --tmpfs /data (tmpcopyup).
    const tar = variantTar(sb, 'rootfs-data', (rootfs) => {
      fs.mkdirSync(path.join(rootfs, 'data', 'sub'), { recursive: true });
      fs.writeFileSync(path.join(rootfs, 'data', 'file'), 'from the image\n');
      fs.writeFileSync(path.join(rootfs, 'data', 'sub', 'deep'), 'deeper\n');
      fs.chmodSync(path.join(rootfs, 'data'), 0o750);
    });
    const imported = await pm.run(['import', '--change', 'CMD ["/bin/sh"]', tar, dataImage]);
    if (imported.status !== 0) throw new Error(`podman import: ${imported.stderr}`);
    return pm;
  }, 'podman rm --all');

  /** Runs argv in podman's mount namespace (where its containers' bind sources are). */
  function inPodmanNamespace(argv: readonly string[]) {
    const full = pm.argv([]);
    const prefix = full.slice(0, full.indexOf('podman'));
    return sb!.run(prefix[0]!, [...prefix.slice(1), ...argv], {});
  }

  async function runDetached(args: readonly string[], script: string): Promise<{ name: string; id: string; pid: number }> {
    const name = sb!.unique('pw');
    const r = await pm.run(['run', '-d', '--name', name, ...pm.runFlags, ...args, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const id = r.stdout.trim();
    const inspect = await pm.run(['inspect', '--format', '{{.State.Pid}} {{.OCIRuntime}}', name]);
    const [pid, runtime] = inspect.stdout.trim().split(' ');
    expect(runtime).toBe('tsbox');
    await expectRunByTsbox(sb!, pm.tsboxRoot, id, Number(pid));
    return { name, id, pid: Number(pid) };
  }

  /** The options of the mount at `destination` in the config podman gave tsbox for container `id`. */
  function configMountOptions(id: string, destination: string): string[] | undefined {
    const bundle = readTsboxRecord(pm.tsboxRoot, id)?.bundle;
    expect(bundle, `tsbox's bundle for ${id}`).toBeDefined();
    const config = JSON.parse(fs.readFileSync(path.join(bundle!, 'config.json'), 'utf8')) as { mounts?: { destination: string; options?: string[] }[] };
    return config.mounts?.find((m) => m.destination === destination)?.options;
  }

  it('run --read-only: / is read-only, podman\'s tmpfs /tmp, /var/tmp and /run (tmpcopyup) are writable', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--read-only', pm.image], UNTIL_TERM);
    const r = await pm.run([
      'exec', c.name, 'sh', '-c',
      'if touch /new 2>/dev/null; then echo "/ writable"; fi; for d in /tmp /var/tmp /run; do touch $d/x && echo "$d ok"; done; cat /proc/self/mountinfo',
    ]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    expect(r.stdout).toMatch(/^\/tmp ok\n\/var\/tmp ok\n\/run ok\n/);
    const root = mountinfoLine(r.stdout, '/');
    expect(root, 'the root in the container\'s mountinfo').toBeDefined();
    expect(root!.split(' ')[5]!.split(',')).toContain('ro');
    for (const d of ['/tmp', '/var/tmp', '/run']) {
      expect(configMountOptions(c.id, d), `the options podman gave ${d}`).toContain('tmpcopyup');
      expect(mountinfoLine(r.stdout, d), `${d} in the container's mountinfo`).toMatch(/ - tmpfs /);
    }
  });

  it('run --tmpfs /data: the image\'s /data is copied into the new tmpfs (tmpcopyup); writes stay in it', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--tmpfs', '/data', dataImage], UNTIL_TERM);
    expect(configMountOptions(c.id, '/data'), 'the options podman gave /data').toContain('tmpcopyup');
    const r = await pm.run([
      'exec', c.name, 'sh', '-c',
      'cat /data/file /data/sub/deep; echo changed > /data/file; cat /data/file; grep " /data " /proc/self/mountinfo',
    ]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual(['from the image', 'deeper', 'changed']);
    expect(lines[3]).toMatch(/ - tmpfs /);
    // The image's layer is unchanged: a new container sees the original.
    expect(await pm.run(['run', '--rm', ...pm.runFlags, '--tmpfs', '/data', dataImage, 'cat', '/data/file'])).toMatchObject({
      status: 0,
      stdout: 'from the image\n',
      stderr: '',
    });
  });

  // runc gives a tmpfs over an image directory that directory's mode
  // (before, tsbox left tmpfs's default 1777: a world-writable /data).
  it('run --tmpfs /data (with and without tmpcopyup): the tmpfs takes the image directory\'s mode (0750), as with runc', TEST_TIMEOUT, async () => {
    for (const flag of ['/data:notmpcopyup', '/data']) {
      const r = await pm.run(['run', '--rm', ...pm.runFlags, '--tmpfs', flag, dataImage, 'stat', '-c', '%a %u', '/data']);
      expect(r, `--tmpfs ${flag}: ${r.stderr}`).toMatchObject({ status: 0, stdout: '750 0\n' });
    }
  });

  it('run -m 64m: memory.limit_in_bytes reads 67108864 inside (its own cgroup at the mount\'s root) and on the host', TEST_TIMEOUT, async () => {
    const c = await runDetached(['-m', '64m', pm.image], UNTIL_TERM);
    const inside = await pm.run(['exec', c.name, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes']);
    expect(inside, inside.stderr).toMatchObject({ status: 0, stdout: '67108864\n' });
    expect(memoryLimit(pm.tsboxRoot, c.id)).toBe(64 * 1024 * 1024);
    // Not the host's root: podman's parent cgroup is not in sight.
    const ls = await pm.run(['exec', c.name, 'ls', '/sys/fs/cgroup/memory']);
    expect(ls.stdout).not.toContain('libpod_parent');
    // And the same through a one-shot run, as a JVM would read it at start.
    expect(await pm.run(['run', '--rm', ...pm.runFlags, '-m', '64m', pm.image, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])).toMatchObject({
      status: 0,
      stdout: '67108864\n',
    });
  });

  /**
   * A shared mount point in podman's namespace (a bind of a sandbox
   * directory onto itself, made shared), as a host volume for
   * rshared/rslave; release() unmounts everything below and it.
   */
  async function sharedVolume(name: string): Promise<{ dir: string; release: () => Promise<void> }> {
    const dir = sb!.mkdir(name);
    fs.mkdirSync(path.join(dir, 'sub'));
    for (const argv of [['mount', '--bind', dir, dir], ['mount', '--make-shared', dir]]) {
      const r = await inPodmanNamespace(argv);
      expect(r, r.stderr).toMatchObject({ status: 0 });
    }
    return {
      dir,
      release: async () => {
        const r = await inPodmanNamespace(['umount', '--recursive', dir]);
        expect(r, r.stderr).toMatchObject({ status: 0 });
      },
    };
  }

  /** Mount points of podman's namespace at or below dir. */
  async function podmanMountsUnder(dir: string): Promise<string[]> {
    const r = await inPodmanNamespace(['cat', '/proc/self/mountinfo']);
    return r.stdout
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m === dir || m.startsWith(dir + '/'));
  }

  it('run -v SRC:/dst:rshared: a mount made in the container under /dst reaches the host side', TEST_TIMEOUT, async () => {
    const vol = await sharedVolume('rshared');
    try {
      const c = await runDetached(['--cap-add', 'SYS_ADMIN', '-v', `${vol.dir}:/dst:rshared`, pm.image], UNTIL_TERM);
      const r = await pm.run(['exec', c.name, 'sh', '-c', 'mount -t tmpfs -o size=64k inside /dst/sub && echo hi > /dst/sub/file && grep " /dst " /proc/self/mountinfo']);
      expect(r, r.stderr).toMatchObject({ status: 0 });
      expect(r.stdout, '/dst in the container\'s mountinfo').toMatch(/ shared:\d+/);
      expect(await podmanMountsUnder(vol.dir)).toEqual([vol.dir, path.join(vol.dir, 'sub')]);
      const seen = await inPodmanNamespace(['cat', path.join(vol.dir, 'sub', 'file')]);
      expect(seen).toMatchObject({ status: 0, stdout: 'hi\n' });
    } finally {
      await pm.removeAll();
      await vol.release();
    }
  });

  it('run -v SRC:/dst:rslave: a mount made on the host side under SRC shows in the container, not the reverse', TEST_TIMEOUT, async () => {
    const vol = await sharedVolume('rslave');
    fs.mkdirSync(path.join(vol.dir, 'back'));
    try {
      const c = await runDetached(['--cap-add', 'SYS_ADMIN', '-v', `${vol.dir}:/dst:rslave`, pm.image], UNTIL_TERM);
      const own = await pm.run(['exec', c.name, 'sh', '-c', 'mount -t tmpfs -o size=64k inside /dst/back && grep " /dst " /proc/self/mountinfo']);
      expect(own, own.stderr).toMatchObject({ status: 0 });
      expect(own.stdout, '/dst in the container\'s mountinfo').toMatch(/ master:\d+/);
      const m = await inPodmanNamespace(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'outside', path.join(vol.dir, 'sub')]);
      expect(m, m.stderr).toMatchObject({ status: 0 });
      const r = await pm.run(['exec', c.name, 'sh', '-c', 'grep -c " /dst/sub .* - tmpfs outside " /proc/self/mountinfo']);
      expect(r, r.stderr).toMatchObject({ status: 0, stdout: '1\n' });
      // The container's own mount stayed in the container.
      expect(await podmanMountsUnder(vol.dir)).toEqual([vol.dir, path.join(vol.dir, 'sub')]);
    } finally {
      await pm.removeAll();
      await vol.release();
    }
  });
});

const dockerReason = skipReason(['dockerd', DOCKER_CLI, 'containerd', 'containerd-shim-runc-v2', 'unshare', 'script', 'chroot', 'tar', 'cp']);

describe.skipIf(dockerReason !== undefined)(suiteTitle('docker workloads with tsbox as a runtime', dockerReason), () => {
  let sb: EngineSandbox;
  let dk: Docker;
  const danglingImage = 'localhost/tsbox-busybox-dangling:latest';

  useEngineSuite('docker-workloads', async (sandbox) => {
    sb = sandbox;
    dk = await startDockerd(sb);
    // An image whose /etc/localtime is a symlink to a zone file it lacks, as slim images have.
    const tar = variantTar(sb, 'rootfs-dangling', (rootfs) => {
      fs.symlinkSync('/usr/share/zoneinfo/Nowhere/Zone', path.join(rootfs, 'etc', 'localtime'));
    });
    const imported = await dk.docker(['import', '--change', 'CMD ["/bin/sh"]', tar, danglingImage]);
    if (imported.status !== 0) throw new Error(`docker import: ${imported.stderr}`);
    return dk;
  }, 'docker rm --force');

  const RUN = ['run', '--runtime', 'tsbox', '--network', 'none'];

  async function runDetached(args: readonly string[], script: string): Promise<{ name: string; id: string; pid: number; root: string }> {
    const name = sb!.unique('dw');
    const r = await dk.docker([...RUN, '-d', '--name', name, ...args, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const id = r.stdout.trim();
    const info = JSON.parse((await dk.docker(['inspect', name])).stdout)[0] as { State: { Pid: number }; HostConfig: { Runtime: string } };
    expect(info.HostConfig.Runtime).toBe('tsbox');
    const root = dk.tsboxRootOf(id);
    await expectRunByTsbox(sb!, root, id, info.State.Pid);
    return { name, id, pid: info.State.Pid, root };
  }

  it('run -v FILE:/etc/localtime:ro onto a dangling /etc/localtime symlink: the file is mounted at the symlink\'s target', TEST_TIMEOUT, async () => {
    const zone = sb!.path('localtime');
    fs.writeFileSync(zone, 'TZif test zone\n');
    const c = await runDetached(['-v', `${zone}:/etc/localtime:ro`, danglingImage], UNTIL_TERM);
    const r = await dk.docker([
      'exec', c.name, 'sh', '-c',
      'readlink /etc/localtime; cat /etc/localtime; if echo x > /etc/localtime; then echo writable; fi; grep -c " /usr/share/zoneinfo/Nowhere/Zone " /proc/self/mountinfo',
    ]);
    expect(r.stdout).toBe('/usr/share/zoneinfo/Nowhere/Zone\nTZif test zone\n1\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(fs.readFileSync(zone, 'utf8')).toBe('TZif test zone\n');
    // The one-shot form users write.
    expect(await dk.docker([...RUN, '--rm', '-v', `${zone}:/etc/localtime:ro`, danglingImage, 'cat', '/etc/localtime'])).toMatchObject({
      status: 0,
      stdout: 'TZif test zone\n',
      stderr: '',
    });
  });

  it('run --pid host: the container sees the host\'s processes; stop of an init with children ends promptly and kills them', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--pid', 'host', dk.image], `sleep 1000 & sleep 1001 & ${UNTIL_TERM}`);
    // The host's pid namespace: the test's own process is in sight.
    const seen = await dk.docker(['exec', c.name, 'test', '-d', `/proc/${process.pid}`]);
    expect(seen, 'the test process in the container\'s /proc').toMatchObject({ status: 0 });
    const kids = await waitUntil('the init\'s two sleeps', () => {
      const pids = childPids(c.pid).filter((p) => /^sleep 100[01]$/.test(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim()));
      return pids.length === 2 && pids;
    }, 10_000);
    const t0 = Date.now();
    const r = await dk.docker(['stop', '--time', '20', c.name]);
    const took = Date.now() - t0;
    expect(r, r.stderr).toMatchObject({ status: 0 });
    // The init ends on SIGTERM at once; the shim then kills the rest with
    // kill --all. Refused ("container not running") it took about 2.3 s.
    console.log(`docker stop --pid host container: ${took} ms`);
    expect(took, `docker stop took ${took} ms`).toBeLessThan(2000);
    for (const pid of kids) expect(isAlive(pid), `the init's child ${pid} after docker stop`).toBe(false);
    await expectTsboxStateGone(c.root, c.id);
    await expectProcessGone(c.pid);
  });

  it('run --pid container:OTHER (a shared pid namespace): stop of an init with children ends promptly, the other container runs on', TEST_TIMEOUT, async () => {
    const owner = await runDetached([dk.image], UNTIL_TERM);
    const c = await runDetached(['--pid', `container:${owner.name}`, dk.image], `sleep 1002 & sleep 1003 & ${UNTIL_TERM}`);
    // One pid namespace: the owner's init is 1 there.
    expect(await dk.docker(['exec', c.name, 'cat', '/proc/1/cmdline'])).toMatchObject({ status: 0, stdout: `sh\0-c\0${UNTIL_TERM}\0` });
    const kids = await waitUntil('the init\'s two sleeps', () => {
      const pids = childPids(c.pid).filter((p) => /^sleep 100[23]$/.test(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim()));
      return pids.length === 2 && pids;
    }, 10_000);
    const t0 = Date.now();
    const r = await dk.docker(['stop', '--time', '20', c.name]);
    const took = Date.now() - t0;
    console.log(`docker stop --pid container: ${took} ms`);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    expect(took, `docker stop took ${took} ms`).toBeLessThan(2000);
    // Orphans of a shared namespace go to its init (the owner's), which may not reap them at once.
    for (const pid of kids) await expectProcessGone(pid, 5000);
    await expectTsboxStateGone(c.root, c.id);
    await expectProcessGone(c.pid);
    expect(isAlive(owner.pid), 'the owner of the pid namespace after the other container stopped').toBe(true);
    expect((await dk.docker(['inspect', '--format', '{{.State.Running}}', owner.name])).stdout).toBe('true\n');
  });
});
