import { readFileSync } from 'node:fs';

/**
 * Whether tsbox runs rootless: as an unprivileged user, or as root of a
 * user namespace that an unprivileged user made. The second is how rootless
 * podman calls its runtime (it enters its own user namespace, where the user
 * is uid 0, before running conmon and the runtime): such a root cannot write
 * /run or create cgroups on the host. runc decides the same way (its
 * state root and its rootless cgroup manager): euid 0 in a user namespace
 * counts as rootless unless USER says root, for a root that runs its runtime
 * in a user namespace of its own on purpose.
 */
export function runsRootless(uid: number = process.geteuid?.() ?? 0, env: NodeJS.ProcessEnv = process.env, uidMap: () => string = ownUidMap): boolean {
  if (uid !== 0) return true;
  if (!inUserNamespace(uidMap())) return false;
  return env.USER !== 'root';
}

/** Whether /proc/self/uid_map is that of a user namespace other than the initial one (whose map is the whole id range). */
export function inUserNamespace(uidMap: string): boolean {
  const lines = uidMap.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) return true;
  return lines[0]!.trim().split(/\s+/).join(' ') !== '0 0 4294967295';
}

let uidMapRead: string | undefined;

/** This process's /proc/self/uid_map, read once: a create asks several times, and the runtime never changes its user namespace. */
export function ownUidMap(): string {
  if (uidMapRead === undefined) {
    try {
      uidMapRead = readFileSync('/proc/self/uid_map', 'utf8');
    } catch {
      // No /proc: nothing says we are in a user namespace.
      uidMapRead = '0 0 4294967295';
    }
  }
  return uidMapRead;
}

/** Who tsbox runs as, for messages: `uid 1000`, or `uid 0 of a user namespace, host uid 1000,` (the comma closes the aside). */
export function rootlessCaller(uid: number = process.geteuid?.() ?? 0, uidMap: string = ownUidMap()): string {
  if (uid !== 0 || !inUserNamespace(uidMap)) return `uid ${uid}`;
  const line = uidMap.split('\n').map((l) => l.trim().split(/\s+/).map(Number)).find(([inside, , size]) => inside === 0 && size! > 0);
  return line ? `uid 0 of a user namespace, host uid ${line[1]},` : 'uid 0 of a user namespace';
}
