#include "mempolicy.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "report.h"

namespace mempolicy {

void apply(const plan::Plan& p) {
  const plan::MemoryPolicy& m = p.memory_policy;
  if (!m.set) return;
  // A nodemask of up to 1024 nodes (the planner checked the numbers);
  // maxnode counts bits, and the kernel wants one more than the highest.
  unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {};
  unsigned long maxnode = 0;
  for (unsigned node : m.nodes) {
    mask[node / (8 * sizeof(unsigned long))] |= 1UL << (node % (8 * sizeof(unsigned long)));
    if (node + 2 > maxnode) maxnode = node + 2;
  }
  if (syscall(SYS_set_mempolicy, m.mode, m.nodes.empty() ? nullptr : mask, maxnode) != 0) {
    int err = errno;
    report::fail("linux.memoryPolicy: set_mempolicy " + m.text, err,
                 err == EINVAL ? "the kernel refuses this mode, flags and nodes together (a node not allowed by the container's cpuset.mems?)" : "");
  }
}

}  // namespace mempolicy
