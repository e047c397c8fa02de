// Config fields of runtime-spec 1.2 and 1.3 that tsbox applies, each through
// a real container: what its processes see inside, what the host sees, and
// the one-line error where the host cannot apply one (nothing left behind:
// the session checks processes, mounts and state after every test).

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProbe, hostMounts, isRoot, type TestBundle } from '../helpers/bundle.js';
import { cgroupSession, findCgroupDirs } from '../helpers/cgroups.js';
import { waitUntil } from '../helpers/lifecycle.js';
import { loadBundle } from '../../lib/bundle.js';
import { TsboxError } from '../../lib/errors.js';
import { Runtime } from '../../lib/runtime/runtime.js';

/** A line of /proc/<pid>/status ("Cpus_allowed_list"), from its text. */
function statusField(text: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1];
}

/** The memory policy /proc/<pid>/numa_maps shows for the first mapping ("bind:0", "default"). */
function numaPolicy(text: string): string {
  return text.split('\n')[0]!.split(' ')[1]!;
}

describe.skipIf(!isRoot)('runtime-spec 1.2/1.3 fields', () => {
  const cg = cgroupSession();
  const lc = cg.lc;

  /** `tsbox ARGS` must fail with status 1 and exactly this one line. */
  async function fails(args: string[], message: string): Promise<void> {
    expect(await lc.cli(args), `tsbox ${args.join(' ')}`).toEqual({ status: 1, signal: null, stdout: '', stderr: `tsbox: ${message}\n` });
  }

  /** A running container (run -d); with cgroups (cpuset among them) when `cgroupsPath` is given. */
  async function running(id: string, mutate?: (c: any) => void): Promise<{ b: TestBundle; pid: number }> {
    const b = lc.bundle({ args: ['sleep', '100'], mutate: (c) => mutate?.(c) });
    cg.track(id);
    expect(await lc.cli(['run', '-d', '--bundle', b.dir, id]), 'run -d').toMatchObject({ status: 0, stderr: '' });
    return { b, pid: (await lc.state(id)).pid };
  }

  /** A process.json for exec -p, in a scratch directory. */
  function processFile(process: object): string {
    const file = path.join(lc.scratch(), 'process.json');
    fs.writeFileSync(file, JSON.stringify({ cwd: '/', env: ['PATH=/bin'], ...process }));
    return file;
  }

  async function psJson(id: string): Promise<number[]> {
    return JSON.parse((await lc.cli(['ps', '--format', 'json', id])).stdout) as number[];
  }

  describe('relative mount destinations (spec 1.2)', () => {
    it('are mounted under the container\'s "/", with runc\'s warning', async () => {
      const b = lc.bundle({
        args: ['sh', '-c', 'grep " /scratch " /proc/self/mounts; echo inside > /scratch/f; cat /scratch/f'],
        mutate: (c) => c.mounts.push({ destination: 'data/../scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }),
      });
      fs.mkdirSync(path.join(b.rootfs, 'scratch'));
      const before = hostMounts();
      const r = await lc.cli(['run', '--bundle', b.dir, 'rel']);
      const n = JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')).mounts.length - 1;
      expect(r).toEqual({
        status: 0,
        signal: null,
        stdout: expect.stringMatching(/^tmpfs \/scratch tmpfs rw,.*\ninside\n$/),
        stderr: `tsbox: warning: mounts[${n}].destination "data/../scratch" is relative: mounted at "/scratch"\n`,
      });
      // On the host: nothing mounted, nothing written where the path would lead outside the rootfs.
      expect(hostMounts()).toEqual(before);
      expect(fs.existsSync(path.join(b.dir, 'scratch'))).toBe(false);
      expect(fs.readdirSync(path.join(b.rootfs, 'scratch'))).toEqual([]);
    });
  });

  describe('process.execCPUAffinity (exec)', () => {
    const twoCpus = statusField(fs.readFileSync('/proc/self/status', 'utf8'), 'Cpus_allowed_list') === '0-1';

    it.skipIf(!twoCpus)('final: the process runs on those CPUs (inside and on the host); initial alone is kept within the cpuset', async () => {
      const name = cg.name();
      const { pid: init } = await running('aff', (c) => (c.linux.cgroupsPath = name));
      const status = processFile({ args: ['cat', '/proc/self/status'], execCPUAffinity: { initial: '0', final: '1' } });
      const inside = await lc.cli(['exec', '-p', status, 'aff']);
      expect(inside).toMatchObject({ status: 0, stderr: '' });
      expect(statusField(inside.stdout, 'Cpus_allowed_list')).toBe('1');

      const pidFile = path.join(lc.scratch(), 'exec.pid');
      const sleeper = processFile({ args: ['sleep', '50'], execCPUAffinity: { final: '1' } });
      expect(await lc.cli(['exec', '-d', '--pid-file', pidFile, '-p', sleeper, 'aff'])).toMatchObject({ status: 0, stderr: '' });
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      expect(statusField(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), 'Cpus_allowed_list')).toBe('1');
      // The container's own init is left as it was.
      expect(statusField(fs.readFileSync(`/proc/${init}/status`, 'utf8'), 'Cpus_allowed_list')).toBe('0-1');

      // initial only: kept (the kernel keeps a requested affinity within the cpuset).
      const initialOnly = processFile({ args: ['cat', '/proc/self/status'], execCPUAffinity: { initial: '1' } });
      expect(statusField((await lc.cli(['exec', '-p', initialOnly, 'aff'])).stdout, 'Cpus_allowed_list')).toBe('1');
    });

    it.skipIf(!twoCpus)('runc\'s order: initial before the cgroups are joined, final after (a container confined to CPU 0)', async () => {
      const name = cg.name();
      const { pid } = await running('aff0', (c) => {
        c.linux.cgroupsPath = name;
        c.linux.resources = { cpu: { cpus: '0' } };
      });
      // CPU 1 is the helper's while it joins; joining the cpuset then leaves
      // it CPU 0 (had initial come after the join, it would have been refused).
      const initialOnly = processFile({ args: ['cat', '/proc/self/status'], execCPUAffinity: { initial: '1' } });
      const r = await lc.cli(['exec', '-p', initialOnly, 'aff0']);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      expect(statusField(r.stdout, 'Cpus_allowed_list')).toBe('0');
      // final comes after the join: CPU 1 is outside the cpuset, refused in one line.
      await fails(['exec', '-p', processFile({ args: ['true'], execCPUAffinity: { final: '1' } }), 'aff0'],
        'process.execCPUAffinity.final: sched_setaffinity to CPUs 1: none of them is online and allowed by the container\'s cpuset');
      expect(await psJson('aff0')).toEqual([pid]);
    });

    it('a CPU this host does not have: one line naming the field, and no process left', async () => {
      const { pid } = await running('affbad');
      await fails(['exec', '-p', processFile({ args: ['true'], execCPUAffinity: { final: '1000' } }), 'affbad'],
        'process.execCPUAffinity.final: sched_setaffinity to CPUs 1000: none of them is online and allowed by the container\'s cpuset');
      await fails(['exec', '-p', processFile({ args: ['true'], execCPUAffinity: { initial: '1000' } }), 'affbad'],
        'process.execCPUAffinity.initial: sched_setaffinity to CPUs 1000: none of them is online and allowed by the container\'s cpuset');
      await fails(['exec', '-p', processFile({ args: ['true'], execCPUAffinity: { final: '5000' } }), 'affbad'],
        'process.execCPUAffinity.final: 5000 is beyond 1023, the highest tsbox can set');
      expect(await psJson('affbad')).toEqual([pid]);
    });
  });

  describe('linux.timeOffsets (a new time namespace)', () => {
    const DAY = 86400;

    it('CLOCK_MONOTONIC and CLOCK_BOOTTIME inside are the host\'s plus the offsets; the host\'s clocks are untouched', async () => {
      const b = lc.bundle({
        args: ['sh', '-c', '/bin/probe clocks; cat /proc/uptime; cat /proc/self/timens_offsets'],
        mutate: (c) => {
          c.linux.namespaces.push({ type: 'time' });
          c.linux.timeOffsets = { monotonic: { secs: 10 * DAY }, boottime: { secs: 20 * DAY, nanosecs: 5 } };
        },
      });
      const r = await lc.cli(['run', '--bundle', b.dir, 'tns']);
      // The host's clocks, read the same way right after.
      const host = JSON.parse(execFileSync(buildProbe(), ['clocks'], { encoding: 'utf8' })) as { monotonic: number; boottime: number };
      const hostUptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      const [clocks, uptime, ...offsets] = r.stdout.trimEnd().split('\n');
      const seen = JSON.parse(clocks!) as { monotonic: number; boottime: number };
      const near = (value: number, expected: number) => expect(Math.abs(value - expected), `${value} vs ${expected}`).toBeLessThanOrEqual(3);
      near(seen.monotonic - host.monotonic, 10 * DAY);
      near(seen.boottime - host.boottime, 20 * DAY);
      near(Number(uptime!.split(' ')[0]) - hostUptime, 20 * DAY);
      expect(offsets.map((l) => l.trim().split(/\s+/))).toEqual([['monotonic', String(10 * DAY), '0'], ['boottime', String(20 * DAY), '5']]);
      // The host's own clocks are not offset.
      expect(host.boottime).toBeLessThan(20 * DAY);
      near(host.boottime, hostUptime);
    });

    it('the offsets are the container\'s for exec too (it joins the time namespace)', async () => {
      const { pid } = await running('tnx', (c) => {
        c.linux.namespaces.push({ type: 'time' });
        c.linux.timeOffsets = { boottime: { secs: 30 * DAY } };
      });
      const r = await lc.cli(['exec', 'tnx', 'cat', '/proc/uptime']);
      const hostUptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      expect(Number(r.stdout.split(' ')[0]) - hostUptime).toBeGreaterThan(30 * DAY - 5);
      // Seen from the host: the container's process is in a time namespace of its own with that offset.
      expect(fs.readlinkSync(`/proc/${pid}/ns/time`)).not.toBe(fs.readlinkSync('/proc/self/ns/time'));
      expect(fs.readFileSync(`/proc/${pid}/timens_offsets`, 'utf8')).toMatch(new RegExp(`^boottime\\s+${30 * DAY}\\s+0$`, 'm'));
    });

    it('without a new time namespace: one line naming the field, nothing left behind', async () => {
      const b = lc.bundle({ mutate: (c) => (c.linux.timeOffsets = { monotonic: { secs: 1 } }) });
      await fails(['run', '--bundle', b.dir, 'tnone'], `${path.join(b.dir, 'config.json')}: linux.timeOffsets: needs a time namespace in linux.namespaces`);
      await fails(['create', '--bundle', b.dir, 'tnone'], `${path.join(b.dir, 'config.json')}: linux.timeOffsets: needs a time namespace in linux.namespaces`);
      expect((await lc.cli(['list', '-q'])).stdout).toBe('');
    });
  });

  it('linux.netDevices without a network namespace of the container\'s: one line, nothing left behind (moved devices: net-devices.test.ts)', async () => {
    const b = lc.bundle({
      mutate: (c) => {
        c.linux.netDevices = { eth0: { name: 'ctr0' } };
        c.linux.namespaces = c.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'network');
      },
    });
    const message = "linux.netDevices: needs a network namespace of the container's own (the runtime's network devices cannot be moved into itself)";
    await fails(['run', '--bundle', b.dir, 'nd'], `${path.join(b.dir, 'config.json')}: ${message}`);
    expect((await lc.cli(['list', '-q'])).stdout).toBe('');
  });

  // The applying path (lib/resctrl.ts) is unit-tested on a directory laid
  // out like resctrl (test/unit/resctrl.test.ts): no test host has RDT.
  it.skipIf(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' - resctrl '))(
    'linux.intelRdt where no resctrl filesystem is mounted: one line naming it and why, before anything is made (no container, no cgroup)',
    async () => {
      const cgroup = cg.name('rdt');
      const b = lc.bundle({
        mutate: (c) => {
          c.linux.intelRdt = { closID: 'tsbox-test', schemata: ['L3:0=ff'], enableMonitoring: true };
          c.linux.cgroupsPath = `/${cgroup}`;
          c.linux.resources = { pids: { limit: 10 } };
        },
      });
      for (const command of ['run', 'create']) {
        await fails(
          [command, '--bundle', b.dir, 'rdt'],
          `${path.join(b.dir, 'config.json')}: linux.intelRdt: cannot be applied: no resctrl filesystem is mounted here (Intel RDT or AMD QoS hardware, and mount -t resctrl resctrl /sys/fs/resctrl)`,
        );
        expect(findCgroupDirs(cgroup), `cgroups after ${command}`).toEqual([]);
      }
      expect((await lc.cli(['list', '-q'])).stdout).toBe('');
    },
  );

  describe('linux.intelRdt on a directory laid out like resctrl (through the library: new Runtime({ resctrlRoot }))', () => {
    /** What resctrl has at its root: info/ for L3 allocation and monitoring, the root group's files. */
    function fakeResctrl(): string {
      const root = lc.scratch();
      fs.mkdirSync(path.join(root, 'info', 'L3'), { recursive: true });
      fs.mkdirSync(path.join(root, 'info', 'L3_MON'));
      fs.writeFileSync(path.join(root, 'info', 'L3_MON', 'mon_features'), 'llc_occupancy\nmbm_total_bytes\n');
      fs.writeFileSync(path.join(root, 'schemata'), 'L3:0=fff\n');
      fs.writeFileSync(path.join(root, 'tasks'), '');
      return root;
    }

    it('the group made with its schemata; the init in its tasks and its monitoring group before the process starts (it reads them); both gone on delete', async () => {
      const rdt = fakeResctrl();
      const rt = new Runtime({ root: lc.root, resctrlRoot: rdt });
      const id = lc.track('rdt-lib');
      const b = lc.bundle({
        args: ['sh', '-c', `cat /rdt/${id}/tasks; echo; cat /rdt/${id}/mon_groups/${id}/tasks; echo; exec sleep 100`],
        mutate: (c) => {
          c.linux.intelRdt = { schemata: ['L3:0=f'], enableMonitoring: true };
          c.mounts.push({ destination: '/rdt', type: 'bind', source: rdt, options: ['rbind', 'ro'] });
        },
      });
      fs.mkdirSync(path.join(b.rootfs, 'rdt'));
      const c = await rt.run(id, loadBundle(b.dir), { stdio: ['ignore', 'pipe', 'ignore'], keep: true });
      let out = '';
      c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      await waitUntil('two lines from the container', () => out.split('\n').length > 2);
      // Inside, at its start: its own (host) pid in both.
      expect(out).toBe(`${c.pid}\n${c.pid}\n`);
      // Outside.
      const group = path.join(rdt, id);
      expect(fs.readFileSync(path.join(group, 'schemata'), 'utf8')).toBe('L3:0=f\n');
      expect(fs.readFileSync(path.join(group, 'tasks'), 'utf8')).toBe(String(c.pid));
      expect(fs.readFileSync(path.join(group, 'mon_groups', id, 'tasks'), 'utf8')).toBe(String(c.pid));
      expect(fs.readFileSync(path.join(rdt, 'schemata'), 'utf8')).toBe('L3:0=fff\n');
      await rt.delete(id, { force: true });
      await c.exited;
      expect(fs.readdirSync(rdt).sort()).toEqual(['info', 'schemata', 'tasks']);
    });

    it('run without keep: the group made for it goes when its process exits', async () => {
      const rdt = fakeResctrl();
      const rt = new Runtime({ root: lc.root, resctrlRoot: rdt });
      const id = lc.track('rdt-run');
      const b = lc.bundle({ args: ['true'], mutate: (c) => (c.linux.intelRdt = { l3CacheSchema: 'L3:0=3' }) });
      const c = await rt.run(id, loadBundle(b.dir), { stdio: 'ignore' });
      expect(c.intelRdt).toEqual({ dir: path.join(rdt, id), made: true });
      expect((await c.exited).status).toBe(0);
      await waitUntil('the group removed', () => !fs.existsSync(path.join(rdt, id)));
      expect(rt.list()).toEqual([]);
    });

    it('a closID group there with other schemata: one line naming linux.intelRdt, no container, the group as it was', async () => {
      const rdt = fakeResctrl();
      const gold = path.join(rdt, 'gold');
      fs.mkdirSync(path.join(gold, 'mon_groups'), { recursive: true });
      fs.writeFileSync(path.join(gold, 'schemata'), 'L3:0=ff\n');
      fs.writeFileSync(path.join(gold, 'tasks'), '');
      const rt = new Runtime({ root: lc.root, resctrlRoot: rdt });
      const id = lc.track('rdt-shared');
      const b = lc.bundle({ args: ['true'], mutate: (c) => (c.linux.intelRdt = { closID: 'gold', l3CacheSchema: 'L3:0=f', enableMonitoring: true }) });
      await expect(rt.create(id, b.dir, { stdio: 'ignore' })).rejects.toThrow(
        new TsboxError('linux.intelRdt: the resctrl group "gold" exists with other schemata than the config\'s ("L3:0=ff"); a shared group is not rewritten'),
      );
      expect(rt.list()).toEqual([]);
      expect(fs.readFileSync(path.join(gold, 'tasks'), 'utf8')).toBe('');
      expect(fs.readdirSync(path.join(gold, 'mon_groups'))).toEqual([]);
      expect(fs.readFileSync(path.join(gold, 'schemata'), 'utf8')).toBe('L3:0=ff\n');
    });
  });

  describe('linux.memoryPolicy (spec 1.3)', () => {
    const node0 = fs.existsSync('/sys/devices/system/node/node0');

    it.skipIf(!node0)('MPOL_BIND and MPOL_PREFERRED on node 0: the process\'s policy, seen inside and from the host', async () => {
      const { pid } = await running('mpb', (c) => (c.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0' }));
      const inside = await lc.cli(['exec', 'mpb', 'cat', '/proc/1/numa_maps']);
      expect(inside).toMatchObject({ status: 0, stderr: '' });
      expect(numaPolicy(inside.stdout)).toBe('bind:0');
      expect(numaPolicy(fs.readFileSync(`/proc/${pid}/numa_maps`, 'utf8'))).toBe('bind:0');
      // An exec'd process allocates like the container's.
      expect(numaPolicy((await lc.cli(['exec', 'mpb', 'cat', '/proc/self/numa_maps'])).stdout)).toBe('bind:0');

      const b = lc.bundle({
        args: ['cat', '/proc/self/numa_maps'],
        mutate: (c) => (c.linux.memoryPolicy = { mode: 'MPOL_PREFERRED', nodes: '0', flags: ['MPOL_F_STATIC_NODES'] }),
      });
      const r = await lc.cli(['run', '--bundle', b.dir, 'mpp']);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      expect(numaPolicy(r.stdout)).toBe('prefer=static:0');
    });

    it('a node that does not exist, and a combination the kernel refuses: one line each, nothing left behind', async () => {
      const b = lc.bundle({ mutate: (c) => (c.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0,63' }) });
      await fails(['run', '--bundle', b.dir, 'mpx'], `${path.join(b.dir, 'config.json')}: linux.memoryPolicy.nodes: node 63 does not exist on this host (no /sys/devices/system/node/node63)`);
      // The kernel's own refusal (MPOL_F_NUMA_BALANCING goes with MPOL_BIND only), from the container's init.
      const k = lc.bundle({ mutate: (c) => (c.linux.memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0', flags: ['MPOL_F_NUMA_BALANCING'] }) });
      const r = await lc.cli(['create', '--bundle', k.dir, 'mpk']);
      expect([r.status, r.stdout]).toEqual([1, '']);
      expect(r.stderr).toMatch(/^tsbox: linux\.memoryPolicy: set_mempolicy MPOL_INTERLEAVE\|MPOL_F_NUMA_BALANCING nodes "0": .+\n$/);
      expect((await lc.cli(['list', '-q'])).stdout).toBe('');
    });
  });
});
