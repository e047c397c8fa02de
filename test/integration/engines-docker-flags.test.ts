// The `docker run` and `docker` flags users type every day, with tsbox as
// the runtime (docker 20.10, --runtime tsbox): --init, capabilities,
// no-new-privileges and seccomp profiles, sysctls, ulimits, cgroup limits
// (--cpus, --cpuset-cpus, --pids-limit, --memory-swap, --oom-kill-disable),
// --shm-size and the ipc and uts modes, devices and device cgroup rules,
// health checks (docker runs them with exec), wait, logs, --restart,
// exec -u/-w/-e, stats, cp, kill -s and --stop-signal/--stop-timeout,
// --read-only with tmpfs mounts, users and groups, more cgroup limits
// (shares, reservation, swappiness, cpuset mems, blkio throttles), and
// commit (which pauses), diff, export, update, pause then stop, start.
// Each flag is checked where it takes effect: inside the container (what its
// process sees) and on the host (the cgroup files tsbox wrote, the init's
// /proc entries), and the host's own values are checked to be unchanged.
// Every container here was checked against runc under the same dockerd: the
// results are the same. How dockerd is set up is in ../helpers/engines.ts.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCKER_CLI,
  EngineSandbox,
  TEST_TIMEOUT,
  expectRunByTsbox,
  expectTsboxStateGone,
  skipReason,
  startDockerd,
  suiteTitle,
  tsboxCgroupDir,
  useEngineSuite,
  type Docker,
} from '../helpers/engines.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['dockerd', DOCKER_CLI, 'containerd', 'containerd-shim-runc-v2', 'docker-init', 'unshare', 'chroot', 'tar']);

/** Field `name` of /proc/<pid>/status (e.g. CapEff, NoNewPrivs). */
function procStatus(pid: number, name: string): string | undefined {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return line?.split(/\s+/)[1];
}

