// linux.seccomp: compiled with libseccomp (linked statically into the
// helper) from the rules a compile plan carries, and the compiled program
// loaded by the init just before it executes the container's process.
#pragma once

#include <string>
#include <vector>

#include "plan.h"

namespace seccomp {

// libseccomp's program for the plan's rules (seccomp_export_bpf: the very
// program seccomp_load would hand the kernel), the seccomp(2) flags to load
// it with (as seccomp_load would pass them), and the syscall names this
// libseccomp does not know, which are skipped (as runc does). Fails (via
// report::fail) on anything else libseccomp refuses. The helper's compile
// mode: the runtime caches the result per profile (lib/plan/seccomp-cache.ts),
// since building a long profile costs far more than the rest of a start.
struct Compiled {
  std::string program;  // struct sock_filter[]
  uint32_t load_flags = 0;
  std::vector<std::string> unknown;
};
Compiled compile(const plan::Seccomp& s);

// Loads the compiled program of the plan into the kernel; from here on every
// system call of this process and its children is filtered. Returns the
// notify listener fd, or -1 when the filter has no SCMP_ACT_NOTIFY rule.
int load(const plan::Seccomp& s);

// What this build of the helper supports, as JSON for `tsbox features`:
// {"version": "2.5.4", "archs": [...], "supportedFlags": [...]}.
std::string features_json();

}  // namespace seccomp
