// Rootless podman 4.3 with tsbox as its runtime: an unprivileged user (a
// high, unused uid) runs `podman --runtime tsbox run/exec/top/stop/rm`.
// Rootless podman runs conmon and the runtime inside a user namespace of its
// own, where the user is uid 0 and its subordinate ids are 1..65536: tsbox
// runs there as root of a user namespace, which is rootless all the same
// (state under $XDG_RUNTIME_DIR, host device nodes bound, no cgroups of its
// own), as runc takes it. The same probes run under runc, with the same
// podman, for comparison.
//
// Nothing of the host's /etc changes: the user's passwd, group, subuid and
// subgid lines are in files of the sandbox, bound over /etc/passwd,
// /etc/group, /etc/subuid and /etc/subgid only in the private mount
// namespace podman runs in (newuidmap reads them there). Every state
// directory (storage, runroot, XDG_RUNTIME_DIR, HOME) is in the sandbox.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pidsOf } from '../helpers/bundle.js';
import {
  EngineSandbox,
  TEST_TIMEOUT,
  TSBOX,
  expectProcessGone,
  expectRunByTsbox,
  expectTsboxStateGone,
  findExecutable,
  skipReason,
  suiteTitle,
  useEngineSuite,
  waitForTsboxContainer,
} from '../helpers/engines.js';
import type { CliResult, Started } from '../helpers/cli.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['podman', 'conmon', 'newuidmap', 'newgidmap', 'setpriv', 'unshare', 'nsenter', 'chroot', 'tar']);
const hasRunc = findExecutable('runc') !== undefined;

/** An unused uid and a block of subordinate ids of its own (tests of other files pick theirs elsewhere). */
const UID = 250000 + Math.floor(Math.random() * 40000);
const SUB_START = 1_000_000 + Math.floor(Math.random() * 1000) * 65536;
const USER = `tsboxpm${UID}`;

/** The warning rootless podman prints in a mount namespace whose "/" is private (the test's). */
const SHARED_MOUNT_WARNING = /^.*"\/" is not a shared mount.*\n/gm;

interface RootlessPodman {
  home: string;
  xdg: string;
  /** tsbox's state root: $XDG_RUNTIME_DIR/tsbox (podman passes no --root). */
  tsboxRoot: string;
  image: string;
  run(args: readonly string[], opts?: { input?: string }): Promise<CliResult>;
  spawn(args: readonly string[]): Started;
  /** Host pids running as the user (real uid). */
  userPids(): number[];
  removeAll(): Promise<void>;
  close(): void;
}

/**
 * The package as the user reaches it: a copy in the sandbox (the checkout
 * may be under a directory closed to other users), mtimes kept (bin/tsbox
 * checks the pack against dist/ by them).
 */
function tsboxForUser(sb: EngineSandbox): string {
  const repo = path.resolve(path.dirname(TSBOX), '..');
  const pkg = sb.mkdir('tsbox-package');
  fs.mkdirSync(path.join(pkg, 'build'));
  for (const part of ['package.json', 'bin', 'dist', 'build/Release']) {
    const r = spawnSync('cp', ['-a', path.join(repo, part), path.join(pkg, part)], { stdio: 'pipe' });
    if (r.status !== 0) throw new Error(`copy ${part} for the rootless user: ${r.stderr}`);
  }
  return path.join(pkg, 'bin', 'tsbox');
}

