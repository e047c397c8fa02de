#include "userns.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "report.h"

namespace userns {

using report::fail;
using report::quote;

namespace {

bool setgroups_allowed_flag = true;

std::string map_text(const std::vector<plan::IdRange>& ranges) {
  std::string text;
  for (const auto& r : ranges) {
    text += std::to_string(r.inside) + " " + std::to_string(r.outside) + " " + std::to_string(r.count) + "\n";
  }
  return text;
}

// The kernel takes a whole map in a single write.
int write_proc_file(pid_t pid, const char* name, const std::string& text) {
  std::string file = "/proc/" + std::to_string(pid) + "/" + name;
  int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, text.data(), text.size());
  int err = n == static_cast<ssize_t>(text.size()) ? 0 : n < 0 ? errno : EIO;
  close(fd);
  return err;
}

// Runs newuidmap/newgidmap <pid> <inside outside count>... and returns 0, or
// EPERM with the tool's own complaint (its stderr) as the detail. The
// helper's stdout and stderr are the container's: the tool gets a pipe.
int run_map_tool(const std::string& tool, pid_t pid, const std::vector<plan::IdRange>& ranges,
                 std::string& detail) {
  std::vector<std::string> args = {tool, std::to_string(pid)};
  for (const auto& r : ranges) {
    args.push_back(std::to_string(r.inside));
    args.push_back(std::to_string(r.outside));
    args.push_back(std::to_string(r.count));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return errno;
  pid_t child = fork();
  if (child < 0) {
    int err = errno;
    close(out[0]);
    close(out[1]);
    return err;
  }
  if (child == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    execve(tool.c_str(), argv.data(), envp);
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (text.size() < 4096) text.append(buf, n);
  }
  close(out[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (auto& c : text) {
    if (c == '\n') c = ' ';
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    detail = "could not be executed";
    return ENOENT;
  }
  detail = (WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                              : "killed by signal " + std::to_string(WTERMSIG(status))) +
           (text.empty() ? "" : ": " + text);
  return EPERM;
}

// A user namespace with the given maps, as a descriptor: a child is cloned
// into a new one, its maps written, its namespace opened, and it is let go.
int userns_fd_with(const std::vector<plan::IdRange>& uids, const std::vector<plan::IdRange>& gids,
                   const std::string& step) {
  int hold[2];
  if (pipe2(hold, O_CLOEXEC) != 0) fail(step, errno);
  struct clone_args args = {};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) fail(step, errno);
  if (pid == 0) {
    close(hold[1]);
    char byte;
    while (read(hold[0], &byte, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(hold[0]);
  int err = write_proc_file(pid, "uid_map", map_text(uids));
  if (err == 0) err = write_proc_file(pid, "gid_map", map_text(gids));
  int fd = -1;
  if (err == 0) {
    std::string ns = "/proc/" + std::to_string(pid) + "/ns/user";
    fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) err = errno;
  }
  close(hold[1]);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (err != 0) fail(step, err);
  return fd;
}

}  // namespace

bool creates(const plan::Plan& p) {
  for (const auto& ns : p.namespaces) {
    if (ns.type == "user" && ns.path.empty()) return true;
  }
  return false;
}

bool enters(const plan::Plan& p) {
  for (const auto& ns : p.namespaces) {
    if (ns.type == "user") return true;
  }
  return false;
}

void raise_rlimit_ceilings(const plan::Plan& p) {
  for (const auto& r : p.rlimits) {
    auto resource = static_cast<__rlimit_resource>(r.resource);
    struct rlimit now;
    if (getrlimit(resource, &now) != 0) fail("getrlimit " + r.name, errno);
    if (r.hard <= now.rlim_max) continue;
    struct rlimit raised = {now.rlim_cur, r.hard};
    if (setrlimit(resource, &raised) != 0) fail("setrlimit " + r.name, errno);
  }
}

void prepare_idmapped_mounts(plan::Plan& p) {
  for (auto& m : p.mounts) {
    if (m.idmap_uids.empty() && m.idmap_gids.empty()) continue;
    const std::string step = "idmap mount " + quote(m.source) + " on " + quote(m.destination);
    const unsigned tree_flags = (m.flags & MS_REC) ? AT_RECURSIVE : 0;
    const unsigned recursive = m.idmap_recursive ? AT_RECURSIVE : 0;
    int tree = static_cast<int>(
        syscall(SYS_open_tree, AT_FDCWD, m.source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | tree_flags | recursive));
    if (tree < 0) fail(step, errno);
    int ns = userns_fd_with(m.idmap_uids, m.idmap_gids, step);
    struct mount_attr attr = {};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = ns;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | recursive, &attr, sizeof attr) != 0) {
      fail(step, errno);
    }
    close(ns);
    m.tree_fd = tree;
  }
}

int write_maps(pid_t pid, const plan::Plan& p, std::string& step, std::string& detail) {
  int err = 0;
  if (!p.newuidmap.empty()) {
    step = "write uid map with " + quote(p.newuidmap);
    err = run_map_tool(p.newuidmap, pid, p.uid_map, detail);
    if (err != 0) return err;
    step = "write gid map with " + quote(p.newgidmap);
    return run_map_tool(p.newgidmap, pid, p.gid_map, detail);
  }
  // Without CAP_SETGID in the parent namespace the kernel takes a gid_map
  // only once setgroups is denied (else the mapped process could drop a
  // group that restricts it on the host).
  if (p.setgroups_deny) {
    step = "write \"deny\" to setgroups";
    err = write_proc_file(pid, "setgroups", "deny");
    if (err != 0) return err;
  }
  step = "write gid map";
  err = write_proc_file(pid, "gid_map", map_text(p.gid_map));
  if (err != 0) return err;
  step = "write uid map";
  return write_proc_file(pid, "uid_map", map_text(p.uid_map));
}

void become_root() {
  note_setgroups();
  if (setresgid(0, 0, 0) != 0) fail("setgid 0 in the user namespace", errno);
  if (setresuid(0, 0, 0) != 0) fail("setuid 0 in the user namespace", errno);
  // Changing ids made the process non-dumpable; it stays dumpable until its
  // own /proc writes are done (see main.cc and init.cc).
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  if (setgroups_allowed() && setgroups(0, nullptr) != 0) fail("setgroups", errno);
}

void note_setgroups() {
  int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // no /proc: assume allowed; setgroups says otherwise
  char buf[8] = {};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  setgroups_allowed_flag = !(n >= 4 && std::string(buf, 4) == "deny");
}

bool setgroups_allowed() { return setgroups_allowed_flag; }

}  // namespace userns
