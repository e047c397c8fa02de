// Attributes of the container's process that the kernel keeps per task and
// execve preserves (I/O priority, scheduling policy, personality) or applies
// at execve (the AppArmor profile, the SELinux label).
#pragma once

#include "plan.h"

namespace process_attrs {

// ioprio_set and sched_setattr, while the init still holds the capabilities
// that raising them needs (CAP_SYS_ADMIN / CAP_SYS_NICE).
void set_priorities(const plan::Plan& p);

// process.apparmorProfile and process.selinuxLabel: what AppArmor and
// SELinux confine the process with from its execve on (written to the
// task's attr/exec).
void set_security_labels(const plan::Plan& p);

// personality(2), e.g. PER_LINUX32 so that uname reports a 32-bit machine.
void set_personality(const plan::Plan& p);

}  // namespace process_attrs
