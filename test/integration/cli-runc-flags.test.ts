// runc's command-line forms tsbox added for engines and tools written for
// runc 1.2-1.4: `ps ID -- PS-OPTIONS`, `run --no-subreaper`, `exec
// --ignore-paused`, `exec --cgroup`, `exec --process-label/--apparmor` and
// `--pidfd-socket` for create, run and exec. Each is checked through a real
// container, from inside (what its processes see) and outside (the host),
// and each refusal is one line that leaves nothing behind (the sessions
// check processes, mounts, state and cgroups after every test).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { cgroupProcs, cgroupSession, hostHierarchies, procCgroup, resolvedDirs } from '../helpers/cgroups.js';
import { buildRecvpidfd, isAlive, spawnProc, waitUntil, type Proc } from '../helpers/lifecycle.js';

const SLEEPER = ['sleep', '100'];

describe.skipIf(!isRoot)('runc 1.2-1.4 command-line forms', () => {
  const cg = cgroupSession();
  const lc = cg.lc;

  /** A running container (run -d), with cgroups when `cgroupsPath` is given. */
  async function running(id: string, args: string[] = SLEEPER, cgroupsPath?: string): Promise<{ b: TestBundle; pid: number }> {
    const b = lc.bundle({ args, mutate: (c) => cgroupsPath !== undefined && (c.linux.cgroupsPath = cgroupsPath) });
    cg.track(id);
    expect(await lc.cli(['run', '-d', '--bundle', b.dir, id]), 'run -d').toMatchObject({ status: 0, stderr: '' });
    return { b, pid: (await lc.state(id)).pid };
  }

  /** `tsbox ARGS` must fail with status 1 and exactly this one line. */
  async function fails(args: string[], message: string): Promise<void> {
    expect(await lc.cli(args), `tsbox ${args.join(' ')}`).toEqual({ status: 1, signal: null, stdout: '', stderr: `tsbox: ${message}\n` });
  }

  async function psJson(id: string): Promise<number[]> {
    const r = await lc.cli(['ps', '--format', 'json', id]);
    expect(r, `ps ${id}`).toMatchObject({ status: 0, stderr: '' });
    return JSON.parse(r.stdout) as number[];
  }

  /** recvpidfd listening on a fresh socket; with a signal it sends it once told to (a line on its stdin). */
  async function pidfdReceiver(signal?: number): Promise<{ socket: string; proc: Proc; received: () => Promise<{ message: string; pid: number }> }> {
    const socket = path.join(lc.scratch(), 'pidfd.sock');
    const proc = spawnProc(buildRecvpidfd(), [socket, ...(signal !== undefined ? [String(signal)] : [])], ['pipe', 'pipe', 'pipe']);
    await proc.stderr.waitFor('listening');
    return {
      socket,
      proc,
      async received() {
        const text = await proc.stdout.waitFor(/received \S+ pid=\d+\n/);
        const m = /received (\S+) pid=(\d+)/.exec(text)!;
        return { message: m[1]!, pid: Number(m[2]) };
      },
    };
  }

  describe('ps ID -- PS-OPTIONS', () => {
    it('prints ps(1)\'s own table, header kept, only the container\'s processes', async () => {
      const { pid } = await running('pso', ['sh', '-c', 'sleep 100 & sleep 100 & wait']);
      await waitUntil('three processes', async () => (await psJson('pso')).length === 3);
      const pids = await psJson('pso');
      const r = await lc.cli(['ps', 'pso', '--', '-o', 'pid,ppid,comm']);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      const [header, ...rows] = r.stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s+/));
      expect(header).toEqual(['PID', 'PPID', 'COMMAND']);
      expect(rows.map((row) => Number(row[0])).sort((a, b) => a - b)).toEqual(pids);
      const comm = Object.fromEntries(rows.map(([p, , c]) => [Number(p), c]));
      expect(comm[pid]).toBe('sh');
      for (const p of pids.filter((x) => x !== pid)) expect(comm[p]).toBe('sleep');
      // Without the "--" too, and ps's default columns with -ef.
      const ef = await lc.cli(['ps', 'pso', '-ef']);
      expect(ef.stdout.split('\n')[0]).toMatch(/^UID\s+PID\s+PPID/);
      expect(ef.stdout.trimEnd().split('\n')).toHaveLength(4);
    });

    it('errors: options without a PID column, options ps refuses, options with --format json', async () => {
      await running('pse');
      await fails(['ps', 'pse', '--', '-o', 'comm'], 'ps: its output has no PID column (the ps options must keep it)');
      const bad = await lc.cli(['ps', 'pse', '--', '--no-such-option']);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/^tsbox: ps --no-such-option: .+\n$/);
      await fails(['ps', '--format', 'json', 'pse', '--', '-ef'], 'ps: ps options are for the table format only (see tsbox ps --help)');
    });
  });

  it('run --no-subreaper is accepted: the container runs and its status comes back', async () => {
    const b = lc.bundle({ args: ['sh', '-c', 'echo inside; exit 3'] });
    const r = await lc.cli(['run', '--no-subreaper', '--bundle', b.dir, 'nsr']);
    expect(r).toMatchObject({ status: 3, stdout: 'inside\n', stderr: '' });
    expect(fs.existsSync(path.join(lc.root, 'nsr'))).toBe(false);
  });

  describe('exec --ignore-paused', () => {
    it('a paused container refuses exec unless asked; with it, the process runs once the container is resumed', async () => {
      const name = cg.name();
      const { pid } = await running('ip', SLEEPER, name);
      await lc.ok(['pause', 'ip']);
      await fails(['exec', 'ip', 'true'], 'cannot exec in container "ip": it is paused (use --ignore-paused to override)');
      expect(await psJson('ip')).toEqual([pid]);

      const marker = `/proc/${pid}/root/tmp/ran`;
      const exec = lc.spawn(['exec', '--ignore-paused', 'ip', 'sh', '-c', 'echo ran > /tmp/ran']);
      // Frozen with the container: it cannot have run yet.
      await new Promise((r) => setTimeout(r, 300));
      expect(fs.existsSync(marker)).toBe(false);
      expect(exec.child.exitCode).toBe(null);
      await lc.ok(['resume', 'ip']);
      expect(await exec.exited).toEqual({ status: 0, signal: null });
      expect(fs.readFileSync(marker, 'utf8')).toBe('ran\n');
    });
  });

  describe('exec --cgroup', () => {
    /** Sub-cgroup `sub` of the container's in the hierarchies given (all by default); removed by the caller. */
    function makeSub(name: string, keys?: string[]): string[] {
      const dirs = Object.entries(resolvedDirs(name))
        .filter(([key]) => !keys || keys.includes(key))
        .map(([, d]) => path.join(d, 'sub'));
      for (const d of dirs) {
        fs.mkdirSync(d);
        // A v1 cpuset cgroup takes no process until it has CPUs and memory nodes.
        if (fs.existsSync(path.join(d, 'cpuset.cpus'))) {
          for (const f of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(path.join(d, f), fs.readFileSync(path.join(d, '..', f)));
        }
      }
      return dirs;
    }

    async function removeSub(dirs: string[], pids: number[]): Promise<void> {
      for (const p of pids) if (isAlive(p)) process.kill(p, 'SIGKILL');
      await waitUntil('the exec\'d processes to go', () => pids.every((p) => !isAlive(p)));
      for (const d of [...dirs].reverse()) fs.rmdirSync(d);
    }

    it('PATH: the process runs in the sub-cgroup of every hierarchy (seen inside and on the host)', async () => {
      const name = cg.name();
      await running('sc', SLEEPER, name);
      const subs = makeSub(name);
      const pids: number[] = [];
      try {
        const pidFile = path.join(lc.scratch(), 'exec.pid');
        expect(await lc.cli(['exec', '-d', '--pid-file', pidFile, '--cgroup', 'sub', 'sc', 'sleep', '50'])).toMatchObject({ status: 0, stderr: '' });
        const pid = Number(fs.readFileSync(pidFile, 'utf8'));
        pids.push(pid);
        for (const d of subs) expect(cgroupProcs(d), d).toEqual([pid]);
        const own = procCgroup('self');
        for (const h of hostHierarchies()) expect(procCgroup(pid).get(h.key), h.key || 'cgroup2').toBe(path.posix.join(own.get(h.key)!, name, 'sub'));
        // Inside: the container has no cgroup namespace, so it sees the same paths.
        const inside = await lc.cli(['exec', '--cgroup', 'sub', 'sc', 'cat', '/proc/self/cgroup']);
        expect(inside).toMatchObject({ status: 0, stderr: '' });
        for (const line of inside.stdout.trimEnd().split('\n')) expect(line).toMatch(new RegExp(`/${name}/sub$`));
      } finally {
        await removeSub(subs, pids);
      }
    });

    it('CONTROLLER:PATH: only that controller\'s cgroup is the sub-cgroup', async () => {
      const name = cg.name();
      await running('scm', SLEEPER, name);
      const memoryKey = hostHierarchies().find((h) => h.key.split(',').includes('memory'))!.key;
      const subs = makeSub(name, [memoryKey]);
      const r = await lc.cli(['exec', '--cgroup', 'memory:sub', 'scm', 'cat', '/proc/self/cgroup']);
      await removeSub(subs, []);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      const seen = new Map(r.stdout.trimEnd().split('\n').map((l) => [l.split(':')[1]!, l.split(':')[2]!]));
      expect(seen.get(memoryKey)).toMatch(new RegExp(`/${name}/sub$`));
      expect(seen.get('pids')).toMatch(new RegExp(`/${name}$`));
    });

    it('errors: a sub-cgroup that does not exist, one outside the container\'s, an unknown controller, no cgroups at all', async () => {
      const name = cg.name();
      const { pid } = await running('sce', SLEEPER, name);
      const pidsDir = resolvedDirs(name)[hostHierarchies().find((h) => h.key.split(',').includes('pids'))!.key]!;
      await fails(['exec', '--cgroup', 'nope', 'sce', 'true'], `exec --cgroup "nope": no such cgroup "${resolvedDirs(name)[hostHierarchies()[0]!.key]}/nope" (it must exist)`);
      await fails(['exec', '--cgroup', 'pids:../..', 'sce', 'true'], 'exec --cgroup "pids:../..": "../.." is not below the container\'s cgroup');
      const bogus = await lc.cli(['exec', '--cgroup', 'bogus:sub', 'sce', 'true']);
      expect([bogus.status, bogus.stdout]).toEqual([1, '']);
      expect(bogus.stderr).toMatch(/^tsbox: exec --cgroup "bogus:sub": the container has no cgroup for controller "bogus" \(it has: [a-z_=, ]+\)\n$/);
      expect(await psJson('sce')).toEqual([pid]);
      expect(cgroupProcs(pidsDir)).toEqual([pid]);
      await running('scn');
      await fails(['exec', '--cgroup', 'sub', 'scn', 'true'], 'exec --cgroup: the container has no cgroups of its own (its config sets no linux.cgroupsPath or linux.resources)');
    });
  });

  describe('exec --process-label and --apparmor', () => {
    const selinux = fs.existsSync('/sys/fs/selinux/enforce');
    const apparmor = fs.existsSync('/sys/kernel/security/apparmor');

    it.skipIf(selinux || apparmor)(`where the host has no such LSM: one line naming the flag, and no process started${selinux || apparmor ? ' (skipped: this host has an LSM)' : ''}`, async () => {
      const { pid } = await running('lsm');
      await fails(['exec', '--process-label', 'system_u:system_r:container_t:s0', 'lsm', 'true'],
        'exec --process-label "system_u:system_r:container_t:s0": cannot be applied: SELinux is not enabled on this host');
      await fails(['exec', '--apparmor', 'tsbox-test', 'lsm', 'true'], 'exec --apparmor "tsbox-test": cannot be applied: AppArmor is not enabled on this host');
      expect(await psJson('lsm')).toEqual([pid]);
    });

    it.skipIf(!apparmor)(`AppArmor: the process runs under the profile (attr/current)${apparmor ? '' : ' (skipped: no AppArmor on this host)'}`, async () => {
      await running('aa');
      const r = await lc.cli(['exec', '--apparmor', 'unconfined', 'aa', 'cat', '/proc/self/attr/current']);
      expect(r).toMatchObject({ status: 0, stdout: 'unconfined\n' });
    });
  });

  describe('--pidfd-socket', () => {
    it('create: a pidfd of the init ("standard") that sees it exit', async () => {
      const recv = await pidfdReceiver();
      const b = lc.bundle({ args: SLEEPER });
      cg.track('pfc');
      await lc.create('pfc', b, { flags: ['--pidfd-socket', recv.socket] });
      const { pid } = await lc.state('pfc');
      expect(await recv.received()).toEqual({ message: 'standard', pid });
      await lc.ok(['start', 'pfc']);
      expect(recv.proc.stdout.text).not.toContain('exited');
      await lc.ok(['kill', 'pfc', 'KILL']);
      await recv.proc.stdout.waitFor('exited');
    });

    it('run: the container\'s process, signalled through the pidfd, acts on it inside', async () => {
      const recv = await pidfdReceiver(10);
      const b = lc.bundle({ args: ['sh', '-c', 'trap "exit 42" USR1; echo ready; while :; do sleep 0.05; done'] });
      const run = lc.spawn(['run', '--pidfd-socket', recv.socket, '--bundle', b.dir, 'pfr']);
      const { message, pid } = await recv.received();
      expect(message).toBe('standard');
      expect((await lc.state('pfr')).pid).toBe(pid);
      await run.stdout.waitFor('ready');
      recv.proc.child.stdin!.end('go\n');
      expect(await run.exited).toEqual({ status: 42, signal: null });
      await recv.proc.stdout.waitFor('exited');
    });

    it('exec: a pidfd of the new process ("setns"), not of the init', async () => {
      const { pid: init } = await running('pfe');
      const recv = await pidfdReceiver(10);
      const exec = lc.spawn(['exec', '--pidfd-socket', recv.socket, 'pfe', 'sh', '-c', 'trap "exit 42" USR1; echo ready; while :; do sleep 0.05; done']);
      const { message, pid } = await recv.received();
      expect(message).toBe('setns');
      expect(pid).not.toBe(init);
      expect(await psJson('pfe')).toContain(pid);
      await exec.stdout.waitFor('ready');
      recv.proc.child.stdin!.end('go\n');
      expect(await exec.exited).toEqual({ status: 42, signal: null });
      expect(await psJson('pfe')).toEqual([init]);
    });

    it('a socket nobody listens on: one line, and the container (or process) is undone', async () => {
      const socket = path.join(lc.scratch(), 'nobody.sock');
      const b = lc.bundle({ args: SLEEPER });
      const why = `connect to pidfd socket "${socket}": no such file or directory (ENOENT)`;
      const create = await lc.cli(['create', '--pidfd-socket', socket, '--bundle', b.dir, 'pfx']);
      expect(create.status).toBe(1);
      expect(create.stderr).toBe(`tsbox: ${why}\n`);
      const run = await lc.cli(['run', '--pidfd-socket', socket, '--bundle', b.dir, 'pfy']);
      expect([run.status, run.stderr]).toEqual([1, `tsbox: ${why}\n`]);
      expect((await lc.cli(['list', '-q'])).stdout).toBe('');
      const { pid } = await running('pfz');
      const exec = await lc.cli(['exec', '--pidfd-socket', socket, 'pfz', 'sleep', '50']);
      expect([exec.status, exec.stderr]).toEqual([1, `tsbox: ${why}\n`]);
      expect(await psJson('pfz')).toEqual([pid]);
    });
  });
});
