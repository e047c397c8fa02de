#include "cpu_affinity.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "../wire.h"
#include "protocol.h"
#include "report.h"

namespace cpu_affinity {

namespace {

// The planner has checked every CPU number against CPU_SETSIZE.
void set(const std::vector<unsigned>& cpus, const char* which) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  std::string list;
  for (unsigned cpu : cpus) {
    CPU_SET(cpu, &set);
    list += (list.empty() ? "" : ",") + std::to_string(cpu);
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    report::fail(std::string("process.execCPUAffinity.") + which + ": sched_setaffinity to CPUs " + list, errno,
                 errno == EINVAL ? "none of them is online and allowed by the container's cpuset" : "");
  }
}

}  // namespace

void set_initial(const plan::Plan& p) { set(p.cpus_initial, "initial"); }

void settle(const plan::Plan& p) {
  if (!p.cpus_final.empty()) {
    set(p.cpus_final, "final");
    return;
  }
  if (!p.cpus_initial.empty()) return;
  // Every bit set: the kernel keeps those of CPUs that exist and that the
  // task's cpuset allows, whatever their number (the mask here covers
  // 8192, the kernel's largest NR_CPUS).
  static unsigned char all[8192 / 8];
  memset(all, 0xff, sizeof all);
  if (syscall(SYS_sched_setaffinity, 0, sizeof all, all) != 0) {
    const std::string why = strerror(errno);
    wire::send_record(report::sync_fd(), {protocol::kWarning, "reset the CPU affinity inherited from the runtime: " + why});
  }
}

}  // namespace cpu_affinity
