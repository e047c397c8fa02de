import { ConfigError } from '../errors.js';
import type { HostFacts } from '../host/facts.js';
import { MS } from './mount-options.js';
import type { PlannedMount } from './plan.js';

/**
 * Filesystems that get no `context=` option, as with runc: procfs and
 * sysfs (labelled by the policy, and some kernels refuse the option there)
 * and cgroup mounts; bind mounts keep their source's labels.
 */
const UNLABELLED = new Set(['proc', 'sysfs', 'cgroup', 'cgroup2', 'bind']);

/**
 * linux.mountLabel: where SELinux is enabled, every filesystem the
 * container mounts (tmpfs, devpts, mqueue, ...) gets the label as its
 * `context=` mount option, quoted (an MCS label has commas). Elsewhere the
 * label means nothing, and a warning says so (runc drops it likewise).
 */
export function applyMountLabel(mounts: PlannedMount[], label: string | undefined, host: HostFacts, warnings: string[]): void {
  if (!label) return;
  if (!host.exists('/sys/fs/selinux/enforce')) {
    warnings.push('linux.mountLabel is not applied (SELinux is not enabled on this host)');
    return;
  }
  if (label.includes('"')) throw new ConfigError('linux.mountLabel', 'cannot hold a double quote (it is quoted in the context= mount option)');
  for (const m of mounts) {
    if (UNLABELLED.has(m.type) || m.flags & MS.BIND) continue;
    m.data = m.data ? `${m.data},context="${label}"` : `context="${label}"`;
  }
}
