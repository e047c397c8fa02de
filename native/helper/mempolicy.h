// linux.memoryPolicy: the NUMA memory policy of the container's process.
#pragma once

#include "plan.h"

namespace mempolicy {

// set_mempolicy(2) for the init, inherited by its process across execve.
void apply(const plan::Plan& p);

}  // namespace mempolicy
