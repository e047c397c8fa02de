import { readFileSync, readlinkSync, statSync } from 'node:fs';
import type { StdioKey } from './options.js';

/**
 * The init's stdio (descriptors 0-2) as CRIU will name them, so that a
 * restore can give the restored init the restoring caller's stdio instead
 * (--inherit-fd), as runc does: the originals (a pipe to the engine that
 * is gone, the host's /dev/null) cannot come back from the images.
 *
 * A pipe or socket is known to CRIU by its link text ("pipe:[ino]"). A
 * file or a terminal opened outside the container's mount namespace
 * (the host's /dev/null, the caller's pty) cannot be dumped at all: it is
 * marked external (file[mnt_id:inode], tty[rdev:dev], all hexadecimal).
 */
export function stdioKeys(pid: number): StdioKey[] {
  const keys: StdioKey[] = [];
  const inside = containerMountIds(pid);
  for (const fd of [0, 1, 2]) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed
    }
    if (/^(pipe|socket):\[\d+\]$/.test(link)) {
      keys.push({ fd, key: link });
      continue;
    }
    if (!link.startsWith('/')) continue; // an anonymous inode: CRIU dumps it, or says why not
    const mntId = /^mnt_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
    // Opened inside the container (its own terminal): CRIU dumps it.
    if (mntId === undefined || inside.has(mntId)) continue;
    const st = statSync(`/proc/${pid}/fd/${fd}`, { bigint: true });
    if (st.isCharacterDevice() && isPtySlave(st.rdev)) {
      const key = `tty[${st.rdev.toString(16)}:${st.dev.toString(16)}]`;
      keys.push({ fd, key, external: key });
      continue;
    }
    const key = `file[${Number(mntId).toString(16)}:${st.ino.toString(16)}]`;
    keys.push({ fd, key, external: key });
  }
  return uniqueExternals(keys);
}

/** Unix98 pty slaves have majors 136-143 (the kernel's devices.txt). */
function isPtySlave(rdev: bigint): boolean {
  const major = Number((rdev >> 8n) & 0xfffn);
  return major >= 136 && major <= 143;
}

/** The process's mount points (as it sees them) and their filesystem types (/proc/PID/mountinfo). */
export function mountPoints(pid: number): Map<string, string> {
  const points = new Map<string, string>();
  for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter(Boolean)) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    // Octal escapes (\040 for a space) as the kernel writes them.
    points.set(fields[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))), fields[sep + 1]!);
  }
  return points;
}

/** The ids of the mounts in the process's mount namespace (/proc/PID/mountinfo's first field). */
function containerMountIds(pid: number): Set<string> {
  return new Set(readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0]!));
}

/** The same file on two descriptors is one external resource: marked once (CRIU refuses a duplicate --external). */
export function uniqueExternals(keys: readonly StdioKey[]): StdioKey[] {
  const seen = new Set<string>();
  return keys.map((k) => {
    if (!k.external || !seen.has(k.external)) {
      if (k.external) seen.add(k.external);
      return k;
    }
    const { external: _, ...rest } = k;
    return rest;
  });
}
