// How the helper and the init tell the runtime what went wrong: one "error"
// record naming the step (in the words of the final message, e.g.
// `mount "proc" on "/proc"`), errno, and optionally a detail that replaces
// the errno text (e.g. "executable file not found in $PATH").
#pragma once

#include <unistd.h>

#include <string>

#include "../wire.h"

namespace report {

inline int& sync_fd() {
  static int fd = -1;
  return fd;
}

inline void set_sync_fd(int fd) { sync_fd() = fd; }

[[noreturn]] inline void fail(const std::string& step, int err, const std::string& detail = "") {
  wire::send_record(sync_fd(), {"error", step, std::to_string(err), detail});
  _exit(1);
}

inline std::string quote(const std::string& s) { return "\"" + s + "\""; }

}  // namespace report
