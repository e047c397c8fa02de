#include "rootfs.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <climits>
#include <cstring>
#include <vector>

#include "copyup.h"
#include "move_root.h"
#include "procfs.h"
#include "report.h"
#include "strings.h"

namespace rootfs {

using report::fail;
using report::quote;

namespace {

// What the init created in the rootfs, in order, so that a failed start can
// remove it again (report::on_failure). Entries inside the container's own
// tmpfs mounts are listed too; removing them is harmless.
struct Created {
  std::string path;
  bool directory;
};
std::vector<Created> created;
int created_root = -1;  // the rootfs until pivot_root, then -1
bool pivoted = false;
// The procfs and sysfs mounts made, by destination, each with a descriptor
// of the mount itself: sysctls, masked and read-only paths below them are
// looked up from there, never by a fresh walk from the root.
struct PseudoMount {
  std::string destination;
  int fd;
};
std::vector<PseudoMount> pseudo_mounts;

void note_created(const std::string& path, bool directory) { created.push_back({path, directory}); }

// Splits "/a/b/c" into "/a/b" and "c". Paths arrive normalized from the
// plan (absolute, no "." or ".." components, no trailing slash).
void split(const std::string& path, std::string& dir, std::string& base) {
  size_t slash = path.rfind('/');
  dir = slash == 0 ? "/" : path.substr(0, slash);
  base = path.substr(slash + 1);
}

// Where `path` leads inside the root: its symlinks followed as far as they
// exist (absolute targets and ".." kept inside the root, as RESOLVE_IN_ROOT
// does), the missing rest taken as it is, as runc's SecureJoin has it. What
// is created for a path is created there: a mount destination that is a
// dangling symlink (an image's /etc/localtime to a zone file it lacks) gets
// the file it names, inside the root, instead of failing with ENOENT.
std::string resolve_in_root(int root, const std::string& path) {
  std::vector<std::string> done;  // existing components, none a symlink
  std::vector<std::string> todo;  // what is left, the next component last
  const auto push_all = [&todo](const std::string& p) {
    auto parts = strings::split_on(p, '/');
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(*it);
  };
  const auto joined = [&done]() {
    std::string out;
    for (const auto& c : done) out += "/" + c;
    return out.empty() ? std::string("/") : out;
  };
  push_all(path);
  int links = 0;
  while (!todo.empty()) {
    std::string component = todo.back();
    todo.pop_back();
    if (component.empty() || component == ".") continue;
    if (component == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    int dir = open_in_root(root, joined(), O_PATH | O_DIRECTORY);
    char target[PATH_MAX];
    ssize_t n = dir < 0 ? -1 : readlinkat(dir, component.c_str(), target, sizeof target);
    if (dir >= 0) close(dir);
    // Not a symlink, missing, or too many links (the lookup that follows fails with ELOOP).
    if (n <= 0 || n == static_cast<ssize_t>(sizeof target) || ++links > 40) {
      done.push_back(component);
      continue;
    }
    if (target[0] == '/') done.clear();
    push_all(std::string(target, n));
  }
  return joined();
}

// mkdir -p inside the root. Each component is created relative to a
// descriptor of its parent that was itself resolved inside the root, so a
// symlinked component cannot redirect creation onto the host.
int mkdir_all(int root, const std::string& path, mode_t mode) {
  // Already there (the usual case: /dev for each device node and symlink,
  // /proc, /sys): one lookup instead of two or three per component.
  int existing = open_in_root(root, path, O_PATH | O_DIRECTORY);
  if (existing >= 0) {
    close(existing);
    return 0;
  }
  // Only the last component missing under a parent reached without any
  // symlink (a mount point in a directory mounted just before: /dev/pts,
  // each /sys/fs/cgroup/<hierarchy>), so the path is where it leads: made
  // there at once. Anything else (a symlink on the way, a dangling one as
  // the last component: EEXIST) takes the walk below.
  if (errno == ENOENT && path != "/") {
    std::string dir, base;
    split(path, dir, base);
    int parent = open_in_root(root, dir, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
    if (parent >= 0) {
      int rc = mkdirat(parent, base.c_str(), mode);
      close(parent);
      if (rc == 0) {
        note_created(path, true);
        return 0;
      }
    }
  }
  std::string prefix;
  for (const auto& component : strings::split_on(resolve_in_root(root, path), '/')) {
    if (component.empty()) continue;
    std::string parent = prefix.empty() ? "/" : prefix;
    prefix += "/" + component;
    int fd = open_in_root(root, prefix, O_PATH | O_DIRECTORY);
    if (fd >= 0) {
      close(fd);
      continue;
    }
    if (errno != ENOENT) return errno;
    int dirfd = open_in_root(root, parent, O_PATH | O_DIRECTORY);
    if (dirfd < 0) return errno;
    int rc = mkdirat(dirfd, component.c_str(), mode);
    int err = errno;
    close(dirfd);
    if (rc == 0) note_created(prefix, true);
    if (rc != 0 && err != EEXIST) return err;
  }
  return 0;
}

// Opens the parent directory of `path` inside the root, creating it if
// needed, and returns the last component in `base`.
int open_parent(int root, const std::string& path, std::string& base, const std::string& step) {
  std::string dir;
  split(path, dir, base);
  int err = mkdir_all(root, dir, 0755);
  if (err != 0) fail(step, err);
  int fd = open_in_root(root, dir, O_PATH | O_DIRECTORY);
  if (fd < 0) fail(step, errno);
  return fd;
}

// The per-mount flags a mount already has, as MS_* flags, so that a bind
// remount (which replaces all of them) keeps nosuid/nodev/noexec and the
// atime mode while adding read-only.
unsigned long mount_flags_of(int fd) {
  struct statvfs st;
  if (fstatvfs(fd, &st) != 0) return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// Reopens `path` so that the descriptor refers to the mount now on top of it
// (a descriptor opened before a mount keeps pointing underneath it).
int reopen(int root, const std::string& path, const std::string& step) {
  int fd = open_in_root(root, path, O_PATH);
  if (fd < 0) fail(step, errno);
  return fd;
}

// Every mount is made as a detached tree first (open_tree(OPEN_TREE_CLONE)
// of a bind's source, fsopen+fsmount of a filesystem, or the idmapped tree
// the helper prepared), given its flags there, checked, and only then
// attached with move_mount onto a descriptor of its destination. Anything
// changed later (propagation) goes through the same descriptor. No step
// looks the destination up again by path: a sibling sharing a volume that
// swaps the destination for a symlink between two steps (the bind made, the
// read-only remount by path) can no longer move a flag onto another mount.

#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000  // <linux/statfs.h>; glibc's statvfs.h lacks it
#endif

// A filesystem as a detached mount. Superblock flags go to fsconfig (of
// mount(2)'s, MS_SILENT and MS_I_VERSION have no fsconfig key: the first
// only quietens the kernel log, the second is the filesystem's choice since
// Linux 6.2); the per-mount flags are left to set_attrs, as for a bind. The
// data is split at commas as the kernel's generic parser splits it (an
// overlay lowerdir with an escaped comma is not supported).
int new_filesystem(const plan::Mount& m, const std::string& step) {
  int fs = fsopen(m.type.c_str(), FSOPEN_CLOEXEC);
  if (fs < 0) fail(step, errno);
  auto flag = [&](const std::string& key) {
    if (fsconfig(fs, FSCONFIG_SET_FLAG, key.c_str(), nullptr, 0) != 0) fail(step, errno, "option " + quote(key) + ": " + strerror(errno));
  };
  if (!m.source.empty() && fsconfig(fs, FSCONFIG_SET_STRING, "source", m.source.c_str(), 0) != 0) fail(step, errno);
  if (m.flags & MS_RDONLY) flag("ro");
  if (m.flags & MS_SYNCHRONOUS) flag("sync");
  if (m.flags & MS_DIRSYNC) flag("dirsync");
  if (m.flags & MS_LAZYTIME) flag("lazytime");
  if (m.flags & MS_MANDLOCK) flag("mand");
  for (const auto& option : strings::split_on(m.data, ',')) {
    if (option.empty()) continue;
    size_t eq = option.find('=');
    if (eq == std::string::npos) {
      flag(option);
    } else if (fsconfig(fs, FSCONFIG_SET_STRING, option.substr(0, eq).c_str(), option.substr(eq + 1).c_str(), 0) != 0) {
      fail(step, errno, "option " + quote(option) + ": " + strerror(errno));
    }
  }
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) fail(step, errno);
  int tree = fsmount(fs, FSMOUNT_CLOEXEC, 0);
  if (tree < 0) fail(step, errno);
  close(fs);
  return tree;
}

// mount(2)'s per-mount flags as mount_setattr attributes. The atime mode is
// one field, replaced as a whole when the config names one (noatime wins,
// then strictatime, as in mount(2)).
struct Attrs {
  uint64_t set = 0, clr = 0;
};
Attrs attrs_of(unsigned long flags) {
  Attrs a;
  if (flags & MS_RDONLY) a.set |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID) a.set |= MOUNT_ATTR_NOSUID;
  if (flags & MS_NODEV) a.set |= MOUNT_ATTR_NODEV;
  if (flags & MS_NOEXEC) a.set |= MOUNT_ATTR_NOEXEC;
  if (flags & MS_NODIRATIME) a.set |= MOUNT_ATTR_NODIRATIME;
  if (flags & MS_NOSYMFOLLOW) a.set |= MOUNT_ATTR_NOSYMFOLLOW;
  if (flags & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)) {
    a.clr |= MOUNT_ATTR__ATIME;
    a.set |= (flags & MS_NOATIME) ? MOUNT_ATTR_NOATIME : (flags & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME;
  }
  return a;
}

void set_attrs(int tree, const Attrs& a, unsigned int recursive, const std::string& step) {
  if (a.set == 0 && a.clr == 0) return;
  struct mount_attr attr = {};
  attr.attr_set = a.set;
  attr.attr_clr = a.clr;
  if (mount_setattr(tree, "", AT_EMPTY_PATH | recursive, &attr, sizeof attr) != 0) fail(step, errno);
}

// The attributes asked for, as fstatvfs reports them on the mount itself.
// `flags`: the mount's ST_* flags (statfs's f_flags, statvfs's f_flag).
void check_attr_flags(unsigned long flags, const Attrs& a, const std::string& destination, const std::string& step) {
  static const struct {
    uint64_t attr;
    unsigned long flag;
    const char* name;
  } kFlags[] = {
      {MOUNT_ATTR_RDONLY, ST_RDONLY, "read-only"}, {MOUNT_ATTR_NOSUID, ST_NOSUID, "nosuid"},
      {MOUNT_ATTR_NODEV, ST_NODEV, "nodev"},       {MOUNT_ATTR_NOEXEC, ST_NOEXEC, "noexec"},
      {MOUNT_ATTR_NODIRATIME, ST_NODIRATIME, "nodiratime"}, {MOUNT_ATTR_NOSYMFOLLOW, ST_NOSYMFOLLOW, "nosymfollow"},
  };
  for (const auto& f : kFlags) {
    if ((a.set & f.attr) && !(flags & f.flag)) fail(step, EPERM, quote(destination) + " is not " + f.name + " once mounted");
  }
  if ((a.clr & MOUNT_ATTR__ATIME) && (a.set & MOUNT_ATTR__ATIME) == MOUNT_ATTR_NOATIME && !(flags & ST_NOATIME)) {
    fail(step, EPERM, quote(destination) + " is not noatime once mounted");
  }
}

void check_attrs(int tree, const Attrs& a, const std::string& destination, const std::string& step) {
  struct statvfs st;
  if (fstatvfs(tree, &st) != 0) fail(step, errno);
  check_attr_flags(st.f_flag, a, destination, step);
}

bool is_procfs_or_sysfs(const struct statfs& st) { return st.f_type == PROC_SUPER_MAGIC || st.f_type == SYSFS_MAGIC; }

// The destination of a procfs or sysfs mount: a directory reached without
// any symlink, as runc has it. Through a symlink (into a volume a sibling
// shares), the masks below it could be raced onto other directories.
int open_pseudo_destination(int root, const plan::Mount& m, const std::string& step) {
  auto open_it = [&]() { return open_in_root(root, m.destination, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS); };
  int fd = open_it();
  if (fd < 0 && errno == ENOENT) {
    int err = mkdir_all(root, m.destination, 0755);
    if (err != 0) fail(step, err);
    fd = open_it();
  }
  if (fd < 0 && errno == ELOOP) {
    fail(step, ELOOP, quote(m.destination) + " is a symlink or under one (procfs and sysfs are mounted only on a directory reached without symlinks)");
  }
  if (fd < 0) fail(step, errno);
  return fd;
}

// A tmpfs over a directory of the image takes that directory's mode, as
// runc gives it (an image's 0750 /data must not become tmpfs's default,
// world-writable 1777); a mode= among the options still wins, coming after.
plan::Mount with_directory_mode(int root, const plan::Mount& m) {
  if (m.type != "tmpfs" || (m.flags & MS_BIND) || m.tree_fd >= 0) return m;
  int dir = open_in_root(root, m.destination, O_PATH | O_DIRECTORY);
  if (dir < 0) return m;  // made by mkdir_all below: tmpfs's own mode is as good
  struct stat st;
  int err = fstat(dir, &st) == 0 ? 0 : errno;
  close(dir);
  if (err != 0) fail("mount \"tmpfs\" on " + quote(m.destination), err);
  char mode[16];
  snprintf(mode, sizeof mode, "mode=%04o", static_cast<unsigned>(st.st_mode & 07777));
  plan::Mount out = m;
  out.data = m.data.empty() ? mode : std::string(mode) + "," + m.data;
  return out;
}

void mount_one(int root, const plan::Mount& m) {
  const bool bind = m.flags & MS_BIND;
  const std::string step = "mount " + quote(bind ? m.source : m.type) + " on " + quote(m.destination);

  int tree = m.tree_fd;
  if (tree < 0 && bind) {
    unsigned int recursive = (m.flags & MS_REC) ? AT_RECURSIVE : 0;
    tree = open_tree(AT_FDCWD, m.source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive);
    if (tree < 0) fail(step, errno);
  } else if (tree < 0) {
    tree = new_filesystem(with_directory_mode(root, m), step);
  }
  // Flags on the top mount (as a remount gives them), then the recursive
  // ones (rro, rnosuid, ...) on every mount of the tree; all before the
  // tree is attached, so that it is never seen without them.
  Attrs top = attrs_of(m.flags);
  set_attrs(tree, top, 0, step);
  Attrs recursive = {m.recursive_set, m.recursive_clr};
  set_attrs(tree, recursive, AT_RECURSIVE, step);
  // One statfs for both checks and the filesystem's type.
  struct statfs sfs;
  if (fstatfs(tree, &sfs) != 0) fail(step, errno);
  check_attr_flags(sfs.f_flags, top, m.destination, step);
  check_attr_flags(sfs.f_flags, recursive, m.destination, step);

  const bool pseudo = is_procfs_or_sysfs(sfs);
  int target;
  if (pseudo) {
    target = open_pseudo_destination(root, m, step);
  } else {
    struct stat st;
    if (fstat(tree, &st) != 0) fail(step, errno);
    if (S_ISDIR(st.st_mode)) {
      int err = mkdir_all(root, m.destination, 0755);
      if (err != 0) fail(step, err);
      target = reopen(root, m.destination, step);
    } else {
      target = ensure_file(root, m.destination, step);
    }
  }
  if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) fail(step, errno);
  close(target);

  // The descriptor now refers to the attached mount.
  if (m.propagation) {
    struct mount_attr attr = {};
    attr.propagation = m.propagation & ~MS_REC;
    unsigned int rec = (m.propagation & MS_REC) ? AT_RECURSIVE : 0;
    if (mount_setattr(tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr) != 0) {
      fail("set propagation of " + quote(m.destination), errno);
    }
  }
  if (pseudo) {
    pseudo_mounts.push_back({m.destination, tree});
  } else {
    close(tree);
  }
}

void make_device(int root, const plan::Device& d) {
  const std::string step = "create device " + quote(d.path);
  std::string base;
  int dir = open_parent(root, d.path, base, step);
  if (mknodat(dir, base.c_str(), d.mode, d.dev) == 0) {
    note_created(d.path, false);
  } else if (errno != EEXIST) {
    fail(step, errno);
  }
  if (fchownat(dir, base.c_str(), d.uid, d.gid, AT_SYMLINK_NOFOLLOW) != 0) fail(step, errno);
  close(dir);
}

void make_symlink(int root, const plan::Symlink& s) {
  const std::string step = "create symlink " + quote(s.path);
  std::string base;
  int dir = open_parent(root, s.path, base, step);
  if (symlinkat(s.target.c_str(), dir, base.c_str()) == 0) {
    note_created(s.path, false);
  } else if (errno != EEXIST) {
    fail(step, errno);
  }
  close(dir);
}

// The procfs or sysfs mount `path` is under (the deepest, the last of
// equal ones): its descriptor, and the rest of the path in `relative`. -1
// if there is none.
int pseudo_mount_of(const std::string& path, std::string& relative) {
  const PseudoMount* nearest = nullptr;
  for (const auto& m : pseudo_mounts) {
    bool under = path == m.destination ||
                 (path.compare(0, m.destination.size(), m.destination) == 0 && path[m.destination.size()] == '/');
    if (under && (!nearest || m.destination.size() >= nearest->destination.size())) nearest = &m;
  }
  if (!nearest) return -1;
  relative = path.substr(nearest->destination.size());
  while (!relative.empty() && relative[0] == '/') relative.erase(0, 1);
  if (relative.empty()) relative = ".";
  return nearest->fd;
}

// Opens `path` (inside the container) as O_PATH without following a final
// symlink. Under a procfs or sysfs mount: from that mount's descriptor,
// beneath it and through no symlink, so that what is found is that
// procfs's or sysfs's own file (or what a mount the config or the host's
// bound /sys has below it holds), or nothing. Mounts may be crossed: only
// this process makes mounts in the container's namespace, while a sibling
// sharing a directory can only rename entries and plant symlinks, which
// the walk never meets. Elsewhere, inside the root as any path. Returns
// -1/errno.
int open_masked(int root, const std::string& path, int flags) {
  std::string relative;
  int mount_fd = pseudo_mount_of(path, relative);
  if (mount_fd < 0) return open_in_root(root, path, flags);
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_NOFOLLOW | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = syscall(SYS_openat2, mount_fd, relative.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return static_cast<int>(fd);
}

// What a failed open_masked() means, for the error message.
[[noreturn]] void fail_open(const std::string& step, const std::string& path, int err) {
  if (err == ELOOP) fail(step, err, quote(path) + " is or passes through a symlink below procfs or sysfs");
  fail(step, err);
}

// Into the container's /proc (the procfs the config mounted there), checked
// to be procfs all the way (native/helper/procfs.h): a mount over /proc/sys
// or a /proc planted in the rootfs cannot take the write elsewhere.
void write_sysctl(int root, const plan::Sysctl& s) {
  std::string relative = "sys/" + s.key;
  for (size_t i = 4; i < relative.size(); i++) {
    if (relative[i] == '.') relative[i] = '/';
  }
  const std::string step = "write sysctl " + quote(s.key);
  int proc = open_masked(root, "/proc", O_PATH | O_DIRECTORY);
  if (proc < 0) fail(step, errno, "the container has no \"/proc\" to write it in");
  procfs::verified(proc, "/proc", step);
  procfs::write_file(procfs::open_file(proc, "/proc", relative, O_WRONLY, step), s.value, step);
  close(proc);
}

// The host's /dev/null, checked to really be the null device: masking with
// anything else (a symlink or a file swapped in) would expose it instead.
int open_dev_null() {
  int fd = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail("open \"/dev/null\"", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) fail("stat \"/dev/null\"", errno);
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
    fail("open \"/dev/null\"", EPERM, "not the null device (1:3)");
  }
  return fd;
}

// Masks `path` with the null device (a file) or an empty read-only tmpfs (a
// directory), each made detached and checked before it is attached onto the
// path's descriptor. A path that does not exist is skipped; under procfs or
// sysfs, "does not exist" can only mean that filesystem has no such file
// (open_masked cannot be led elsewhere).
void mask(int root, const std::string& path, int dev_null) {
  const std::string step = "mask " + quote(path);
  int fd = open_masked(root, path, O_PATH);
  if (fd < 0) {
    if (errno == ENOENT) return;
    fail_open(step, path, errno);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) fail(step, errno);
  int tree;
  if (S_ISDIR(st.st_mode)) {
    int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0 || fsconfig(fs, FSCONFIG_SET_FLAG, "ro", nullptr, 0) != 0 ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
      fail(step, errno);
    }
    tree = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
    if (tree < 0) fail(step, errno);
    close(fs);
    struct statfs sfs;
    struct statvfs svfs;
    if (fstatfs(tree, &sfs) != 0 || fstatvfs(tree, &svfs) != 0) fail(step, errno);
    if (sfs.f_type != TMPFS_MAGIC || !(svfs.f_flag & ST_RDONLY)) fail(step, EPERM, "the mask is not a read-only tmpfs");
  } else {
    tree = open_tree(dev_null, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0) fail(step, errno);
    struct stat null_st;
    if (fstat(tree, &null_st) != 0) fail(step, errno);
    if (!S_ISCHR(null_st.st_mode) || null_st.st_rdev != makedev(1, 3)) fail(step, EPERM, "the mask is not the null device (1:3)");
  }
  if (move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) fail(step, errno);
  close(tree);
  close(fd);
}

// Whether fd is the root of a mount rather than a path inside one.
bool is_mount_root(int fd, const std::string& step) {
  struct statx st;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &st) != 0) fail(step, errno);
  return (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

// A read-only bind of `path` onto itself, made read-only (with whatever is
// mounted below it) before it is attached, and checked. A mount point (the
// tmpfs of a read-only cgroup mount, a volume) is made read-only where it
// is: a read-only copy stacked on it would leave it, and every mount below
// it, mounted twice.
void make_readonly(int root, const std::string& path) {
  const std::string step = "make " + quote(path) + " read-only";
  int fd = open_masked(root, path, O_PATH);
  if (fd < 0) {
    if (errno == ENOENT) return;
    fail_open(step, path, errno);
  }
  Attrs ro = {MOUNT_ATTR_RDONLY, 0};
  if (is_mount_root(fd, step)) {
    set_attrs(fd, ro, AT_RECURSIVE, step);
    check_attrs(fd, ro, path, step);
    close(fd);
    return;
  }
  int tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
  if (tree < 0) fail(step, errno);
  set_attrs(tree, ro, AT_RECURSIVE, step);
  check_attrs(tree, ro, path, step);
  if (move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) fail(step, errno);
  close(tree);
  close(fd);
}
// Undoes note_created(), newest first. Runs in the failing init, in its own
// mount namespace: whatever it mounted on a created path exists only here and
// is detached first. After pivot_root the rootfs is "/", and may have been
// made read-only, which the removal needs undone.
void remove_created() {
  int root = created_root;
  if (pivoted) {
    root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    unsigned long flags = mount_flags_of(root);
    if (flags & MS_RDONLY) mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | (flags & ~MS_RDONLY), nullptr);
  }
  if (root < 0) return;
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    for (;;) {
      int fd = open_in_root(root, it->path, O_PATH | O_NOFOLLOW);
      if (fd < 0) break;
      int rc = pivoted ? umount2(it->path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW)
                       : umount2(fd_path(fd).c_str(), MNT_DETACH);
      close(fd);
      if (rc != 0) break;
    }
    std::string dir, base;
    split(it->path, dir, base);
    int parent = open_in_root(root, dir, O_PATH | O_DIRECTORY);
    if (parent < 0) continue;
    unlinkat(parent, base.c_str(), it->directory ? AT_REMOVEDIR : 0);
    close(parent);
  }
}

}  // namespace

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

