// linux.timeOffsets: a new time namespace whose CLOCK_MONOTONIC and
// CLOCK_BOOTTIME are offset from the host's.
#pragma once

#include <cstdint>

#include "plan.h"

namespace time_ns {

// With offsets to set and a new time namespace among `clone_flags`: makes
// the namespace now, for the helper's children (unshare), writes the
// offsets, and takes CLONE_NEWTIME out of the flags. The offsets can only
// be written while no process is in the namespace: a clone straight into a
// new one would be too late.
void prepare(const plan::Plan& p, uint64_t& clone_flags);

}  // namespace time_ns
