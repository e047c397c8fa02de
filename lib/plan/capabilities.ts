import { ConfigError } from '../errors.js';
import type { Capabilities } from '../oci/types.js';
import type { PlannedCapabilities } from './plan.js';

/** Capability numbers from <linux/capability.h>, in order. */
const CAPABILITY_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

export function capabilityNumber(name: string): number | undefined {
  const n = (CAPABILITY_NAMES as readonly string[]).indexOf(name);
  return n < 0 ? undefined : n;
}

export function capabilityName(n: number): string {
  return CAPABILITY_NAMES[n] ?? `capability ${n}`;
}

const SETS = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;

/**
 * Capability names to bit masks. An unknown name is an error; a name this
 * kernel lacks (above `lastCap`) is dropped with a warning, as runc does, so
 * that one config works across kernels.
 */
export function planCapabilities(
  caps: Capabilities,
  lastCap: number,
  warnings: string[],
): PlannedCapabilities {
  const out = { lastCap, bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
  const missing = new Set<string>();
  for (const set of SETS) {
    (caps[set] ?? []).forEach((name, i) => {
      const n = capabilityNumber(name);
      if (n === undefined) throw new ConfigError(`process.capabilities.${set}[${i}]`, `unknown capability "${name}"`);
      if (n > lastCap) missing.add(name);
      else out[set] |= 1n << BigInt(n);
    });
  }
  if (missing.size > 0) {
    warnings.push(`this kernel lacks ${[...missing].join(', ')}; not granted`);
  }
  // The kernel raises an ambient capability only if it is permitted and
  // inheritable too (EPERM otherwise). `runc spec`'s config lists ambient
  // ones and no inheritable set: runc leaves them unraised, and so does
  // tsbox, saying which.
  const unraisable = out.ambient & ~(out.permitted & out.inheritable);
  if (unraisable !== 0n) {
    out.ambient &= ~unraisable;
    const names = [];
    for (let n = 0; n <= lastCap; n++) if (unraisable & (1n << BigInt(n))) names.push(capabilityName(n));
    warnings.push(`process.capabilities.ambient: ${names.join(', ')} not raised: an ambient capability must also be permitted and inheritable`);
  }
  return out;
}
