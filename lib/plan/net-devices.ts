import { ConfigError } from '../errors.js';
import type { KernelNamespace } from './plan.js';

/** linux.netDevices as the spec has it: host interface name -> { name in the container }. */
export type NetDevices = Record<string, { name?: string }>;

/**
 * A network interface name the kernel accepts (dev_valid_name): 1 to 15
 * bytes, not "." or "..", without "/", ":" or white space.
 */
function validName(name: string): boolean {
  return (
    name.length > 0 && Buffer.byteLength(name) < 16 && name !== '.' && name !== '..' && !/[/:\s]/.test(name)
  );
}

/**
 * linux.netDevices (spec 1.3): each named host interface, moved by the
 * helper into the container's network namespace under its `name` (default:
 * the same), as runc does: into a new network namespace of the
 * container's, or one it joins by path; never the runtime's.
 */
export function planNetDevices(
  netDevices: unknown,
  namespaces: ReadonlyArray<{ type: KernelNamespace; path: string }>,
): Array<{ host: string; name: string }> | undefined {
  if (netDevices === undefined) return undefined;
  if (typeof netDevices !== 'object' || netDevices === null || Array.isArray(netDevices)) {
    throw new ConfigError('linux.netDevices', 'must be an object of network interface names');
  }
  const entries = Object.entries(netDevices as Record<string, unknown>);
  if (entries.length === 0) return undefined;
  const netns = namespaces.find((ns) => ns.type === 'net');
  if (!netns) {
    throw new ConfigError('linux.netDevices', "needs a network namespace of the container's own (the runtime's network devices cannot be moved into itself)");
  }
  const names = new Set<string>();
  return entries.map(([host, device]) => {
    const at = `linux.netDevices["${host}"]`;
    if (!validName(host)) throw new ConfigError(at, 'is not a valid network interface name');
    if (typeof device !== 'object' || device === null || Array.isArray(device)) throw new ConfigError(at, 'must be an object');
    const given = (device as { name?: unknown }).name;
    if (given !== undefined && typeof given !== 'string') throw new ConfigError(`${at}.name`, 'must be a string');
    const name = given || host;
    if (!validName(name)) throw new ConfigError(`${at}.name`, `"${name}" is not a valid network interface name`);
    // A new network namespace has its own loopback device from the start.
    if (name === 'lo') throw new ConfigError(`${at}.name`, '"lo" is the container\'s own loopback device');
    if (names.has(name)) throw new ConfigError(`${at}.name`, `"${name}" is given to two devices`);
    names.add(name);
    return { host, name };
  });
}
