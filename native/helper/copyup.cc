#include "copyup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "report.h"

namespace copyup {

namespace {

using report::fail;
using report::quote;

// Every entry is reached from its parent's descriptor and opened without
// following symlinks: a link in the image is copied as a link, never read
// through, so nothing outside the two trees is touched. The tmpfs is not
// reachable by the container yet, so nothing races the copy there.
constexpr int kOpenDir = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

void copy_bytes(int src, int dst, const std::string& step) {
  for (;;) {
    ssize_t n = sendfile(dst, src, nullptr, 1 << 30);
    if (n == 0) return;
    if (n < 0 && errno != EINTR) fail(step, errno);
  }
}

void copy_entry(int from, int to, const char* name, const std::string& path, const std::string& destination);

void copy_dir(int from, int to, const std::string& path, const std::string& destination) {
  // fdopendir takes over the descriptor it is given.
  int list = dup(from);
  DIR* dir = list < 0 ? nullptr : fdopendir(list);
  if (!dir) fail("copy up " + quote(destination + path), errno);
  errno = 0;
  while (struct dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") copy_entry(from, to, e->d_name, path + "/" + name, destination);
    errno = 0;
  }
  int err = errno;
  closedir(dir);
  if (err != 0) fail("copy up " + quote(destination + path), err);
}

void copy_entry(int from, int to, const char* name, const std::string& path, const std::string& destination) {
  const std::string step = "copy up " + quote(destination + path);
  struct stat st;
  if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) != 0) fail(step, errno);
  if (S_ISDIR(st.st_mode)) {
    if (mkdirat(to, name, 0700) != 0) fail(step, errno);
    int sub_from = openat(from, name, kOpenDir);
    if (sub_from < 0) fail(step, errno);
    int sub_to = openat(to, name, kOpenDir);
    if (sub_to < 0) fail(step, errno);
    copy_dir(sub_from, sub_to, path, destination);
    close(sub_from);
    close(sub_to);
  } else if (S_ISREG(st.st_mode)) {
    int src = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0) fail(step, errno);
    int dst = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dst < 0) fail(step, errno);
    copy_bytes(src, dst, step);
    close(src);
    close(dst);
  } else if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(from, name, target, sizeof target);
    if (n < 0) fail(step, errno);
    if (n == static_cast<ssize_t>(sizeof target)) fail(step, ENAMETOOLONG);
    if (symlinkat(std::string(target, n).c_str(), to, name) != 0) fail(step, errno);
  } else if (mknodat(to, name, st.st_mode, st.st_rdev) != 0) {  // FIFOs, sockets, device nodes
    fail(step, errno);
  }
  // Owner before mode: chown clears the set-id bits. A directory's times
  // last, once its content no longer changes them.
  if (fchownat(to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) fail(step, errno);
  if (!S_ISLNK(st.st_mode) && fchmodat(to, name, st.st_mode & 07777, 0) != 0) fail(step, errno);
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (utimensat(to, name, times, AT_SYMLINK_NOFOLLOW) != 0) fail(step, errno);
}

}  // namespace

void copy_tree(int from, int to, const std::string& destination) { copy_dir(from, to, "", destination); }

}  // namespace copyup