async function startRootlessPodman(sb: EngineSandbox): Promise<RootlessPodman> {
  const etc = sb.mkdir('etc');
  const file = (name: string, text: string) => {
    fs.writeFileSync(path.join(etc, name), text, { mode: 0o644 });
    return path.join(etc, name);
  };
  const home = sb.mkdir('home');
  // The home in passwd too: conmon starts podman's exit command (`container
  // cleanup`) without HOME, and that podman finds its config by the user's
  // home (with /nonexistent, it missed the exit of every container and
  // podman waited 20 s for it).
  const binds = {
    '/etc/passwd': file('passwd', `${fs.readFileSync('/etc/passwd', 'utf8')}${USER}:x:${UID}:${UID}::${home}:/bin/sh\n`),
    '/etc/group': file('group', `${fs.readFileSync('/etc/group', 'utf8')}${USER}:x:${UID}:\n`),
    '/etc/subuid': file('subuid', `${USER}:${SUB_START}:65536\n`),
    '/etc/subgid': file('subgid', `${USER}:${SUB_START}:65536\n`),
    '/run': sb.mkdir('podman-rootless', 'run-bind'),
    '/var/lib': sb.mkdir('podman-rootless', 'var-lib-bind'),
  };
  const xdg = sb.mkdir('home', 'xdg');
  fs.chmodSync(xdg, 0o700);
  const tsbox = tsboxForUser(sb);
  const q = (s: string) => JSON.stringify(s);
  // In the user's own config directory, where every podman of the user
  // reads them: conmon's exit command (`podman container cleanup`) too.
  const confDir = sb.mkdir('home', '.config', 'containers');
  const conf = path.join(confDir, 'containers.conf');
  fs.writeFileSync(
    conf,
    [
      '[engine]',
      'runtime_supports_json = ["tsbox", "runc"]',
      // Not the default shm lock (/dev/shm/libpod_rootless_lock_<uid>, outside the sandbox).
      'lock_type = "file"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "none"',
      '[engine.runtimes]',
      `tsbox = [${q(tsbox)}]`,
      '',
    ].join('\n'),
  );
  const storage = path.join(confDir, 'storage.conf');
  // vfs: no fuse-overlayfs or kernel overlay needed for a user here.
  fs.writeFileSync(storage, ['[storage]', 'driver = "vfs"', `graphroot = ${q(path.join(home, 'storage'))}`, `runroot = ${q(path.join(xdg, 'containers'))}`, ''].join('\n'));
  const { tar } = sb.buildRootfs();
  fs.chmodSync(tar, 0o644);
  spawnSync('chown', ['-R', `${UID}:${UID}`, home]);

  const holder = await sb.startNamespaced('podman-rootless-namespace', ['sleep', 'infinity'], binds, {}, async () => true);
  const env = [
    `PATH=${path.dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    `HOME=${home}`,
    `XDG_RUNTIME_DIR=${xdg}`,
    `USER=${USER}`,
    `TMPDIR=${xdg}`,
  ];
  const argv = (args: readonly string[]) => [
    `--target=${holder.pid}`, '--mount', `--wd=${home}`, '--',
    'setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--init-groups',
    'env', '-i', ...env, 'podman', ...args,
  ];
  const clean = (r: CliResult): CliResult => ({ ...r, stderr: r.stderr.replace(SHARED_MOUNT_WARNING, '') });
  const tsboxRoot = path.join(xdg, 'tsbox');
  sb.stateRoots.add(tsboxRoot);
  const image = 'localhost/tsbox-busybox:latest';
  const pm: RootlessPodman = {
    home,
    xdg,
    tsboxRoot,
    image,
    run: async (args, opts) => clean(await sb.run('nsenter', argv(args), {}, opts)),
    spawn: (args) => sb.spawn('nsenter', argv(args), {}),
    userPids: () => pidsOf(UID),
    async removeAll() {
      await pm.run(['rm', '--all', '--force', '--time', '0']);
    },
    close() {
      // Rootless podman's pause process (catatonit) holds its user namespace; it is ours to end.
      try {
        process.kill(Number(fs.readFileSync(path.join(xdg, 'libpod', 'tmp', 'pause.pid'), 'utf8')), 'SIGKILL');
      } catch {
        // never started, or gone
      }
    },
  };
  const imported = await pm.run(['import', '--change', 'CMD ["/bin/sh"]', tar, image]);
  if (imported.status !== 0) throw new Error(`podman import: ${imported.stderr}`);
  return pm;
}

describe.skipIf(reason !== undefined)(suiteTitle('rootless podman with tsbox as its runtime', reason), () => {
  let sb: EngineSandbox;
  let pm: RootlessPodman;

  useEngineSuite('podman-rootless', async (sandbox) => {
    sb = sandbox;
    return (pm = await startRootlessPodman(sb));
  }, 'podman rm --all');

  const flags = (runtime: string) => ['--runtime', runtime, '--network', 'none', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=1024:1024'];
  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';
  /** What a container sees of its ids, devices and capabilities. */
  const PROBE = 'id; cat /proc/self/uid_map /proc/self/gid_map; ls -ln /dev/null; grep -E "^Cap(Eff|Bnd)" /proc/self/status; ls /dev | tr "\\n" " "';

  /**
   * Runs `script` to its end under `runtime` and returns its exit code and
   * output. Here podman learns of a container's exit only at its 20 s conmon
   * timeout, under runc as under tsbox (not seen with the same podman
   * setup run from a shell; not found why), so runs to compare go side by side.
   */
  async function runToEnd(runtime: string, script: string, extra: string[] = []): Promise<{ status: string; output: string }> {
    const name = sb.unique(`probe-${runtime}`);
    const r = await pm.run(['run', '-d', '--name', name, ...flags(runtime), ...extra, pm.image, 'sh', '-c', script]);
    expect(r, `${runtime}: ${r.stderr}`).toMatchObject({ status: 0 });
    const waited = await pm.run(['wait', name]);
    const logs = await pm.run(['logs', name]);
    expect(await pm.run(['rm', name])).toMatchObject({ status: 0 });
    return { status: waited.stdout.trim(), output: logs.stdout + logs.stderr };
  }

  async function runDetached(script: string, extra: string[] = []): Promise<{ name: string; id: string; pid: number }> {
    const name = sb.unique('rl');
    const r = await pm.run(['run', '-d', '--name', name, ...flags('tsbox'), ...extra, pm.image, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const id = r.stdout.trim();
    const [pid, runtime] = (await pm.run(['inspect', '--format', '{{.State.Pid}} {{.OCIRuntime}}', name])).stdout.trim().split(' ');
    expect(runtime).toBe('tsbox');
    await expectRunByTsbox(sb, pm.tsboxRoot, id, Number(pid));
    return { name, id, pid: Number(pid) };
  }

  it('run: output, exit code, state under $XDG_RUNTIME_DIR/tsbox, the init running as the user on the host', TEST_TIMEOUT, async () => {
    const s = pm.spawn(['run', '--rm', '-i', ...flags('tsbox'), pm.image, 'sh', '-c', 'read -r line; echo "got $line"; exit 7']);
    const rec = await waitForTsboxContainer(pm.tsboxRoot, s);
    await expectRunByTsbox(sb, pm.tsboxRoot, rec.id);
    expect(fs.readFileSync(`/proc/${rec.pid}/status`, 'utf8')).toMatch(new RegExp(`\\nUid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}\\n`));
    s.child.stdin!.end('hello\n');
    const r = await s.done;
    expect({ ...r, stderr: r.stderr.replace(SHARED_MOUNT_WARNING, '') }).toMatchObject({ status: 7, stdout: 'got hello\n', stderr: '' });
    await expectTsboxStateGone(pm.tsboxRoot, rec.id);
    await expectProcessGone(rec.pid);
  });

  it.skipIf(!hasRunc)('run: the container sees the same ids, device nodes and capabilities as under runc', TEST_TIMEOUT, async () => {
    const [tsbox, runc] = await Promise.all([runToEnd('tsbox', PROBE), runToEnd('runc', PROBE)]);
    expect(tsbox).toEqual(runc);
    expect(tsbox.status).toBe('0');
    // The host's /dev/null, bound (no mknod in a user namespace): owned by a host id unmapped here.
    expect(tsbox.output).toMatch(/^crw-rw-rw- .* 65534 +65534 +1, +3 /m);
  });

  it('run: a missing command exits 127 with tsbox\'s error, as podman maps it', TEST_TIMEOUT, async () => {
    const r = await pm.run(['run', '--rm', ...flags('tsbox'), pm.image, 'nope']);
    expect(r.status).toBe(127);
    expect(r.stderr).toContain('exec "nope": executable file not found in $PATH');
    expect(EngineSandbox.stateEntries(pm.tsboxRoot)).toEqual([]);
  });

  it('run -d with a volume, exec (stdin, exit code), top, stop, rm: the volume\'s files are the user\'s on the host', TEST_TIMEOUT, async () => {
    const vol = path.join(pm.home, sb.unique('vol'));
    fs.mkdirSync(vol);
    fs.chownSync(vol, UID, UID);
    const c = await runDetached(`echo started > /vol/init; ${UNTIL_TERM}`, ['-v', `${vol}:/vol`]);
    await waitUntil('the init to write the volume', () => fs.existsSync(path.join(vol, 'init')), 10_000);

    const e = await pm.run(['exec', '-i', c.name, 'sh', '-c', 'cat > /vol/copied; id -u; exit 3'], { input: 'through stdin\n' });
    expect(e).toMatchObject({ status: 3, stdout: '0\n', stderr: '' });
    expect(fs.readFileSync(path.join(vol, 'copied'), 'utf8')).toBe('through stdin\n');
    for (const f of ['init', 'copied']) {
      const st = fs.statSync(path.join(vol, f));
      expect([st.uid, st.gid], f).toEqual([UID, UID]);
    }

    // top: the container's processes, root inside, the user on the host.
    const top = await pm.run(['top', c.name, 'user', 'huser', 'pid', 'args']);
    expect(top, top.stderr).toMatchObject({ status: 0 });
    expect(top.stdout).toMatch(new RegExp(`^0\\s+${UID}\\s+1\\s+sh -c echo started`, 'm'));

    const t0 = Date.now();
    expect(await pm.run(['stop', '--time', '20', c.name])).toMatchObject({ status: 0 });
    expect(Date.now() - t0, 'stop waited for its timeout: SIGTERM did not reach the trap').toBeLessThan(10_000);
    expect(await pm.run(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', c.name])).toMatchObject({ stdout: 'exited 0\n' });
    await expectTsboxStateGone(pm.tsboxRoot, c.id);
    await expectProcessGone(c.pid);
    expect(await pm.run(['rm', c.name])).toMatchObject({ status: 0 });
    expect((await pm.run(['ps', '--all', '--quiet'])).stdout).toBe('');
  });

  it.skipIf(!hasRunc)('run --userns=keep-id: the user\'s own uid inside, maps and files as under runc', TEST_TIMEOUT, async () => {
    const probe = 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; ls -lnd / /bin/busybox | tr -s " " | cut -d" " -f1,3,4; echo x > /dev/shm/f && ls -ln /dev/shm/f | tr -s " " | cut -d" " -f3,4';
    const [tsbox, runc] = await Promise.all([runToEnd('tsbox', probe, ['--userns=keep-id']), runToEnd('runc', probe, ['--userns=keep-id'])]);
    expect(tsbox).toEqual(runc);
    expect(tsbox.status).toBe('0');
    expect(tsbox.output.split('\n').slice(0, 2)).toEqual([String(UID), String(UID)]);
    expect(tsbox.output).toContain(`${UID} ${UID}\n`);
  });

  // The user's own uid inside: its stdio (conmon's pipes) and its terminal
  // must be its own to be reopened by path, as runc makes them; tsbox left
  // them root's (/dev/stdout: permission denied; the tty: 0 5 620).
  it.skipIf(!hasRunc)('run --userns=keep-id: the process can reopen its stdio and its terminal by path, as under runc', TEST_TIMEOUT, async () => {
    const pipes = 'echo via-path > /dev/stdout; stat -L -c %u /proc/self/fd/1';
    const tty = 'stat -c "%u %g %a" $(tty); echo by-path > $(tty)';
    const [tsbox, runc, tsboxTty, runcTty] = await Promise.all([
      runToEnd('tsbox', pipes, ['--userns=keep-id']),
      runToEnd('runc', pipes, ['--userns=keep-id']),
      runToEnd('tsbox', tty, ['--userns=keep-id', '-t']),
      runToEnd('runc', tty, ['--userns=keep-id', '-t']),
    ]);
    expect(tsbox).toEqual({ status: '0', output: `via-path\n${UID}\n` });
    expect(tsbox).toEqual(runc);
    expect(tsboxTty).toEqual({ status: '0', output: `${UID} 5 620\r\nby-path\r\n` });
    expect(tsboxTty).toEqual(runcTty);
  });

  it('the end: no process of the user but podman\'s pause process', TEST_TIMEOUT, async () => {
    await pm.removeAll();
    const pause = Number(fs.readFileSync(path.join(pm.xdg, 'libpod', 'tmp', 'pause.pid'), 'utf8'));
    await waitUntil('only the pause process to be left', () => pm.userPids().every((p) => p === pause), 10_000).catch(() => undefined);
    expect(pm.userPids().filter((p) => p !== pause)).toEqual([]);
  });
});