/** `key=value` lines printed by a container script, as an object. */
function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe.skipIf(reason !== undefined)(suiteTitle('docker run flags with tsbox as the runtime', reason), () => {
  let sb: EngineSandbox;
  let dk: Docker;

  useEngineSuite('docker-flags', async (sandbox) => {
    sb = sandbox;
    return (dk = await startDockerd(sb));
  }, 'docker rm --force');

  const RUN = ['run', '--runtime', 'tsbox', '--network', 'none'];
  /** pid 1 ignores signals it has no handler for: this one ends on SIGTERM, with 0. */
  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';

  async function inspect(name: string): Promise<{ Id: string; State: { Pid: number; Running: boolean; ExitCode: number; Status: string } }> {
    const r = await dk.docker(['inspect', name]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    return (JSON.parse(r.stdout) as any[])[0];
  }

  /** `docker run -d` with flags; the container checked to be tsbox's; its id, init pid and tsbox root. */
  async function runDetached(flags: string[], script: string, name = sb.unique('df')): Promise<{ name: string; id: string; pid: number; root: string }> {
    const r = await dk.docker([...RUN, '-d', '--name', name, ...flags, dk.image, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const info = await inspect(name);
    const root = dk.tsboxRootOf(info.Id);
    await expectRunByTsbox(sb, root, info.Id, info.State.Pid);
    return { name, id: info.Id, pid: info.State.Pid, root };
  }

  async function exec(args: string[]): Promise<string> {
    const r = await dk.docker(['exec', ...args]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    return r.stdout;
  }

  it('--init --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges: docker-init is pid 1, CapEff is that one capability, NoNewPrivs set (inside and on the host)', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--init', '--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE', '--security-opt', 'no-new-privileges'], UNTIL_TERM);
    const f = fields(await exec([c.name, 'sh', '-c', 'echo "pid1=$(tr "\\0" " " </proc/1/cmdline)"; for k in CapEff CapBnd CapPrm NoNewPrivs; do echo "$k=$(grep "^$k:" /proc/self/status | cut -f2)"; done']));
    expect(f.pid1).toMatch(/^\/sbin\/docker-init -- sh -c /);
    // CAP_NET_BIND_SERVICE is bit 10.
    expect(f).toMatchObject({ CapEff: '0000000000000400', CapBnd: '0000000000000400', CapPrm: '0000000000000400', NoNewPrivs: '1' });
    // On the host: the init tsbox started is docker-init, with the same set.
    expect(fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/sbin/docker-init');
    expect([procStatus(c.pid, 'CapEff'), procStatus(c.pid, 'NoNewPrivs')]).toEqual(['0000000000000400', '1']);
    const start = Date.now();
    expect(await dk.docker(['stop', c.name])).toMatchObject({ status: 0 });
    // docker-init passes SIGTERM on to sh, whose trap ends it at once.
    expect(Date.now() - start).toBeLessThan(5000);
    expect((await inspect(c.name)).State.ExitCode).toBe(0);
  });

  it('--security-opt seccomp: the default profile, unconfined, and a profile file that refuses mkdir (EPERM)', TEST_TIMEOUT, async () => {
    const profile = sb.path('no-mkdir.json');
    fs.writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
    const script = 'grep "^Seccomp:" /proc/self/status; mkdir /tmp/d 2>&1 && echo made; true';
    const run = (flags: string[]) => dk.docker([...RUN, '--rm', ...flags, dk.image, 'sh', '-c', script]);
    expect(await run([])).toMatchObject({ status: 0, stdout: 'Seccomp:\t2\nmade\n' });
    expect(await run(['--security-opt', 'seccomp=unconfined'])).toMatchObject({ status: 0, stdout: 'Seccomp:\t0\nmade\n' });
    expect(await run(['--security-opt', `seccomp=${profile}`])).toMatchObject({
      status: 0,
      stdout: "Seccomp:\t2\nmkdir: can't create directory '/tmp/d': Operation not permitted\n",
    });
  });

  it('--sysctl net.ipv4.ip_forward=1 and kernel.msgmax, --ulimit nofile=1024:2048: set in the container\'s namespaces and limits, the host\'s unchanged', TEST_TIMEOUT, async () => {
    const hostForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const hostMsgmax = fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8');
    const msgmax = String(Number(hostMsgmax.trim()) + 1234);
    const c = await runDetached(
      ['--sysctl', 'net.ipv4.ip_forward=1', '--sysctl', `kernel.msgmax=${msgmax}`, '--ulimit', 'nofile=1024:2048'],
      UNTIL_TERM,
    );
    const f = fields(await exec([c.name, 'sh', '-c', 'echo "fwd=$(cat /proc/sys/net/ipv4/ip_forward)"; echo "msgmax=$(cat /proc/sys/kernel/msgmax)"; echo "soft=$(ulimit -n)"; echo "hard=$(ulimit -Hn)"']));
    expect(f).toEqual({ fwd: '1', msgmax, soft: '1024', hard: '2048' });
    // Outside: the init has its own net and ipc namespaces, and those limits.
    expect(fs.readlinkSync(`/proc/${c.pid}/ns/net`)).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
    expect(fs.readlinkSync(`/proc/${c.pid}/ns/ipc`)).not.toBe(fs.readlinkSync('/proc/self/ns/ipc'));
    expect(fs.readFileSync(`/proc/${c.pid}/limits`, 'utf8')).toMatch(/^Max open files\s+1024\s+2048\s+files/m);
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostForward);
    expect(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8')).toBe(hostMsgmax);
  });

  it('--cpus 0.5 --cpuset-cpus 0 --pids-limit 50 -m 64m --memory-swap 128m --oom-kill-disable: the cgroup files inside and on the host; the 50th process cannot fork', TEST_TIMEOUT, async () => {
    const c = await runDetached(
      ['--cpus', '0.5', '--cpuset-cpus', '0', '--pids-limit', '50', '-m', '64m', '--memory-swap', '128m', '--oom-kill-disable'],
      UNTIL_TERM,
    );
    const files: [string, string, string][] = [
      ['cpu', 'cpu.cfs_quota_us', '50000'],
      ['cpu', 'cpu.cfs_period_us', '100000'],
      ['cpuset', 'cpuset.cpus', '0'],
      ['pids', 'pids.max', '50'],
      ['memory', 'memory.limit_in_bytes', String(64 << 20)],
      ['memory', 'memory.memsw.limit_in_bytes', String(128 << 20)],
    ];
    const inside = await exec([c.name, 'sh', '-c', files.map(([k, f]) => `cat /sys/fs/cgroup/${k}/${f}`).join('; ') + '; grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control; grep Cpus_allowed_list /proc/self/status']);
    expect(inside.split('\n').slice(0, files.length)).toEqual(files.map(([, , v]) => v));
    expect(inside).toMatch(/^oom_kill_disable 1$/m);
    expect(inside).toMatch(/^Cpus_allowed_list:\s+0$/m);
    for (const [key, file, value] of files) {
      expect(fs.readFileSync(path.join(tsboxCgroupDir(c.root, c.id, key), file), 'utf8').trim(), `${key}/${file} on the host`).toBe(value);
    }
    expect(fs.readFileSync(path.join(tsboxCgroupDir(c.root, c.id, 'memory'), 'memory.oom_control'), 'utf8')).toMatch(/^oom_kill_disable 1$/m);
    // pids.max counts every task: 60 background sleeps cannot all start,
    // and the host's pids.events counts the refused forks.
    const forks = await dk.docker(['exec', c.name, 'sh', '-c', 'i=0; while [ $i -lt 60 ]; do sleep 3 & i=$((i+1)); done']);
    expect(forks.stderr).toMatch(/can't fork/);
    const pidsDir = tsboxCgroupDir(c.root, c.id, 'pids');
    expect(Number(fs.readFileSync(path.join(pidsDir, 'pids.current'), 'utf8'))).toBeLessThanOrEqual(50);
    expect(Number(/^max (\d+)$/m.exec(fs.readFileSync(path.join(pidsDir, 'pids.events'), 'utf8'))?.[1])).toBeGreaterThan(0);
  });

  it('--shm-size 16m with --ipc shareable, a second container with --ipc container:X sees its /dev/shm; --ipc host is the host\'s', TEST_TIMEOUT, async () => {
    const a = await runDetached(['--shm-size', '16m', '--ipc', 'shareable'], `echo shared > /dev/shm/note; ${UNTIL_TERM}`);
    const df = await exec([a.name, 'df', '-k', '/dev/shm']);
    expect(df.split('\n')[1]).toMatch(/^shm\s+16384\s/);
    const b = await runDetached(['--ipc', `container:${a.name}`], UNTIL_TERM);
    expect(await exec([b.name, 'cat', '/dev/shm/note'])).toBe('shared\n');
    expect(fs.readlinkSync(`/proc/${b.pid}/ns/ipc`)).toBe(fs.readlinkSync(`/proc/${a.pid}/ns/ipc`));
    expect(fs.readlinkSync(`/proc/${a.pid}/ns/ipc`)).not.toBe(fs.readlinkSync('/proc/self/ns/ipc'));
    expect(await dk.docker([...RUN, '--rm', '--ipc', 'host', dk.image, 'readlink', '/proc/self/ns/ipc'])).toMatchObject({
      status: 0,
      stdout: `${fs.readlinkSync('/proc/self/ns/ipc')}\n`,
    });
  });

  it('--uts host sees the host\'s name; --hostname sets the container\'s (hostname, /etc/hostname), not the host\'s', TEST_TIMEOUT, async () => {
    expect(await dk.docker([...RUN, '--rm', '--uts', 'host', dk.image, 'hostname'])).toMatchObject({ status: 0, stdout: `${os.hostname()}\n` });
    const c = await runDetached(['--hostname', 'tsbox-named'], UNTIL_TERM);
    expect(await exec([c.name, 'sh', '-c', 'hostname; cat /etc/hostname'])).toBe('tsbox-named\ntsbox-named\n');
    expect(fs.readlinkSync(`/proc/${c.pid}/ns/uts`)).not.toBe(fs.readlinkSync('/proc/self/ns/uts'));
    expect(os.hostname()).not.toBe('tsbox-named');
  });

  it('--device /dev/fuse and --device-cgroup-rule "c 10:229 rwm": the device opens inside and is allowed in devices.list; given :r it opens for reading only; without them it is refused', TEST_TIMEOUT, async () => {
    const open = 'head -c0 /dev/fuse && echo opened';
    expect(await dk.docker([...RUN, '--rm', '--device', '/dev/fuse', dk.image, 'sh', '-c', open])).toMatchObject({ status: 0, stdout: 'opened\n' });
    // The rule alone: the node is made inside (mknod is allowed by "c *:* m"), and may be opened.
    const c = await runDetached(['--device-cgroup-rule', 'c 10:229 rwm'], `mknod /dev/fuse c 10 229; ${UNTIL_TERM}`);
    expect(await exec([c.name, 'sh', '-c', open])).toBe('opened\n');
    expect(fs.readFileSync(path.join(tsboxCgroupDir(c.root, c.id, 'devices'), 'devices.list'), 'utf8').split('\n')).toContain('c 10:229 rwm');
    // Given read-only (--device HOST:CONTAINER:r), it opens for reading, not
    // for writing: docker's rule "c 10:229 r" is all it gets, as with runc
    // (tsbox allowed every linux.devices node rwm, so writing was allowed).
    const ro = await dk.docker([...RUN, '--rm', '--device', '/dev/fuse:/dev/ro-fuse:r', dk.image, 'sh', '-c', 'head -c0 /dev/ro-fuse && echo read; sh -c ": >/dev/ro-fuse" && echo written; true']);
    expect(ro).toMatchObject({ status: 0, stdout: 'read\n' });
    expect(ro.stderr).toMatch(/can't create \/dev\/ro-fuse: Operation not permitted/);
    const refused = await dk.docker([...RUN, '--rm', dk.image, 'sh', '-c', `mknod /dev/fuse c 10 229; ${open}`]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/Operation not permitted/);
  });

  it('--health-cmd: docker execs the check; healthy while the file is there, unhealthy once it is gone', TEST_TIMEOUT, async () => {
    const c = await runDetached(['--health-cmd', 'test -e /tmp/ok', '--health-interval', '1s', '--health-retries', '1'], `touch /tmp/ok; ${UNTIL_TERM}`);
    const health = async () => (JSON.parse((await dk.docker(['inspect', '--format', '{{json .State.Health}}', c.name])).stdout) as { Status: string }).Status;
    await waitUntil('healthy', async () => (await health()) === 'healthy', 10_000);
    await exec([c.name, 'rm', '/tmp/ok']);
    await waitUntil('unhealthy', async () => (await health()) === 'unhealthy', 10_000);
  });

  it('wait returns the exit code, logs keeps stdout and stderr apart; --restart on-failure:2 restarts a failing command twice', TEST_TIMEOUT, async () => {
    const w = sb.unique('wait');
    expect(await dk.docker([...RUN, '-d', '--name', w, dk.image, 'sh', '-c', 'echo out; echo err >&2; sleep 1; exit 7'])).toMatchObject({ status: 0 });
    expect(await dk.docker(['wait', w])).toMatchObject({ status: 0, stdout: '7\n' });
    expect(await dk.docker(['logs', w])).toMatchObject({ status: 0, stdout: 'out\n', stderr: 'err\n' });
    const r = sb.unique('restart');
    expect(await dk.docker([...RUN, '-d', '--name', r, '--restart', 'on-failure:2', dk.image, 'sh', '-c', 'echo run; sleep 0.5; exit 5'])).toMatchObject({ status: 0 });
    const state = async () => (await dk.docker(['inspect', '--format', '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}', r])).stdout.trim();
    await waitUntil('two restarts, then exited', async () => (await state()) === '2 exited 5', 20_000);
    expect((await dk.docker(['logs', r])).stdout).toBe('run\nrun\nrun\n');
    const info = await inspect(r);
    for (const root of dk.tsboxRoots()) await expectTsboxStateGone(root, info.Id);
  });

  it('exec -u 1000 -w /tmp -e X=1, stats --no-stream, cp into and out of a running container, kill -s HUP', TEST_TIMEOUT, async () => {
    const c = await runDetached([], 'trap "echo got HUP" HUP; trap "exit 0" TERM; while :; do sleep 0.1; done');
    const f = fields(await exec(['-u', '1000', '-w', '/tmp', '-e', 'X=1', c.name, 'sh', '-c', 'echo "id=$(id -u):$(id -g)"; echo "pwd=$(pwd)"; echo "X=$X"; echo "hostuid=$(grep ^Uid: /proc/self/status | cut -f2)"']));
    expect(f).toEqual({ id: '1000:0', pwd: '/tmp', X: '1', hostuid: '1000' });
    const stats = await dk.docker(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', c.name]);
    expect(stats, stats.stderr).toMatchObject({ status: 0 });
    expect(stats.stdout).toMatch(new RegExp(`^${c.name} [12] [1-9][0-9.]*[KM]iB / `));
    const src = sb.path('to-copy');
    fs.writeFileSync(src, 'copied in\n');
    expect(await dk.docker(['cp', src, `${c.name}:/tmp/copied`])).toMatchObject({ status: 0 });
    expect(await exec([c.name, 'cat', '/tmp/copied'])).toBe('copied in\n');
    await exec([c.name, 'sh', '-c', 'echo made inside > /tmp/made']);
    expect(await dk.docker(['cp', `${c.name}:/tmp/made`, sb.path('copied-out')])).toMatchObject({ status: 0 });
    expect(fs.readFileSync(sb.path('copied-out'), 'utf8')).toBe('made inside\n');
    expect(await dk.docker(['kill', '-s', 'HUP', c.name])).toMatchObject({ status: 0 });
    await waitUntil('the HUP trap', async () => (await dk.docker(['logs', c.name])).stdout === 'got HUP\n', 5000);
    expect((await inspect(c.name)).State.Running).toBe(true);
  });

  it('--read-only with --tmpfs /run:mode=1777 and --mount type=tmpfs,tmpfs-mode=0700; -u 1000:1000 --group-add 123 --oom-score-adj 500', TEST_TIMEOUT, async () => {
    const r = await dk.docker([
      ...RUN, '--rm', '--read-only', '--tmpfs', '/run:rw,size=1m,mode=1777', '--mount', 'type=tmpfs,destination=/scratch,tmpfs-size=1048576,tmpfs-mode=0700',
      '-u', '1000:1000', '--group-add', '123', '--oom-score-adj', '500', dk.image, 'sh', '-c',
      'touch /new 2>&1; touch /run/x && echo "run=$(stat -c %a /run)"; echo "scratch=$(stat -c %a /scratch)"; echo "id=$(id -u):$(id -g)"; echo "groups=$(id -G)"; echo "oom=$(cat /proc/self/oom_score_adj)"',
    ]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    expect(r.stdout.split('\n')[0]).toBe('touch: /new: Read-only file system');
    // /scratch is root's 0700: uid 1000 cannot enter it, but sees its mode.
    expect(fields(r.stdout)).toEqual({ run: '1777', scratch: '700', id: '1000:1000', groups: '1000 123', oom: '500' });
  });

  it('--cpu-shares, --memory-reservation, --memory-swappiness 0, --cpuset-mems 0, --device-read-bps and --device-write-iops: the cgroup files inside and on the host', TEST_TIMEOUT, async () => {
    const disk = fs.readdirSync('/sys/block').find((d) => /^(vd|sd|nvme|xvd)/.test(d));
    const majMin = disk && fs.readFileSync(`/sys/block/${disk}/dev`, 'utf8').trim();
    const c = await runDetached([
      '--cpu-shares', '512', '--memory-reservation', '32m', '--memory-swappiness', '0', '--cpuset-mems', '0',
      ...(disk ? ['--device-read-bps', `/dev/${disk}:1mb`, '--device-write-iops', `/dev/${disk}:100`] : []),
    ], UNTIL_TERM);
    const files: [string, string, string][] = [
      ['cpu', 'cpu.shares', '512'],
      ['memory', 'memory.soft_limit_in_bytes', String(32 << 20)],
      ['memory', 'memory.swappiness', '0'],
      ['cpuset', 'cpuset.mems', '0'],
      ...(majMin ? ([['blkio', 'blkio.throttle.read_bps_device', `${majMin} 1048576`], ['blkio', 'blkio.throttle.write_iops_device', `${majMin} 100`]] as [string, string, string][]) : []),
    ];
    const inside = await exec([c.name, 'sh', '-c', files.map(([k, f]) => `cat /sys/fs/cgroup/${k}/${f}`).join('; ')]);
    expect(inside.trim().split('\n')).toEqual(files.map(([, , v]) => v));
    for (const [key, file, value] of files) {
      expect(fs.readFileSync(path.join(tsboxCgroupDir(c.root, c.id, key), file), 'utf8').trim(), `${key}/${file} on the host`).toBe(value);
    }
  });

  it('commit of a running container (docker pauses it), diff, export; update --cpus --pids-limit --memory --memory-swap; pause, then stop; start again', TEST_TIMEOUT, async () => {
    const c = await runDetached([], `echo kept > /made; ${UNTIL_TERM}`);
    await waitUntil('/made', async () => (await dk.docker(['exec', c.name, 'cat', '/made'])).stdout === 'kept\n', 5000);
    const image = `${c.name}-committed`;
    expect(await dk.docker(['commit', c.name, image])).toMatchObject({ status: 0 });
    expect((await inspect(c.name)).State.Status).toBe('running');
    expect((await dk.docker(['diff', c.name])).stdout).toMatch(/^A \/made$/m);
    expect(await dk.docker(['export', '-o', sb.path('exported.tar'), c.name])).toMatchObject({ status: 0 });
    expect(fs.statSync(sb.path('exported.tar')).size).toBeGreaterThan(100_000);
    expect(await dk.docker([...RUN, '--rm', image, 'cat', '/made'])).toMatchObject({ status: 0, stdout: 'kept\n' });
    expect(await dk.docker(['image', 'rm', image])).toMatchObject({ status: 0 });
    expect(await dk.docker(['update', '--cpus', '1', '--pids-limit', '100', '--memory', '100m', '--memory-swap', '200m', c.name])).toMatchObject({ status: 0 });
    const files: [string, string, string][] = [
      ['cpu', 'cpu.cfs_quota_us', '100000'],
      ['pids', 'pids.max', '100'],
      ['memory', 'memory.limit_in_bytes', String(100 << 20)],
      ['memory', 'memory.memsw.limit_in_bytes', String(200 << 20)],
    ];
    expect((await exec([c.name, 'sh', '-c', files.map(([k, f]) => `cat /sys/fs/cgroup/${k}/${f}`).join('; ')])).trim().split('\n')).toEqual(files.map(([, , v]) => v));
    for (const [key, file, value] of files) expect(fs.readFileSync(path.join(tsboxCgroupDir(c.root, c.id, key), file), 'utf8').trim()).toBe(value);
    expect(await dk.docker(['pause', c.name])).toMatchObject({ status: 0 });
    const start = Date.now();
    expect(await dk.docker(['stop', c.name])).toMatchObject({ status: 0 });
    expect(Date.now() - start).toBeLessThan(5000);
    expect((await inspect(c.name)).State).toMatchObject({ Status: 'exited', ExitCode: 0 });
    await expectTsboxStateGone(c.root, c.id);
    expect(await dk.docker(['start', c.name])).toMatchObject({ status: 0 });
    const again = await inspect(c.name);
    await expectRunByTsbox(sb, dk.tsboxRootOf(again.Id), again.Id, again.State.Pid);
    expect(await exec([c.name, 'cat', '/made'])).toBe('kept\n');
  });

  it('-m 8m --memory-swap 8m and a shell that grows: OOM-killed, exit 137 and State.OOMKilled true; --network and --pid container:X join X\'s namespaces', TEST_TIMEOUT, async () => {
    const name = sb.unique('oom');
    const r = await dk.docker([...RUN, '--name', name, '-m', '8m', '--memory-swap', '8m', dk.image, 'sh', '-c', 'x=a; while :; do x=$x$x; done']);
    expect(r.status).toBe(137);
    expect((await dk.docker(['inspect', '--format', '{{.State.ExitCode}} {{.State.OOMKilled}}', name])).stdout).toBe('137 true\n');
    const x = await runDetached([], UNTIL_TERM);
    // Not RUN: its --network none and container:X exclude each other.
    const joined = sb.unique('joined');
    const started = await dk.docker(['run', '--runtime', 'tsbox', '-d', '--name', joined, '--network', `container:${x.name}`, '--pid', `container:${x.name}`, dk.image, 'sh', '-c', UNTIL_TERM]);
    expect(started, started.stderr).toMatchObject({ status: 0 });
    const info = await inspect(joined);
    await expectRunByTsbox(sb, dk.tsboxRootOf(info.Id), info.Id, info.State.Pid);
    for (const type of ['net', 'pid']) expect(fs.readlinkSync(`/proc/${info.State.Pid}/ns/${type}`), type).toBe(fs.readlinkSync(`/proc/${x.pid}/ns/${type}`));
    expect(await exec([joined, 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline'])).toBe(`sh -c ${UNTIL_TERM} `);
  });

  it('--stop-signal USR1 ends the container through its handler; --stop-timeout 2 kills one that ignores SIGTERM after 2 s', TEST_TIMEOUT, async () => {
    const a = await runDetached(['--stop-signal', 'USR1'], 'trap "exit 3" USR1; while :; do sleep 0.1; done');
    let start = Date.now();
    expect(await dk.docker(['stop', a.name])).toMatchObject({ status: 0 });
    expect(Date.now() - start).toBeLessThan(2000);
    expect((await inspect(a.name)).State.ExitCode).toBe(3);
    const b = await runDetached(['--stop-timeout', '2'], 'trap "" TERM; while :; do sleep 0.1; done');
    start = Date.now();
    expect(await dk.docker(['stop', b.name])).toMatchObject({ status: 0 });
    const took = Date.now() - start;
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(6000);
    expect((await inspect(b.name)).State.ExitCode).toBe(137);
  });
});
