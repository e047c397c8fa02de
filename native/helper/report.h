// How the helper and the init tell the runtime what went wrong: one "error"
// record naming the step (in the words of the final message, e.g.
// `mount "proc" on "/proc"`), errno, and optionally a detail that replaces
// the errno text (e.g. "executable file not found in $PATH").
#pragma once

#include <unistd.h>

#include <string>

#include "../wire.h"
#include "protocol.h"

namespace report {

inline int& sync_fd() {
  static int fd = -1;
  return fd;
}

inline void set_sync_fd(int fd) { sync_fd() = fd; }

// Run once by fail() before it reports: the init uses it to undo what it
// created in the rootfs, so that a failed start leaves the bundle as it was.
using Cleanup = void (*)();

inline Cleanup& on_failure() {
  static Cleanup cleanup = nullptr;
  return cleanup;
}

// After `tsbox create` has gone, the runtime that listens is `tsbox start`,
// connected to the init's start socket: errors are written there instead.
inline int& start_fd() {
  static int fd = -1;
  return fd;
}

[[noreturn]] inline void fail(const std::string& step, int err, const std::string& detail = "") {
  if (Cleanup cleanup = on_failure()) {
    on_failure() = nullptr;  // a failure while cleaning up must not recurse
    cleanup();
  }
  wire::Record rec = {protocol::kError, step, std::to_string(err), detail};
  if (start_fd() >= 0) {
    std::string bytes = wire::encode(rec);
    ssize_t ignored = write(start_fd(), bytes.data(), bytes.size());
    (void)ignored;  // nobody left to tell if even this fails
  } else {
    wire::send_record(sync_fd(), rec);
  }
  _exit(1);
}

inline std::string quote(const std::string& s) { return "\"" + s + "\""; }

}  // namespace report
