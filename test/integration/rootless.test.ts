// Rootless mode: bin/tsbox run by an unprivileged user (setpriv to a high,
// unused uid; nothing of the host's /etc is changed). The user gets a temp
// dir of its own for the bundle (a copy of the busybox rootfs it owns) and
// its XDG_RUNTIME_DIR. The newuidmap cases run in a private mount namespace
// where temp files are bound over /etc/subuid, /etc/subgid and /etc/passwd.

import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { defaultConfig, hostMounts, isRoot, makeBundle, pidsOf } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { eventually } from '../helpers/containers.js';
import { findCgroupDirs, hostHierarchies, makeOwnParent, procCgroup, removeCgroupDirs } from '../helpers/cgroups.js';

const missingTools = ['/usr/bin/setpriv', '/usr/bin/unshare', '/usr/bin/newuidmap', '/usr/bin/newgidmap'].filter((f) => !fs.existsSync(f));
const hasTools = missingTools.length === 0;
const SUB_START = 600000;

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The package as an unprivileged user can reach it. The checkout may sit
 * under a directory closed to other users (a mkdtemp dir, /root), so the
 * files tsbox runs from (bin, the packed and plain dist, the addon and the
 * helper) are copied once, mtimes kept (bin/tsbox checks the pack against
 * dist/ by them), into a temp dir open to all; removed after the file.
 */
let userPackage: string | undefined;

function tsboxForUsers(): string {
  if (userPackage === undefined) {
    const repo = path.resolve(path.dirname(TSBOX), '..');
    userPackage = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-rootless-pkg-'));
    fs.chmodSync(userPackage, 0o755);
    fs.mkdirSync(path.join(userPackage, 'build'));
    for (const part of ['package.json', 'bin', 'dist', 'build/Release']) {
      const r = spawnSync('cp', ['-a', path.join(repo, part), path.join(userPackage, part)], { stdio: 'pipe' });
      if (r.status !== 0) throw new Error(`copy ${part} for the rootless user: ${r.stderr}`);
    }
  }
  return path.join(userPackage, 'bin', 'tsbox');
}

afterAll(() => {
  if (userPackage !== undefined) fs.rmSync(userPackage, { recursive: true, force: true });
});

/** An unprivileged user for one test: its uid, a home it owns, and a way to run tsbox as it. */
class RootlessUser {
  readonly uid = 200000 + Math.floor(Math.random() * 50000);
  readonly home: string;
  readonly xdg: string;
  readonly bundle: string;
  /** Files bound over /etc/subuid, /etc/subgid, /etc/passwd for newuidmap (see withSubids). */
  private etc: { subuid: string; subgid: string; passwd: string } | undefined;

  constructor() {
    this.home = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-rootless-'));
    this.xdg = path.join(this.home, 'xdg');
    this.bundle = path.join(this.home, 'bundle');
    fs.mkdirSync(this.xdg, { mode: 0o700 });
    fs.mkdirSync(this.bundle);
    // A private copy of the rootfs (bundles hardlink the shared cache,
    // which must not change owner).
    const b = makeBundle();
    try {
      spawnSync('cp', ['-a', b.rootfs, path.join(this.bundle, 'rootfs')], { stdio: 'ignore' });
    } finally {
      b.cleanup();
    }
    spawnSync('chown', ['-R', `${this.uid}:${this.uid}`, this.home], { stdio: 'ignore' });
  }

