import { TsboxError } from '../errors.js';

/**
 * Which systemd unit holds a container, from linux.cgroupsPath in the form
 * the systemd drivers of runc and crun read: "slice:prefix:name". The
 * container gets the transient scope "<prefix>-<name>.scope" in "<slice>".
 * An empty slice is system.slice; an empty cgroupsPath is ":tsbox:<id>".
 */
export interface SystemdUnit {
  /** The slice the scope goes into, e.g. "system.slice" or "machine-pod1.slice". */
  slice: string;
  /** The scope's unit name, e.g. "tsbox-abc.scope". */
  unit: string;
}

const DEFAULT_SLICE = 'system.slice';
const DEFAULT_PREFIX = 'tsbox';

/** Characters systemd accepts in a unit name (before the suffix). */
const UNIT_CHARS = /^[A-Za-z0-9:_.\\-]+$/;

/** True when a cgroupsPath is in the systemd form (and so not a cgroupfs path). */
export function isSystemdPath(cgroupsPath: string): boolean {
  return /^[^/]*:[^/]*:[^/]*$/.test(cgroupsPath);
}

export function systemdUnitFor(cgroupsPath: string | undefined, id: string): SystemdUnit {
  const wanted = cgroupsPath || `:${DEFAULT_PREFIX}:${id}`;
  const bad = (why: string) => new TsboxError(`linux.cgroupsPath "${wanted}": ${why}`);
  if (!isSystemdPath(wanted)) {
    throw bad('with --systemd-cgroup it must have the form "slice:prefix:name" (e.g. "system.slice:tsbox:web"), not a cgroupfs path');
  }
  const [slice = '', prefix = '', name = ''] = wanted.split(':');
  if (name === '') throw bad('the name (after the second ":") is empty');
  if (name.endsWith('.slice')) {
    throw bad('a container in a slice of its own ("name" ending in .slice) is not supported: name a scope');
  }
  const chosenSlice = slice || DEFAULT_SLICE;
  if (!chosenSlice.endsWith('.slice') || !UNIT_CHARS.test(chosenSlice) || chosenSlice.includes('--') || chosenSlice.startsWith('-')) {
    throw bad(`"${chosenSlice}" is not a slice unit name (letters, digits, ":_.\\-", ending in ".slice")`);
  }
  const unit = prefix ? `${prefix}-${name}.scope` : name.endsWith('.scope') ? name : `${name}.scope`;
  if (!UNIT_CHARS.test(unit)) throw bad(`"${unit}" is not a valid unit name (letters, digits, ":_.\\-" only)`);
  if (unit.length > 255) throw bad(`the unit name "${unit}" is longer than systemd's 255 characters`);
  return { slice: chosenSlice, unit };
}
