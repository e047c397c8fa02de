/**
 * User namespaces in the plan: which maps the helper writes for a new user
 * namespace and how (directly, or through newuidmap/newgidmap for an
 * unprivileged user mapping more than its own ids), the checks the kernel
 * would otherwise answer with a bare EINVAL or EPERM, and the idmaps of
 * idmapped bind mounts.
 */
import { ConfigError } from '../errors.js';
import type { IDMapping, Mount, Spec } from '../oci/types.js';
import type { HostFacts } from '../host/facts.js';
import { inUserNamespace, ownUidMap } from '../host/rootless.js';
import { MS } from './mount-options.js';
import type { PlannedNamespace, PlannedUserNamespace } from './plan.js';

/** The kernel's limit of lines in one uid_map or gid_map. */
const MAX_MAP_LINES = 340;
/** (uid_t)-1 cannot be mapped: a range must end at or below it. */
const ID_END = 4294967295;

/** The user that runs tsbox: who writes the maps, and whose ids a rootless container maps. */
export interface Caller {
  uid: number;
  gid: number;
  /** The PATH to look for newuidmap and newgidmap in. */
  path?: string;
  /**
   * Whether the caller runs in a user namespace other than the host's (as
   * rootless podman runs its runtime): even as its root it cannot make
   * device nodes.
   */
  inUserNamespace?: boolean;
}

export function currentCaller(): Caller {
  return { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0, path: process.env.PATH ?? '', inUserNamespace: inUserNamespace(ownUidMap()) };
}

/**
 * For an unprivileged caller whose config has no user namespace: one of its
 * own, mapping root in the container to the caller (all an unprivileged user
 * can map without newuidmap), as if the config had asked for it. Returns the
 * namespaces and mappings to plan with.
 */
export function rootlessDefaults(
  spec: Spec,
  namespaces: PlannedNamespace[],
  caller: Caller,
): { namespaces: PlannedNamespace[]; uidMappings: IDMapping[] | undefined; gidMappings: IDMapping[] | undefined } {
  const linux = spec.linux ?? {};
  if (caller.uid === 0 || namespaces.some((ns) => ns.type === 'user')) {
    return { namespaces, uidMappings: linux.uidMappings, gidMappings: linux.gidMappings };
  }
  return {
    // First: the kernel creates it first anyway, and it owns the others.
    namespaces: [{ type: 'user', path: '' }, ...namespaces],
    uidMappings: linux.uidMappings ?? [{ containerID: 0, hostID: caller.uid, size: 1 }],
    gidMappings: linux.gidMappings ?? [{ containerID: 0, hostID: caller.gid, size: 1 }],
  };
}

/** Checks one list of mappings the way the kernel would take it, with JSON paths. */
export function checkMappings(ranges: readonly IDMapping[], at: string): void {
  if (ranges.length > MAX_MAP_LINES) throw new ConfigError(at, `has ${ranges.length} entries; the kernel takes at most ${MAX_MAP_LINES}`);
  ranges.forEach((r, i) => {
    for (const side of ['containerID', 'hostID'] as const) {
      if (r[side] + r.size > ID_END) {
        throw new ConfigError(`${at}[${i}]`, `${side} ${r[side]} + size ${r.size} goes beyond id ${ID_END - 1}, the last one that can be mapped`);
      }
      for (let j = 0; j < i; j++) {
        const o = ranges[j]!;
        if (r[side] < o[side] + o.size && o[side] < r[side] + r.size) {
          throw new ConfigError(`${at}[${i}]`, `overlaps ${at}[${j}] in ${side === 'containerID' ? 'container' : 'host'} ids`);
        }
      }
    }
  });
}

function maps(ranges: readonly IDMapping[], id: number): boolean {
  return ranges.some((r) => id >= r.containerID && id < r.containerID + r.size);
}

