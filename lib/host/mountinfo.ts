/**
 * The host's mount table and cgroup membership as this process sees them
 * (/proc/self/mountinfo, /proc/<pid>/cgroup), parsed: facts the cgroup
 * layout, the systemd driver and the plan of a container's cgroup mount use.
 */

/** A cgroup filesystem mounted on the host, from mountinfo. */
export interface HostCgroupMount {
  mountPoint: string;
  /**
   * The directory of the hierarchy this mount shows: "/" on a host, but
   * e.g. "/docker/<id>" when tsbox itself runs in a container.
   */
  root: string;
  fstype: 'cgroup' | 'cgroup2';
  /** Controllers (cpu, memory, ...) or `name=systemd`; empty for cgroup2. */
  controllers: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function hostCgroupMounts(mountinfo: string): HostCgroupMount[] {
  const out: HostCgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const fields = line.slice(0, sep).split(' ');
    const root = unescape(fields[3]!);
    const mountPoint = unescape(fields[4]!);
    const controllers =
      fstype === 'cgroup' ? superOptions.split(',').filter((o) => CONTROLLERS.has(o) || o.startsWith('name=')) : [];
    out.push({ mountPoint, root, fstype, controllers });
  }
  return out;
}

const CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'net_cls',
  'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc', 'debug',
]);

/** /proc/<pid>/cgroup as a map from hierarchy key ("cpu,cpuacct", "name=systemd", "" for v2) to path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}
