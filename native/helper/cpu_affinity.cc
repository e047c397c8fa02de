#include "cpu_affinity.h"

#include <sched.h>

#include <cerrno>
#include <string>

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

void set_final(const plan::Plan& p) { set(p.cpus_final, "final"); }

}  // namespace cpu_affinity
