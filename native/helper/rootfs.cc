#include "rootfs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <vector>

#include "copyup.h"
#include "procfs.h"
#include "report.h"
#include "strings.h"
#include "userns.h"

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
// In a user namespace, the flags of mounts inherited from the host are
// locked: a bind remount must keep them or fails with EPERM.
bool keep_locked_flags = false;

// Attaches an idmapped tree the helper prepared onto `target`.
void move_tree(int tree, int target, const std::string& step) {
  if (syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
    fail(step, errno);
  }
}

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

// Flags that a bind mount can only get through a remount.
constexpr unsigned long kBindRemountable = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC |
                                           MS_NOATIME | MS_NODIRATIME | MS_RELATIME |
                                           MS_STRICTATIME;

void mount_one(int root, const plan::Mount& m) {
  const bool bind = m.flags & MS_BIND;
  const std::string step = "mount " + quote(bind ? m.source : m.type) + " on " + quote(m.destination);

  bool directory = true;
  if (bind) {
    struct stat st;
    if (stat(m.source.c_str(), &st) != 0) fail(step, errno);
    directory = S_ISDIR(st.st_mode);
  }
  int target;
  if (directory) {
    int err = mkdir_all(root, m.destination, 0755);
    if (err != 0) fail(step, err);
    target = reopen(root, m.destination, step);
  } else {
    target = ensure_file(root, m.destination, step);
  }

  unsigned long flags = bind ? (m.flags & (MS_BIND | MS_REC)) : m.flags;
  const char* data = bind || m.data.empty() ? nullptr : m.data.c_str();
  if (m.tree_fd >= 0) {
    move_tree(m.tree_fd, target, step);
  } else if (mount(m.source.c_str(), fd_path(target).c_str(), m.type.c_str(), flags, data) != 0) {
    fail(step, errno);
  }
  close(target);

  if (bind && (m.flags & kBindRemountable)) {
    target = reopen(root, m.destination, step);
    unsigned long remount = MS_BIND | MS_REMOUNT | (m.flags & kBindRemountable);
    if (keep_locked_flags) {
      constexpr unsigned long kAtime = MS_NOATIME | MS_RELATIME | MS_STRICTATIME;
      unsigned long now = mount_flags_of(target);
      remount |= now & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
      if (!(remount & kAtime)) remount |= now & (kAtime | MS_NODIRATIME);
    }
    if (mount(nullptr, fd_path(target).c_str(), nullptr, remount, nullptr) != 0) fail(step, errno);
    close(target);
  }
  if (m.propagation) {
    target = reopen(root, m.destination, step);
    if (mount(nullptr, fd_path(target).c_str(), nullptr, m.propagation, nullptr) != 0) {
      fail("set propagation of " + quote(m.destination), errno);
    }
    close(target);
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

// Into the container's /proc (the procfs the config mounted there), checked
// to be procfs all the way (native/helper/procfs.h): a mount over /proc/sys
// or a /proc planted in the rootfs cannot take the write elsewhere.
void write_sysctl(int root, const plan::Sysctl& s) {
  std::string relative = "sys/" + s.key;
  for (size_t i = 4; i < relative.size(); i++) {
    if (relative[i] == '.') relative[i] = '/';
  }
  const std::string step = "write sysctl " + quote(s.key);
  int proc = open_in_root(root, "/proc", O_PATH | O_DIRECTORY);
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

void mask(int root, const std::string& path, int dev_null) {
  const std::string step = "mask " + quote(path);
  int fd = open_in_root(root, path, O_PATH);
  if (fd < 0) {
    if (errno == ENOENT) return;
    fail(step, errno);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) fail(step, errno);
  int rc = S_ISDIR(st.st_mode)
               ? mount("tmpfs", fd_path(fd).c_str(), "tmpfs", MS_RDONLY, "size=0")
               : mount(fd_path(dev_null).c_str(), fd_path(fd).c_str(), nullptr, MS_BIND, nullptr);
  if (rc != 0) fail(step, errno);
  close(fd);
}

void make_readonly(int root, const std::string& path) {
  const std::string step = "make " + quote(path) + " read-only";
  int fd = open_in_root(root, path, O_PATH);
  if (fd < 0) {
    if (errno == ENOENT) return;
    fail(step, errno);
  }
  if (mount(fd_path(fd).c_str(), fd_path(fd).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    fail(step, errno);
  }
  close(fd);
  fd = reopen(root, path, step);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | mount_flags_of(fd);
  if (mount(nullptr, fd_path(fd).c_str(), nullptr, flags, nullptr) != 0) fail(step, errno);
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

int open_in_root(int root, const std::string& path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
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
  keep_locked_flags = userns::enters(p);
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
}

void pivot(int root, const plan::Plan& p) {
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
