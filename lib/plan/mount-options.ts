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
  I_VERSION: 0x800000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** mount_setattr(2) attributes, from <linux/mount.h>. The atime mode is a field (ATIME_MASK), not a bit. */
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  ATIME_MASK: 0x70,
  RELATIME: 0x0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  NOSYMFOLLOW: 0x200000,
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
  symfollow: [0, MS.NOSYMFOLLOW],
  // A superblock flag, accepted as runc does. It means nothing on a bind,
  // and fsconfig has no key for it: since Linux 6.2 the filesystem decides
  // (ext4, xfs, btrfs, tmpfs keep i_version always).
  iversion: [MS.I_VERSION, 0],
  noiversion: [0, MS.I_VERSION],
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
 * Recursive options -> [attributes to set, attributes to clear], applied
 * with mount_setattr(AT_RECURSIVE) to the mount and every mount below it
 * (runc's). An atime option replaces the whole atime mode; ratime,
 * rnorelatime and rnostrictatime mean the kernel's default mode, relatime.
 */
const A = MOUNT_ATTR;
export const RECURSIVE_OPTIONS: Record<string, [set: number, clear: number]> = {
  rro: [A.RDONLY, 0],
  rrw: [0, A.RDONLY],
  rnosuid: [A.NOSUID, 0],
  rsuid: [0, A.NOSUID],
  rnodev: [A.NODEV, 0],
  rdev: [0, A.NODEV],
  rnoexec: [A.NOEXEC, 0],
  rexec: [0, A.NOEXEC],
  rnodiratime: [A.NODIRATIME, 0],
  rdiratime: [0, A.NODIRATIME],
  rnosymfollow: [A.NOSYMFOLLOW, 0],
  rsymfollow: [0, A.NOSYMFOLLOW],
  rnoatime: [A.NOATIME, A.ATIME_MASK],
  rstrictatime: [A.STRICTATIME, A.ATIME_MASK],
  rrelatime: [A.RELATIME, A.ATIME_MASK],
  ratime: [A.RELATIME, A.ATIME_MASK],
  rnorelatime: [A.RELATIME, A.ATIME_MASK],
  rnostrictatime: [A.RELATIME, A.ATIME_MASK],
};

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
  /** MOUNT_ATTR_* set and cleared on the whole tree (rro, rnosuid, ...); absent without such options. */
  recursive?: { set: number; clear: number };
  /** The idmap or ridmap option (an idmapped bind mount, recursive with ridmap), and its index. */
  idmapOption?: { recursive: boolean; index: number };
  /** tmpcopyup (runc's and crun's): a tmpfs gets a copy of the image's content at its destination. */
  copyUp?: true;
}

/**
 * Requests of the engines' volume syntax (`-v SRC:DST:z`) that the engine
 * carries out itself before it calls the runtime: z and Z relabel SRC for
 * SELinux, U chowns it to the container's user, copy and nocopy say whether
 * the image's content is copied into a new volume. buildah 1.28 leaves them in
 * a RUN step's bind options (`podman build -v SRC:DST:z`); runc passes them
 * on as data, which the kernel ignores for a bind mount. On a bind mount
 * they are dropped without a word: none of them asks the runtime for
 * anything.
 */
const ENGINE_VOLUME_OPTIONS: readonly string[] = ['z', 'Z', 'U', 'copy', 'nocopy'];

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
  let recursive: ParsedOptions['recursive'];
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
    const rec = RECURSIVE_OPTIONS[option];
    if (rec) {
      // As mount_setattr applies them (new = old & ~clear | set), later
      // options winning over earlier ones.
      const [set, clear] = rec;
      const before = recursive ?? { set: 0, clear: 0 };
      recursive = { set: (before.set & ~clear) | set, clear: (before.clear & ~set) | clear };
      return;
    }
    const prop = PROPAGATION_OPTIONS[option];
    if (prop !== undefined) {
      propagation = prop;
      return;
    }
    data.push(option);
  });
  const bind = (flags & MS.BIND) !== 0;
  if (bind) {
    const ignored = data.filter(isDataOption);
    for (const option of ignored) {
      warnings.push(`${path}[${options.indexOf(option)}]: "${option}" is ignored: a bind mount takes no filesystem options`);
    }
    data.splice(0, data.length, ...data.filter((option) => !ignored.includes(option) && !ENGINE_VOLUME_OPTIONS.includes(option)));
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
  return {
    flags,
    propagation,
    data: data.join(','),
    bind,
    ...(recursive && { recursive }),
    ...(idmapOption && { idmapOption }),
    ...(copyUp ? { copyUp: true as const } : {}),
  };
}
