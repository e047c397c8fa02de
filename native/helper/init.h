// The container's init, from its birth in the new namespaces to execve of
// the container's process.
#pragma once

#include "plan.h"

namespace init {

[[noreturn]] void run(const plan::Plan& p);

}  // namespace init
