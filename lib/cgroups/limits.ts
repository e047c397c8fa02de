import type { LinuxResources } from '../oci/types.js';
import { applyDevicePolicy } from './devices-bpf.js';
import type { Layout } from './layout.js';
import { applyResources, type Cgroups } from './manager.js';
import { runsRootless } from '../host/rootless.js';

/**
 * Puts linux.resources in place in a container's cgroups: the values into
 * the cgroup files, and the device rules (v1 files or a cgroup2 program).
 * Returns the warnings of both. `fresh`: the cgroups were made just now
 * (see applyResources). `update`: an update, which keeps the device policy
 * in place unless it brings device rules of its own. A new container
 * without device rules gets runc's default policy: every device denied but
 * the standard nodes (when the runtime runs as root); its linux.devices
 * nodes get what the rules give them, as with runc.
 */
export function applyLimits(
  layout: Layout,
  cg: Cgroups,
  resources: LinuxResources,
  { fresh = false, update = false }: { fresh?: boolean; update?: boolean } = {},
): string[] {
  // Only a runtime running as root can set that policy (devices.deny, a
  // device program); a rootless one (root of a user namespace included)
  // leaves it, as runc does, and its container cannot make device nodes anyway.
  const defaultPolicy = !update && resources.devices === undefined && !runsRootless();
  const withPolicy = defaultPolicy ? { ...resources, devices: [] } : resources;
  const warnings = applyResources(layout, cg, withPolicy, { fresh });
  if (!withPolicy.devices) return warnings;
  const warning = applyDevicePolicy(layout, cg, withPolicy, update);
  if (warning) warnings.push(warning);
  return warnings;
}
