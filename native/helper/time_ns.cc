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
  if (unshare(CLONE_NEWTIME) != 0) report::fail("linux.timeOffsets: unshare a time namespace", errno);
  clone_flags &= ~static_cast<uint64_t>(CLONE_NEWTIME);
  // /proc/self/timens_offsets is that of the namespace our children will
  // be in; through a /proc verified to be procfs (procfs.h).
  const std::string step = "linux.timeOffsets: write /proc/self/timens_offsets";
  int proc = procfs::open_root(step);
  int fd = procfs::open_self(proc, "/proc", "timens_offsets", O_WRONLY, step);
  close(proc);
  for (const auto& t : p.time_offsets) {
    // One clock per write: an error names the one the kernel refused.
    std::string line = t.clock + " " + std::to_string(t.secs) + " " + std::to_string(t.nanosecs) + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      report::fail("linux.timeOffsets." + t.clock + ": write \"" + line.substr(0, line.size() - 1) + "\" to /proc/self/timens_offsets", errno);
    }
  }
  close(fd);
}

}  // namespace time_ns
