// What a container's process gets from its caller and its image, as runc
// gives it: not the caller's CPU affinity (taskset, systemd's
// CPUAffinity=); HOME from the image's /etc/passwd; socket activation's
// LISTEN_FDS; systemd's NOTIFY_SOCKET. Through bin/tsbox, as systemd units
// and engines start it. Each test has its own state root; containers are
// removed after it, pass or fail (see test/helpers/lifecycle.ts).

import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { lifecycleSession, spawnProc } from '../helpers/lifecycle.js';

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
});
