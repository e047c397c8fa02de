// What a container's process gets from its caller and its image, as runc
// gives it: not the caller's CPU affinity (taskset, systemd's
// CPUAffinity=); HOME from the image's /etc/passwd; socket activation's
// LISTEN_FDS; systemd's NOTIFY_SOCKET. Through bin/tsbox, as systemd units
// and engines start it. Each test has its own state root; containers are
// removed after it, pass or fail (see test/helpers/lifecycle.ts).

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { lifecycleSession, spawnProc, waitUntil } from '../helpers/lifecycle.js';
import { installFixture } from '../helpers/security.js';

/** A line of /proc/<pid>/status, its value. */
function statusOf(pid: number | 'self', key: string): string {
  const m = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? m[1]!.trim() : '';
}

describe.skipIf(!isRoot)('what the container process inherits', () => {
  const lc = lifecycleSession();

  // The test process is not pinned: its list is every CPU it may use.
  const allCpus = statusOf('self', 'Cpus_allowed_list');

  it.skipIf(allCpus === '0')('the caller\'s CPU affinity is not: `taskset -c 0 tsbox run -d` and `exec` give every CPU', async () => {
    const pinned = (args: string[]) => spawnProc('taskset', ['-c', '0', process.execPath, TSBOX, '--root', lc.root, ...args]);
    // taskset does pin what it starts.
    const control = spawnProc('taskset', ['-c', '0', 'grep', 'Cpus_allowed_list', '/proc/self/status']);
    expect(await control.stdout.end).toMatch(/:\s*0\n$/);

    const b = lc.bundle({ args: ['sh', '-c', 'grep Cpus_allowed_list /proc/self/status; exec sleep 100'] });
    lc.track('aff');
    const run = pinned(['run', '-d', '--bundle', b.dir, 'aff']);
    expect(await run.exited).toEqual({ status: 0, signal: null });
    // Inside: what the process itself reads; outside: the host's view of it.
    expect(await run.stdout.waitFor('\n')).toMatch(new RegExp(`^Cpus_allowed_list:\\s*${allCpus}\\n$`));
    expect(statusOf((await lc.state('aff')).pid, 'Cpus_allowed_list')).toBe(allCpus);

    const exec = pinned(['exec', 'aff', 'grep', 'Cpus_allowed_list', '/proc/self/status']);
    expect(await exec.exited).toEqual({ status: 0, signal: null });
    expect(await exec.stdout.end).toMatch(new RegExp(`^Cpus_allowed_list:\\s*${allCpus}\\n$`));

    // The container's cpuset still bounds it.
    const last = allCpus.split(/[-,]/).pop()!;
    const limited = lc.bundle({ args: b.config.process.args, mutate: (c) => (c.linux.resources = { cpu: { cpus: last } }) });
    lc.track('aff-cpuset');
    const inSet = pinned(['run', '-d', '--bundle', limited.dir, 'aff-cpuset']);
    expect(await inSet.exited).toEqual({ status: 0, signal: null });
    expect(await inSet.stdout.waitFor('\n')).toMatch(new RegExp(`^Cpus_allowed_list:\\s*${last}\\n$`));
  });

  /** A bundle whose image's passwd has user u (uid 1234) with home /home/u, running `args`. */
  function withUser(args: string[], mutate?: (c: any) => void) {
    return lc.bundle({
      args,
      mutate: (c) => {
        c.process.user = { uid: 1234, gid: 1234 };
        mutate?.(c);
      },
    });
  }

  function addUser(rootfs: string): void {
    fs.appendFileSync(path.join(rootfs, 'etc/passwd'), 'u:x:1234:1234:A user:/home/u:/bin/sh\n');
  }

  async function homeSeen(b: { dir: string }, id: string): Promise<string> {
    lc.track(id);
    const r = await lc.cli(['run', '--bundle', b.dir, id]);
    expect(r, `run ${id}`).toMatchObject({ status: 0, stderr: '' });
    return r.stdout;
  }

  const ECHO_HOME = ['sh', '-c', 'echo "$HOME"'];

  it('HOME, when the config sets none, is the user\'s home in the image\'s /etc/passwd (init and exec), else "/"', async () => {
    const b = withUser(['sh', '-c', 'echo "$HOME"; exec sleep 100']);
    addUser(b.rootfs);
    lc.track('home');
    const run = lc.spawn(['run', '-d', '--bundle', b.dir, 'home']);
    expect(await run.exited).toEqual({ status: 0, signal: null });
    expect(await run.stdout.waitFor('\n')).toBe('/home/u\n');
    // Outside: the environment the host sees the process start with.
    const pid = (await lc.state('home')).pid;
    expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('HOME=/home/u');
    // exec: the container's user, another one, and one the image lacks.
    expect((await lc.cli(['exec', 'home', ...ECHO_HOME])).stdout).toBe('/home/u\n');
    expect((await lc.cli(['exec', '--user', '0', 'home', ...ECHO_HOME])).stdout).toBe('/root\n');
    expect((await lc.cli(['exec', '--user', '4321', 'home', ...ECHO_HOME])).stdout).toBe('/\n');
    // A HOME of the exec's own stays.
    expect((await lc.cli(['exec', '--env', 'HOME=/mine', 'home', ...ECHO_HOME])).stdout).toBe('/mine\n');

    // The config's HOME stays; an empty one counts as none (as runc: getenv).
    const own = withUser(ECHO_HOME, (c) => c.process.env.push('HOME=/configured'));
    addUser(own.rootfs);
    expect(await homeSeen(own, 'home-own')).toBe('/configured\n');
    const empty = withUser(ECHO_HOME, (c) => c.process.env.push('HOME='));
    addUser(empty.rootfs);
    expect(await homeSeen(empty, 'home-empty')).toBe('/home/u\n');
    // No passwd at all: "/".
    const bare = withUser(ECHO_HOME);
    fs.rmSync(path.join(bare.rootfs, 'etc/passwd'));
    expect(await homeSeen(bare, 'home-bare')).toBe('/\n');
  });

  it('HOME: an image\'s /etc/passwd is read inside the container: symlinks out of it and a FIFO lead nowhere', async () => {
    // A passwd on the host that would give the user a home, were it read.
    const host = lc.scratch();
    fs.writeFileSync(path.join(host, 'passwd'), 'u:x:1234:1234::/escaped:/bin/sh\n');
    const targets = [path.join(host, 'passwd'), `../../../../../../../../..${path.join(host, 'passwd')}`];
    for (const [i, target] of targets.entries()) {
      const b = withUser(ECHO_HOME);
      fs.rmSync(path.join(b.rootfs, 'etc/passwd'));
      fs.symlinkSync(target, path.join(b.rootfs, 'etc/passwd'));
      expect(await homeSeen(b, `home-link${i}`), `/etc/passwd -> ${target}`).toBe('/\n');
    }
    // A FIFO nobody writes: the process starts all the same.
    const fifo = withUser(ECHO_HOME);
    fs.rmSync(path.join(fifo.rootfs, 'etc/passwd'));
    execFileSync('mkfifo', [path.join(fifo.rootfs, 'etc/passwd')]);
    expect(await homeSeen(fifo, 'home-fifo')).toBe('/\n');
  });

  /**
   * What systemd does for a socket-activated unit running `tsbox ARGS`: a
   * listening unix socket at `socketPath` as fd 3, LISTEN_FDS=1 and
   * LISTEN_PID (of the very process that then executes tsbox; `listenPid`
   * overrides it); `fd4` (a file written to) as fd 4 for --preserve-fds.
   */
  function socketActivated(socketPath: string, fd4: string, args: string[], listenPid?: string) {
    const script = [
      'import os, socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
      's.bind(sys.argv[1]); s.listen(4)',
      'os.dup2(s.fileno(), 3)',
      'os.dup2(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 4)',
      // dup2 onto itself (the socket may be 3 already) keeps close-on-exec.
      'os.set_inheritable(3, True); os.set_inheritable(4, True)',
      'os.environ["LISTEN_FDS"] = "1"',
      `os.environ["LISTEN_PID"] = ${listenPid === undefined ? 'str(os.getpid())' : JSON.stringify(listenPid)}`,
      'os.execv(sys.argv[3], sys.argv[3:])',
    ].join('\n');
    return spawnProc('python3', ['-c', script, socketPath, fd4, process.execPath, TSBOX, '--root', lc.root, ...args]);
  }

  /** The text the container's process writes to the first connection to a unix socket. */
  function answerOf(socketPath: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let text = '';
      net
        .connect(socketPath)
        .setEncoding('utf8')
        .on('data', (d: string) => (text += d))
        .on('end', () => resolve(text))
        .on('error', reject);
    });
  }

  it('socket activation: LISTEN_FDS=1 and --preserve-fds 1 give the container the socket as 3 (LISTEN_PID=1) and the preserved fd as 4', async () => {
    const dir = lc.scratch();
    const b = lc.bundle({
      args: ['sh', '-c', 'echo "LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID" >&4; exec sd-peer accept 3 hello-from-inside'],
    });
    installFixture(b.rootfs, 'sd-peer');
    lc.track('activated');
    const sock = path.join(dir, 'activation.sock');
    const tsbox = socketActivated(sock, path.join(dir, 'fd4'), ['run', '-d', '--preserve-fds', '1', '--bundle', b.dir, 'activated']);
    expect(await tsbox.exited).toEqual({ status: 0, signal: null });
    // From the host, through the socket tsbox was handed: the container accepts.
    expect(await answerOf(sock)).toBe('hello-from-inside');
    expect(fs.readFileSync(path.join(dir, 'fd4'), 'utf8')).toBe('LISTEN_FDS=1 LISTEN_PID=1\n');
    await lc.waitForStatus('activated', 'stopped');

    // LISTEN_PID naming another process: its sockets are not tsbox's to pass on.
    const other = lc.bundle({ args: ['sh', '-c', 'echo "LISTEN_FDS=$LISTEN_FDS"; ls /proc/self/fd/3 2>&1'] });
    lc.track('not-ours');
    const sock2 = path.join(dir, 'other.sock');
    const ignored = socketActivated(sock2, path.join(dir, 'fd4-other'), ['run', '--bundle', other.dir, 'not-ours'], '1');
    expect(await ignored.exited).toEqual({ status: 1, signal: null });
    expect(await ignored.stdout.end).toMatch(/^LISTEN_FDS=\nls: \/proc\/self\/fd\/3: No such file or directory\n$/);
  });

  /**
   * A notify socket on the host, as systemd has for a Type=notify unit:
   * what it receives, one datagram per line of JSON. A descriptor that comes
   * with one (BARRIER=1's pipe) is held `holdMs`, then closed: systemd's
   * answer to the barrier.
   */
  function notifyListener(socketPath: string, holdMs = 0) {
    const script = [
      'import array, json, socket, sys, time',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      's.bind(sys.argv[1])',
      'print("listening", flush=True)',
      'while True:',
      '  data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16))',
      '  print(json.dumps(data.decode()), flush=True)',
      '  fds = [fd for lvl, typ, raw in anc for fd in array.array("i", raw[: len(raw) - len(raw) % 4])]',
      `  if fds: time.sleep(${holdMs / 1000})`,
      '  for fd in fds: socket.close(fd)',
    ].join('\n');
    const p = spawnProc('python3', ['-c', script, socketPath]);
    return {
      ready: p.stdout.waitFor('listening\n'),
      received: async (n: number) => {
        const text = await p.stdout.waitFor((t) => t.split('\n').length >= n + 2);
        return text.split('\n').slice(1, n + 1).map((l) => JSON.parse(l) as string);
      },
      stop: () => {
        p.child.kill('SIGKILL');
        return p.stdout.end;
      },
    };
  }

  /** bin/tsbox with NOTIFY_SOCKET set, as a Type=notify unit starts it. */
  function notified(socketPath: string, args: string[]) {
    return spawnProc('env', [`NOTIFY_SOCKET=${socketPath}`, process.execPath, TSBOX, '--root', lc.root, ...args]);
  }

  it('NOTIFY_SOCKET: the container\'s READY=1 reaches the caller\'s socket with MAINPID (create + start: the init; run: tsbox)', async () => {
    const dir = lc.scratch();
    const host = path.join(dir, 'systemd-notify.sock');
    // systemd answers the barrier after 1 s here.
    const listener = notifyListener(host, 1000);
    await listener.ready;
    const b = lc.bundle({
      args: ['sh', '-c', 'echo "$NOTIFY_SOCKET"; touch /run/notify/x 2>&1; sleep 1; sd-peer notify "STATUS=starting"; sd-peer notify "READY=1"; exec sleep 100'],
    });
    installFixture(b.rootfs, 'sd-peer');
    lc.track('sd');
    const create = notified(host, ['create', '--bundle', b.dir, 'sd']);
    expect(await create.exited).toEqual({ status: 0, signal: null });
    const started = Date.now();
    const start = notified(host, ['start', 'sd']);
    expect(await start.exited).toEqual({ status: 0, signal: null });
    // start waited for the container to be ready (1 s), then for systemd to
    // have taken the message (the barrier, 1 s), as runc's does.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    const pid = (await lc.state('sd')).pid;
    expect(await listener.received(2)).toEqual([`READY=1\nMAINPID=${pid}\n`, 'BARRIER=1']);
    // Inside: where the socket is, and that its directory is read-only.
    expect(await create.stdout.waitFor('Read-only')).toMatch(/^\/run\/notify\/notify\.sock\ntouch: \/run\/notify\/x: Read-only file system\n$/);

    // run in the foreground: tsbox stays, the process systemd watches.
    const once = lc.bundle({ args: ['sd-peer', 'notify', 'READY=1'] });
    installFixture(once.rootfs, 'sd-peer');
    lc.track('sd-run');
    const run = notified(host, ['run', '--bundle', once.dir, 'sd-run']);
    expect(await run.exited).toEqual({ status: 0, signal: null });
    expect((await listener.received(4)).slice(2)).toEqual([`READY=1\nMAINPID=${run.child.pid}\n`, 'BARRIER=1']);
    listener.stop();
  });

  it('NOTIFY_SOCKET: a container that exits without READY lets start return, and nothing is sent', async () => {
    const dir = lc.scratch();
    const host = path.join(dir, 'systemd-notify.sock');
    const listener = notifyListener(host);
    await listener.ready;
    const b = lc.bundle({ args: ['true'] });
    lc.track('sd-quiet');
    expect(await notified(host, ['create', '--bundle', b.dir, 'sd-quiet']).exited).toEqual({ status: 0, signal: null });
    expect(await notified(host, ['start', 'sd-quiet']).exited).toEqual({ status: 0, signal: null });
    await lc.waitForStatus('sd-quiet', 'stopped');
    // A container created without NOTIFY_SOCKET: start with it has nothing to relay.
    const plain = lc.bundle({ args: ['true'] });
    lc.track('sd-plain');
    await lc.create('sd-plain', plain);
    expect(await notified(host, ['start', 'sd-plain']).exited).toEqual({ status: 0, signal: null });
    // A user namespace of root's making: not passed on (its root cannot
    // reach root's state directory), with a warning; the container runs.
    const userns = lc.bundle({
      args: ['sh', '-c', 'echo "[$NOTIFY_SOCKET]"'],
      mutate: (c) => {
        c.linux.namespaces.push({ type: 'user' });
        c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      },
    });
    lc.track('sd-userns');
    const run = notified(host, ['run', '--bundle', userns.dir, 'sd-userns']);
    expect(await run.exited).toEqual({ status: 0, signal: null });
    expect(await run.stdout.end).toBe('[]\n');
    expect(await run.stderr.end).toBe(
      'tsbox: warning: NOTIFY_SOCKET is not passed on to a container with a user namespace (its root cannot reach the state directory); it will not report READY\n',
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(await listener.stop()).toBe('listening\n');
  });
});
