import { ConfigError } from '../errors.js';
import type { IOPriority, LinuxPersonality, Process, Scheduler } from '../oci/types.js';
import type { HostFacts } from '../host/facts.js';
import type { PlannedScheduler } from './plan.js';

/** IOPRIO_CLASS_* from <linux/ioprio.h>. */
const IOPRIO_CLASS = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 } as const;
const IOPRIO_CLASS_SHIFT = 13;

/** SCHED_* policies from <linux/sched.h>; SCHED_ISO (4) is reserved but never implemented by Linux. */
const SCHED_POLICY: Record<Scheduler['policy'], number> = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
};

const SCHED_FLAG: Record<NonNullable<Scheduler['flags']>[number], bigint> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01n,
  SCHED_FLAG_RECLAIM: 0x02n,
  SCHED_FLAG_DL_OVERRUN: 0x04n,
  SCHED_FLAG_KEEP_POLICY: 0x08n,
  SCHED_FLAG_KEEP_PARAMS: 0x10n,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20n,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40n,
};

/** PER_LINUX and PER_LINUX32 from <sys/personality.h>. */
const PERSONALITY: Record<LinuxPersonality['domain'], number> = { LINUX: 0x0000, LINUX32: 0x0008 };

/** The value ioprio_set(2) takes: class and level in one number. */
export function planIoPriority(io: IOPriority): number {
  return (IOPRIO_CLASS[io.class] << IOPRIO_CLASS_SHIFT) | (io.priority ?? 0);
}

export function planScheduler(s: Scheduler): PlannedScheduler {
  if (s.policy === 'SCHED_ISO') {
    throw new ConfigError('process.scheduler.policy', 'SCHED_ISO is not implemented by the Linux kernel');
  }
  const flags = (s.flags ?? []).reduce((all, f) => all | SCHED_FLAG[f], 0n);
  return {
    policy: SCHED_POLICY[s.policy],
    flags,
    nice: s.nice ?? 0,
    priority: s.priority ?? 0,
    runtime: BigInt(s.runtime ?? 0),
    deadline: BigInt(s.deadline ?? 0),
    period: BigInt(s.period ?? 0),
  };
}

/**
 * personality(2)'s argument. The spec defines no flags yet; runc ignores
 * any given with a warning, and so does tsbox.
 */
export function planPersonality(p: LinuxPersonality, warnings: string[]): number {
  if (p.flags && p.flags.length > 0) warnings.push(`linux.personality.flags is not supported; ignored: ${p.flags.join(', ')}`);
  return PERSONALITY[p.domain];
}

/**
 * AppArmor and SELinux: applied (by the init, for the process's execve)
 * where the host has them; without them, asking for one is an error rather
 * than running unconfined (runc fails too, when it cannot write the label).
 */
export function planSecurityLabels(process: Process, host: HostFacts, at = 'process'): { apparmorProfile?: string; selinuxLabel?: string } {
  if (process.selinuxLabel && !host.exists('/sys/fs/selinux/enforce')) {
    throw new ConfigError(`${at}.selinuxLabel`, 'cannot be applied: SELinux is not enabled on this host');
  }
  if (process.apparmorProfile && !host.exists('/sys/kernel/security/apparmor')) {
    throw new ConfigError(`${at}.apparmorProfile`, 'cannot be applied: AppArmor is not enabled on this host');
  }
  return {
    ...(process.apparmorProfile && { apparmorProfile: process.apparmorProfile }),
    ...(process.selinuxLabel && { selinuxLabel: process.selinuxLabel }),
  };
}
