import { statSync } from 'node:fs';
import { TsboxError } from '../errors.js';
import type { LinuxNamespace } from '../oci/types.js';

/**
 * Namespaces a container joined by path (linux.namespaces[].path: a pod's
 * network namespace, as CRI and podman pods give it), as runc treats them
 * at checkpoint and restore:
 *
 * - network and pid: CRIU does not dump them; it marks them external
 *   (`net[INODE]:extRootNetNS`), and at restore the tree is put in the
 *   namespace the restore-time config names, handed to criu as a
 *   descriptor under that key (inherit_fd);
 * - ipc and uts: dumped, and at restore the tree joins the config's
 *   path instead (join_ns);
 * - mount, user, cgroup and time: CRIU cannot put a restored tree in an
 *   existing one (it rebuilds the mounts; it has no join for the others
 *   here): refused, at checkpoint already (so that a checkpoint never
 *   stops a container it could not restore).
 */

/** The name CRIU gives each namespace type (its external key's and join_ns's). */
const CRIU_NAME: Record<string, string> = { network: 'net', pid: 'pid', ipc: 'ipc', uts: 'uts' };
const EXTERNAL = new Set(['network', 'pid']);

/** runc's key for an external namespace: extRootNetNS, extRootPidNS. */
export function externalKey(type: string): string {
  const name = CRIU_NAME[type]!;
  return `extRoot${name[0]!.toUpperCase()}${name.slice(1)}NS`;
}

/** The namespaces joined by path, each with its JSON path; a one-line error for a type CRIU cannot restore into. */
function joined(namespaces: readonly LinuxNamespace[] | undefined, what: string): { type: string; path: string; at: string }[] {
  const out: { type: string; path: string; at: string }[] = [];
  (namespaces ?? []).forEach((ns, i) => {
    if (ns.path === undefined || ns.path === '') return;
    const at = `linux.namespaces[${i}]`;
    if (!(ns.type in CRIU_NAME)) {
      throw new TsboxError(`${what}: ${at} joins the ${ns.type} namespace "${ns.path}": CRIU cannot restore a container into an existing ${ns.type} namespace (only network, pid, ipc and uts ones)`);
    }
    out.push({ type: ns.type, path: ns.path, at });
  });
  return out;
}

/**
 * At checkpoint: the --external entries for the network and pid
 * namespaces the container joined, by the inode of the one its init is in
 * (/proc/PID/ns: the namespace it really joined, whatever its path names now).
 */
export function externalNamespaces(namespaces: readonly LinuxNamespace[] | undefined, pid: number, what: string): string[] {
  return joined(namespaces, what)
    .filter((n) => EXTERNAL.has(n.type))
    .map((n) => `${CRIU_NAME[n.type]}[${statSync(`/proc/${pid}/ns/${CRIU_NAME[n.type]}`).ino}]:${externalKey(n.type)}`);
}

/**
 * At restore: the namespaces of the restore-time config to put the tree
 * in: `inherit` (network, pid: a descriptor of the path under the key)
 * and `join` (ipc, uts: CRIU's join_ns with the path).
 */
export function restoreNamespaces(
  namespaces: readonly LinuxNamespace[] | undefined,
  what: string,
): { inherit: { key: string; path: string; at: string }[]; join: { ns: string; nsFile: string }[] } {
  const all = joined(namespaces, what);
  return {
    inherit: all.filter((n) => EXTERNAL.has(n.type)).map((n) => ({ key: externalKey(n.type), path: n.path, at: n.at })),
    join: all.filter((n) => !EXTERNAL.has(n.type)).map((n) => ({ ns: CRIU_NAME[n.type]!, nsFile: n.path })),
  };
}
