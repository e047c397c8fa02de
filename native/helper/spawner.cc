// The pre-started helper: `tsbox-helper --spawner`, started once by the addon
// (startHelperServer) for a process that launches many containers, and
// asked for one helper per container instead of an execve of this file.
//
// Why: every execve of a static glibc program runs glibc's start-up, which
// asks the CPU for its cache sizes with many cpuid instructions; in a
// virtual machine each of them traps to the hypervisor, and on this
// project's machines that start-up alone costs ~0.6 ms of CPU per process,
// more than a tenth of what a whole container run costs. A fork of this
// small single-threaded program costs a fraction of that. (It is a fork of
// tsbox-helper, never of Node: see main.cc.)
//
// Per request the runtime sends one datagram on the control socket carrying
// the descriptors a helper started by posix_spawn would get (stdio,
// --preserve-fds, the sync socket last). The spawner clones with
// CLONE_PARENT, so the new helper is the runtime's child exactly as a
// spawned one is (and so is the init it clones in turn), and answers with
// the helper's pid (or -errno) and a pidfd for it:
//
//   runtime (addon)                     spawner                  helper
//   "s" + [fd 0, 1, 2, extra.., sync] -->
//                                       clone(CLONE_PARENT) ----> fds to 0..n-1,
//   <---------------------------------- pid + pidfd               every other closed,
//                                       closes its copies         main.cc's launch
//
// What a spawned helper gets from posix_spawn the forked one gets from the
// spawner's own start, which the addon made the same way: default signal
// dispositions and an empty mask, an empty environment, non-dumpable, the
// executable on the read-only clone of its directory (addon.cc, the
// helper's image). Descriptors: the spawner holds only stdio (/dev/null),
// the control socket, and one request's descriptors at a time; the forked
// helper keeps exactly its request's and closes the rest before it reads
// anything, as posix_spawn's closefrom did.
//
// While it runs, the helper's file is being executed, so opening it for
// writing fails with ETXTBSY before the read-only mount's EROFS is reached.
//
// The spawner ends when the runtime closes the control socket (its end is
// CLOEXEC, so no other child of the runtime holds it).
#include "spawner.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "../wire.h"

namespace spawner {
namespace {

// SCM_MAX_FD: the most descriptors one message can carry (the addon spawns
// by posix_spawn beyond that).
constexpr int kMaxFds = 253;

// One request's descriptors into `fds`; their count, or -1 once the runtime
// has closed its end (or on a request that lost descriptors: refused).
int receive(int ctl, int* fds, bool& truncated) {
  char byte;
  struct iovec iov = {&byte, 1};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(sizeof(int) * kMaxFds)];
    struct cmsghdr align;
  } control;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do {
    n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  int count = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int k = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    if (count + k > kMaxFds) k = kMaxFds - count;
    memcpy(fds + count, CMSG_DATA(c), sizeof(int) * static_cast<size_t>(k));
    count += k;
  }
  truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  return count;
}

// In the forked helper: the request's descriptors become 0..count-1 (the
// sync socket last), as posix_spawn's dup2s made them, and nothing else of
// the spawner's stays open.
[[noreturn]] void become_helper(const int* fds, int count, Launch launch) {
  int high[kMaxFds];
  // Above the target range first, so that the dup2s cannot overwrite one
  // another (the control socket and the received ones are low numbers).
  for (int i = 0; i < count; i++) {
    high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, count + 10);
    if (high[i] < 0) _exit(127);
  }
  for (int i = 0; i < count; i++) {
    if (dup2(high[i], i) < 0) _exit(127);
  }
  if (syscall(SYS_close_range, static_cast<unsigned>(count), ~0U, 0) != 0) _exit(127);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  launch(count - 1);
  _exit(127);  // launch never returns
}

void answer(int ctl, int32_t result, int pidfd) {
  std::string buf(reinterpret_cast<const char*>(&result), sizeof result);
  // The runtime is gone if this fails; the next receive sees it.
  wire::send_bytes(ctl, buf, pidfd);
}

}  // namespace

[[noreturn]] void serve(int ctl, Launch launch) {
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Started inside the read-only clone of its directory (addon.cc); nothing
  // should keep a reference to it.
  if (chdir("/") != 0) _exit(1);
  for (;;) {
    int fds[kMaxFds];
    bool truncated = false;
    int count = receive(ctl, fds, truncated);
    if (count < 0) _exit(0);
    if (truncated || count < 4) {
      for (int i = 0; i < count; i++) close(fds[i]);
      answer(ctl, -EINVAL, -1);
      continue;
    }
    int pidfd = -1;
    struct clone_args args = {};
    // exit_signal stays 0: with CLONE_PARENT the helper gets ours (SIGCHLD),
    // which its parent, the runtime, expects.
    args.flags = CLONE_PARENT | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) become_helper(fds, count, launch);
    int err = errno;
    for (int i = 0; i < count; i++) close(fds[i]);
    answer(ctl, pid < 0 ? -err : static_cast<int32_t>(pid), pidfd);
    if (pidfd >= 0) close(pidfd);
  }
}

}  // namespace spawner
