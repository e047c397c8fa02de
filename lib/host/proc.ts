import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Processes as /proc shows them: a process's start time and state (to
 * tell a container's init from a process that reused its pid), its
 * namespaces, and the processes that belong to a container that has no
 * cgroups of its own.
 */

/** Start time and run state of a live process, or undefined if there is none. */
export function processStat(pid: number): { startTime: string; state: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: the fields
  // we want come after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, startTime: fields[19]! };
}

/** The link naming one of a process's namespaces (/proc/<pid>/ns/<ns>), or undefined once it is gone. */
export function namespaceLink(pid: number | 'self', ns: string): string | undefined {
  return readlinkOr(`/proc/${pid}/ns/${ns}`);
}

/**
 * Host pids of a container whose init is `pid`: everything in its pid
 * namespace when it has its own, else the init and its descendants.
 */
export function processesOf(pid: number): number[] {
  const ns = namespaceLink(pid, 'pid');
  if (ns && ns !== namespaceLink('self', 'pid')) return allPids().filter((p) => namespaceLink(p, 'pid') === ns);
  return descendants(pid);
}

function readlinkOr(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let children = '';
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        children += readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8');
      }
    } catch {
      continue;
    }
    for (const c of children.split(' ')) if (c.trim()) out.push(Number(c));
  }
  return out.sort((a, b) => a - b);
}
