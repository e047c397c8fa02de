import { ConfigError } from '../errors.js';

/** mount(2) flags, from <sys/mount.h>. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** fstab option -> [flags to set, flags to clear]. */
const FLAG_OPTIONS: Record<string, [set: number, clear: number]> = {
  defaults: [0, 0],
  ro: [MS.RDONLY, 0],
  rw: [0, MS.RDONLY],
  nosuid: [MS.NOSUID, 0],
  suid: [0, MS.NOSUID],
  nodev: [MS.NODEV, 0],
  dev: [0, MS.NODEV],
  noexec: [MS.NOEXEC, 0],
  exec: [0, MS.NOEXEC],
  sync: [MS.SYNCHRONOUS, 0],
  async: [0, MS.SYNCHRONOUS],
  dirsync: [MS.DIRSYNC, 0],
  remount: [MS.REMOUNT, 0],
  mand: [MS.MANDLOCK, 0],
  nomand: [0, MS.MANDLOCK],
  atime: [0, MS.NOATIME],
  noatime: [MS.NOATIME, 0],
  diratime: [0, MS.NODIRATIME],
  nodiratime: [MS.NODIRATIME, 0],
  relatime: [MS.RELATIME, 0],
  norelatime: [0, MS.RELATIME],
  strictatime: [MS.STRICTATIME, 0],
  nostrictatime: [0, MS.STRICTATIME],
  lazytime: [MS.LAZYTIME, 0],
  nolazytime: [0, MS.LAZYTIME],
  silent: [MS.SILENT, 0],
  loud: [0, MS.SILENT],
  nosymfollow: [MS.NOSYMFOLLOW, 0],
  bind: [MS.BIND, 0],
  rbind: [MS.BIND | MS.REC, 0],
};

export const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/**
 * Options runc knows that tsbox does not implement yet. Refused by name
 * rather than passed to the kernel as data, where they would mean nothing.
 */
const NOT_YET = new Set([
  'rro', 'rrw', 'rnosuid', 'rsuid', 'rnodev', 'rdev', 'rnoexec', 'rexec', 'rnoatime', 'ratime',
  'rnodiratime', 'rdiratime', 'rrelatime', 'rnorelatime', 'rstrictatime', 'rnostrictatime',
]);

/**
 * The data options each filesystem we know accepts. A filesystem listed
 * here with an option not listed is refused before anything is created;
 * other filesystem types get their options passed through to the kernel.
 */
const DATA_OPTIONS: Record<string, readonly string[]> = {
  proc: ['hidepid', 'gid', 'subset'],
  sysfs: [],
  mqueue: [],
  devpts: ['newinstance', 'ptmxmode', 'mode', 'uid', 'gid', 'max'],
  tmpfs: [
    'size', 'nr_blocks', 'nr_inodes', 'mode', 'uid', 'gid', 'huge', 'mpol', 'noswap',
    'inode32', 'inode64', 'quota', 'usrquota', 'grpquota', 'usrquota_block_hardlimit',
    'usrquota_inode_hardlimit', 'grpquota_block_hardlimit', 'grpquota_inode_hardlimit',
  ],
  cgroup: [],
  cgroup2: ['nsdelegate', 'memory_recursiveprot', 'memory_localevents', 'favordynmods', 'memory_hugetlb_accounting', 'pids_localevents'],
  bind: [],
};

export interface ParsedOptions {
  flags: number;
  propagation: number;
  data: string;
  bind: boolean;
  /** The idmap or ridmap option (an idmapped bind mount, recursive with ridmap), and its index. */
  idmapOption?: { recursive: boolean; index: number };
  /** tmpcopyup (runc's and crun's): a tmpfs gets a copy of the image's content at its destination. */
  copyUp?: true;
}

/** Whether an option reads as some filesystem's data option ("mode=755", "size=1k", "newinstance"). */
function isDataOption(option: string): boolean {
  const key = option.split('=', 1)[0]!;
  return option.includes('=') || Object.values(DATA_OPTIONS).some((keys) => keys.includes(key));
}

/**
 * Turns a mount's fstab-style options into mount(2) flags, propagation and
 * data, as runc does. `path` is the JSON path of the options array.
 * Filesystem options beside bind (engines copy a volume's "mode=755" or
 * "size=1k" onto its bind) are left out with a warning: runc passes them
 * and the kernel ignores data for a bind mount.
 */
export function parseMountOptions(type: string, options: readonly string[], path: string, warnings: string[] = []): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  let idmapOption: ParsedOptions['idmapOption'];
  let copyUp = false;
  const data: string[] = [];
  options.forEach((option, i) => {
    if (option === 'idmap' || option === 'ridmap') {
      idmapOption = { recursive: option === 'ridmap', index: i };
      return;
    }
    if (option === 'tmpcopyup') {
      copyUp = true;
      return;
    }
    const flag = FLAG_OPTIONS[option];
    if (flag) {
      flags = (flags | flag[0]) & ~flag[1];
      return;
    }
    const prop = PROPAGATION_OPTIONS[option];
    if (prop !== undefined) {
      propagation = prop;
      return;
    }
    if (NOT_YET.has(option)) {
      throw new ConfigError(`${path}[${i}]`, `mount option "${option}" is not supported by tsbox yet`);
    }
    data.push(option);
  });
  const bind = (flags & MS.BIND) !== 0;
  if (bind) {
    const ignored = data.filter(isDataOption);
    for (const option of ignored) {
      warnings.push(`${path}[${options.indexOf(option)}]: "${option}" is ignored: a bind mount takes no filesystem options`);
    }
    data.splice(0, data.length, ...data.filter((option) => !ignored.includes(option)));
  }
  const known = DATA_OPTIONS[bind ? 'bind' : type];
  if (known) {
    data.forEach((option) => {
      const key = option.split('=', 1)[0]!;
      if (!known.includes(key)) {
        const what = bind ? 'bind' : type;
        throw new ConfigError(`${path}[${options.indexOf(option)}]`, `unknown option "${option}" for a ${what} mount`);
      }
    });
  }
  if (copyUp && (bind || type !== 'tmpfs')) {
    // As runc: the option means something for a tmpfs only.
    warnings.push(`${path}[${options.indexOf('tmpcopyup')}]: "tmpcopyup" is ignored: it applies to tmpfs mounts only`);
    copyUp = false;
  }
  return { flags, propagation, data: data.join(','), bind, ...(idmapOption && { idmapOption }), ...(copyUp ? { copyUp: true as const } : {}) };
}
