// Planning of linux.seccomp (./lib/plan/seccomp.ts) and of the process
// attributes (./lib/plan/process-attrs.ts): the numbers and rules the helper
// gets, and the errors for what cannot be applied.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import type { LinuxSeccomp, Spec } from '../../lib/oci/types.js';
import { validateProcess, validateSpec } from '../../lib/oci/validate.js';
import { buildExecPlan, buildPlan } from '../../lib/plan/build.js';
import type { HostFacts } from '../../lib/host/facts.js';
import { planIoPriority, planPersonality, planScheduler, planSecurityLabels } from '../../lib/plan/process-attrs.js';
import { planSeccomp } from '../../lib/plan/seccomp.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function host(existing: string[] = []): HostFacts {
  return {
    lastCap: () => 40,
    mountinfo: () => '',
    ownCgroups: () => '',
    exists: (p) => existing.includes(p),
  };
}

function spec(edit: (s: Json) => void = () => {}): Spec {
  const s: Json = {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['sh'], cwd: '/' },
    linux: { namespaces: [{ type: 'mount' }] },
  };
  edit(s);
  return validateSpec(s);
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('planSeccomp', () => {
  const seccomp = (s: Json): LinuxSeccomp => spec((c) => (c.linux.seccomp = s)).linux!.seccomp!;

  it('one rule per name, EPERM as the default errno of ERRNO and TRACE, none for other actions', () => {
    const p = planSeccomp(
      seccomp({
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [
          { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
          { names: ['ptrace'], action: 'SCMP_ACT_TRACE' },
          { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 },
          { names: ['chmod'], action: 'SCMP_ACT_LOG', errnoRet: 42 },
        ],
      }),
    );
    expect(p).toStrictEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrno: 1,
      architectures: [],
      flags: [],
      rules: [
        { where: 'linux.seccomp.syscalls[0].names[0]', name: 'read', action: 'SCMP_ACT_ALLOW', errno: 0, args: [] },
        { where: 'linux.seccomp.syscalls[0].names[1]', name: 'write', action: 'SCMP_ACT_ALLOW', errno: 0, args: [] },
        { where: 'linux.seccomp.syscalls[1].names[0]', name: 'ptrace', action: 'SCMP_ACT_TRACE', errno: 1, args: [] },
        { where: 'linux.seccomp.syscalls[2].names[0]', name: 'mkdir', action: 'SCMP_ACT_ERRNO', errno: 42, args: [] },
        { where: 'linux.seccomp.syscalls[3].names[0]', name: 'chmod', action: 'SCMP_ACT_LOG', errno: 0, args: [] },
      ],
    });
  });

  it('drops rules that repeat the default action (errno included), with SCMP_ACT_KILL the same as KILL_THREAD', () => {
    const p = planSeccomp(
      seccomp({
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 38,
        syscalls: [
          { names: ['a'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
          { names: ['b'], action: 'SCMP_ACT_ERRNO' },
        ],
      }),
    );
    expect(p.rules.map((r) => [r.name, r.errno])).toStrictEqual([['b', 1]]);
    const kill = planSeccomp(seccomp({ defaultAction: 'SCMP_ACT_KILL', syscalls: [{ names: ['x'], action: 'SCMP_ACT_KILL_THREAD' }] }));
    expect(kill.defaultAction).toBe('SCMP_ACT_KILL_THREAD');
    expect(kill.rules).toStrictEqual([]);
  });

  it('conditions on different arguments stay one rule; repeated ones split into one rule each (as runc)', () => {
    const p = planSeccomp(
      seccomp({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          {
            names: ['kill'],
            action: 'SCMP_ACT_ERRNO',
            args: [
              { index: 0, value: 1, op: 'SCMP_CMP_EQ' },
              { index: 1, value: 9, op: 'SCMP_CMP_EQ' },
            ],
          },
          {
            names: ['tkill'],
            action: 'SCMP_ACT_ERRNO',
            args: [
              { index: 1, value: 9, op: 'SCMP_CMP_EQ' },
              { index: 1, value: 15, op: 'SCMP_CMP_EQ' },
            ],
          },
        ],
      }),
    );
    expect(p.rules.map((r) => [r.name, r.args.map((a) => `${a.index}${a.op}${a.value}`)])).toStrictEqual([
      ['kill', ['0SCMP_CMP_EQ1', '1SCMP_CMP_EQ9']],
      ['tkill', ['1SCMP_CMP_EQ9']],
      ['tkill', ['1SCMP_CMP_EQ15']],
    ]);
  });

  it('argument values as exact decimal text; 2^64-1 (parsed as 2^64) clamped; valueTwo defaults to 0', () => {
    const p = planSeccomp(
      seccomp({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          {
            names: ['personality'],
            action: 'SCMP_ACT_ERRNO',
            args: [
              { index: 0, value: 4294967295, op: 'SCMP_CMP_EQ' },
              { index: 1, value: 18446744073709551615, valueTwo: 2 ** 53, op: 'SCMP_CMP_MASKED_EQ' },
              { index: 2, op: 'SCMP_CMP_NE' },
            ],
          },
        ],
      }),
    );
    expect(p.rules[0]!.args).toStrictEqual([
      { index: 0, op: 'SCMP_CMP_EQ', value: '4294967295', valueTwo: '0' },
      { index: 1, op: 'SCMP_CMP_MASKED_EQ', value: '18446744073709551615', valueTwo: '9007199254740992' },
      { index: 2, op: 'SCMP_CMP_NE', value: '0', valueTwo: '0' },
    ]);
  });

  it('architectures, flags and the listener', () => {
    const p = planSeccomp(
      seccomp({
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
        flags: ['SECCOMP_FILTER_FLAG_LOG'],
        listenerPath: '/run/agent.sock',
        syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_NOTIFY' }],
      }),
    );
    expect(p).toMatchObject({
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      listener: { path: '/run/agent.sock', metadata: '' },
    });
  });
});

