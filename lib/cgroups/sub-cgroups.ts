import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { Cgroups } from './manager.js';

/**
 * runc's `exec --cgroup`: the cgroup.procs files an exec'd process joins
 * when it is to run in existing sub-cgroups of the container's. Each value
 * is PATH (every hierarchy; then the only value) or
 * CONTROLLER[,CONTROLLER]:PATH (the hierarchies of those controllers; the
 * others keep the container's cgroup). PATH is taken below the container's
 * cgroup and may not leave it; the sub-cgroups must exist (tsbox does not
 * make or remove them). A cgroup2 hierarchy has no controller to name, so
 * only the PATH form reaches it, as in runc.
 */
export function subCgroupProcs(cg: Cgroups | undefined, values: readonly string[]): string[] {
  if (!cg) throw new TsboxError('exec --cgroup: the container has no cgroups of its own (its config sets no linux.cgroupsPath or linux.resources)');
  const dirs = { ...cg.dirs };
  const seen = new Set<string>();
  for (const value of values) {
    const parts = value.split(':');
    if (parts.length > 2) throw new TsboxError(`exec --cgroup "${value}": expected [CONTROLLER[,CONTROLLER]:]PATH`);
    const [controllers, sub] = parts.length === 2 ? [parts[0]!.split(','), parts[1]!] : [undefined, parts[0]!];
    if (!controllers && values.length > 1) throw new TsboxError(`exec --cgroup "${value}": a controller prefix is needed when --cgroup is given more than once`);
    const keys = controllers
      ? controllers.map((c) => {
          const key = Object.keys(cg.dirs).find((k) => k !== '' && k.split(',').includes(c));
          if (c === '' || key === undefined) {
            const known = Object.keys(cg.dirs).filter((k) => k !== '').join(', ');
            throw new TsboxError(`exec --cgroup "${value}": the container has no cgroup for controller "${c}" (it has: ${known || 'none'})`);
          }
          if (seen.has(c)) throw new TsboxError(`exec --cgroup "${value}": controller "${c}" is given more than once`);
          seen.add(c);
          return key;
        })
      : Object.keys(cg.dirs);
    for (const key of keys) {
      const base = cg.dirs[key]!;
      const dir = path.join(base, sub);
      if (dir !== base && !dir.startsWith(`${base}/`)) throw new TsboxError(`exec --cgroup "${value}": "${sub}" is not below the container's cgroup`);
      if (!existsSync(path.join(dir, 'cgroup.procs'))) throw new TsboxError(`exec --cgroup "${value}": no such cgroup "${dir}" (it must exist)`);
      dirs[key] = dir;
    }
  }
  return Object.values(dirs).map((d) => path.join(d, 'cgroup.procs'));
}
