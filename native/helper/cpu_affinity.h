// process.execCPUAffinity of a process joining a running container (exec),
// in runc's two steps around joining the container's cgroups.
#pragma once

#include "plan.h"

namespace cpu_affinity {

// "initial": the helper's CPUs while it joins the cgroups (and so what a
// cpuset-less join leaves the process with).
void set_initial(const plan::Plan& p);

// "final": the process's CPUs once it is in the container's cgroups (joining
// a cpuset cgroup has reset them to the cpuset's).
void set_final(const plan::Plan& p);

}  // namespace cpu_affinity
