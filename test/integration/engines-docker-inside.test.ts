// docker 20.10 with tsbox as a runtime, seen from inside its containers:
// `run --privileged` (every capability, the host's devices, no masked or
// read-only paths), `exec --privileged` into an unprivileged container, and
// an unprivileged container's attempts to write the host's /proc/sys,
// /proc/sysrq-trigger, /sys/kernel and its cgroups through every path it
// has: directly, through /proc/<pid>/root, a symlink, a directory
// descriptor, and (seccomp=unconfined) a user namespace of its own, in
// which it remounts, unmounts and mounts proc, sysfs and cgroups afresh.
// Where root here lacks a capability docker asks for (this sandbox has no
// CAP_SYS_RESOURCE), --privileged fails under both runtimes, and tsbox's
// error names it. Every answer is compared with runc's under the same dockerd. A write that
// goes through writes back the value the file already has (and sysrq a key
// with no command), so even a failing test changes nothing on the host.

import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DOCKER_CLI,
  TEST_TIMEOUT,
  expectRunByTsbox,
  findExecutable,
  skipReason,
  startDockerd,
  suiteTitle,
  useEngineSuite,
  type Docker,
  type EngineSandbox,
} from '../helpers/engines.js';

const reason = skipReason(['dockerd', DOCKER_CLI, 'containerd', 'containerd-shim-runc-v2', 'unshare', 'chroot', 'tar']) ?? (findExecutable('runc') ? undefined : 'runc is not installed (the answers are compared with its)');

/** Field `name` of /proc/<pid>/status. */
function procStatus(pid: number | 'self', name: string): string | undefined {
  return fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.split(/\s+/)[1];
}

/** The capabilities up to the kernel's last that this process (root) does not hold, by number. */
const LACKING = (() => {
  const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  const held = BigInt(`0x${procStatus('self', 'CapPrm')}`);
  return [...Array(last + 1).keys()].filter((n) => (held & (1n << BigInt(n))) === 0n);
})();

/** Kernels built without magic SysRq have no /proc/sysrq-trigger. */
const SYSRQ = fs.existsSync('/proc/sysrq-trigger');

/** `key=value` lines printed by a container script, as an object. */
function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/**
 * Shell functions for the attack scripts: `try NAME CMD...` prints
 * NAME=WROTE when CMD succeeds, else NAME=<the last error's text>;
 * `wb FILE` writes FILE's own value back to it.
 */
const TRY = [
  'try() { n=$1; shift; if out=$( ("$@") 2>&1 ); then echo "$n=WROTE"; else echo "$n=$(echo "$out" | tail -n1 | sed "s/.*: //")"; fi; }',
  'wb() { v=$(cat "$1") && echo "$v" > "$1"; }',
].join('\n');

