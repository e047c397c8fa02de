// On this host's layout (hybrid: v1 controllers, cgroup2 at
// /sys/fs/cgroup/unified): the cgroup2 device program (lib/cgroups/devices-bpf.ts,
// native/bpf.cc) attached to a container's unified cgroup, enforced on top
// of v1's devices controller; kill --all and delete through the cgroup
// (cgroup.kill, or freeze + signal + thaw) catching processes that left the
// container's process tree; and a container under a 512 KiB memory limit.
// On a pure cgroup2 host the same is tested in a VM (test/v2/, run by
// cgroups-v2vm.test.ts).
//
// House rules as in cgroups.test.ts (see test/helpers/cgroups.ts).

import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileDeviceProgram, deviceRules, encodeProgram, type DeviceRule } from '../../lib/cgroups/devices-bpf.js';
import { destroyCgroups, signalAll } from '../../lib/cgroups/kill.js';
import { native } from '../../lib/native/binding.js';
import { run } from '../../lib/run.js';
import { Runtime } from '../../lib/runtime/runtime.js';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { settledProcessesUnder } from '../helpers/cli.js';
import { cgroupFile, cgroupProcs, cgroupSession, dirOf, findCgroupDirs, hostHierarchies, resolvedDirs } from '../helpers/cgroups.js';
import { isAlive, waitUntil } from '../helpers/lifecycle.js';

