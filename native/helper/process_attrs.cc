#include "process_attrs.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "../wire.h"
#include "procfs.h"
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

namespace {

// Writes an LSM's exec attribute of this process: the per-LSM file of newer
// kernels (attr/<lsm>/exec), else the shared attr/exec. Through a /proc
// verified to be procfs: a config that mounts over /proc/self/attr would
// otherwise have the label written elsewhere and the process run unconfined.
void write_exec_attr(const std::string& lsm, const std::string& value, const std::string& step) {
  int proc = procfs::open_root(step);
  struct stat st;
  const bool per_lsm = fstatat(proc, ("self/attr/" + lsm).c_str(), &st, 0) == 0;
  int fd = procfs::open_self(proc, "/proc", per_lsm ? "attr/" + lsm + "/exec" : "attr/exec", O_WRONLY, step);
  procfs::write_file(fd, value, step);
  close(fd);
  close(proc);
}

}  // namespace

void set_security_labels(const plan::Plan& p) {
  if (!p.apparmor_profile.empty()) {
    write_exec_attr("apparmor", "exec " + p.apparmor_profile,
                    "apply AppArmor profile " + report::quote(p.apparmor_profile) + " (process.apparmorProfile)");
  }
  if (!p.selinux_label.empty()) {
    write_exec_attr("selinux", p.selinux_label,
                    "apply SELinux label " + report::quote(p.selinux_label) + " (process.selinuxLabel)");
  }
}

void set_personality(const plan::Plan& p) {
  if (p.has_personality && personality(p.personality) < 0) {
    report::fail("personality (linux.personality)", errno);
  }
}

}  // namespace process_attrs