/** An executable in the caller's PATH, or undefined. */
function findTool(name: string, caller: Caller, host: HostFacts): string | undefined {
  for (const dir of (caller.path || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir.startsWith('/') && host.exists(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/**
 * The maps for a new user namespace (undefined when none is created), after
 * checking that they can be written and that the container's user is mapped.
 */
export function planUserNamespace(
  spec: Spec,
  namespaces: PlannedNamespace[],
  mappings: { uidMappings: IDMapping[] | undefined; gidMappings: IDMapping[] | undefined },
  caller: Caller,
  host: HostFacts,
  warnings: string[],
): PlannedUserNamespace | undefined {
  const { uidMappings, gidMappings } = mappings;
  const user = namespaces.find((ns) => ns.type === 'user');
  const given = uidMappings !== undefined || gidMappings !== undefined;
  if (!user) {
    if (given) throw new ConfigError(uidMappings ? 'linux.uidMappings' : 'linux.gidMappings', 'needs a user namespace in linux.namespaces');
    return undefined;
  }
  if (user.path !== '') {
    // The namespace has its maps already.
    if (given) warnings.push('linux.uidMappings and linux.gidMappings are ignored: the container joins an existing user namespace');
    return undefined;
  }
  for (const [at, ranges] of [['linux.uidMappings', uidMappings], ['linux.gidMappings', gidMappings]] as const) {
    if (!ranges || ranges.length === 0) throw new ConfigError(at, 'is required when linux.namespaces creates a user namespace');
    checkMappings(ranges, at);
    // The init sets itself up as root of its namespace (mounts, devices).
    if (!maps(ranges, 0)) throw new ConfigError(at, 'must map container id 0: the container is set up by root of its user namespace');
  }
  const uids = uidMappings!;
  const gids = gidMappings!;
  const u = spec.process?.user;
  if (u) {
    if (!maps(uids, u.uid)) throw new ConfigError('process.user.uid', `${u.uid} is not mapped by linux.uidMappings`);
    if (!maps(gids, u.gid)) throw new ConfigError('process.user.gid', `${u.gid} is not mapped by linux.gidMappings`);
    (u.additionalGids ?? []).forEach((g, i) => {
      if (!maps(gids, g)) throw new ConfigError(`process.user.additionalGids[${i}]`, `${g} is not mapped by linux.gidMappings`);
    });
  }
  checkMountIdOptions(spec.mounts ?? [], uids, gids);

  const planned: PlannedUserNamespace = { uidMappings: uids, gidMappings: gids, setgroupsDeny: false };
  if (caller.uid === 0) return planned;
  const ownOnly = (ranges: IDMapping[], id: number) => ranges.length === 1 && ranges[0]!.hostID === id && ranges[0]!.size === 1;
  if (ownOnly(uids, caller.uid) && ownOnly(gids, caller.gid)) {
    // What the kernel lets an unprivileged user write itself, with
    // setgroups denied: no supplementary groups in the container.
    if ((u?.additionalGids ?? []).length > 0) {
      throw new ConfigError('process.user.additionalGids', 'cannot be set: a user namespace mapping only the caller\'s own gid denies setgroups');
    }
    return { ...planned, setgroupsDeny: true };
  }
  const newuidmap = findTool('newuidmap', caller, host);
  const newgidmap = findTool('newgidmap', caller, host);
  if (!newuidmap || !newgidmap) {
    throw new ConfigError(
      'linux.uidMappings',
      `maps more than the caller's own uid ${caller.uid} and gid ${caller.gid}, which needs newuidmap and newgidmap (package uidmap), not found in PATH`,
    );
  }
  return { ...planned, tools: { newuidmap, newgidmap } };
}

/** uid= and gid= mount options are ids of the container's namespace: they must be mapped. */
function checkMountIdOptions(mounts: readonly Mount[], uids: IDMapping[], gids: IDMapping[]): void {
  mounts.forEach((m, i) => {
    (m.options ?? []).forEach((o, j) => {
      const match = /^(uid|gid)=(\d+)$/.exec(o);
      if (!match) return;
      const [, kind, id] = match;
      if (!maps(kind === 'uid' ? uids : gids, Number(id))) {
        throw new ConfigError(`mounts[${i}].options[${j}]`, `${o}: ${kind} ${id} is not mapped by linux.${kind}Mappings`);
      }
    });
  });
}

/**
 * The idmap of an idmapped bind mount, checked: mounts[i].uidMappings and
 * gidMappings, or with the idmap/ridmap option alone the container's own
 * user namespace maps (its root sees the source's root-owned files as its
 * own). Recursive with ridmap, or for an rbind without either option.
 */
export function planMountIdmap(
  m: Mount,
  at: string,
  parsed: { flags: number; bind: boolean; idmapOption?: { recursive: boolean; index: number } },
  container: { uidMappings: IDMapping[] | undefined; gidMappings: IDMapping[] | undefined },
): { uids: IDMapping[]; gids: IDMapping[]; recursive: boolean } | undefined {
  const option = parsed.idmapOption;
  if (m.uidMappings === undefined && m.gidMappings === undefined && !option) return undefined;
  const where = option && m.uidMappings === undefined ? `${at}.options[${option.index}]` : `${at}.uidMappings`;
  if (!parsed.bind) throw new ConfigError(where, 'only a bind mount can be idmapped');
  const recursive = option ? option.recursive : (parsed.flags & MS.REC) !== 0;
  if (m.uidMappings === undefined && m.gidMappings === undefined) {
    if (!container.uidMappings?.length || !container.gidMappings?.length) {
      throw new ConfigError(where, 'an idmap option without mounts[].uidMappings needs the container\'s linux.uidMappings and linux.gidMappings');
    }
    return { uids: container.uidMappings, gids: container.gidMappings, recursive };
  }
  for (const key of ['uidMappings', 'gidMappings'] as const) {
    const ranges = m[key];
    if (!ranges || ranges.length === 0) throw new ConfigError(`${at}.${key}`, 'is required for an idmapped mount (uidMappings and gidMappings go together)');
    checkMappings(ranges, `${at}.${key}`);
  }
  return { uids: m.uidMappings!, gids: m.gidMappings!, recursive };
}

