import { readFileSync } from 'node:fs';
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
  const features = {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: [
      'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'lazytime', 'loud', 'mand',
      'noatime', 'nodev', 'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime', 'nosuid',
      'nosymfollow', 'rbind', 'relatime', 'remount', 'ro', 'rw', 'silent', 'strictatime', 'suid', 'sync',
      ...Object.keys(PROPAGATION_OPTIONS),
    ].sort(),
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'uts'],
      capabilities: Array.from({ length: lastCap + 1 }, (_, i) => capabilityName(i)),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: { enabled: false },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: { 'org.tsbox.version': (require('../../../package.json') as { version: string }).version },
  };
  writeStdout(`${JSON.stringify(features, null, 2)}\n`);
  return 0;
}