describe('process attributes', () => {
  it('ioPriority: class << 13 | level', () => {
    expect(planIoPriority({ class: 'IOPRIO_CLASS_RT', priority: 3 })).toBe((1 << 13) | 3);
    expect(planIoPriority({ class: 'IOPRIO_CLASS_BE', priority: 7 })).toBe((2 << 13) | 7);
    expect(planIoPriority({ class: 'IOPRIO_CLASS_IDLE' })).toBe(3 << 13);
  });

  it('scheduler: policy numbers, flags as a mask, 64-bit times', () => {
    expect(planScheduler({ policy: 'SCHED_BATCH', nice: 7 })).toStrictEqual({
      policy: 3, flags: 0n, nice: 7, priority: 0, runtime: 0n, deadline: 0n, period: 0n,
    });
    expect(
      planScheduler({
        policy: 'SCHED_DEADLINE',
        flags: ['SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_DL_OVERRUN'],
        runtime: 1e6,
        deadline: 2e6,
        period: 3e6,
      }),
    ).toStrictEqual({ policy: 6, flags: 0x05n, nice: 0, priority: 0, runtime: 1000000n, deadline: 2000000n, period: 3000000n });
    const iso = configError(() => planScheduler({ policy: 'SCHED_ISO' }));
    expect(iso.message).toBe('process.scheduler.policy: SCHED_ISO is not implemented by the Linux kernel');
  });

  it('personality: PER_LINUX and PER_LINUX32; flags ignored with a warning, as runc', () => {
    const warnings: string[] = [];
    expect(planPersonality({ domain: 'LINUX' }, warnings)).toBe(0);
    expect(planPersonality({ domain: 'LINUX32', flags: [] }, warnings)).toBe(8);
    expect(warnings).toStrictEqual([]);
    planPersonality({ domain: 'LINUX32', flags: ['X'] }, warnings);
    expect(warnings).toStrictEqual(['linux.personality.flags is not supported; ignored: X']);
  });

  it('AppArmor: applied where the host has it, refused naming the field where not', () => {
    const aa = validateProcess({ args: ['sh'], cwd: '/', apparmorProfile: 'p' });
    expect(configError(() => planSecurityLabels(aa, host())).message).toBe(
      'process.apparmorProfile: cannot be applied: AppArmor is not enabled on this host',
    );
    expect(planSecurityLabels(aa, host(['/sys/kernel/security/apparmor']))).toStrictEqual({ apparmorProfile: 'p' });
    // Empty means unset.
    expect(planSecurityLabels(validateProcess({ args: ['sh'], cwd: '/', apparmorProfile: '' }), host())).toStrictEqual({});
    const p = buildPlan({ spec: spec((s) => (s.process.apparmorProfile = 'p')), bundleDir: '/b', rootfs: '/b/rootfs' }, host(['/sys/kernel/security/apparmor']));
    expect(p.apparmorProfile).toBe('p');
  });

  it('SELinux: applied where the host has it (a record for the init), refused naming the field where not', () => {
    const se = validateProcess({ args: ['sh'], cwd: '/', selinuxLabel: 'l' });
    expect(configError(() => planSecurityLabels(se, host())).message).toBe(
      'process.selinuxLabel: cannot be applied: SELinux is not enabled on this host',
    );
    expect(planSecurityLabels(se, host(['/sys/fs/selinux/enforce']))).toStrictEqual({ selinuxLabel: 'l' });
    const label = 'system_u:system_r:container_t:s0:c1,c2';
    const p = buildPlan({ spec: spec((s) => (s.process.selinuxLabel = label)), bundleDir: '/b', rootfs: '/b/rootfs' }, host(['/sys/fs/selinux/enforce']));
    expect(p.selinuxLabel).toBe(label);
  });
});

describe('buildPlan and buildExecPlan', () => {
  it('a container gets the filter, priorities and personality', () => {
    const p = buildPlan(
      {
        spec: spec((s) => {
          s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
          s.linux.personality = { domain: 'LINUX32' };
          s.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 1 };
          s.process.scheduler = { policy: 'SCHED_IDLE' };
        }),
        bundleDir: '/b',
        rootfs: '/b/rootfs',
      },
      host(),
    );
    expect(p).toMatchObject({ personality: 8, ioPriority: (2 << 13) | 1, scheduler: { policy: 5 } });
    expect(p.seccomp!.rules.map((r) => r.name)).toStrictEqual(['mkdir']);
    expect(p.warnings).toStrictEqual([]);
  });

  it('exec: the container filter and the process priorities; no personality', () => {
    const p = buildExecPlan(
      {
        process: validateProcess({ args: ['sh'], cwd: '/', scheduler: { policy: 'SCHED_BATCH' } }),
        namespaces: [{ type: 'mnt', path: '/proc/1/ns/mnt' }],
        seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] },
      },
      host(),
    );
    expect(p.seccomp!.rules.map((r) => r.name)).toStrictEqual(['mkdir']);
    expect(p.scheduler).toMatchObject({ policy: 3 });
    expect(p.personality).toBeUndefined();
  });

  it('exec: apparmorProfile is refused too', () => {
    const process = validateProcess({ args: ['sh'], cwd: '/', apparmorProfile: 'p' });
    expect(configError(() => buildExecPlan({ process, namespaces: [] }, host())).jsonPath).toBe('process.apparmorProfile');
  });
});