describe.skipIf(reason !== undefined)(suiteTitle('docker containers seen from inside, tsbox against runc', reason), () => {
  let sb: EngineSandbox;
  let dk: Docker;

  useEngineSuite('docker-inside', async (sandbox) => {
    sb = sandbox;
    return (dk = await startDockerd(sb));
  }, 'docker rm --force');

  const RUN = (runtime: string) => ['run', '--runtime', runtime, '--network', 'none'];
  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';

  /** `docker run --rm` of a script under both runtimes: their stdout, the status checked to be 0. */
  async function bothRuntimes(flags: string[], script: string): Promise<Record<'tsbox' | 'runc', string>> {
    const seen: Record<string, string> = {};
    for (const runtime of ['tsbox', 'runc']) {
      const r = await dk.docker([...RUN(runtime), '--rm', ...flags, dk.image, 'sh', '-c', script]);
      expect(r, `${runtime}: ${r.stderr}`).toMatchObject({ status: 0 });
      seen[runtime] = r.stdout;
    }
    return seen as Record<'tsbox' | 'runc', string>;
  }

  // docker asks for every capability up to the kernel's last for
  // --privileged, whatever the runtime holds; where root here lacks some
  // (this sandbox has no CAP_SYS_RESOURCE), runc and tsbox both fail, and
  // tsbox says which capability.
  it.skipIf(LACKING.length === 0)('run --privileged and exec --privileged where the runtime lacks a capability: refused by both, tsbox names it in one line', TEST_TIMEOUT, async () => {
    const named = new RegExp(`capset: the process asks for capabilit(y|ies) ${LACKING.join(', ')}, not in the runtime's own permitted set: operation not permitted \\(EPERM\\)`);
    for (const runtime of ['runc', 'tsbox']) {
      const r = await dk.docker([...RUN(runtime), '--rm', '--privileged', dk.image, 'true']);
      expect(r.status, runtime).toBe(125);
      if (runtime === 'tsbox') expect(r.stderr).toMatch(named);
      const name = sb.unique(`ep-${runtime}`);
      const started = await dk.docker([...RUN(runtime), '-d', '--name', name, dk.image, 'sh', '-c', UNTIL_TERM]);
      expect(started, started.stderr).toMatchObject({ status: 0 });
      if (runtime === 'tsbox') {
        const [id, pid] = (await dk.docker(['inspect', '--format', '{{.Id}} {{.State.Pid}}', name])).stdout.trim().split(' ');
        await expectRunByTsbox(sb, dk.tsboxRootOf(id!), id!, Number(pid));
      }
      const e = await dk.docker(['exec', '--privileged', name, 'true']);
      expect(e.status, runtime).toBe(126);
      if (runtime === 'tsbox') expect(e.stdout + e.stderr).toMatch(named);
      expect(await dk.docker(['exec', name, 'true']), runtime).toMatchObject({ status: 0 });
      await dk.docker(['rm', '--force', name]);
    }
  });

  it.skipIf(LACKING.length > 0)('run --privileged: every capability, no seccomp, devices.list "a *:* rwm", the host\'s devices, /sys writable, nothing masked; exec --privileged: every capability, the init keeps docker\'s set: as under runc', TEST_TIMEOUT, async () => {
    const probe = [
      'for k in CapEff CapBnd Seccomp NoNewPrivs; do echo "$k=$(grep "^$k:" /proc/self/status | cut -f2)"; done',
      'echo "devices=$(cat /sys/fs/cgroup/devices/devices.list)"',
      'echo "dev=$(ls /dev | tr "\\n" " ")"',
      // Mount points under /proc, /sys and /dev with their per-mount options.
      'echo "mounts=$(awk \'$5 ~ /^\\/(proc|sys|dev)/ {print $5, $6}\' /proc/self/mountinfo | sort | tr "\\n" ";")"',
    ].join('; ');
    const seen = await bothRuntimes(['--privileged'], probe);
    expect(seen.tsbox).toBe(seen.runc);
    const f = fields(seen.tsbox);
    expect(f).toMatchObject({ CapEff: procStatus('self', 'CapEff'), CapBnd: procStatus('self', 'CapBnd'), Seccomp: '0', NoNewPrivs: '0', devices: 'a *:* rwm' });
    expect(f.dev!.split(' ')).toEqual(expect.arrayContaining(['kmsg', 'mem']));
    expect(f.mounts).toMatch(/(^|;)\/sys rw,/);
    expect(f.mounts).not.toMatch(/\/proc\/(kcore|keys|sysrq-trigger|sys) /);
    const execSeen: Record<string, unknown> = {};
    for (const runtime of ['tsbox', 'runc']) {
      const name = sb.unique(`ep-${runtime}`);
      expect(await dk.docker([...RUN(runtime), '-d', '--name', name, dk.image, 'sh', '-c', UNTIL_TERM])).toMatchObject({ status: 0 });
      const caps = 'for p in self 1; do echo "$p=$(grep "^CapEff:" /proc/$p/status | cut -f2)"; done';
      const e = await dk.docker(['exec', '--privileged', name, 'sh', '-c', caps]);
      expect(e, e.stderr).toMatchObject({ status: 0 });
      execSeen[runtime] = fields(e.stdout);
      await dk.docker(['rm', '--force', name]);
    }
    expect(execSeen.tsbox).toEqual(execSeen.runc);
    expect((execSeen.tsbox as Record<string, string>).self).toBe(procStatus('self', 'CapEff'));
  });

  // tsbox's init joins a v1 memory cgroup only once it is set up (so the
  // kernel memory of its mounts is not charged to the container): a new
  // cgroup namespace made before then was rooted at the runtime's memory
  // cgroup, the container's parent, and showed its siblings.
  it('--cgroupns private -m 64m: every hierarchy\'s root is the container\'s own cgroup (the memory one too: its limit, no sibling in sight), as under runc', TEST_TIMEOUT, async () => {
    const sibling = sb.unique('sibling');
    expect(await dk.docker([...RUN('tsbox'), '-d', '--name', sibling, dk.image, 'sh', '-c', UNTIL_TERM])).toMatchObject({ status: 0 });
    const probe = [
      'echo "cgroups=$(cut -d: -f3 /proc/self/cgroup | sort -u | tr "\\n" " ")"',
      'echo "limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
      'echo "children=$(find /sys/fs/cgroup/memory /sys/fs/cgroup/pids -mindepth 1 -type d | wc -l)"',
    ].join('; ');
    const seen = await bothRuntimes(['--cgroupns', 'private', '-m', '64m'], probe);
    expect(seen.tsbox).toBe(seen.runc);
    expect(fields(seen.tsbox)).toEqual({ cgroups: '/ ', limit: String(64 << 20), children: '0' });
  });

  it('--device-cgroup-rule "c 10:* rwm" (docker sends minor -1): the rule is in devices.list as written, a node made inside opens; as under runc', TEST_TIMEOUT, async () => {
    const probe = 'mknod /dev/fuse c 10 229 && head -c0 /dev/fuse && echo opened; grep "^c 10:" /sys/fs/cgroup/devices/devices.list | sort';
    const seen = await bothRuntimes(['--device-cgroup-rule', 'c 10:* rwm'], probe);
    expect(seen.tsbox).toBe(seen.runc);
    expect(seen.tsbox).toBe('opened\nc 10:* rwm\nc 10:200 rwm\n');
  });

  it('an unprivileged container writes the host\'s /proc/sys, /proc/sysrq-trigger, /sys/kernel and its cgroup files directly, through /proc/*/root, a symlink and a directory descriptor: every write refused, as under runc', TEST_TIMEOUT, async () => {
    const targets = ['/proc/sys/vm/overcommit_ratio', '/proc/sys/kernel/core_pattern', '/sys/kernel/mm/ksm/run', '/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/pids/cgroup.procs'];
    const lines = [TRY, 'ln -s /proc /tmp/p; ln -s /sys /tmp/s'];
    // A key with no command: help text in the kernel's log, if ever written.
    if (SYSRQ) lines.push('try sysrq sh -c "echo _ > /proc/sysrq-trigger"', 'try sysrq-root sh -c "echo _ > /proc/1/root/proc/sysrq-trigger"');
    targets.forEach((t, i) => {
      const dir = t.slice(0, t.lastIndexOf('/'));
      const base = t.slice(t.lastIndexOf('/') + 1);
      const viaLink = t.replace(/^\/(proc|sys)\//, (_m, top: string) => `/tmp/${top[0]}/`);
      lines.push(
        `try t${i} wb ${t}`,
        `try t${i}-self-root wb /proc/self/root${t}`,
        `try t${i}-1-root wb /proc/1/root${t}`,
        `try t${i}-thread-root wb /proc/thread-self/root${t}`,
        `try t${i}-link wb ${viaLink}`,
        `try t${i}-fd sh -c 'exec 7<${dir}; v=$(cat /proc/self/fd/7/${base}) && echo "$v" > /proc/self/fd/7/${base}'`,
      );
    });
    const seen = await bothRuntimes([], lines.join('\n'));
    expect(seen.tsbox).toBe(seen.runc);
    const f = fields(seen.tsbox);
    expect(Object.keys(f).length).toBe((SYSRQ ? 2 : 0) + targets.length * 6);
    expect(Object.entries(f).filter(([, v]) => v === 'WROTE')).toEqual([]);
  });

  it('with seccomp=unconfined, in a user namespace of its own: remounting read-only paths rw, unmounting masks, mounting proc, sysfs and cgroups afresh: all refused, as under runc', TEST_TIMEOUT, async () => {
    const inUserns = (name: string, script: string) => `try ${name} unshare -Urm sh -c '${script}'`;
    const lines = [
      TRY,
      'mkdir -p /tmp/m',
      inUserns('remount-proc-sys', 'mount -o remount,bind,rw /proc/sys && v=$(cat /proc/sys/vm/overcommit_ratio) && echo $v > /proc/sys/vm/overcommit_ratio'),
      ...(SYSRQ ? [inUserns('remount-sysrq', 'mount -o remount,bind,rw /proc/sysrq-trigger && echo _ > /proc/sysrq-trigger')] : []),
      inUserns('remount-sys', 'mount -o remount,bind,rw /sys && v=$(cat /sys/kernel/mm/ksm/run) && echo $v > /sys/kernel/mm/ksm/run'),
      inUserns('remount-cgroup', 'mount -o remount,bind,rw /sys/fs/cgroup/pids && echo max > /sys/fs/cgroup/pids/pids.max'),
      // Masked paths: a read after the mask is gone would show the host's.
      inUserns('umount-keys', 'umount /proc/keys && cat /proc/keys >/dev/null'),
      inUserns('umount-timer-list', 'umount /proc/timer_list && cat /proc/timer_list >/dev/null'),
      inUserns('umount-firmware', 'umount /sys/firmware && ls /sys/firmware/memmap >/dev/null'),
      inUserns('umount-proc-sys', 'umount /proc/sys && v=$(cat /proc/sys/vm/overcommit_ratio) && echo $v > /proc/sys/vm/overcommit_ratio'),
      `try new-proc unshare -Urmpf sh -c 'mount -t proc proc /tmp/m && v=$(cat /tmp/m/sys/vm/overcommit_ratio) && echo $v > /tmp/m/sys/vm/overcommit_ratio'`,
      `try new-sysfs unshare -Urmn sh -c 'mount -t sysfs sysfs /tmp/m && v=$(cat /tmp/m/kernel/mm/ksm/run) && echo $v > /tmp/m/kernel/mm/ksm/run'`,
      // (busybox's unshare has no cgroup namespace option: the container's, owned by the host's user namespace.)
      inUserns('new-cgroup1', 'mount -t cgroup -o pids cgroup /tmp/m && echo max > /tmp/m/pids.max'),
      inUserns('release-agent', 'mount -t cgroup -o none,name=tsbox-attack cgroup /tmp/m && echo /x > /tmp/m/release_agent'),
      inUserns('new-cgroup2', 'mount -t cgroup2 cgroup2 /tmp/m && echo $$ > /tmp/m/cgroup.procs'),
    ];
    const seen = await bothRuntimes(['--security-opt', 'seccomp=unconfined'], lines.join('\n'));
    expect(seen.tsbox).toBe(seen.runc);
    const f = fields(seen.tsbox);
    expect(Object.keys(f).length).toBe(lines.length - 2);
    expect(Object.entries(f).filter(([, v]) => v === 'WROTE')).toEqual([]);
  });
});
