// What podman users type, with tsbox as podman's runtime (podman 4.3): pods
// (`pod create` and two containers sharing the infra container's ipc, net
// and uts namespaces; a pod sharing pid too, stopped and started),
// `play kube` of a two-container pod, --init,
// --cgroupns host and private, --uidmap/--gidmap (a rootful user
// namespace), --cap-drop all with label=disable and seccomp=unconfined,
// --env-file, exec -u/-w/-e, `healthcheck run`, stop -t, --workdir, and
// --umask, --personality, secrets, a read-only device, --privileged.
// Each is checked inside the container and on the host (the namespaces and
// credentials of the processes tsbox started). Every one was checked against
// runc under the same podman: the results are the same, except that runc
// cannot start play kube's containers here (the image has no PATH in its
// config and play kube sets none; runc then finds no `sh`).
//
// Pods need an infra image. podman builds its own (catatonit) the first
// time, with buildah, which fails here without $PWD (getcwd: nsenter --wd
// leaves the cwd on the host namespace's mount; see
// engines-podman-build.test.ts); the file imports the same image (catatonit -P as its entrypoint) and names it in
// containers.conf (infra_image). The infra container gets podman's default
// nofile limit (1048576), which root in this sandbox may not raise to:
// containers.conf's default_ulimits sets the limits every container here
// gets, as the other podman tests do with --ulimit. How podman is set up is in
// ../helpers/engines.ts.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EngineSandbox,
  TEST_TIMEOUT,
  expectProcessGone,
  expectRunByTsbox,
  expectTsboxStateGone,
  findExecutable,
  skipReason,
  startPodman,
  suiteTitle,
  useEngineSuite,
  type Podman,
} from '../helpers/engines.js';
import type { CliResult } from '../helpers/cli.js';

const reason = skipReason(['podman', ['conmon', '/usr/libexec/podman/conmon', '/usr/lib/podman/conmon'], 'catatonit', 'unshare', 'nsenter', 'chroot', 'tar']);
const CATATONIT = findExecutable('catatonit') ?? '';
const PAUSE_IMAGE = 'localhost/tsbox-pause:latest';

