// process.ioPriority, process.scheduler and linux.personality through real
// containers, read back from inside (/proc/self/stat, /proc/self/personality,
// uname) and from the host (ionice on the container's pid); and
// process.apparmorProfile / process.selinuxLabel, which this host cannot
// apply, refused as one-line errors through the library and the CLI.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { isRoot } from '../helpers/bundle.js';
import { tsbox } from '../helpers/cli.js';
import { containerSession } from '../helpers/containers.js';

/** policy (field 41), rt_priority (40) and nice (19) of a /proc/<pid>/stat line. */
function schedOf(stat: string): { policy: number; rtPriority: number; nice: number } {
  // Fields after the command (which may hold spaces), numbered from 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  const field = (n: number) => Number(f[n - 3]);
  return { policy: field(41), rtPriority: field(40), nice: field(19) };
}

const hasApparmor = fs.existsSync('/sys/kernel/security/apparmor');
const hasSelinux = fs.existsSync('/sys/fs/selinux/enforce');

describe.skipIf(!isRoot)('process attributes' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const s = containerSession();

  it('process.ioPriority: the class and level, seen inside and from the host', async () => {
    const b = s.bundle({
      args: ['sh', '-c', 'ionice -p $$; read line'],
      mutate: (c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_RT', priority: 3 }),
    });
    const c = await s.start(b, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    // Outside: the host's view of the container's process.
    const host = execFileSync('busybox', ['ionice', '-p', String(c.pid)], { encoding: 'utf8' });
    c.stdin!.end('\n');
    await c.exited;
    expect(host.trim()).toBe('realtime: prio 3');
    expect(out.trim()).toBe('realtime: prio 3');

    const idle = s.bundle({ args: ['ionice', '-p', '1'], mutate: (c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_IDLE' }) });
    const be = s.bundle({ args: ['ionice', '-p', '1'], mutate: (c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 7 }) });
    const [i, e] = await Promise.all([s.collect(idle), s.collect(be)]);
    expect(i.stdout.trim()).toBe('idle');
    expect(e.stdout.trim()).toBe('best-effort: prio 7');
  });

  it('process.scheduler: policy, nice and priority', async () => {
    const batch = s.bundle({
      args: ['cat', '/proc/self/stat'],
      mutate: (c) => (c.process.scheduler = { policy: 'SCHED_BATCH', nice: 7 }),
    });
    const fifo = s.bundle({
      args: ['cat', '/proc/self/stat'],
      mutate: (c) => (c.process.scheduler = { policy: 'SCHED_FIFO', priority: 10, flags: ['SCHED_FLAG_RESET_ON_FORK'] }),
    });
    const none = s.bundle({ args: ['cat', '/proc/self/stat'] });
    const [b, f, n] = await Promise.all([s.collect(batch), s.collect(fifo), s.collect(none)]);
    expect(schedOf(b.stdout)).toEqual({ policy: 3, rtPriority: 0, nice: 7 });
    // cat is the container's process itself: execve keeps the policy (only
    // its children would be reset, by SCHED_FLAG_RESET_ON_FORK).
    expect(schedOf(f.stdout)).toEqual({ policy: 1, rtPriority: 10, nice: 0 });
    expect(schedOf(n.stdout).policy).toBe(0);
  });

  it('process.scheduler: what the kernel refuses is an error naming the field', async () => {
    // A deadline task must satisfy runtime <= deadline <= period.
    const bad = s.bundle({
      mutate: (c) => (c.process.scheduler = { policy: 'SCHED_DEADLINE', runtime: 2_000_000, deadline: 1_000_000, period: 3_000_000 }),
    });
    await expect(s.start(bad)).rejects.toThrow(/^sched_setattr \(process\.scheduler\): invalid argument \(EINVAL\)$/);
  });

  it('linux.personality: LINUX32 makes a 32-bit machine; LINUX is the default', async () => {
    const l32 = s.bundle({
      args: ['sh', '-c', 'cat /proc/self/personality; uname -m'],
      mutate: (c) => (c.linux.personality = { domain: 'LINUX32' }),
    });
    const l64 = s.bundle({
      args: ['sh', '-c', 'cat /proc/self/personality; uname -m'],
      mutate: (c) => (c.linux.personality = { domain: 'LINUX' }),
    });
    const [a, b] = await Promise.all([s.collect(l32), s.collect(l64)]);
    expect(a.stdout).toBe('00000008\ni686\n');
    expect(b.stdout).toBe('00000000\nx86_64\n');
  });

  it.skipIf(hasApparmor || hasSelinux)('apparmorProfile and selinuxLabel: one-line errors naming the field, through the library', async () => {
    const aa = s.bundle({ mutate: (c) => (c.process.apparmorProfile = 'tsbox-test') });
    const se = s.bundle({ mutate: (c) => (c.process.selinuxLabel = 'system_u:system_r:container_t:s0') });
    const aaErr = await s.start(aa).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(aaErr).toBeInstanceOf(ConfigError);
    expect((aaErr as ConfigError).message).toBe(
      `${aa.configPath}: process.apparmorProfile: cannot be applied: AppArmor is not enabled on this host`,
    );
    await expect(s.start(se)).rejects.toThrow(
      `${se.configPath}: process.selinuxLabel: cannot be applied: SELinux is not enabled on this host`,
    );
  });

  it.skipIf(hasApparmor || hasSelinux)('apparmorProfile and selinuxLabel: one-line errors through the CLI', async () => {
    const aa = s.bundle({ mutate: (c) => (c.process.apparmorProfile = 'tsbox-test') });
    const se = s.bundle({ mutate: (c) => (c.process.selinuxLabel = 'system_u:system_r:container_t:s0') });
    const [a, e] = await Promise.all([tsbox(['run', '--bundle', aa.dir, 'attrs-aa']), tsbox(['run', '--bundle', se.dir, 'attrs-se'])]);
    expect(a.status).toBe(1);
    expect(a.stdout).toBe('');
    expect(a.stderr.trim().split('\n')).toHaveLength(1);
    expect(a.stderr).toContain('process.apparmorProfile: cannot be applied: AppArmor is not enabled on this host');
    expect(e.status).toBe(1);
    expect(e.stderr.trim().split('\n')).toHaveLength(1);
    expect(e.stderr).toContain('process.selinuxLabel: cannot be applied: SELinux is not enabled on this host');
  });

  it('bad values are one-line errors naming the JSON path, through the CLI', async () => {
    const nice = s.bundle({ mutate: (c) => (c.process.scheduler = { policy: 'SCHED_OTHER', nice: 30 }) });
    const io = s.bundle({ mutate: (c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_NOPE' }) });
    const pers = s.bundle({ mutate: (c) => (c.linux.personality = { domain: 'LINUX64' }) });
    const [n, i, p] = await Promise.all([
      tsbox(['run', '--bundle', nice.dir, 'attrs-nice']),
      tsbox(['run', '--bundle', io.dir, 'attrs-io']),
      tsbox(['run', '--bundle', pers.dir, 'attrs-pers']),
    ]);
    for (const r of [n, i, p]) {
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(n.stderr).toContain('process.scheduler.nice: must be an integer from -20 to 19, got 30');
    expect(i.stderr).toContain('process.ioPriority.class: unknown I/O priority class "IOPRIO_CLASS_NOPE"');
    expect(p.stderr).toContain('linux.personality.domain: unknown personality domain "LINUX64"');
  });
});
