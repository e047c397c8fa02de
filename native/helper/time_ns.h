// linux.timeOffsets: a new time namespace whose CLOCK_MONOTONIC and
// CLOCK_BOOTTIME are offset from the host's.
#pragma once

#include <cstdint>

#include "plan.h"

namespace time_ns {

// In the helper, with offsets to set: a new time namespace must be among
// `clone_flags`; it is taken out of them, because the init makes it
// itself (enter). The kernel lets only a process with CAP_SYS_TIME in the
// user namespace owning the time namespace write its offsets, and only
// while no process is in it: the helper of a rootless runtime has no
// capability in its own user namespace, and a clone straight into a new
// time namespace would be in it before anyone could write them.
void prepare(const plan::Plan& p, uint64_t& clone_flags);

// In the init, first thing (it is alone, and has every capability in its
// user namespace, a new one included): unshares a time namespace (owned
// by that user namespace), writes the offsets for it, and enters it
// itself, so that the process it executes and those exec'd in join it.
void enter(const plan::Plan& p);

}  // namespace time_ns