/** `key=value` lines printed by a container script, as an object. */
function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function ns(pid: number, type: string): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${type}`);
}

/** Field `name` of /proc/<pid>/status, all of its columns. */
function procStatus(pid: number, name: string): string | undefined {
  return fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim();
}

/**
 * Removes what podman leaves of a removed pod here: its cgroup
 * libpod_parent/<pod id>, empty, in the name=systemd and cgroup2
 * hierarchies (with runc as with tsbox). Only that exact name, only where
 * it is still there. Returns the hierarchies it was found in.
 */
function removePodCgroups(podId: string): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  for (const name of fs.readdirSync('/sys/fs/cgroup')) {
    const dir = path.join('/sys/fs/cgroup', name, 'libpod_parent', podId);
    if (!fs.existsSync(dir) || seen.has(fs.realpathSync(dir))) continue;
    seen.add(fs.realpathSync(dir));
    fs.rmdirSync(dir);
    found.push(name);
  }
  return found;
}

describe.skipIf(reason !== undefined)(suiteTitle('podman flags, pods and play kube with tsbox as the runtime', reason), () => {
  let sb: EngineSandbox;
  let pm: Podman;
  let env: Record<string, string>;

  useEngineSuite('podman-flags', async (sandbox) => {
    sb = sandbox;
    pm = await startPodman(sb);
    // The pause image: catatonit, as podman would build it.
    const pause = sb.mkdir('pause-rootfs');
    fs.copyFileSync(CATATONIT, path.join(pause, 'catatonit'));
    fs.chmodSync(path.join(pause, 'catatonit'), 0o755);
    execFileSync('tar', ['-C', pause, '-cf', sb.path('pause.tar'), '.'], { stdio: 'pipe' });
    const imported = await pm.run(['import', '--change', 'ENTRYPOINT ["/catatonit", "-P"]', sb.path('pause.tar'), PAUSE_IMAGE]);
    if (imported.status !== 0) throw new Error(`podman import: ${imported.stderr}`);
    // The helper's containers.conf with that infra image and default limits for every container (the infra ones too).
    const conf = sb.path('podman', 'containers-flags.conf');
    const base = fs.readFileSync(pm.env.CONTAINERS_CONF!, 'utf8').replace('[engine]\n', `[engine]\ninfra_image = "${PAUSE_IMAGE}"\n`);
    fs.writeFileSync(conf, base + '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=1024:1024"]\n');
    // PWD: play kube asks for its working directory, and getcwd(2) in the
    // podman namespace nsenter entered fails (ENOENT); Go's os.Getwd takes
    // $PWD when it names the same directory.
    env = { ...pm.env, CONTAINERS_CONF: conf, PWD: sb.dir };
    return pm;
  }, 'podman rm --all');

  function podman(args: readonly string[]): Promise<CliResult> {
    const argv = pm.argv(args);
    return sb.run(argv[0]!, argv.slice(1), env, { timeoutMs: 60_000 });
  }

  async function ok(args: readonly string[]): Promise<string> {
    const r = await podman(args);
    expect(r, `podman ${args.join(' ')}: ${r.stderr}`).toMatchObject({ status: 0 });
    return r.stdout;
  }

  /** A container podman runs (by name or id), checked to be tsbox's; its id and init pid. */
  async function tsboxContainer(name: string): Promise<{ id: string; pid: number }> {
    const [id, pid, runtime] = (await ok(['inspect', '--format', '{{.Id}} {{.State.Pid}} {{.OCIRuntime}}', name])).trim().split(' ');
    expect(runtime).toBe('tsbox');
    await expectRunByTsbox(sb, pm.tsboxRoot, id!, Number(pid));
    return { id: id!, pid: Number(pid) };
  }

  const RUN = ['run', '--network', 'none'];
  /** A container script that only ends on SIGTERM (then with 0): pid 1 ignores signals it has no handler for. */
  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';

  async function runDetached(flags: string[], script: string): Promise<{ name: string; id: string; pid: number }> {
    const name = sb.unique('pf');
    await ok([...RUN, '-d', '--name', name, ...flags, pm.image, 'sh', '-c', script]);
    return { name, ...(await tsboxContainer(name)) };
  }

  it('pod create, two containers in the pod: all three run by tsbox, sharing the infra container\'s ipc, net and uts namespaces (not pid); pod rm removes them', TEST_TIMEOUT, async () => {
    const pod = sb.unique('pod');
    await ok(['pod', 'create', '--name', pod, '--network', 'none']);
    const a = sb.unique('pa');
    const b = sb.unique('pb');
    await ok(['run', '-d', '--pod', pod, '--name', a, pm.image, 'sh', '-c', `echo from-a > /dev/shm/note; ${UNTIL_TERM}`]);
    await ok(['run', '-d', '--pod', pod, '--name', b, pm.image, 'sh', '-c', UNTIL_TERM]);
    const infra = await tsboxContainer((await ok(['pod', 'inspect', '--format', '{{.InfraContainerID}}', pod])).trim());
    const ca = await tsboxContainer(a);
    const cb = await tsboxContainer(b);
    for (const type of ['ipc', 'net', 'uts']) {
      expect([ns(ca.pid, type), ns(cb.pid, type)], type).toEqual([ns(infra.pid, type), ns(infra.pid, type)]);
      expect(ns(infra.pid, type), type).not.toBe(ns(process.pid, type));
    }
    expect(new Set([ns(infra.pid, 'pid'), ns(ca.pid, 'pid'), ns(cb.pid, 'pid')]).size).toBe(3);
    const f = fields(await ok(['exec', b, 'sh', '-c', 'echo "note=$(cat /dev/shm/note)"; echo "host=$(hostname)"; echo "pid1=$(tr "\\0" " " </proc/1/cmdline)"']));
    expect(f).toEqual({ note: 'from-a', host: pod, pid1: `sh -c ${UNTIL_TERM} ` });
    const podId = (await ok(['pod', 'inspect', '--format', '{{.Id}}', pod])).trim();
    await ok(['pod', 'rm', '--force', '--time', '0', pod]);
    removePodCgroups(podId);
    for (const c of [infra, ca, cb]) {
      await expectTsboxStateGone(pm.tsboxRoot, c.id);
      await expectProcessGone(c.pid);
    }
  });

  it('pod create --share ipc,net,uts,pid: the infra\'s catatonit is pid 1 for its containers; pod stop and pod start run them again under tsbox', TEST_TIMEOUT, async () => {
    const pod = sb.unique('pidpod');
    await ok(['pod', 'create', '--name', pod, '--network', 'none', '--share', 'ipc,net,uts,pid']);
    const a = sb.unique('pp');
    await ok(['run', '-d', '--pod', pod, '--name', a, pm.image, 'sh', '-c', UNTIL_TERM]);
    const infra = await tsboxContainer((await ok(['pod', 'inspect', '--format', '{{.InfraContainerID}}', pod])).trim());
    const first = await tsboxContainer(a);
    expect(ns(first.pid, 'pid')).toBe(ns(infra.pid, 'pid'));
    expect(await ok(['exec', a, 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline'])).toBe('/catatonit -P ');
    await ok(['pod', 'stop', '--time', '2', pod]);
    await expectProcessGone(first.pid);
    await expectTsboxStateGone(pm.tsboxRoot, first.id);
    await ok(['pod', 'start', pod]);
    const again = await tsboxContainer(a);
    expect(again.pid).not.toBe(first.pid);
    expect(await ok(['exec', a, 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline'])).toBe('/catatonit -P ');
    const podId = (await ok(['pod', 'inspect', '--format', '{{.Id}}', pod])).trim();
    await ok(['pod', 'rm', '--force', '--time', '0', pod]);
    removePodCgroups(podId);
    await expectTsboxStateGone(pm.tsboxRoot, again.id);
  });

  it('--uidmap with -v DIR:/data:U: podman chowns DIR to the mapped root (300000 on the host), files made inside are 300000\'s; top shows user 0 as host user 300000', TEST_TIMEOUT, async () => {
    const dir = sb.mkdir('chowned');
    const c = await runDetached(['--uidmap', '0:300000:65536', '--gidmap', '0:300000:65536', '-v', `${dir}:/data:U`], `touch /data/made; ${UNTIL_TERM}`);
    expect(fs.statSync(dir).uid).toBe(300000);
    await ok(['exec', c.name, 'test', '-e', '/data/made']);
    expect([fs.statSync(path.join(dir, 'made')).uid, fs.statSync(path.join(dir, 'made')).gid]).toEqual([300000, 300000]);
    const top = (await ok(['top', c.name, 'user', 'huser', 'pid'])).split('\n').slice(1).filter((l) => l.trim());
    expect(top.find((l) => l.trim().split(/\s+/)[2] === '1')?.trim().split(/\s+/)).toEqual(['0', '300000', '1']);
  });

  it('play kube of a two-container pod: both run by tsbox with the yaml\'s command and env, in the pod\'s namespaces; play kube --down removes them', TEST_TIMEOUT, async () => {
    const pod = sb.unique('kube');
    const yaml = sb.path(`${pod}.yaml`);
    fs.writeFileSync(yaml, [
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      `  name: ${pod}`,
      'spec:',
      '  containers:',
      '  - name: web',
      `    image: ${pm.image}`,
      `    command: ${JSON.stringify(['sh', '-c', `echo $GREETING > /tmp/greeting; ${UNTIL_TERM}`])}`,
      '    env:',
      '    - name: GREETING',
      '      value: hello from the yaml',
      '  - name: side',
      `    image: ${pm.image}`,
      `    command: ${JSON.stringify(['sh', '-c', UNTIL_TERM])}`,
      '',
    ].join('\n'));
    await ok(['play', 'kube', '--network', 'none', yaml]);
    const web = await tsboxContainer(`${pod}-web`);
    const side = await tsboxContainer(`${pod}-side`);
    expect(await ok(['exec', `${pod}-web`, 'cat', '/tmp/greeting'])).toBe('hello from the yaml\n');
    expect(await ok(['exec', `${pod}-side`, 'hostname'])).toBe(`${pod}\n`);
    for (const type of ['ipc', 'net', 'uts']) expect(ns(side.pid, type), type).toBe(ns(web.pid, type));
    const podId = (await ok(['pod', 'inspect', '--format', '{{.Id}}', pod])).trim();
    await ok(['play', 'kube', '--down', yaml]);
    removePodCgroups(podId);
    for (const c of [web, side]) {
      await expectTsboxStateGone(pm.tsboxRoot, c.id);
      await expectProcessGone(c.pid);
    }
  });

  it('--init: podman-init is pid 1 and passes SIGTERM on; --cgroupns host sees the host\'s cgroup paths, --cgroupns private its own root', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--init'], UNTIL_TERM);
    expect(fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/run/podman-init');
    expect(await ok(['exec', c.name, 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline'])).toBe(`/run/podman-init -- sh -c ${UNTIL_TERM} `);
    const start = Date.now();
    await ok(['stop', '--time', '5', c.name]);
    expect(Date.now() - start).toBeLessThan(4000);
    expect((await ok(['inspect', '--format', '{{.State.ExitCode}}', c.name])).trim()).toBe('0');
    const script = 'readlink /proc/self/ns/cgroup; grep ":pids:" /proc/self/cgroup';
    const host = (await ok([...RUN, '--rm', '--cgroupns', 'host', pm.image, 'sh', '-c', script])).split('\n');
    expect(host[0]).toBe(ns(process.pid, 'cgroup'));
    expect(host[1]).toMatch(/^\d+:pids:\/libpod_parent\/libpod-[0-9a-f]{64}$/);
    const priv = (await ok([...RUN, '--rm', '--cgroupns', 'private', pm.image, 'sh', '-c', script])).split('\n');
    expect(priv[0]).not.toBe(ns(process.pid, 'cgroup'));
    expect(priv[1]).toMatch(/^\d+:pids:\/$/);
  });

  it('--uidmap 0:100000:65536 --gidmap 0:100000:65536: root inside is uid 100000 on the host, and so are the files it makes', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'], `touch /tmp/made; ${UNTIL_TERM}`);
    const f = fields(await ok(['exec', c.name, 'sh', '-c', 'echo "uidmap=$(cat /proc/self/uid_map | tr -s " ")"; echo "gidmap=$(cat /proc/self/gid_map | tr -s " ")"; echo "id=$(id -u):$(id -g)"; echo "owner=$(stat -c %u:%g /tmp/made)"']));
    expect(f).toEqual({ uidmap: ' 0 100000 65536', gidmap: ' 0 100000 65536', id: '0:0', owner: '0:0' });
    expect(ns(c.pid, 'user')).not.toBe(ns(process.pid, 'user'));
    expect(procStatus(c.pid, 'Uid')!.split(/\s+/)).toEqual(['100000', '100000', '100000', '100000']);
    expect(procStatus(c.pid, 'Gid')!.split(/\s+/)).toEqual(['100000', '100000', '100000', '100000']);
    const st = fs.statSync(`/proc/${c.pid}/root/tmp/made`);
    expect([st.uid, st.gid]).toEqual([100000, 100000]);
  });

  it('--cap-drop all --security-opt label=disable --security-opt seccomp=unconfined --env-file; exec -u 1000 -w /tmp -e X=1', TEST_TIMEOUT, async () => {
    const envFile = sb.path('env-file');
    fs.writeFileSync(envFile, '# a comment\nA=1\nB=two words\n');
    const c = await runDetached(['--cap-drop', 'all', '--security-opt', 'label=disable', '--security-opt', 'seccomp=unconfined', '--env-file', envFile], UNTIL_TERM);
    const f = fields(await ok(['exec', c.name, 'sh', '-c', 'for k in CapEff CapBnd Seccomp; do echo "$k=$(grep "^$k:" /proc/1/status | cut -f2)"; done; echo "A=$A"; echo "B=$B"']));
    expect(f).toEqual({ CapEff: '0000000000000000', CapBnd: '0000000000000000', Seccomp: '0', A: '1', B: 'two words' });
    expect([procStatus(c.pid, 'CapEff'), procStatus(c.pid, 'Seccomp')]).toEqual(['0000000000000000', '0']);
    const e = fields(await ok(['exec', '-u', '1000', '-w', '/tmp', '-e', 'X=1', c.name, 'sh', '-c', 'echo "id=$(id -u):$(id -g)"; echo "pwd=$(pwd)"; echo "X=$X"; echo "A=$A"; echo "uid=$(grep ^Uid: /proc/self/status | cut -f2)"']));
    expect(e).toEqual({ id: '1000:0', pwd: '/tmp', X: '1', A: '1', uid: '1000' });
  });

  it('healthcheck run: exit 0 while the check passes, 1 ("unhealthy") once it fails; stop -t 1 kills a container that ignores SIGTERM after 1 s', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--health-cmd', 'test -e /tmp/ok', '--health-interval', '0'], `touch /tmp/ok; ${UNTIL_TERM}`);
    expect(await podman(['healthcheck', 'run', c.name])).toMatchObject({ status: 0 });
    await ok(['exec', c.name, 'rm', '/tmp/ok']);
    expect(await podman(['healthcheck', 'run', c.name])).toMatchObject({ status: 1, stdout: 'unhealthy\n' });
    const d = await runDetached([], 'trap "" TERM; while :; do sleep 0.1; done');
    const start = Date.now();
    await ok(['stop', '-t', '1', d.name]);
    const took = Date.now() - start;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
    expect((await ok(['inspect', '--format', '{{.State.ExitCode}}', d.name])).trim()).toBe('137');
    await expectProcessGone(d.pid);
  });

  // --personality: linux.personality, which runc 1.1 ignores (uname -m
  // stays x86_64 there); tsbox calls personality(2) as the spec says.
  it('--umask 0077, --personality LINUX32, --secret as a file and as env, --device /dev/fuse:/dev/fuse:r (read only), --mount type=tmpfs with a mode, --privileged', TEST_TIMEOUT, async () => {
    fs.writeFileSync(sb.path('secret'), 's3cret');
    const secret = sb.unique('secret');
    await ok(['secret', 'create', secret, sb.path('secret')]);
    try {
      const script = [
        'echo "umask=$(umask)"', 'touch /tmp/f', 'echo "mode=$(stat -c %a /tmp/f)"', 'echo "arch=$(uname -m)"',
        `echo "secret=$(cat /run/secrets/${secret})"`, 'echo "env=$SECRET"', 'echo "scratch=$(stat -c %a /scratch)"',
        'head -c0 /dev/fuse && echo "fuse=read"', 'sh -c ": >/dev/fuse" 2>/dev/null || echo "fuse-write=refused"',
      ].join('; ');
      const r = await podman([
        ...RUN, '--rm', '--umask', '0077', '--personality', 'LINUX32', '--secret', secret, '--secret', `${secret},type=env,target=SECRET`,
        '--device', '/dev/fuse:/dev/fuse:r', '--mount', 'type=tmpfs,destination=/scratch,tmpfs-mode=0700', pm.image, 'sh', '-c', script,
      ]);
      expect(r, r.stderr).toMatchObject({ status: 0 });
      expect(fields(r.stdout)).toEqual({
        umask: '0077', mode: '600', arch: 'i686', secret: 's3cret', env: 's3cret', scratch: '700', fuse: 'read', 'fuse-write': 'refused',
      });
    } finally {
      await podman(['secret', 'rm', secret]);
    }
    const priv = await ok([...RUN, '--rm', '--privileged', pm.image, 'sh', '-c', 'grep ^CapEff: /proc/self/status | cut -f2; grep -c . /sys/fs/cgroup/devices/devices.list; cat /sys/fs/cgroup/devices/devices.list']);
    expect(priv.split('\n')[0]).toBe(procStatus(process.pid, 'CapEff'));
    expect(priv.split('\n').slice(1, 3)).toEqual(['1', 'a *:* rwm']);
  });

  it('--workdir: a path missing from the image is refused by podman before the runtime runs (as with runc); an image WORKDIR that is missing is made', TEST_TIMEOUT, async () => {
    const r = await podman([...RUN, '--rm', '--workdir', '/no/such/dir', pm.image, 'pwd']);
    expect(r.status).toBe(126);
    expect(r.stderr).toMatch(/workdir "\/no\/such\/dir" does not exist on container/);
    expect(EngineSandbox.stateEntries(pm.tsboxRoot)).toEqual([]);
    const image = 'localhost/tsbox-busybox-workdir:latest';
    await ok(['import', '--change', 'CMD ["/bin/sh"]', '--change', 'WORKDIR /app/sub', sb.path('rootfs.tar'), image]);
    expect(await ok([...RUN, '--rm', image, 'sh', '-c', 'pwd; stat -c %u /app/sub'])).toBe('/app/sub\n0\n');
  });
});
