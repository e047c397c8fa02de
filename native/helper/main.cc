// tsbox-helper: creates a container's init process from a launch plan.
//
// Why a separate executable and not clone() from inside Node:
// Node runs several threads (V8 platform workers, the libuv pool). A forked
// copy of it keeps only the calling thread, and any lock another thread held
// (malloc's among them) stays locked forever, so such a child may only make
// raw system calls on memory prepared before the fork. Setting up a container
// (paths resolved component by component, mount option strings, PATH lookup,
// error messages) is far easier to get right as an ordinary single-threaded
// program. The addon therefore posix_spawn()s this small static helper (glibc
// spawns with CLONE_VM|CLONE_VFORK, so nothing of Node is copied), and the
// helper clones the container's init. The extra exec of a static binary costs
// a fraction of a millisecond, and it gives the kernel a small, separate
// executable to point /proc/<pid>/exe at instead of the node binary.
//
// A process that runs many containers can pre-start the helper instead
// (spawner.cc): each helper is then a fork of it, with the same descriptors
// and state as a spawned one, and this file runs from launch() on.
//
// The init is cloned with CLONE_PARENT, so it is a child of the Node process
// (which can wait for it through the pidfd the helper hands over) and the
// helper exits at once: no process of ours stays behind per container.
//
// Sync protocol. The runtime (Node) holds one end of a SOCK_SEQPACKET pair,
// the helper and later the init hold the other (CLOEXEC, so a successful
// execve closes it), as the descriptor after stdio and any preserved ones;
// its number is the helper's only argument. Every message is one
// wire::Record.
//
//   runtime (addon)                helper                    init
//   ---------------                ------                    ----
//   socketpair
//   posix_spawn(helper) -------->  (glibc's start-up)
//   (the addon's own thread:
//   launch() plans meanwhile)
//   the plan ------------------->  recv plan
//   (exec's launches queue the
//   plan before the spawn)
//   <------------------------------ "cgroup-pending" pid   (plan.await_cgroup:
//   systemd starts a scope holding                          systemd driver)
//   the helper's pid
//   "go" cgroup.procs files ------>
//                                  join v1 cgroups (tasks)
//                                  idmapped mount trees (userns.h)
//                                  setns() namespaces given by path
//                                  clone3(CLONE_PARENT|CLONE_PIDFD|new ns  -->  (blocked reading
//                                    [|CLONE_INTO_CGROUP the cgroup2 one])      the gate pipe)
//                                  uid_map/gid_map (new user ns)
//   <------------------------------ "spawned" pid + pidfd
//                                  exit(0); gate pipe closes ---------------->  go on
//                                                                                time namespace
//                                                                                (timeOffsets),
//                                                                                mounts, devices,
//                                                                                console, pivot_root,
//   <------------------------------------------------------------------------- "pty" + master fd
//                                                                               (process.terminal)
//                                                                                join v1 memory cgroup,
//                                                                                hostname, rlimits,
//                                                                                ioprio, scheduler,
//                                                                                user, caps, cwd
//   <------------------------------------------------------------------------- "seccomp" + listener fd
//                                                                               (SCMP_ACT_NOTIFY rules;
//                                                                                compiled filter loaded: before
//                                                                                user and caps without
//                                                                                noNewPrivileges)
//                                                                                personality
//   <------------------------------------------------------------------------- "ready"  (plan.pause)
//   "go" -------------------------------------------------------------------->
//   (create: `tsbox start` connects to the init's start socket instead)
//                                                                                close_range, setsid,
//                                                                                execve(process)
//   <--------------------------------- end of stream (fd 3 closed by execve) --
//
// Move-back mode: a plan with a "net-devices-back" record names a network
// namespace joined by path and the plan's linux.netDevices; the helper
// moves them from there back into its own (the runtime's), under their
// host names, with their addresses, and exits: the runtime's undo of a
// container that failed after the devices were moved (net_devices.h).
//
// Compile mode: a plan with a "seccomp-compile" record carries only
// linux.seccomp's rules. The helper builds them with libseccomp and answers
// "seccomp-program" <load flags> <program in hex> <skipped syscall names...>
// and exits; no container is made. The runtime caches that program per
// profile and puts it into the plans of the containers that use it.
//
// Any step that fails sends "error" <step> <errno> [<detail>] instead and the
// sender exits; the runtime prints it as one line. Messages reach the runtime
// in the order drawn: the init waits at the gate pipe until the helper has
// sent "spawned" and gone, so the two never interleave.
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../wire.h"
#include "cpu_affinity.h"
#include "dump.h"
#include "init.h"
#include "net_devices.h"
#include "plan.h"
#include "procfs.h"
#include "protocol.h"
#include "report.h"
#include "seccomp.h"
#include "spawner.h"
#include "time_ns.h"
#include "userns.h"

