import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { helperPath } from '../../native/binding.js';
import { SECCOMP_ACTIONS, SECCOMP_FLAGS, SECCOMP_OPERATORS } from '../../oci/types.js';
import { capabilityName } from '../../plan/capabilities.js';
import { PROPAGATION_OPTIONS } from '../../plan/mount-options.js';
import { OCI_VERSION } from '../../oci/default-spec.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../parse.js';
import { writeStdout } from '../output.js';

/**
 * What tsbox supports, in the shape of runc's `features` (the OCI
 * runtime-spec's features document). Truthful: what is not done is false
 * or absent.
 */
export async function command(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 0) throw new UsageError(`takes no arguments, got "${ctx.args[0]}"`, 'features');
  const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  // libseccomp is linked into the helper, which builds the filters: it says
  // what it supports (its version, architectures, and the flags this kernel
  // and it can set).
  const libseccomp = JSON.parse(execFileSync(helperPath(), ['--seccomp-features'], { encoding: 'utf8' })) as {
    version: string;
    archs: string[];
    supportedFlags: string[];
  };
  const features = {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: [
      'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'lazytime', 'loud', 'mand',
      'noatime', 'nodev', 'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime', 'nosuid',
      'idmap', 'nosymfollow', 'rbind', 'relatime', 'remount', 'ridmap', 'ro', 'rw', 'silent', 'strictatime', 'suid', 'sync', 'tmpcopyup',
      ...Object.keys(PROPAGATION_OPTIONS),
    ].sort(),
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: Array.from({ length: lastCap + 1 }, (_, i) => capabilityName(i)),
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: false, rdma: false },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS].sort(),
        operators: [...SECCOMP_OPERATORS].sort(),
        archs: [...libseccomp.archs].sort(),
        knownFlags: [...SECCOMP_FLAGS],
        supportedFlags: libseccomp.supportedFlags,
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: true } },
    },
    annotations: {
      'io.github.seccomp.libseccomp.version': libseccomp.version,
      'org.tsbox.version': (require('../../../package.json') as { version: string }).version,
    },
  };
  writeStdout(`${JSON.stringify(features, null, 2)}\n`);
  return 0;
}
