import type { LinuxSeccomp, SeccompAction } from '../oci/types.js';
import type { PlannedSeccomp, PlannedSeccompArg, PlannedSeccompRule } from './plan.js';

const EPERM = 1;
const U64_MAX = (1n << 64n) - 1n;

/** The errno an action returns: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE carry one (EPERM unless given). */
function errnoOf(action: SeccompAction, errnoRet: number | undefined): number {
  return action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE' ? errnoRet ?? EPERM : 0;
}

/** SCMP_ACT_KILL is the historic name of SCMP_ACT_KILL_THREAD. */
function canonical(action: SeccompAction): SeccompAction {
  return action === 'SCMP_ACT_KILL' ? 'SCMP_ACT_KILL_THREAD' : action;
}

/**
 * An argument value as exact decimal text. JSON.parse turned 2^64-1 into
 * 2^64 (and anything above 2^53 lost precision already): the top is clamped.
 */
function u64Text(value: number | undefined): string {
  const n = BigInt(value ?? 0);
  return String(n > U64_MAX ? U64_MAX : n);
}

/**
 * The seccomp filter of a validated linux.seccomp, one rule per syscall
 * name, in the terms libseccomp takes (native/helper/seccomp.cc), with the
 * choices runc makes:
 * - a rule whose action equals the default action is dropped (libseccomp
 *   refuses it, and it changes nothing);
 * - a rule with several conditions on the same argument becomes one rule per
 *   condition (a match of any of them applies it), since one libseccomp rule
 *   cannot compare an argument twice.
 * Syscall names are resolved by libseccomp in the helper.
 */
export function planSeccomp(seccomp: LinuxSeccomp): PlannedSeccomp {
  const defaultAction = canonical(seccomp.defaultAction);
  const defaultErrno = errnoOf(defaultAction, seccomp.defaultErrnoRet);
  const rules: PlannedSeccompRule[] = [];
  (seccomp.syscalls ?? []).forEach((rule, i) => {
    const action = canonical(rule.action);
    const errno = errnoOf(action, rule.errnoRet);
    if (action === defaultAction && errno === defaultErrno) return;
    const args: PlannedSeccompArg[] = (rule.args ?? []).map((a) => ({
      index: a.index,
      op: a.op,
      value: u64Text(a.value),
      valueTwo: u64Text(a.valueTwo),
    }));
    const repeated = new Set(args.map((a) => a.index)).size < args.length;
    const conditionSets = repeated ? args.map((a) => [a]) : [args];
    rule.names.forEach((name, j) => {
      for (const conditions of conditionSets) {
        rules.push({ where: `linux.seccomp.syscalls[${i}].names[${j}]`, name, action, errno, args: conditions });
      }
    });
  });
  return {
    defaultAction,
    defaultErrno,
    architectures: seccomp.architectures ?? [],
    flags: seccomp.flags ?? [],
    rules,
    ...(seccomp.listenerPath !== undefined && {
      listener: { path: seccomp.listenerPath, metadata: seccomp.listenerMetadata ?? '' },
    }),
  };
}