int open_in_root(int root, const std::string& path, int flags, unsigned long long resolve) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve;
  long fd;
  do {
    // EAGAIN: a rename raced with the lookup; the kernel asks us to retry.
    fd = syscall(SYS_openat2, root, path.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return static_cast<int>(fd);
}

int ensure_file(int root, const std::string& path, const std::string& step) {
  int fd = open_in_root(root, path, O_PATH);
  if (fd >= 0) return fd;
  if (errno != ENOENT) fail(step, errno);
  // Made where the path leads (see resolve_in_root), then reached through it.
  const std::string real = resolve_in_root(root, path);
  std::string base;
  int dir = open_parent(root, real, base, step);
  int file = openat(dir, base.c_str(), O_CREAT | O_EXCL | O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (file < 0 && errno != EEXIST) fail(step, errno);
  if (file >= 0) {
    close(file);
    note_created(real, false);
  }
  close(dir);
  return reopen(root, path, step);
}

namespace {

// The mount the rootfs is on (the rootfs itself, or the nearest mount above
// it) made private, as runc does: whatever rootfsPropagation made of "/"
// (a non-recursive "slave" leaves the host's shared submounts shared), the
// rootfs bound onto itself and all mounted inside it stay in this
// namespace, and an unbindable one can still be bound.
void make_rootfs_parent_private(const std::string& rootfs) {
  std::string path = rootfs;
  for (;;) {
    if (mount(nullptr, path.c_str(), nullptr, MS_PRIVATE, nullptr) == 0) return;
    // EINVAL: not a mount point; look further up.
    if (errno != EINVAL || path == "/") fail("make the mount of " + quote(rootfs) + " private", errno);
    size_t slash = path.rfind('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

}  // namespace

int enter(const plan::Plan& p) {
  // The container's "/" gets rootfsPropagation (default rslave, which stops
  // mount events from flowing back to the host; the container still sees
  // host unmounts) before anything is mounted.
  if (mount(nullptr, "/", nullptr, p.root_propagation, nullptr) != 0) {
    fail("set propagation of \"/\"", errno);
  }
  make_rootfs_parent_private(p.rootfs);
  // pivot_root needs the new root to be a mount point.
  const std::string step = "bind rootfs " + quote(p.rootfs);
  if (mount(p.rootfs.c_str(), p.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    fail(step, errno);
  }
  int root = open(p.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail(step, errno);
  created_root = root;
  report::on_failure() = remove_created;
  return root;
}

namespace {

// A tmpfs with tmpcopyup: mounted writable, given a copy of what the image
// has at its destination (read through a descriptor opened before the tmpfs
// covered it), then made read-only if it is to be.
void mount_copied_up(int root, const plan::Mount& m) {
  const std::string step = "copy up " + quote(m.destination);
  int below = open_in_root(root, m.destination, O_RDONLY | O_DIRECTORY);
  if (below < 0 && errno != ENOENT) fail(step, errno);
  plan::Mount writable = m;
  writable.flags &= ~MS_RDONLY;
  mount_one(root, writable);
  if (below < 0) return;  // nothing in the image there
  int top = open_in_root(root, m.destination, O_RDONLY | O_DIRECTORY);
  if (top < 0) fail(step, errno);
  copyup::copy_tree(below, top, m.destination);
  close(below);
  if (m.flags & MS_RDONLY) {
    const char* data = m.data.empty() ? nullptr : m.data.c_str();
    if (mount(nullptr, fd_path(top).c_str(), nullptr, MS_REMOUNT | m.flags, data) != 0) fail(step, errno);
  }
  close(top);
}

}  // namespace

void populate(int root, const plan::Plan& p) {
  for (const auto& m : p.mounts) {
    if (m.copy_up) mount_copied_up(root, m);
    else mount_one(root, m);
  }
  for (const auto& dir : p.mkdirs) {
    int err = mkdir_all(root, dir, 0755);
    if (err != 0) fail("create directory " + quote(dir), err);
  }
  for (const auto& d : p.devices) make_device(root, d);
  for (const auto& s : p.symlinks) make_symlink(root, s);
}

void finish(int root, const plan::Plan& p) {
  for (const auto& s : p.sysctls) write_sysctl(root, s);
  if (!p.masked_paths.empty()) {
    int dev_null = open_dev_null();
    for (const auto& path : p.masked_paths) mask(root, path, dev_null);
    close(dev_null);
  }
  for (const auto& path : p.readonly_paths) make_readonly(root, path);
  for (const auto& m : pseudo_mounts) close(m.fd);
  pseudo_mounts.clear();
}

namespace {

// The root is swapped with pivot_root; the old one is detached.
void pivot_into(int root, const plan::Plan& p) {
  int new_root = open(fd_path(root).c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (new_root < 0 || old_root < 0) fail("open roots for pivot_root", errno);
  // pivot_root(".", ".") stacks the old root on top of the new one, so no
  // directory for it is needed inside the rootfs; it is then detached.
  if (fchdir(new_root) != 0) fail("chdir to rootfs", errno);
  if (syscall(SYS_pivot_root, ".", ".") != 0) fail("pivot_root " + quote(p.rootfs), errno);
  if (fchdir(old_root) != 0) fail("chdir to old root", errno);
  // Slave first, so that detaching the old root cannot propagate unmounts
  // back to the host's mounts.
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) fail("make old root rslave", errno);
  if (umount2(".", MNT_DETACH) != 0) fail("detach old root", errno);
  if (chdir("/") != 0) fail("chdir \"/\"", errno);
  close(old_root);
  close(new_root);
}

}  // namespace

void pivot(int root, const plan::Plan& p) {
  if (p.no_pivot) {
    move_root::enter(root, p.rootfs);
  } else {
    pivot_into(root, p);
  }
  pivoted = true;
  created_root = -1;

  if (p.readonly_root) {
    int fd = open("/", O_PATH | O_CLOEXEC);
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | mount_flags_of(fd);
    close(fd);
    if (mount(nullptr, "/", nullptr, flags, nullptr) != 0) fail("remount \"/\" read-only", errno);
  }
  if (p.rootfs_propagation != 0 &&
      mount(nullptr, "/", nullptr, p.rootfs_propagation, nullptr) != 0) {
    fail("set rootfs propagation", errno);
  }
}

}  // namespace rootfs
