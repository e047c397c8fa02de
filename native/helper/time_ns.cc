#include "time_ns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "procfs.h"
#include "report.h"

namespace time_ns {

void prepare(const plan::Plan& p, uint64_t& clone_flags) {
  if (p.time_offsets.empty()) return;
  if (!(clone_flags & CLONE_NEWTIME)) {
    report::fail("linux.timeOffsets", EINVAL, "needs a new time namespace (a \"time\" entry without a path in linux.namespaces)");
  }
  clone_flags &= ~static_cast<uint64_t>(CLONE_NEWTIME);
}

void enter(const plan::Plan& p) {
  if (p.time_offsets.empty()) return;
  if (unshare(CLONE_NEWTIME) != 0) report::fail("linux.timeOffsets: unshare a time namespace", errno);
  // /proc/self/timens_offsets and ns/time_for_children are those of the
  // namespace just made (our children's; nobody is in it yet); through a
  // /proc verified to be procfs (procfs.h).
  const std::string step = "linux.timeOffsets: write /proc/self/timens_offsets";
  int proc = procfs::open_root(step);
  int fd = procfs::open_self(proc, "/proc", "timens_offsets", O_WRONLY, step);
  for (const auto& t : p.time_offsets) {
    // One clock per write: an error names the one the kernel refused.
    std::string line = t.clock + " " + std::to_string(t.secs) + " " + std::to_string(t.nanosecs) + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      report::fail("linux.timeOffsets." + t.clock + ": write \"" + line.substr(0, line.size() - 1) + "\" to /proc/self/timens_offsets", errno);
    }
  }
  close(fd);
  // Entering it fixes the offsets (the kernel takes them when the first
  // process enters); allowed to a single-threaded process, as the init is.
  // (ns/ through the verified walk; its entry is a magic link, which
  // setns checks is a time namespace.)
  const std::string join = "linux.timeOffsets: enter the new time namespace";
  int ns_dir = procfs::open_self(proc, "/proc", "ns", O_PATH | O_DIRECTORY, join);
  close(proc);
  int ns = openat(ns_dir, "time_for_children", O_RDONLY | O_CLOEXEC);
  if (ns < 0) report::fail(join + ": open /proc/self/ns/time_for_children", errno);
  close(ns_dir);
  if (setns(ns, CLONE_NEWTIME) != 0) report::fail(join, errno);
  close(ns);
}

}  // namespace time_ns