namespace {

struct NamespaceKind {
  const char* type;
  int flag;
};

// The order in which namespaces given by path are joined: the user namespace
// first, because joining it grants the capabilities needed for the others;
// the mount namespace last, because after joining it the other namespace
// paths may no longer resolve.
constexpr NamespaceKind kNamespaceOrder[] = {
    {"user", CLONE_NEWUSER}, {"pid", CLONE_NEWPID},       {"net", CLONE_NEWNET},
    {"uts", CLONE_NEWUTS},   {"ipc", CLONE_NEWIPC},       {"cgroup", CLONE_NEWCGROUP},
    {"time", CLONE_NEWTIME}, {"mnt", CLONE_NEWNS},
};

int namespace_flag(const std::string& type) {
  for (const auto& k : kNamespaceOrder) {
    if (type == k.type) return k.flag;
  }
  return 0;
}

void receive_plan(int sync_fd, plan::Plan& p) {
  std::string buf;
  int fd;
  int err = wire::recv_datagram(sync_fd, buf, fd);
  if (err != 0) report::fail("receive launch plan", err < 0 ? EPIPE : err);
  std::string error;
  if (!plan::decode(buf.data(), buf.size(), p, error)) {
    report::fail("decode launch plan", EINVAL, error);
  }
}

// Joins the container's cgroups before the clone, so that the init is born
// inside them: nothing of the runtime is ever charged to them, and no round
// trip to the runtime is needed.
//
// Moving a process between cgroups normally takes the kernel's global
// cgroup_threadgroup_rwsem for writing, and its first writer after a quiet
// spell waits for an RCU grace period: 5-15 ms per start on this project's
// machines, far more than everything else cgroups cost. Two ways around it:
// - v1 hierarchies: "0" written to `tasks` moves only the calling thread,
//   which the kernel does without that lock; the helper is single-threaded,
//   so that is the whole process.
// - cgroup2 (which has no such shortcut): not joined at all, but handed to
//   clone3 (CLONE_INTO_CGROUP), which puts the init there at birth; the
//   helper itself is then never charged to it. A new cgroup namespace is
//   rooted there too.
// v1 memory cgroups are only opened here (late_cgroup_fds): the init joins
// them once it is set up (init.cc), so that the kernel memory of its
// namespaces and mounts is not charged to the container's limit (with a
// new cgroup namespace the plan has none late: lib/launch.ts).
// Returns the cgroup2 directory's descriptor, or -1.
int join_cgroups(plan::Plan& p) {
  for (const auto& procs : p.late_cgroup_procs) {
    std::string tasks = procs.substr(0, procs.rfind('/')) + "/tasks";
    int fd = open(tasks.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) report::fail("open cgroup \"" + tasks + "\"", errno);
    p.late_cgroup_fds.push_back(fd);
  }
  int into = -1;
  for (const auto& procs : p.cgroup_procs) {
    std::string dir = procs.substr(0, procs.rfind('/'));
    // A v1 cgroup has `tasks`, a cgroup2 one never does: the open tells
    // them apart, and only its failure costs a statfs (one per start).
    std::string tasks = dir + "/tasks";
    int fd = open(tasks.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      struct statfs fs;
      if (err != ENOENT || statfs(dir.c_str(), &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) report::fail("join cgroup \"" + tasks + "\"", err);
      if (into >= 0) report::fail("join cgroup \"" + dir + "\"", EINVAL, "a second cgroup2 cgroup");
      into = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (into < 0) report::fail("open cgroup \"" + dir + "\"", errno);
      continue;
    }
    if (write(fd, "0", 1) != 1) report::fail("join cgroup \"" + tasks + "\"", errno);
    close(fd);
  }
  return into;
}

// The systemd driver (lib/systemd/): systemd makes the container's cgroup,
// a transient scope, and a scope must be started with a process in it. The
// helper is that process: it says who it is and waits until the runtime has
// the scope and sends "go" with the cgroup.procs files to join; "abort" (the
// scope failed, the runtime reports why) ends it quietly.
void await_cgroup(int sync_fd, plan::Plan& p) {
  if (!p.await_cgroup) return;
  int err = wire::send_record(sync_fd, {protocol::kCgroupPending, std::to_string(getpid())});
  if (err != 0) report::fail("send cgroup-pending", err);
  wire::Record rec;
  int fd = -1;
  err = wire::recv_record(sync_fd, rec, fd);
  if (fd >= 0) close(fd);
  if (err != 0) report::fail("wait for the container's cgroup", err < 0 ? EPIPE : err);
  if (!rec.empty() && rec[0] == protocol::kAbort) _exit(1);
  if (rec.empty() || rec[0] != protocol::kGo) report::fail("wait for the container's cgroup", EPROTO, "expected \"go\"");
  p.cgroup_procs.insert(p.cgroup_procs.end(), rec.begin() + 1, rec.end());
}

// process.oomScoreAdj, written (as runc does) by the helper for itself
// before it joins or creates any namespace: the init and the container's
// process inherit it. Lowering the value takes CAP_SYS_RESOURCE in the
// host's user namespace, which root keeps here and the init of a new user
// namespace would not have; the host's /proc is the one written, so the
// container's mounts cannot come into it (exec).
void set_oom_score_adj(const plan::Plan& p) {
  if (!p.has_oom_score_adj) return;
  const std::string value = std::to_string(p.oom_score_adj);
  const std::string step = "process.oomScoreAdj: write " + value + " to /proc/self/oom_score_adj";
  // /proc/self of a non-dumpable process is root's: an unprivileged
  // helper opens its own file while dumpable, for two calls (nothing of the
  // container exists yet, and only the caller itself could trace it).
  // Through a /proc verified to be procfs, as every security-relevant
  // /proc write (procfs.h); a failure there ends the helper.
  const bool unprivileged = geteuid() != 0;
  int proc = procfs::open_root(step);
  if (unprivileged) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  int fd = procfs::open_self(proc, "/proc", "oom_score_adj", O_RDWR, step);
  if (unprivileged) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  close(proc);
  char now[16] = {};
  ssize_t n = read(fd, now, sizeof now - 1);
  if (n > 0 && now[n - 1] == '\n') now[n - 1] = 0;
  if (pwrite(fd, value.data(), value.size(), 0) != static_cast<ssize_t>(value.size())) {
    int err = errno;
    if (err == EACCES) {
      report::fail(step, err,
                   std::string("lowering it this far (the runtime's own is ") + now +
                       ") needs CAP_SYS_RESOURCE in the host's user namespace, which uid " + std::to_string(geteuid()) +
                       " does not have");
    }
    report::fail(step, err);
  }
  close(fd);
}

// Joins the namespaces named by path and returns the clone flags for the ones
// to create. A cgroup namespace given by path is not joined here but
// returned open in `cgroupns`, for the child to join once it is inside the
// container's cgroup: where cgroup2 is mounted with nsdelegate (systemd
// does that), a process may be moved or cloned only between cgroups its
// cgroup namespace can see, and the helper, still outside the container's
// cgroup, is not below that namespace's root (clone3 fails with ENOENT).
uint64_t enter_namespaces(const plan::Plan& p, int& cgroupns) {
  int fds[sizeof kNamespaceOrder / sizeof kNamespaceOrder[0]];
  uint64_t create = 0;
  size_t i = 0;
  // Open every path before joining any: joining the mount namespace changes
  // what the later paths would resolve to.
  for (const auto& kind : kNamespaceOrder) {
    fds[i] = -1;
    for (const auto& ns : p.namespaces) {
      if (ns.type != kind.type) continue;
      if (ns.path.empty()) {
        create |= kind.flag;
      } else {
        fds[i] = open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) report::fail("open " + ns.type + " namespace \"" + ns.path + "\"", errno);
      }
    }
    i++;
  }
  i = 0;
  cgroupns = -1;
  for (const auto& kind : kNamespaceOrder) {
    // Unless the clone makes a user namespace: in it the child would no
    // longer have the capabilities over this one that setns needs.
    if (fds[i] >= 0 && kind.flag == CLONE_NEWCGROUP && !(create & CLONE_NEWUSER)) {
      cgroupns = fds[i];
    } else if (fds[i] >= 0) {
      if (setns(fds[i], kind.flag) != 0) {
        report::fail(std::string("join ") + kind.type + " namespace", errno);
      }
      close(fds[i]);
    }
    i++;
  }
  return create;
}

// The compile mode (see the protocol above).
[[noreturn]] void send_compiled_seccomp(int sync_fd, const plan::Plan& p) {
  seccomp::Compiled c = seccomp::compile(p.seccomp);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(c.program.size() * 2);
  for (unsigned char b : c.program) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  wire::Record rec = {protocol::kSeccompProgram, std::to_string(c.load_flags), hex};
  rec.insert(rec.end(), c.unknown.begin(), c.unknown.end());
  int err = wire::send_record(sync_fd, rec);
  if (err != 0) report::fail("send seccomp program", err);
  _exit(0);
}

// The inspection modes (dump.cc): no container, no privileges needed.
int inspect(const char* mode) {
  std::string out;
  if (strcmp(mode, "--protocol") == 0) {
    out = dump::protocol_json();
  } else {
    std::string in;
    char buf[65536];
    for (ssize_t n; (n = read(0, buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return 1;
      in.append(buf, static_cast<size_t>(n));
    }
    plan::Plan p;
    std::string error;
    if (!plan::decode(in.data(), in.size(), p, error)) {
      std::string line = "tsbox-helper: decode launch plan: " + error + "\n";
      ssize_t ignored = write(2, line.data(), line.size());
      (void)ignored;  // the exit status says it failed either way
      return 1;
    }
    out = dump::plan_json(p);
  }
  return write(1, out.data(), out.size()) == static_cast<ssize_t>(out.size()) ? 0 : 1;
}

// A helper's whole work, from its sync socket: spawned by the addon (the
// socket's number is its argument) or forked by the pre-started one
// (spawner.cc). Never returns.
[[noreturn]] void launch(int sync_fd) {
  // Non-dumpable until the container's process is executed (execve makes
  // it dumpable again): /proc/<pid>/ of the helper and of the init it
  // clones is then owned by root and closed to ptrace-style access, so a
  // process in the container without CAP_SYS_PTRACE cannot open their
  // /proc/<pid>/exe, mem or fd/ at all. (The exe link leads to a read-only
  // mount anyway: see the helper image in native/addon.cc.)
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  report::set_sync_fd(sync_fd);
  // posix_spawn's dup2 cleared CLOEXEC on the sync socket; put it back so the
  // container's process never inherits it.
  fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
  // The addon started us inside the read-only clone of our own directory;
  // nothing of ours should keep a reference to it.
  if (chdir("/") != 0) report::fail("chdir \"/\"", errno);

  plan::Plan p;
  receive_plan(sync_fd, p);
  if (p.seccomp_compile) send_compiled_seccomp(sync_fd, p);
  if (!p.net_devices_back.empty()) net_devices::move_back_mode(p);
  set_oom_score_adj(p);
  await_cgroup(sync_fd, p);
  cpu_affinity::set_initial(p);
  const int cgroup2 = join_cgroups(p);
  // Both need the helper's standing in the host's user (and mount)
  // namespace, which joining or creating a user namespace gives up.
  if (userns::enters(p)) userns::raise_rlimit_ceilings(p);
  userns::prepare_idmapped_mounts(p);
  // In the runtime's network namespace, before anything is made.
  net_devices::check(p);
  net_devices::move_into_joined(p);
  int cgroupns = -1;
  uint64_t flags = enter_namespaces(p, cgroupns);
  for (const auto& ns : p.namespaces) {
    if (namespace_flag(ns.type) == 0) report::fail("namespace \"" + ns.type + "\"", EINVAL, "unknown namespace type");
  }
  time_ns::prepare(p, flags);
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) report::fail("pipe2", errno);

  // In a new user namespace /proc/<pid> of a non-dumpable init belongs to
  // the host's root, which the namespace does not map: an unprivileged
  // runtime could not write the maps (nor newuidmap, which checks who owns
  // /proc/<pid>). So the init starts dumpable; it is alone in its new pid
  // namespace then, and turns that off once the maps are written (init.cc).
  if (flags & CLONE_NEWUSER) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);

  int pidfd = -1;
  struct clone_args args = {};
  args.flags = CLONE_PARENT | CLONE_PIDFD | flags;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  // A new cgroup namespace is rooted at the cgroup the child is cloned into.
  if (cgroup2 >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup2);
  }
  // exit_signal must be 0 with CLONE_PARENT: the child inherits ours
  // (SIGCHLD), which is what its new parent, the runtime, expects.
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) report::fail(cgroup2 >= 0 ? "clone into the container's cgroup2 cgroup" : "clone", errno);

  if (pid == 0) {
    // The init closes every descriptor of the runtime's before it looks
    // anything of the container's up (init.cc); this one it never needs.
    if (cgroup2 >= 0) close(cgroup2);
    close(gate[1]);
    char byte;
    while (read(gate[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(gate[0]);
    // First: nothing but the init may be in its time namespace when the
    // offsets are written, and its maps exist now (time_ns.h).
    time_ns::enter(p);
    if (cgroupns >= 0) {
      if (setns(cgroupns, CLONE_NEWCGROUP) != 0) report::fail("join cgroup namespace", errno);
      close(cgroupns);
    }
    init::run(p);  // never returns
  }

  close(gate[0]);
  // The init waits at the gate until its maps exist: before them it has no
  // uid in its namespace and could not create a file. A failure kills it
  // (it is the runtime's child, reaped there once "spawned" names it).
  std::string map_step, map_detail;
  int map_err = (flags & CLONE_NEWUSER) ? userns::write_maps(pid, p, map_step, map_detail) : 0;
  // Before the gate opens, so that the process finds them from its start.
  if (map_err == 0) map_err = net_devices::move(p, static_cast<pid_t>(pid), map_step);
  if (map_err != 0) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  int err = wire::send_record(sync_fd, {protocol::kSpawned, std::to_string(pid)}, pidfd);
  if (map_err != 0) report::fail(map_step, map_err, map_detail);
  // If the runtime is gone there is nobody to set the container up for; the
  // init sees the gate close and will fail at its first message.
  _exit(err == 0 ? 0 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;  // started by anything but the addon or `tsbox features`
  if (strcmp(argv[1], "--seccomp-features") == 0) {
    // What the libseccomp linked in here supports, for `tsbox features`.
    std::string json = seccomp::features_json() + "\n";
    return write(1, json.data(), json.size()) == static_cast<ssize_t>(json.size()) ? 0 : 1;
  }
  if (strcmp(argv[1], "--dump-plan") == 0 || strcmp(argv[1], "--protocol") == 0) return inspect(argv[1]);
  // The pre-started helper: its control socket is descriptor 3.
  if (strcmp(argv[1], "--spawner") == 0) spawner::serve(3, launch);
  launch(atoi(argv[1]));
}
