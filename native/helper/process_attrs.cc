#include "process_attrs.h"

#include <fcntl.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "report.h"

namespace process_attrs {

namespace {

constexpr int kIoprioWhoProcess = 1;

// The kernel's struct sched_attr, first version (SCHED_ATTR_SIZE_VER0):
// glibc offers no wrapper for sched_setattr.
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};
static_assert(sizeof(SchedAttr) == 48, "struct sched_attr, version 0");

}  // namespace

void set_priorities(const plan::Plan& p) {
  if (p.has_ioprio && syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, p.ioprio) != 0) {
    report::fail("ioprio_set (process.ioPriority)", errno);
  }
  if (p.scheduler.set) {
    const plan::Scheduler& s = p.scheduler;
    SchedAttr attr = {};
    attr.size = sizeof attr;
    attr.sched_policy = s.policy;
    attr.sched_flags = s.flags;
    attr.sched_nice = s.nice;
    attr.sched_priority = s.priority;
    attr.sched_runtime = s.runtime;
    attr.sched_deadline = s.deadline;
    attr.sched_period = s.period;
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) report::fail("sched_setattr (process.scheduler)", errno);
  }
}

void set_apparmor_profile(const plan::Plan& p) {
  if (p.apparmor_profile.empty()) return;
  const std::string step = "apply AppArmor profile " + report::quote(p.apparmor_profile) + " (process.apparmorProfile)";
  // The per-LSM file of newer kernels, else the shared one.
  int fd = open("/proc/thread-self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) fd = open("/proc/thread-self/attr/exec", O_WRONLY | O_CLOEXEC);
  if (fd < 0) report::fail(step, errno);
  const std::string command = "exec " + p.apparmor_profile;
  if (write(fd, command.data(), command.size()) != static_cast<ssize_t>(command.size())) report::fail(step, errno);
  close(fd);
}

void set_personality(const plan::Plan& p) {
  if (p.has_personality && personality(p.personality) < 0) {
    report::fail("personality (linux.personality)", errno);
  }
}

}  // namespace process_attrs
