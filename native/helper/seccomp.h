// linux.seccomp, built with libseccomp (linked statically into the helper)
// from the rules the plan carries, and loaded by the init just before it
// executes the container's process.
#pragma once

#include <string>
#include <vector>

#include "plan.h"

namespace seccomp {

// A filter built but not loaded yet. Opaque: libseccomp's context.
struct Filter {
  void* ctx = nullptr;
  bool notify = false;  // some rule uses SCMP_ACT_NOTIFY: there is a listener fd to hand over
};

// Builds the filter the plan describes. Syscall names this libseccomp does
// not know are skipped (as runc does) and returned in `unknown`. Fails (via
// report::fail) on anything else libseccomp refuses.
Filter build(const plan::Seccomp& s, std::vector<std::string>& unknown);

// Loads the filter into the kernel; from here on every system call of this
// process and its children is filtered. Returns the notify listener fd, or
// -1 when the filter has no SCMP_ACT_NOTIFY rule.
int load(const Filter& f);

// What this build of the helper supports, as JSON for `tsbox features`:
// {"version": "2.5.4", "archs": [...], "supportedFlags": [...]}.
std::string features_json();

}  // namespace seccomp
