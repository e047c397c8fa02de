import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { native } from '../../native/binding.js';
import { MEMORY_POLICY_FLAGS, MEMORY_POLICY_MODES, SECCOMP_ACTIONS, SECCOMP_FLAGS, SECCOMP_OPERATORS } from '../../oci/types.js';
import { capabilityName } from '../../plan/capabilities.js';
import { PROPAGATION_OPTIONS, RECURSIVE_OPTIONS } from '../../plan/mount-options.js';
import { OCI_VERSION_MAX } from '../../oci/default-spec.js';
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
  const libseccomp = JSON.parse(execFileSync(native().helperPath, ['--seccomp-features'], { encoding: 'utf8' })) as {
    version: string;
    archs: string[];
    supportedFlags: string[];
  };
  const features = {
    ociVersionMin: '1.0.0',
    // The newest spec whose fields tsbox applies or refuses in one line
    // (1.3: memoryPolicy, pids.limit 0 and unset, netDevices).
    ociVersionMax: OCI_VERSION_MAX,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: [
      'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'lazytime', 'loud', 'mand',
      'noatime', 'nodev', 'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime', 'nosuid',
      'idmap', 'iversion', 'noiversion', 'nosymfollow', 'rbind', 'relatime', 'remount', 'ridmap', 'ro', 'rw', 'silent',
      'strictatime', 'suid', 'symfollow', 'sync', 'tmpcopyup',
      ...Object.keys(PROPAGATION_OPTIONS),
      ...Object.keys(RECURSIVE_OPTIONS),
    ].sort(),
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: Array.from({ length: lastCap + 1 }, (_, i) => capabilityName(i)),
      // rdma: linux.resources.rdma is written to rdma.max (lib/cgroups/resources.ts).
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: false, rdma: true },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS].sort(),
        operators: [...SECCOMP_OPERATORS].sort(),
        archs: [...libseccomp.archs].sort(),
        knownFlags: [...SECCOMP_FLAGS],
        supportedFlags: libseccomp.supportedFlags,
      },
      // As the spec defines them, whether tsbox implements them, not whether
      // this host has the LSM: the profile and label are applied where it
      // does, and refused in one line where it does not. Intel RDT likewise,
      // where resctrl is mounted (lib/resctrl.ts).
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: true, schemata: true, monitoring: true },
      mountExtensions: { idmap: { enabled: true } },
      memoryPolicy: { modes: [...MEMORY_POLICY_MODES], flags: [...MEMORY_POLICY_FLAGS] },
      netDevices: { enabled: true },
    },
    annotations: {
      'io.github.seccomp.libseccomp.version': libseccomp.version,
      'org.tsbox.version': (require('../../../package.json') as { version: string }).version,
    },
  };
  writeStdout(`${JSON.stringify(features, null, 2)}\n`);
  return 0;
}
