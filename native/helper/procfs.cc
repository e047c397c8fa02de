#include "procfs.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "report.h"

namespace procfs {

using report::fail;
using report::quote;

namespace {

bool on_procfs(int fd) {
  struct statfs st;
  return fstatfs(fd, &st) == 0 && st.f_type == PROC_SUPER_MAGIC;
}

}  // namespace

int verified(int dir, const std::string& name, const std::string& step) {
  if (!on_procfs(dir)) fail(step.empty() ? "open " + quote(name) : step, EXDEV, quote(name) + " is not procfs");
  return dir;
}

int open_root(const std::string& step) {
  int fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(step, errno);
  return verified(fd, "/proc", step);
}

int open_file(int proc, const std::string& name, const std::string& relative, int flags,
              const std::string& step) {
  const std::string full = name + "/" + relative;
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV | RESOLVE_BENEATH;
  long fd;
  do {
    fd = syscall(SYS_openat2, proc, relative.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  // EXDEV: a mount on the way (e.g. a tmpfs over /proc/sys); ELOOP: a
  // symlink where procfs has none.
  if (fd < 0 && (errno == EXDEV || errno == ELOOP)) {
    fail(step, errno, quote(full) + " is not procfs (something is mounted or linked over it)");
  }
  if (fd < 0) fail(step, errno);
  if (!on_procfs(static_cast<int>(fd))) fail(step, EXDEV, quote(full) + " is not procfs");
  return static_cast<int>(fd);
}

int open_self(int proc, const std::string& name, const std::string& relative, int flags,
              const std::string& step) {
  char pid[32];
  ssize_t n = readlinkat(proc, "self", pid, sizeof pid - 1);
  if (n <= 0) fail(step, n < 0 ? errno : ENOENT, "cannot resolve " + quote(name + "/self"));
  pid[n] = '\0';
  for (ssize_t i = 0; i < n; i++) {
    if (pid[i] < '0' || pid[i] > '9') fail(step, EXDEV, quote(name + "/self") + " is not procfs");
  }
  return open_file(proc, name, std::string(pid) + "/" + relative, flags, step);
}

void write_file(int fd, const std::string& value, const std::string& step) {
  if (write(fd, value.data(), value.size()) < 0) fail(step, errno);
  close(fd);
}

}  // namespace procfs