  /** /etc/subuid and /etc/subgid giving the user SUB_START..+65535, and a passwd entry (newuidmap looks the user up). */
  withSubids(ranges = `${SUB_START}:65536`): void {
    const dir = path.join(os.tmpdir(), `tsbox-etc-${this.uid}-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    const name = `tsboxrl${this.uid}`;
    this.etc = { subuid: path.join(dir, 'subuid'), subgid: path.join(dir, 'subgid'), passwd: path.join(dir, 'passwd') };
    fs.writeFileSync(this.etc.subuid, ranges ? `${name}:${ranges}\n` : '');
    fs.writeFileSync(this.etc.subgid, ranges ? `${name}:${ranges}\n` : '');
    fs.writeFileSync(this.etc.passwd, `${fs.readFileSync('/etc/passwd', 'utf8')}${name}:x:${this.uid}:${this.uid}::/nonexistent:/bin/false\n`);
  }

  config(edit: (c: any) => void): void {
    const file = path.join(this.bundle, 'config.json');
    const c = JSON.parse(fs.readFileSync(file, 'utf8'));
    edit(c);
    fs.writeFileSync(file, JSON.stringify(c));
  }

  writeConfig(c: any): void {
    fs.writeFileSync(path.join(this.bundle, 'config.json'), JSON.stringify(c));
    fs.chownSync(path.join(this.bundle, 'config.json'), this.uid, this.uid);
  }

  /** Runs bin/tsbox as the user; output goes to files, so a container left running does not hold it up. */
  /**
   * Cgroups (one per hierarchy) the user's commands start in, put there as
   * root before setpriv: like a systemd user session inside the cgroup
   * delegated to it.
   */
  session: string[] = [];

  tsbox(args: string[], env: Record<string, string> = { XDG_RUNTIME_DIR: this.xdg }): Result {
    const out = path.join(this.home, 'out');
    const err = path.join(this.home, 'err');
    const fds = [fs.openSync(out, 'w'), fs.openSync(err, 'w')];
    const envArgs = Object.entries({ PATH: '/usr/bin:/bin', ...env }).map(([k, v]) => `${k}=${v}`);
    const asUser = ['setpriv', `--reuid=${this.uid}`, `--regid=${this.uid}`, '--clear-groups', 'env', '-i', ...envArgs, process.execPath, tsboxForUsers(), ...args];
    // newuidmap reads the subid files of its mount namespace: a private one.
    const inSession = this.session.length > 0
      ? ['sh', '-c', 'for d in $0; do echo $$ > "$d/cgroup.procs" || exit 1; done; exec "$@"', this.session.join(' '), ...asUser]
      : asUser;
    const command = this.etc
      ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c',
         `mount --bind "$0" /etc/subuid && mount --bind "$1" /etc/subgid && mount --bind "$2" /etc/passwd && shift 2 && exec "$@"`,
         this.etc.subuid, this.etc.subgid, this.etc.passwd, ...inSession]
      : inSession;
    try {
      const r = spawnSync(command[0]!, command.slice(1), { cwd: this.bundle, stdio: ['ignore', fds[0]!, fds[1]!], timeout: 20_000 });
      return { status: r.status, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
    }
  }

  async cleanup(): Promise<void> {
    // Containers left by a failed test: every process of this uid.
    for (const pid of pidsOf(this.uid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await eventually(() => expect(pidsOf(this.uid)).toEqual([]), 5000);
    fs.rmSync(this.home, { recursive: true, force: true });
    if (this.etc) fs.rmSync(path.dirname(this.etc.subuid), { recursive: true, force: true });
  }
}

const skipped = !isRoot ? ' (skipped: needs root to pick a user)' : hasTools ? '' : ` (skipped: not installed: ${missingTools.map((f) => path.basename(f)).join(', ')})`;
describe.skipIf(!isRoot || !hasTools)('rootless' + skipped, () => {
  const users: RootlessUser[] = [];
  const mountsBefore = hostMounts();
  const user = () => {
    const u = new RootlessUser();
    users.push(u);
    return u;
  };
  afterEach(async () => {
    for (const u of users.splice(0)) await u.cleanup();
    expect(hostMounts()).toEqual(mountsBefore);
  });

  it('runs the config `spec --rootless` writes: root of its own user namespace, mapped to the user', () => {
    const u = user();
    expect(u.tsbox(['spec', '--rootless'])).toMatchObject({ status: 0, stderr: '' });
    u.config((c) => {
      c.process.terminal = false;
      c.process.args = ['/bin/sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g; echo x > /dev/null && echo null-ok; hostname; ls -ln /tmp/../bin/busybox'];
    });
    const r = u.tsbox(['run', 'rl-spec']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines.slice(0, 8)).toEqual([`0 ${u.uid} 1`, `0 ${u.uid} 1`, 'deny', '0', '0', 'null-ok', 'tsbox', lines[7]]);
    // The user's own files are root's in the container.
    expect(lines[7]).toMatch(/^-rwxr-xr-x 1 0 0 /);
    // State went to $XDG_RUNTIME_DIR/tsbox, and the run's record is gone.
    expect(fs.readdirSync(path.join(u.xdg, 'tsbox'))).toEqual([]);
  });

  it('creates, starts, execs into, kills and deletes a container, with its state under $XDG_RUNTIME_DIR/tsbox', async () => {
    const u = user();
    u.tsbox(['spec', '--rootless']);
    u.config((c) => {
      c.process.terminal = false;
      c.process.args = ['/bin/sleep', '60'];
    });
    const id = 'rl-life';
    expect(u.tsbox(['create', id])).toMatchObject({ status: 0, stderr: '' });
    expect(fs.existsSync(path.join(u.xdg, 'tsbox', id, 'state.json'))).toBe(true);
    const state = JSON.parse(u.tsbox(['state', id]).stdout);
    expect(state.status).toBe('created');
    expect(u.tsbox(['start', id])).toMatchObject({ status: 0, stderr: '' });
    // The host sees the container's process as the user.
    const status = fs.readFileSync(`/proc/${state.pid}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`\\nUid:\\s+${u.uid}\\s+${u.uid}\\s+${u.uid}\\s+${u.uid}\\n`));
    const e = u.tsbox(['exec', id, '/bin/sh', '-c', 'cat /proc/self/uid_map; id -u; readlink /proc/self/ns/user']);
    expect(e.stderr).toBe('');
    const [map, uid, ns] = e.stdout.trim().split('\n');
    expect(map!.trim().split(/\s+/)).toEqual(['0', `${u.uid}`, '1']);
    expect(uid).toBe('0');
    expect(ns).toBe(fs.readlinkSync(`/proc/${state.pid}/ns/user`));
    expect(u.tsbox(['kill', id, 'KILL'])).toMatchObject({ status: 0 });
    await eventually(() => expect(JSON.parse(u.tsbox(['state', id]).stdout).status).toBe('stopped'));
    expect(u.tsbox(['delete', id])).toMatchObject({ status: 0, stderr: '' });
    expect(fs.readdirSync(path.join(u.xdg, 'tsbox'))).toEqual([]);
    // The killed init is reaped by whoever inherited it when create exited.
    await eventually(() => expect(pidsOf(u.uid)).toEqual([]));
  });

  it('linux.timeOffsets: the container and its exec\'d processes see the clocks moved, in a time namespace of its user namespace; the host\'s are not', async () => {
    const u = user();
    u.tsbox(['spec', '--rootless']);
    const YEAR = 365 * 86400;
    u.config((c) => {
      c.process.terminal = false;
      c.process.args = ['/bin/sleep', '60'];
      c.linux.namespaces.push({ type: 'time' });
      c.linux.timeOffsets = { monotonic: { secs: YEAR, nanosecs: 0 }, boottime: { secs: 2 * YEAR, nanosecs: 5 } };
    });
    const id = 'rl-time';
    const r = u.tsbox(['run', '-d', id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const pid = JSON.parse(u.tsbox(['state', id]).stdout).pid as number;
    const e = u.tsbox(['exec', id, '/bin/sh', '-c', 'cat /proc/self/timens_offsets; cut -d" " -f1 /proc/uptime; readlink /proc/self/ns/time; readlink /proc/1/ns/time']);
    expect(e.stderr).toBe('');
    const [monotonic, boottime, uptime, own, init] = e.stdout.trim().split('\n');
    expect([monotonic, boottime].map((l) => l!.trim().split(/\s+/).join(' '))).toEqual([`monotonic ${YEAR} 0`, `boottime ${2 * YEAR} 5`]);
    // /proc/uptime counts CLOCK_BOOTTIME: two years on, inside only.
    const hostUptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    expect(Number(uptime) - hostUptime).toBeGreaterThan(2 * YEAR - 60);
    expect(Number(uptime) - hostUptime).toBeLessThan(2 * YEAR + 60);
    // Outside: the init is in that time namespace, not the host's.
    expect(own).toBe(init);
    expect(fs.readlinkSync(`/proc/${pid}/ns/time`)).toBe(own);
    expect(own).not.toBe(fs.readlinkSync('/proc/self/ns/time'));
    expect(u.tsbox(['delete', '--force', id])).toMatchObject({ status: 0, stderr: '' });
    expect(fs.readdirSync(path.join(u.xdg, 'tsbox'))).toEqual([]);
    await eventually(() => expect(pidsOf(u.uid)).toEqual([]));
  });

  it('makes a user namespace by itself for a config without one, and skips cgroups it cannot create with a warning', () => {
    const u = user();
    u.writeConfig(
      (() => {
        const c = defaultConfig(['/bin/sh', '-c', 'cat /proc/self/uid_map; id -u']);
        // gid 5 does not exist where only the user's own gid is mapped.
        c.mounts[2].options = c.mounts[2].options.filter((o: string) => o !== 'gid=5');
        c.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 100 } };
        return c;
      })(),
    );
    const r = u.tsbox(['run', 'rl-auto']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual([`0 ${u.uid} 1`, '0']);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/rootless: linux\.resources\.memory, linux\.resources\.pids not applied: the container runs without cgroups of its own/);
  });

  /**
   * Delegation as runc documents it (and systemd does for Delegate=yes): a
   * cgroup named `name` under this process's own in every hierarchy, the
   * directory and its interface files given to the user, who then makes
   * and manages the cgroups below it. Returns the directories.
   */
  function delegate(u: RootlessUser, name: string): string[] {
    const made = makeOwnParent(name);
    for (const dir of made) {
      fs.chownSync(dir, u.uid, u.uid);
      for (const file of ['cgroup.procs', 'tasks', 'cgroup.threads', 'cgroup.subtree_control', 'memory.limit_in_bytes', 'pids.max']) {
        if (fs.existsSync(path.join(dir, file))) fs.chownSync(path.join(dir, file), u.uid, u.uid);
      }
    }
    return made;
  }

  /** A container of the user with a memory and a pids limit in cgroupsPath. */
  function limitedContainer(u: RootlessUser, cgroupsPath: string): void {
    u.tsbox(['spec', '--rootless']);
    u.config((c) => {
      c.process.terminal = false;
      c.process.args = ['/bin/sleep', '60'];
      c.linux.cgroupsPath = cgroupsPath;
      c.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 100 } };
    });
  }

  it('uses a cgroup delegated to the user: limits written, the init inside, no warning; delete removes only what it made', async () => {
    const u = user();
    const name = `tsbox-test-${crypto.randomBytes(6).toString('hex')}`;
    try {
      const made = delegate(u, name);
      // The user's own processes live in the delegated cgroups (as a
      // systemd user session does): cgroup2 moves a process, by
      // CLONE_INTO_CGROUP too, only for a writer of the common ancestor's
      // cgroup.procs, which then is the delegated one. A relative
      // linux.cgroupsPath goes below the caller's own cgroups.
      u.session = made;
      limitedContainer(u, 'ctr');
      const id = 'rl-cgroup';
      expect(u.tsbox(['create', id])).toMatchObject({ status: 0, stderr: '' });
      const pid = JSON.parse(u.tsbox(['state', id]).stdout).pid as number;
      const hierarchies = hostHierarchies();
      expect(hierarchies.map((h) => h.fstype)).toContain('cgroup2');
      const child = (h: { own: string }) => path.join(h.own, name, 'ctr');
      for (const h of hierarchies) {
        expect(fs.statSync(child(h)).uid, h.key).toBe(u.uid);
        expect(procCgroup(pid).get(h.key), h.key).toBe(path.posix.join(h.ownPath, name, 'ctr'));
      }
      const dirOf = (controller: string) => child(hierarchies.find((h) => h.key.split(',').includes(controller))!);
      expect(fs.readFileSync(path.join(dirOf('memory'), 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(64 * 1024 * 1024));
      expect(fs.readFileSync(path.join(dirOf('pids'), 'pids.max'), 'utf8').trim()).toBe('100');
      expect(fs.readFileSync(path.join(dirOf('pids'), 'cgroup.procs'), 'utf8').trim()).toBe(String(pid));
      expect(u.tsbox(['start', id])).toMatchObject({ status: 0, stderr: '' });
      expect(u.tsbox(['kill', id, 'KILL'])).toMatchObject({ status: 0 });
      await eventually(() => expect(JSON.parse(u.tsbox(['state', id]).stdout).status).toBe('stopped'));
      expect(u.tsbox(['delete', id])).toMatchObject({ status: 0, stderr: '' });
      // Exactly the container's cgroups are gone; the delegated ones stay.
      expect(findCgroupDirs(name).sort()).toEqual([...made].sort());
    } finally {
      // The test's own cgroups (and anything left below them), deepest first.
      expect(await removeCgroupDirs(findCgroupDirs(name))).toEqual([]);
    }
  });

  it('says in one line why a delegated cgroup2 cgroup cannot be joined from outside it, and leaves nothing behind', async () => {
    const u = user();
    const name = `tsbox-test-${crypto.randomBytes(6).toString('hex')}`;
    try {
      const made = delegate(u, name);
      // The user runs in this process's cgroups (cgroup2: the root), not in
      // the delegated ones: v1 lets it join (tasks is its own), cgroup2 not.
      limitedContainer(u, `${name}/ctr`);
      const v2 = hostHierarchies().find((h) => h.fstype === 'cgroup2')!;
      const r = u.tsbox(['create', 'rl-outside']);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        `tsbox: clone into the container's cgroup2 cgroup "${path.join(v2.own, name, 'ctr')}": uid ${u.uid} may not write ${path.join(v2.own, 'cgroup.procs')}, ` +
          `of the nearest cgroup holding both its own cgroup2 cgroup "${v2.own}" and the container's (the kernel's rule for moving a process): ` +
          'run tsbox from inside the cgroup delegated to it, or give it that file\n',
      );
      expect(findCgroupDirs(name).sort()).toEqual([...made].sort());
      expect(fs.readdirSync(path.join(u.xdg, 'tsbox'))).toEqual([]);
      expect(pidsOf(u.uid)).toEqual([]);
    } finally {
      expect(await removeCgroupDirs(findCgroupDirs(name))).toEqual([]);
    }
  });

  it('refuses an idmapped mount in one line naming it, before anything exists', () => {
    const u = user();
    u.tsbox(['spec', '--rootless']);
    const source = path.join(u.home, 'shared');
    fs.mkdirSync(source);
    fs.chownSync(source, u.uid, u.uid);
    u.config((c) => {
      c.process.terminal = false;
      c.mounts.push({ destination: '/idmapped', type: 'bind', source, options: ['bind', 'idmap'] });
    });
    const index = JSON.parse(fs.readFileSync(path.join(u.bundle, 'config.json'), 'utf8')).mounts.length - 1;
    const r = u.tsbox(['run', 'rl-idmap']);
    expect(r).toMatchObject({ status: 1, stdout: '' });
    expect(r.stderr).toBe(
      `tsbox: ${path.join(u.bundle, 'config.json')}: mounts[${index}]: an idmapped mount needs root (CAP_SYS_ADMIN over the filesystem of "${source}"); uid ${u.uid} cannot make one\n`,
    );
    expect(fs.readdirSync(path.join(u.xdg, 'tsbox'))).toEqual([]);
    expect(fs.existsSync(path.join(u.bundle, 'rootfs', 'idmapped'))).toBe(false);
    expect(pidsOf(u.uid)).toEqual([]);
  });

  it('refuses --systemd-cgroup for a rootless container in one line, before anything exists', () => {
    const u = user();
    u.tsbox(['spec', '--rootless']);
    u.config((c) => {
      c.process.terminal = false;
    });
    const r = u.tsbox(['--systemd-cgroup', 'run', 'rl-sd']);
    expect(r).toMatchObject({ status: 1, stdout: '' });
    expect(r.stderr).toBe(
      "tsbox: --systemd-cgroup: rootless containers under the user's systemd manager are not supported; use cgroupfs (leave out --systemd-cgroup)\n",
    );
    expect(fs.readdirSync(path.join(u.xdg, 'tsbox'))).toEqual([]);
    expect(pidsOf(u.uid)).toEqual([]);
  });

  it('raises process.oomScoreAdj, and says in one line that lowering it below its own needs CAP_SYS_RESOURCE', () => {
    const own = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
    const u = user();
    u.tsbox(['spec', '--rootless']);
    u.config((c) => {
      c.process.terminal = false;
      c.process.args = ['/bin/cat', '/proc/self/oom_score_adj'];
      c.process.oomScoreAdj = own + 100;
    });
    expect(u.tsbox(['run', 'rl-oom-up'])).toMatchObject({ status: 0, stdout: `${own + 100}\n`, stderr: '' });
    u.config((c) => (c.process.oomScoreAdj = own - 100));
    const r = u.tsbox(['run', 'rl-oom-down']);
    expect(r).toMatchObject({ status: 1, stdout: '' });
    expect(r.stderr).toBe(
      `tsbox: process.oomScoreAdj: write ${own - 100} to /proc/self/oom_score_adj: lowering it this far (the runtime's own is ${own}) needs CAP_SYS_RESOURCE in the host's user namespace, which uid ${u.uid} does not have\n`,
    );
    expect(fs.readdirSync(path.join(u.xdg, 'tsbox'))).toEqual([]);
    expect(pidsOf(u.uid)).toEqual([]);
  });

  it('maps a range of subordinate ids through newuidmap and newgidmap', () => {
    const u = user();
    u.withSubids();
    u.tsbox(['spec', '--rootless']);
    u.config((c) => {
      c.process.terminal = false;
      c.root.readonly = false;
      c.process.user = { uid: 1000, gid: 1000, additionalGids: [5] };
      c.process.args = ['/bin/sh', '-c', 'cat /proc/self/uid_map /proc/self/setgroups; id; touch /tmp/by-1000'];
      for (const key of ['uidMappings', 'gidMappings']) {
        c.linux[key] = [{ containerID: 0, hostID: u.uid, size: 1 }, { containerID: 1, hostID: SUB_START, size: 65536 }];
      }
    });
    const r = u.tsbox(['run', 'rl-subids']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toEqual([`0 ${u.uid} 1`, `1 ${SUB_START} 65536`, 'allow', 'uid=1000 gid=1000 groups=5(tty)']);
    // Container id 1000 is subordinate id SUB_START + 999 on the host.
    const st = fs.statSync(path.join(u.bundle, 'rootfs', 'tmp', 'by-1000'));
    expect([st.uid, st.gid]).toEqual([SUB_START + 999, SUB_START + 999]);
  });

  it('reports a range newuidmap refuses in one line and leaves no container or process behind', () => {
    const u = user();
    u.withSubids('');
    u.tsbox(['spec', '--rootless']);
    u.config((c) => {
      c.process.terminal = false;
      c.linux.uidMappings = [{ containerID: 0, hostID: u.uid, size: 1 }, { containerID: 1, hostID: SUB_START, size: 65536 }];
    });
    const r = u.tsbox(['run', 'rl-refused']);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tsbox: write uid map with "\/usr\/bin\/newuidmap": exited with status 1: newuidmap: .+/);
    expect(fs.readdirSync(path.join(u.xdg, 'tsbox'))).toEqual([]);
    expect(pidsOf(u.uid)).toEqual([]);
  });

  it('refuses a multi-id mapping when newuidmap is not in PATH, naming the field', () => {
    const u = user();
    u.tsbox(['spec', '--rootless']);
    u.config((c) => {
      c.process.terminal = false;
      c.linux.uidMappings = [{ containerID: 0, hostID: u.uid, size: 1 }, { containerID: 1, hostID: SUB_START, size: 10 }];
    });
    const r = u.tsbox(['run', 'rl-notools'], { XDG_RUNTIME_DIR: u.xdg, PATH: '/nonexistent' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `tsbox: ${path.join(u.bundle, 'config.json')}: linux.uidMappings: maps more than the caller's own uid ${u.uid} and gid ${u.uid}, which needs newuidmap and newgidmap (package uidmap), not found in PATH\n`,
    );
  });

  it('says where to keep state when XDG_RUNTIME_DIR is unset or unusable', () => {
    const u = user();
    u.tsbox(['spec', '--rootless']);
    const unset = u.tsbox(['list'], {});
    expect(unset).toMatchObject({ status: 1 });
    expect(unset.stderr).toBe(
      `tsbox: no directory for the container state of uid ${u.uid}: XDG_RUNTIME_DIR is not set and /run/user/${u.uid} is not a writable directory; set XDG_RUNTIME_DIR or pass --root DIR\n`,
    );
    const bad = u.tsbox(['list'], { XDG_RUNTIME_DIR: '/root' });
    expect(bad.stderr).toBe(`tsbox: XDG_RUNTIME_DIR "/root" is not a writable directory of uid ${u.uid}: fix it or pass --root DIR for the container state\n`);
    // --root still wins.
    expect(u.tsbox(['--root', path.join(u.home, 'state'), 'list'], {})).toMatchObject({ status: 0 });
  });
});
