import { ConfigError } from '../errors.js';
import type { LinuxIntelRdt } from '../oci/types.js';

/**
 * linux.intelRdt as the resctrl writer (lib/resctrl.ts) applies it: plain
 * data, no I/O.
 */
export interface IntelRdtRequest {
  /** The resctrl group (a directory under the resctrl root): closID, else the container's id. */
  group: string;
  /** Whether the config named the group (closID): such a group may be shared, and is never removed. */
  named: boolean;
  /**
   * What is written to the group's schemata file, one write each, in this
   * order: l3CacheSchema and memBwSchema together, then schemata's lines
   * (which win for a resource both give, as with runc). The kernel
   * refuses one write naming a resource twice.
   */
  schemataWrites: string[];
  /** enableMonitoring: a monitoring group of the container's own, mon_groups/<id> in the group. */
  monitorAs?: string;
  /** The resctrl features the config asks for, by the name of their info/ directory or mon_features entry. */
  needs: IntelRdtNeed[];
}

/** What the host's resctrl must offer (checked in its info/ directory). */
export type IntelRdtNeed =
  | { field: string; info: string }
  | { field: string; monFeature: string[] };

/** A resctrl group or line must be one path component and one line. */
function checkName(at: string, name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\n')) {
    throw new ConfigError(at, `"${name}" is not a resctrl group name (one path component)`);
  }
}

function checkLine(at: string, line: string): void {
  if (line.includes('\n')) throw new ConfigError(at, 'must be one line (no newline)');
}

/** linux.intelRdt for the container `id` (validated for types by lib/oci/validate.ts). */
export function planIntelRdt(rdt: LinuxIntelRdt | undefined, id: string): IntelRdtRequest | undefined {
  if (!rdt) return undefined;
  if (rdt.closID !== undefined) checkName('linux.intelRdt.closID', rdt.closID);
  const first = [rdt.l3CacheSchema, rdt.memBwSchema].filter((s): s is string => !!s);
  if (rdt.l3CacheSchema) checkLine('linux.intelRdt.l3CacheSchema', rdt.l3CacheSchema);
  if (rdt.memBwSchema) checkLine('linux.intelRdt.memBwSchema', rdt.memBwSchema);
  (rdt.schemata ?? []).forEach((line, i) => checkLine(`linux.intelRdt.schemata[${i}]`, line));
  const lines = (rdt.schemata ?? []).filter((l) => l.trim() !== '');
  const needs: IntelRdtNeed[] = [];
  if (rdt.l3CacheSchema) needs.push({ field: 'linux.intelRdt.l3CacheSchema', info: 'L3' });
  if (rdt.memBwSchema) needs.push({ field: 'linux.intelRdt.memBwSchema', info: 'MB' });
  if (rdt.enableMonitoring) needs.push({ field: 'linux.intelRdt.enableMonitoring', info: 'L3_MON' });
  if (rdt.enableCMT) needs.push({ field: 'linux.intelRdt.enableCMT', monFeature: ['llc_occupancy'] });
  if (rdt.enableMBM) needs.push({ field: 'linux.intelRdt.enableMBM', monFeature: ['mbm_total_bytes', 'mbm_local_bytes'] });
  return {
    group: rdt.closID ?? id,
    named: rdt.closID !== undefined,
    schemataWrites: [...(first.length > 0 ? [first.join('\n')] : []), ...(lines.length > 0 ? [lines.join('\n')] : [])],
    ...(rdt.enableMonitoring && { monitorAs: id }),
    needs,
  };
}
