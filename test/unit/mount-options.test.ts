import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { MOUNT_ATTR, MS, PROPAGATION_OPTIONS, RECURSIVE_OPTIONS, parseMountOptions } from '../../lib/plan/mount-options.js';

/** The ConfigError `fn` throws (fails the test if it throws nothing or something else). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('MS constants', () => {
  it('match <sys/mount.h>', () => {
    expect(MS).toStrictEqual({
      RDONLY: 1,
      NOSUID: 2,
      NODEV: 4,
      NOEXEC: 8,
      SYNCHRONOUS: 16,
      REMOUNT: 32,
      MANDLOCK: 64,
      DIRSYNC: 128,
      NOSYMFOLLOW: 256,
      NOATIME: 1024,
      NODIRATIME: 2048,
      BIND: 4096,
      REC: 16384,
      SILENT: 32768,
      UNBINDABLE: 1 << 17,
      PRIVATE: 1 << 18,
      SLAVE: 1 << 19,
      SHARED: 1 << 20,
      RELATIME: 1 << 21,
      I_VERSION: 1 << 23,
      STRICTATIME: 1 << 24,
      LAZYTIME: 1 << 25,
    });
  });
});

describe('parseMountOptions flags', () => {
  // option that sets the bit, option that clears it, bit
  const pairs: Array<[set: string, clear: string, bit: number]> = [
    ['ro', 'rw', MS.RDONLY],
    ['nosuid', 'suid', MS.NOSUID],
    ['nodev', 'dev', MS.NODEV],
    ['noexec', 'exec', MS.NOEXEC],
    ['sync', 'async', MS.SYNCHRONOUS],
    ['mand', 'nomand', MS.MANDLOCK],
    ['noatime', 'atime', MS.NOATIME],
    ['nodiratime', 'diratime', MS.NODIRATIME],
    ['relatime', 'norelatime', MS.RELATIME],
    ['strictatime', 'nostrictatime', MS.STRICTATIME],
    ['lazytime', 'nolazytime', MS.LAZYTIME],
    ['silent', 'loud', MS.SILENT],
    ['nosymfollow', 'symfollow', MS.NOSYMFOLLOW],
    ['iversion', 'noiversion', MS.I_VERSION],
  ];

  it.each(pairs)('%s sets and %s clears the bit', (set, clear, bit) => {
    expect(parseMountOptions('tmpfs', [set], 'o')).toStrictEqual({ flags: bit, propagation: 0, data: '', bind: false });
    expect(parseMountOptions('tmpfs', [set, clear], 'o').flags).toBe(0);
    expect(parseMountOptions('tmpfs', [clear, set], 'o').flags).toBe(bit);
    expect(parseMountOptions('tmpfs', [clear], 'o').flags).toBe(0);
    // Clearing one bit leaves the others alone.
    expect(parseMountOptions('tmpfs', ['nosuid', 'nodev', 'noexec', 'ro', set, clear], 'o').flags).toBe(
      (MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY) & ~bit,
    );
  });

  it.each([
    ['dirsync', MS.DIRSYNC],
    ['remount', MS.REMOUNT],
  ])('%s sets its bit', (option, bit) => {
    expect(parseMountOptions('tmpfs', [option], 'o').flags).toBe(bit);
  });

  it('defaults sets nothing and clears nothing', () => {
    expect(parseMountOptions('tmpfs', ['defaults'], 'o')).toStrictEqual({ flags: 0, propagation: 0, data: '', bind: false });
    expect(parseMountOptions('tmpfs', ['ro', 'defaults'], 'o').flags).toBe(MS.RDONLY);
  });

  it('no options at all', () => {
    expect(parseMountOptions('proc', [], 'o')).toStrictEqual({ flags: 0, propagation: 0, data: '', bind: false });
  });

  it('combines the options a typical /proc and /dev mount have', () => {
    expect(parseMountOptions('proc', ['nosuid', 'noexec', 'nodev'], 'o').flags).toBe(MS.NOSUID | MS.NOEXEC | MS.NODEV);
    expect(parseMountOptions('tmpfs', ['nosuid', 'strictatime', 'mode=755', 'size=65536k'], 'o')).toStrictEqual({
      flags: MS.NOSUID | MS.STRICTATIME,
      propagation: 0,
      data: 'mode=755,size=65536k',
      bind: false,
    });
  });
});

describe('parseMountOptions bind and rbind', () => {
  it('bind is MS_BIND without MS_REC', () => {
    expect(parseMountOptions('bind', ['bind'], 'o')).toStrictEqual({ flags: MS.BIND, propagation: 0, data: '', bind: true });
  });

  it('rbind is MS_BIND|MS_REC', () => {
    expect(parseMountOptions('bind', ['rbind'], 'o')).toStrictEqual({
      flags: MS.BIND | MS.REC,
      propagation: 0,
      data: '',
      bind: true,
    });
  });

  it('the type does not matter once bind is among the options', () => {
    expect(parseMountOptions('', ['rbind', 'ro'], 'o')).toStrictEqual({
      flags: MS.BIND | MS.REC | MS.RDONLY,
      propagation: 0,
      data: '',
      bind: true,
    });
    expect(parseMountOptions('none', ['bind'], 'o').bind).toBe(true);
    // A known fs type with bind: its data options no longer apply.
    const warnings: string[] = [];
    expect(parseMountOptions('tmpfs', ['bind', 'mode=755'], 'o', warnings)).toStrictEqual({ flags: MS.BIND, propagation: 0, data: '', bind: true });
    expect(warnings).toEqual(['o[1]: "mode=755" is ignored: a bind mount takes no filesystem options']);
  });

  it('type "bind" without a bind option is not a bind mount (as in runc)', () => {
    expect(parseMountOptions('bind', ['ro'], 'o')).toStrictEqual({ flags: MS.RDONLY, propagation: 0, data: '', bind: false });
  });

  it('leaves filesystem options on a bind mount out, with a warning each (runc passes them; the kernel ignores them)', () => {
    const warnings: string[] = [];
    expect(parseMountOptions('bind', ['rbind', 'ro', 'size=1k', 'mode=755', 'newinstance'], 'mounts[3].options', warnings)).toStrictEqual({
      flags: MS.BIND | MS.REC | MS.RDONLY,
      propagation: 0,
      data: '',
      bind: true,
    });
    expect(warnings).toEqual([
      'mounts[3].options[2]: "size=1k" is ignored: a bind mount takes no filesystem options',
      'mounts[3].options[3]: "mode=755" is ignored: a bind mount takes no filesystem options',
      'mounts[3].options[4]: "newinstance" is ignored: a bind mount takes no filesystem options',
    ]);
  });

  it('drops the engines\' volume options z, Z, U, copy and nocopy from a bind mount without a warning (buildah leaves them there); elsewhere they are unknown', () => {
    const warnings: string[] = [];
    expect(parseMountOptions('bind', ['rbind', 'z', 'ro', 'Z', 'U', 'copy', 'nocopy'], 'mounts[3].options', warnings)).toMatchObject({
      flags: MS.BIND | MS.REC | MS.RDONLY,
      data: '',
      bind: true,
    });
    expect(warnings).toEqual([]);
    expect(configError(() => parseMountOptions('tmpfs', ['nosuid', 'z'], 'mounts[1].options')).message).toBe('mounts[1].options[1]: unknown option "z" for a tmpfs mount');
  });

  it('still refuses a word that is no option of any kind on a bind mount (a typo of a flag)', () => {
    const err = configError(() => parseMountOptions('bind', ['rbind', 'ro', 'rprivat'], 'mounts[3].options'));
    expect(err.jsonPath).toBe('mounts[3].options[2]');
    expect(err.problem).toBe('unknown option "rprivat" for a bind mount');
  });
});

describe('parseMountOptions propagation', () => {
  it('PROPAGATION_OPTIONS', () => {
    expect(PROPAGATION_OPTIONS).toStrictEqual({
      private: MS.PRIVATE,
      rprivate: MS.PRIVATE | MS.REC,
      shared: MS.SHARED,
      rshared: MS.SHARED | MS.REC,
      slave: MS.SLAVE,
      rslave: MS.SLAVE | MS.REC,
      unbindable: MS.UNBINDABLE,
      runbindable: MS.UNBINDABLE | MS.REC,
    });
  });

  it.each(Object.entries(PROPAGATION_OPTIONS))('%s goes to propagation, not flags or data', (option, value) => {
    expect(parseMountOptions('bind', ['bind', option], 'o')).toStrictEqual({
      flags: MS.BIND,
      propagation: value,
      data: '',
      bind: true,
    });
    expect(parseMountOptions('tmpfs', [option, 'mode=1777'], 'o')).toStrictEqual({
      flags: 0,
      propagation: value,
      data: 'mode=1777',
      bind: false,
    });
  });

  it('the last propagation option wins', () => {
    expect(parseMountOptions('bind', ['rbind', 'rprivate', 'rslave'], 'o').propagation).toBe(MS.SLAVE | MS.REC);
    expect(parseMountOptions('bind', ['rbind', 'shared', 'private'], 'o').propagation).toBe(MS.PRIVATE);
  });

  it('docker and podman bind options', () => {
    expect(parseMountOptions('bind', ['rbind', 'rprivate'], 'o')).toStrictEqual({
      flags: MS.BIND | MS.REC,
      propagation: MS.PRIVATE | MS.REC,
      data: '',
      bind: true,
    });
    expect(parseMountOptions('bind', ['bind', 'rprivate', 'nosuid', 'noexec', 'nodev'], 'o')).toStrictEqual({
      flags: MS.BIND | MS.NOSUID | MS.NOEXEC | MS.NODEV,
      propagation: MS.PRIVATE | MS.REC,
      data: '',
      bind: true,
    });
  });
});

describe('parseMountOptions data', () => {
  it('passes every option through for a filesystem it does not know', () => {
    expect(
      parseMountOptions('overlay', ['lowerdir=/l1:/l2', 'upperdir=/u', 'workdir=/w', 'ro', 'index=off', 'metacopy'], 'o'),
    ).toStrictEqual({
      flags: MS.RDONLY,
      propagation: 0,
      data: 'lowerdir=/l1:/l2,upperdir=/u,workdir=/w,index=off,metacopy',
      bind: false,
    });
    expect(parseMountOptions('nfs', ['vers=4', 'addr=10.0.0.1'], 'o').data).toBe('vers=4,addr=10.0.0.1');
    // No type at all: nothing to check against either.
    expect(parseMountOptions('', ['whatever'], 'o').data).toBe('whatever');
  });

  it('keeps data options in order', () => {
    expect(parseMountOptions('tmpfs', ['size=1k', 'nosuid', 'mode=700', 'uid=5', 'gid=6'], 'o').data).toBe(
      'size=1k,mode=700,uid=5,gid=6',
    );
  });

  it.each([
    ['proc', ['hidepid=2', 'gid=5', 'subset=pid']],
    ['devpts', ['newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5', 'uid=0', 'max=1024']],
    ['tmpfs', ['size=64m', 'nr_inodes=1k', 'nr_blocks=10', 'mode=1777', 'uid=0', 'gid=0', 'huge=never', 'noswap', 'inode64']],
    ['cgroup2', ['nsdelegate', 'memory_recursiveprot']],
  ])('accepts the options %s knows', (type, options) => {
    expect(parseMountOptions(type, options, 'o').data).toBe(options.join(','));
  });

  it.each([
    ['proc', 'size=1k'],
    ['sysfs', 'mode=755'],
    ['mqueue', 'foo'],
    ['devpts', 'size=1k'],
    ['tmpfs', 'lowerdir=/x'],
    ['cgroup', 'cpu'],
    ['cgroup2', 'bogus'],
  ])('refuses an unknown option for %s, naming mounts[i].options[j]', (type, option) => {
    const err = configError(() => parseMountOptions(type, ['nosuid', 'rprivate', option], 'mounts[4].options'));
    expect(err.jsonPath).toBe('mounts[4].options[2]');
    expect(err.problem).toBe(`unknown option "${option}" for a ${type} mount`);
    expect(err.message).toBe(`mounts[4].options[2]: unknown option "${option}" for a ${type} mount`);
    expect(err.file).toBeUndefined();
  });

  it('names the first unknown option among several', () => {
    const err = configError(() => parseMountOptions('tmpfs', ['mode=755', 'bad1', 'bad2'], 'mounts[0].options'));
    expect(err.jsonPath).toBe('mounts[0].options[1]');
  });
});

describe('MOUNT_ATTR constants', () => {
  it('match <linux/mount.h>', () => {
    expect(MOUNT_ATTR).toStrictEqual({
      RDONLY: 0x1,
      NOSUID: 0x2,
      NODEV: 0x4,
      NOEXEC: 0x8,
      ATIME_MASK: 0x70,
      RELATIME: 0,
      NOATIME: 0x10,
      STRICTATIME: 0x20,
      NODIRATIME: 0x80,
      NOSYMFOLLOW: 0x200000,
    });
  });
});

describe('parseMountOptions recursive options', () => {
  const A = MOUNT_ATTR;
  // option that sets the attribute on the whole tree, option that clears it, attribute
  const pairs: Array<[set: string, clear: string, attr: number]> = [
    ['rro', 'rrw', A.RDONLY],
    ['rnosuid', 'rsuid', A.NOSUID],
    ['rnodev', 'rdev', A.NODEV],
    ['rnoexec', 'rexec', A.NOEXEC],
    ['rnodiratime', 'rdiratime', A.NODIRATIME],
    ['rnosymfollow', 'rsymfollow', A.NOSYMFOLLOW],
  ];

  it.each(pairs)('%s sets and %s clears the attribute, the last one winning', (set, clear, attr) => {
    expect(parseMountOptions('bind', ['rbind', set], 'o')).toStrictEqual({
      flags: MS.BIND | MS.REC,
      propagation: 0,
      data: '',
      bind: true,
      recursive: { set: attr, clear: 0 },
    });
    expect(parseMountOptions('bind', ['rbind', clear], 'o').recursive).toStrictEqual({ set: 0, clear: attr });
    expect(parseMountOptions('bind', ['rbind', set, clear], 'o').recursive).toStrictEqual({ set: 0, clear: attr });
    expect(parseMountOptions('bind', ['rbind', clear, set], 'o').recursive).toStrictEqual({ set: attr, clear: 0 });
  });

  it('never touches the mount\'s own flags, data or propagation', () => {
    expect(parseMountOptions('tmpfs', ['nosuid', 'rro', 'rnoexec', 'mode=755', 'rprivate'], 'o')).toStrictEqual({
      flags: MS.NOSUID,
      propagation: MS.PRIVATE | MS.REC,
      data: 'mode=755',
      bind: false,
      recursive: { set: A.RDONLY | A.NOEXEC, clear: 0 },
    });
  });

  it('combines several, as Kubernetes and Docker write them', () => {
    expect(parseMountOptions('bind', ['rbind', 'ro', 'rro', 'rprivate'], 'o')).toStrictEqual({
      flags: MS.BIND | MS.REC | MS.RDONLY,
      propagation: MS.PRIVATE | MS.REC,
      data: '',
      bind: true,
      recursive: { set: A.RDONLY, clear: 0 },
    });
    expect(parseMountOptions('bind', ['rbind', 'rnosuid', 'rnodev', 'rnoexec', 'rrw'], 'o').recursive).toStrictEqual({
      set: A.NOSUID | A.NODEV | A.NOEXEC,
      clear: A.RDONLY,
    });
  });

  it.each([
    ['rnoatime', A.NOATIME],
    ['rstrictatime', A.STRICTATIME],
    ['rrelatime', A.RELATIME],
    ['ratime', A.RELATIME],
    ['rnorelatime', A.RELATIME],
    ['rnostrictatime', A.RELATIME],
  ])('%s replaces the whole atime mode (clears the field, sets %i)', (option, mode) => {
    expect(parseMountOptions('bind', ['rbind', option], 'o').recursive).toStrictEqual({ set: mode, clear: A.ATIME_MASK });
    // The last atime option wins, and the other attributes stay.
    expect(parseMountOptions('bind', ['rbind', 'rnoatime', 'rro', option], 'o').recursive).toStrictEqual({
      set: A.RDONLY | mode,
      clear: A.ATIME_MASK,
    });
    expect(parseMountOptions('bind', ['rbind', option, 'rstrictatime'], 'o').recursive).toStrictEqual({
      set: A.STRICTATIME,
      clear: A.ATIME_MASK,
    });
  });

  it('the atime clear mask is always the whole field (the kernel refuses part of it)', () => {
    for (const [option, [, clear]] of Object.entries(RECURSIVE_OPTIONS)) {
      const atime = clear & A.ATIME_MASK;
      expect(atime === 0 || atime === A.ATIME_MASK, option).toBe(true);
    }
  });

  it('lists every recursive option runc knows', () => {
    expect(Object.keys(RECURSIVE_OPTIONS).sort()).toEqual([
      'ratime', 'rdev', 'rdiratime', 'rexec', 'rnoatime', 'rnodev', 'rnodiratime', 'rnoexec', 'rnorelatime',
      'rnostrictatime', 'rnosuid', 'rnosymfollow', 'rrelatime', 'rro', 'rrw', 'rstrictatime', 'rsuid', 'rsymfollow',
    ]);
  });

  it('no recursive option: no recursive field', () => {
    expect('recursive' in parseMountOptions('bind', ['rbind', 'ro', 'nosuid'], 'o')).toBe(false);
  });
});

describe('parseMountOptions tmpcopyup', () => {
  it('marks a tmpfs to get the image content, and passes nothing to the kernel for it', () => {
    expect(parseMountOptions('tmpfs', ['nosuid', 'tmpcopyup', 'size=1m'], 'o')).toStrictEqual({
      flags: MS.NOSUID,
      propagation: 0,
      data: 'size=1m',
      bind: false,
      copyUp: true,
    });
  });

  it('means nothing on other mounts: ignored with a warning, as runc ignores it', () => {
    for (const [type, options] of [['bind', ['rbind', 'tmpcopyup']], ['proc', ['tmpcopyup']]] as const) {
      const warnings: string[] = [];
      const parsed = parseMountOptions(type, options, 'mounts[2].options', warnings);
      expect(parsed.copyUp).toBeUndefined();
      expect(warnings).toEqual([`mounts[2].options[${options.length - 1}]: "tmpcopyup" is ignored: it applies to tmpfs mounts only`]);
    }
  });
});