const hasUnified = isRoot && hostHierarchies().some((h) => h.key === '');
/** A shell with two sleeps beside it. */
const THREE = ['sh', '-c', 'sleep 100 & sleep 100 & wait'];
const noPidNs = (c: any) => (c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid'));

/** Forks 40 sleeps, a setsid'd double-forked daemon, and keeps forking one more sleep every 20 ms. */
const FORKER = [
  'for i in $(seq 1 40); do sleep 1000 & done',
  '(setsid sh -c "sleep 1000 & exec sleep 1001" &)',
  'echo started > /tmp/started',
  'while :; do sleep 1000 & sleep 0.02; done',
].join('\n');

describe.skipIf(!isRoot)('cgroups: the device program, kill --all, delete, a 512 KiB container', () => {
  const cg = cgroupSession();
  const lc = cg.lc;

  async function createAndStart(id: string, b: TestBundle): Promise<number> {
    cg.track(id);
    const p = lc.spawn(['create', '--bundle', b.dir, id], 'ignore');
    expect(await p.exited).toMatchObject({ status: 0 });
    await lc.ok(['start', id]);
    return (await lc.state(id)).pid;
  }

  /** `tsbox exec ID ARGS...`: its stdout, trimmed. */
  async function exec(id: string, args: string[]): Promise<string> {
    const r = await lc.cli(['exec', id, ...args]);
    expect(r.status, `exec ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout.trim();
  }

  describe.skipIf(!hasUnified)('the cgroup2 device program, on the unified hierarchy beside v1 devices', () => {
    const program = (rules: DeviceRule[]) => encodeProgram(compileDeviceProgram(rules));

    it('v1 allows every device, the program denies 1:11: opening it fails with EPERM; replaced by one allowing it for writing only, it opens for writing, not reading', async () => {
      const name = cg.name();
      const b = cg.bundle(['sleep', '1000'], name, { resources: { devices: [{ allow: false, access: 'rwm' }] } });
      await createAndStart('bpf', b);
      const unified = dirOf(name, '');
      // v1 first: with its deny-all the node cannot be opened; after "a" it can.
      expect(await exec('bpf', ['sh', '-c', 'mknod /dev/k c 1 11 && /bin/probe open /dev/k w'])).toBe('{"ok":false,"errno":1,"error":"Operation not permitted"}');
      fs.writeFileSync(path.join(dirOf(name, 'devices'), 'devices.allow'), 'a');
      expect(await exec('bpf', ['/bin/probe', 'open', '/dev/k', 'w'])).toBe('{"ok":true}');
      expect(native().deviceProgramIds(unified)).toEqual([]);

      // The program: deny-all plus the defaults. v1 still allows all; the program refuses.
      native().attachDeviceProgram(unified, program(deviceRules([{ allow: false, access: 'rwm' }])), false);
      const [first] = native().deviceProgramIds(unified);
      expect(first).toBeGreaterThan(0);
      expect(await exec('bpf', ['/bin/probe', 'open', '/dev/k', 'w'])).toBe('{"ok":false,"errno":1,"error":"Operation not permitted"}');
      expect(await exec('bpf', ['/bin/probe', 'open', '/dev/null', 'rw'])).toBe('{"ok":true}');
      // mknod of any char device stays allowed ("c *:* m").
      expect(await exec('bpf', ['sh', '-c', 'mknod /dev/k2 c 1 11 && echo made'])).toBe('made');

      // Replaced (update's path): still one program of ours, a new one.
      native().attachDeviceProgram(unified, program(deviceRules([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'w' }])), true);
      const ids = native().deviceProgramIds(unified);
      expect(ids).toHaveLength(1);
      expect(ids[0]).not.toBe(first);
      expect(await exec('bpf', ['/bin/probe', 'open', '/dev/k', 'w'])).toBe('{"ok":true}');
      expect(await exec('bpf', ['/bin/probe', 'open', '/dev/k', 'rw'])).toBe('{"ok":false,"errno":1,"error":"Operation not permitted"}');
    });

    it('a program the kernel rejects: the error names the directory and carries the verifier log', () => {
      const dir = path.join(hostHierarchies().find((h) => h.key === '')!.own, cg.name());
      fs.mkdirSync(dir);
      try {
        // "exit" without setting r0.
        expect(() => native().attachDeviceProgram(dir, Buffer.from([0x95, 0, 0, 0, 0, 0, 0, 0]), false)).toThrow(
          new RegExp(`^bpf\\(BPF_PROG_LOAD\\) of the device program for "${dir}": permission denied \\(EACCES\\); verifier: .*R0 !read_ok`),
        );
        expect(native().deviceProgramIds(dir)).toEqual([]);
      } finally {
        fs.rmdirSync(dir);
      }
    });

    it('on this host v1 devices enforces the rules: create loads no program', async () => {
      const name = cg.name();
      const b = cg.bundle(['sleep', '1000'], name, { resources: { devices: [{ allow: false, access: 'rwm' }] } });
      await createAndStart('nobpf', b);
      expect(native().deviceProgramIds(dirOf(name, ''))).toEqual([]);
      expect(cgroupFile(dirOf(name, 'devices'), 'devices.list')).not.toContain('a *:* rwm');
    });
  });

  describe('kill --all and delete: every process in the cgroup, including ones that left the process tree', () => {
    async function forker(id: string, name: string, extra: object = {}): Promise<{ b: TestBundle; pid: number; tmp: string }> {
      const tmp = lc.scratch();
      const b = cg.bundle(['sh', '/forker.sh'], name, { tmp, mutate: noPidNs, scripts: { 'forker.sh': `${FORKER}\n` }, ...extra });
      const pid = await createAndStart(id, b);
      await waitUntil('the forker to start', () => fs.existsSync(path.join(tmp, 'started')));
      const pids = dirOf(name, 'pids');
      await waitUntil('more than 42 processes', () => cgroupProcs(pids).length > 42);
      // The daemon's parent is no longer in the container's process tree.
      // Waited for: its shell may not have executed sleep yet, on a busy machine.
      const isDaemon = (p: number) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\0' + '1001');
        } catch {
          return false;
        }
      };
      const daemon = await waitUntil('the daemon (sleep 1001)', () => cgroupProcs(pids).find(isDaemon));
      expect(Number(/PPid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${daemon}/status`, 'utf8'))![1])).not.toBe(pid);
      return { b, pid, tmp };
    }

    for (const signal of ['KILL', 'TERM']) {
      it(`kill --all ${signal} (${signal === 'KILL' ? 'cgroup.kill' : 'freeze, signal each, thaw'}) leaves no process, the daemon included`, async () => {
        const name = cg.name();
        const { b } = await forker(`ka-${signal}`, name);
        const before = cgroupProcs(dirOf(name, 'pids'));
        await lc.ok(['kill', '--all', `ka-${signal}`, signal]);
        await waitUntil('the cgroup to empty', () => cgroupProcs(dirOf(name, 'pids')).length === 0);
        expect(before.filter(isAlive)).toEqual([]);
        expect(cgroupFile(dirOf(name, 'freezer'), 'freezer.state')).toBe('THAWED');
        await lc.waitForStatus(`ka-${signal}`, 'stopped');
        await lc.ok(['delete', `ka-${signal}`]);
        expect(findCgroupDirs(name)).toEqual([]);
        expect(await settledProcessesUnder(b.dir)).toEqual([]);
      });
    }

    it('the v1 way for SIGKILL (no cgroup.kill: freeze, kill each, thaw) empties it too; the library', async () => {
      const name = cg.name();
      const rt = new Runtime({ root: lc.root });
      await forker('v1', name);
      const cgroups = rt.store.read('v1').cgroups!;
      const v1Only = { dirs: Object.fromEntries(Object.entries(cgroups.dirs).filter(([k]) => k !== '')), created: [] };
      await signalAll(v1Only, osConstants.signals.SIGKILL);
      await waitUntil('the cgroup to empty', () => cgroupProcs(dirOf(name, 'pids')).length === 0);
      expect(cgroupFile(dirOf(name, 'freezer'), 'freezer.state')).toBe('THAWED');
      await rt.delete('v1');
      expect(findCgroupDirs(name)).toEqual([]);
    });

    it('delete --force of the forker: nothing left, exactly the created directories removed, the parent that existed stays', async () => {
      const parent = cg.name();
      const own = hostHierarchies().map((h) => path.join(h.own, parent));
      for (const d of own) fs.mkdirSync(d);
      try {
        const cpuset = own.find((d) => d.includes('/cpuset/'));
        if (cpuset) for (const f of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(path.join(cpuset, f), cgroupFile(path.dirname(cpuset), f));
        const name = `${parent}/child`;
        const { b } = await forker('df', name);
        const procs = cgroupProcs(dirOf(name, 'pids'));
        await lc.ok(['delete', '--force', 'df']);
        expect(procs.filter(isAlive)).toEqual([]);
        expect(findCgroupDirs(parent).sort()).toEqual([...own].sort());
        expect(await settledProcessesUnder(b.dir)).toEqual([]);
      } finally {
        for (const d of own) fs.rmdirSync(d);
      }
    });

    it('cgroups below the container\'s (systemd in a container, Docker in Docker): ps sees their processes, kill --all reaches them, delete --force removes the tree deepest first', async () => {
      // Before: ps listed only the init, and delete --force failed with
      // "still busy", leaving every directory.
      const name = cg.name();
      const b = cg.bundle(THREE, name, { mutate: noPidNs });
      const pid = await createAndStart('nested', b);
      const pidsDir = dirOf(name, 'pids');
      const pids = await waitUntil('three processes', () => cgroupProcs(pidsDir).length === 3 && cgroupProcs(pidsDir));
      const [first, second] = pids.filter((p) => p !== pid) as [number, number];
      // As a nested manager does: cgroups of its own in every hierarchy, a
      // process moved into each level (the cgroup2 ones stay leaves).
      for (const h of hostHierarchies()) {
        const dir = resolvedDirs(name)[h.key]!;
        fs.mkdirSync(path.join(dir, 'system.slice', 'inner.service'), { recursive: true });
        if (h.key.split(',').includes('cpuset')) {
          for (const d of [path.join(dir, 'system.slice'), path.join(dir, 'system.slice', 'inner.service')]) {
            for (const f of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(path.join(d, f), cgroupFile(path.dirname(d), f));
          }
        }
        fs.writeFileSync(path.join(dir, 'system.slice', 'inner.service', 'cgroup.procs'), String(first));
        if (h.key !== '') fs.writeFileSync(path.join(dir, 'system.slice', 'cgroup.procs'), String(second));
      }
      expect(cgroupProcs(pidsDir)).toEqual(pids.filter((p) => p !== first && p !== second));
      const ps = await lc.cli(['ps', '--format', 'json', 'nested']);
      expect(JSON.parse(ps.stdout)).toEqual(pids);
      await lc.ok(['kill', '--all', 'nested', 'TERM']);
      await waitUntil('every process to end', () => pids.every((p) => !isAlive(p)));
      expect(await lc.cli(['delete', '--force', 'nested'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
      expect(findCgroupDirs(name)).toEqual([]);
      expect(await settledProcessesUnder(b.dir)).toEqual([]);
    });

    it('delete --force of a running container with processes in nested cgroups kills them and removes the tree (library: destroyCgroups)', async () => {
      const name = cg.name();
      const rt = new Runtime({ root: lc.root });
      const b = cg.bundle(THREE, name, { mutate: noPidNs });
      await createAndStart('nested2', b);
      const cgroups = rt.store.read('nested2').cgroups!;
      const pidsDir = dirOf(name, 'pids');
      const pids = await waitUntil('three processes', () => cgroupProcs(pidsDir).length === 3 && cgroupProcs(pidsDir));
      const inner = path.join(pidsDir, 'a', 'b');
      fs.mkdirSync(inner, { recursive: true });
      fs.writeFileSync(path.join(inner, 'cgroup.procs'), String(pids[0]));
      await destroyCgroups(cgroups, 3000);
      expect(pids.filter(isAlive)).toEqual([]);
      expect(findCgroupDirs(name)).toEqual([]);
      await rt.delete('nested2');
    });
  });

  describe('a 512 KiB memory limit (linux.resources.memory.limit 524288)', () => {
    const LIMIT = 524288;
    // The binaries' pages are read into the page cache here first: a page
    // the container faults in is charged to it, and what is measured is
    // what the runtime costs the container, not whether the host's page
    // cache still held busybox or the probe (it may not, in a busy run).
    const warm = (b: { rootfs: string }) => {
      for (const file of ['bin/busybox', 'bin/probe']) {
        const f = path.join(b.rootfs, file);
        if (fs.existsSync(f)) fs.readFileSync(f);
      }
    };

    it('tsbox run of /bin/true succeeds: the init joins the cgroup before it is cloned, and little is charged to it', async () => {
      const name = cg.name();
      const b = cg.bundle(['/bin/true'], name, { resources: { memory: { limit: LIMIT } } });
      warm(b);
      const r = await lc.cli(['run', '--bundle', b.dir, cg.track('small')]);
      expect(r).toEqual({ status: 0, signal: null, stdout: '', stderr: '' });
      expect(findCgroupDirs(name)).toEqual([]);
    });

    // A new cgroup namespace is rooted where the init is when it is cloned:
    // the memory cgroup is joined before then, as the others are (the
    // kernel memory of its setup is charged to the container then).
    it('with a cgroup namespace of its own: the init is at the namespace\'s root in every hierarchy, memory included', async () => {
      const name = cg.name();
      const b = cg.bundle(['cat', '/proc/self/cgroup'], name, {
        resources: { memory: { limit: 64 << 20 } },
        mutate: (c) => c.linux.namespaces.push({ type: 'cgroup' }),
      });
      const r = await lc.cli(['run', '--bundle', b.dir, cg.track('cgns')]);
      expect(r, r.stderr).toMatchObject({ status: 0, stderr: '' });
      const lines = r.stdout.trim().split('\n');
      expect(lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l)) ?? '(no memory line)', 'the memory hierarchy, as the init sees it').toMatch(/:\/$/);
      expect(lines.filter((l) => !l.endsWith(':/'))).toEqual([]);
      expect(findCgroupDirs(name)).toEqual([]);
    });

    // /bin/true (busybox), the target's program: the probe, static glibc,
    // touches enough pages at start that it is OOM-killed now and then
    // under 512 KiB when the machine is busy.
    it('create: the limit is in place, the waiting init is in the cgroup and under it; start runs /bin/true without an OOM kill', async () => {
      const name = cg.name();
      const b = cg.bundle(['/bin/true'], name, { resources: { memory: { limit: LIMIT } } });
      warm(b);
      const pid = await (async () => {
        cg.track('small2');
        const p = lc.spawn(['create', '--bundle', b.dir, 'small2'], 'ignore');
        expect(await p.exited).toMatchObject({ status: 0 });
        return (await lc.state('small2')).pid;
      })();
      const memory = dirOf(name, 'memory');
      expect(cgroupFile(memory, 'memory.limit_in_bytes')).toBe(String(LIMIT));
      expect(cgroupProcs(memory)).toEqual([pid]);
      expect(Number(cgroupFile(memory, 'memory.max_usage_in_bytes'))).toBeLessThanOrEqual(LIMIT);
      // The init joined the memory cgroup once set up: the kernel memory of
      // its namespaces and mounts (~250 KiB on kernel 6.18) is not charged
      // here, only what it allocated since (a few pages).
      if (fs.existsSync(path.join(memory, 'memory.kmem.max_usage_in_bytes'))) {
        expect(Number(cgroupFile(memory, 'memory.kmem.max_usage_in_bytes'))).toBeLessThan(64 * 1024);
      }
      await lc.ok(['start', 'small2']);
      await lc.waitForStatus('small2', 'stopped');
      // Reaching the limit (failcnt) is allowed: page cache is reclaimed; being OOM-killed is not.
      const oom = cgroupFile(memory, 'memory.oom_control');
      expect(oom).toContain('oom_kill 0');
    });

    it('the library: run() of /bin/true exits 0', async () => {
      const name = cg.name();
      const b = cg.bundle(['/bin/true'], name, { resources: { memory: { limit: LIMIT } } });
      warm(b);
      const c = await run(b.dir, { stdio: 'ignore' });
      expect(await c.exited).toMatchObject({ status: 0, signal: null });
      expect(findCgroupDirs(name)).toEqual([]);
    });
  });
});
