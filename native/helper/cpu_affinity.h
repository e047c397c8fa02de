// The CPUs of a container's process: process.execCPUAffinity of one joining
// a running container (exec), in runc's two steps around joining the
// container's cgroups, and otherwise every CPU its cpuset allows.
#pragma once

#include "plan.h"

namespace cpu_affinity {

// "initial": the helper's CPUs while it joins the cgroups (and so what a
// cpuset-less join leaves the process with).
void set_initial(const plan::Plan& p);

// The process's CPUs once it is in the container's cgroups: "final" where
// asked for (joining a cpuset cgroup has reset them to the cpuset's); what
// "initial" left where only that was asked for; else every CPU its cpuset
// allows, not the runtime's (taskset, systemd's CPUAffinity=), as with
// runc; a failure to widen them is a warning.
void settle(const plan::Plan& p);

}  // namespace cpu_affinity
