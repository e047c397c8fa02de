#include "init.h"

#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "cpu_affinity.h"
#include "mempolicy.h"
#include "passwd.h"
#include "process_attrs.h"
#include "protocol.h"
#include "report.h"
#include "rootfs.h"
#include "seccomp.h"
#include "strings.h"
#include "userns.h"

namespace init {

using report::fail;
using report::quote;

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The pty for process.terminal, made in the container's own devpts so that
// the container sees a pty of its own instance. The master goes to the
// runtime; the slave becomes the process's stdio and /dev/console.
int open_console(int root, const plan::Plan& p, bool bind_console) {
  int master = rootfs::open_in_root(root, "/dev/ptmx", O_RDWR | O_NOCTTY);
  if (master < 0) fail("open \"/dev/ptmx\"", errno);
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0) fail("unlock pty", errno);
  // TIOCGPTPEER opens the slave through the master, not by a path that the
  // container could have replaced.
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) fail("open pty slave", errno);
  if (p.rows && p.cols) {
    struct winsize ws = {};
    ws.ws_row = p.rows;
    ws.ws_col = p.cols;
    ioctl(master, TIOCSWINSZ, &ws);
  }
  if (bind_console) {
    const std::string step = "mount pty on \"/dev/console\"";
    int console = rootfs::ensure_file(root, "/dev/console", step);
    if (mount(rootfs::fd_path(slave).c_str(), rootfs::fd_path(console).c_str(), nullptr, MS_BIND,
              nullptr) != 0) {
      fail(step, errno);
    }
    close(console);
  }
  int err = wire::send_record(report::sync_fd(), {protocol::kPty}, master);
  if (err != 0) fail("send pty master", err);
  close(master);
  return slave;
}

void set_hostnames(const plan::Plan& p) {
  if (p.has_hostname && sethostname(p.hostname.data(), p.hostname.size()) != 0) {
    fail("sethostname " + quote(p.hostname), errno);
  }
  if (p.has_domainname && setdomainname(p.domainname.data(), p.domainname.size()) != 0) {
    fail("setdomainname " + quote(p.domainname), errno);
  }
}

void set_rlimits(const plan::Plan& p) {
  for (const auto& r : p.rlimits) {
    struct rlimit lim = {r.soft, r.hard};
    if (setrlimit(static_cast<__rlimit_resource>(r.resource), &lim) != 0) {
      fail("setrlimit " + r.name, errno);
    }
  }
}

void capset_all(const plan::Capabilities& c) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; i++) {
    data[i].effective = static_cast<uint32_t>(c.effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(c.permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(c.inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) == 0) return;
  const int err = errno;
  // EPERM: a set asks for more than the runtime's own permitted set (e.g.
  // docker --privileged where the runtime itself runs without some of them).
  // Name them: the errno alone does not say which.
  struct __user_cap_data_struct own[2] = {};
  uint64_t held = ~0ULL;
  if (err == EPERM && syscall(SYS_capget, &header, own) == 0) {
    held = static_cast<uint64_t>(own[0].permitted) | (static_cast<uint64_t>(own[1].permitted) << 32);
  }
  const uint64_t lacking = (c.permitted | c.effective) & ~held;
  if (lacking == 0) fail("capset", err);
  std::string numbers;
  int count = 0;
  for (int cap = 0; cap < 64; cap++) {
    if (lacking & (1ULL << cap)) numbers += (count++ ? ", " : " ") + std::to_string(cap);
  }
  fail("capset", err, std::string("the process asks for capabilit") + (count > 1 ? "ies" : "y") + numbers +
                          ", not in the runtime's own permitted set: operation not permitted (EPERM)");
}

// A session keyring of the container's own (made by the first process that
// joins it by this name, found by the next: the init's, then each exec's),
// as runc does: the caller's (a shim's, podman's, the shell's) would
// otherwise be every container's, each able to read and change the keys
// the others and the caller keep there (add_key to @s, keyctl: allowed
// where seccomp is off, as in a Kubernetes pod by default). Kernels without
// keyrings (ENOSYS): nothing to share, nothing to do.
void join_session_keyring(const plan::Plan& p) {
  if (p.session_keyring.empty()) return;
  const std::string step = "join session keyring " + quote(p.session_keyring);
  long key = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, p.session_keyring.c_str());
  if (key < 0 && errno == ENOSYS) return;
  if (key < 0) fail(step, errno);
  // The kernel's permissions for a new session keyring (everything for its
  // possessor; view, read and link for its owner) and search for the owner,
  // as runc sets them: an exec's process, not yet its possessor, finds it
  // by name only with search.
  constexpr unsigned long kPossessorAll = 0x3f000000, kOwnerViewReadSearchLink = 0x001b0000;
  if (syscall(SYS_keyctl, KEYCTL_SETPERM, key, kPossessorAll | kOwnerViewReadSearchLink) != 0) fail(step, errno);
}

// Credentials and capabilities, in the only order that works: the bounding
// set is trimmed while we still hold CAP_SETPCAP; KEEPCAPS carries the
// permitted set across the change of uid; the final sets are installed
// after it (a uid change clears the effective set).
void set_identity(const plan::Plan& p) {
  const int cap_last = p.caps.last_cap;
  if (p.caps.set) {
    for (int cap = 0; cap <= cap_last; cap++) {
      if (!(p.caps.bounding & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        fail("drop capability " + std::to_string(cap) + " from the bounding set", errno);
      }
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("prctl PR_SET_KEEPCAPS", errno);
  }
  // Where setgroups is denied (a user namespace mapping only the user's own
  // gid) there are no supplementary groups to clear.
  if ((userns::setgroups_allowed() || !p.groups.empty()) && setgroups(p.groups.size(), p.groups.data()) != 0) {
    fail("setgroups", errno, userns::setgroups_allowed() ? "" : "setgroups is denied in this user namespace");
  }
  if (setresgid(p.gid, p.gid, p.gid) != 0) fail("setgid " + std::to_string(p.gid), errno);
  if (setresuid(p.uid, p.uid, p.uid) != 0) fail("setuid " + std::to_string(p.uid), errno);
  if (!p.caps.set) return;
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail("prctl PR_SET_KEEPCAPS", errno);
  capset_all(p.caps);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail("clear ambient capabilities", errno);
  for (int cap = 0; cap <= cap_last; cap++) {
    if ((p.caps.ambient & (1ULL << cap)) &&
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
      fail("raise ambient capability " + std::to_string(cap), errno);
    }
  }
}

// The process's stdio to its own uid, as runc does (its group stays: a
// pty's is devpts's tty group): the pipes and sockets the runtime or the
// engine made, and the container's own terminal (`console`, not yet on fds
// 0-2), are root's, and a process of another user could not reopen them
// through /dev/stdout (/proc/self/fd/1) or its tty's path. Only those: a
// regular file or a device given as stdio (the caller's own terminal too)
// is the host's, and keeps its owner, where runc would give it away.
// Where the kernel refuses (the owner or group is not mapped in the user
// namespace: EPERM, EINVAL; a read-only file system: EROFS) it stays as it
// is, as with runc.
void give_stdio_to_user(const plan::Plan& p, int console) {
  const int stdio[] = {0, 1, 2};
  for (int fd : console >= 0 ? std::vector<int>{console} : std::vector<int>(stdio, stdio + 3)) {
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_uid == p.uid) continue;
    if (fd != console && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) continue;
    if (fchown(fd, p.uid, static_cast<gid_t>(-1)) != 0 && errno != EPERM && errno != EINVAL && errno != EROFS) {
      fail("chown stdio fd " + std::to_string(fd) + " to uid " + std::to_string(p.uid), errno);
    }
  }
}

void enter_cwd(const plan::Plan& p) {
  // After the uid change, so that the directory's permissions are checked
  // against the container's user, as they will be for everything it opens.
  if (chdir(p.cwd.c_str()) != 0) fail("chdir " + quote(p.cwd), errno);
  char buf[PATH_MAX];
  // A cwd outside the container's root reads back as "(unreachable)/...":
  // refuse to start a process there.
  if (getcwd(buf, sizeof buf) == nullptr || buf[0] != '/') {
    fail("chdir " + quote(p.cwd), EPERM, "working directory is outside the container");
  }
}

void attach_terminal(int slave) {
  if (setsid() < 0) fail("setsid", errno);
  if (ioctl(slave, TIOCSCTTY, 0) != 0) fail("set controlling terminal", errno);
  for (int fd = 0; fd < 3; fd++) {
    if (dup2(slave, fd) < 0) fail("dup2 pty", errno);
  }
  if (slave > 2) close(slave);
}

// `tsbox start` lets the init go on by connecting to a unix socket the
// init listens on in the container's state directory: bound now, while the
// state directory is still reachable (pivot_root takes it away), and as the
// runtime's uid on the host (in a new user namespace, before becoming its
// root), so it is the runtime's to connect to. After pivot_root the init
// holds nothing of the host's but this socket: no FIFO reopened through the
// host's /proc, whose descriptor would lead a path onto the host.
int listen_for_start(const plan::Plan& p) {
  if (p.start_socket.empty()) return -1;
  const std::string step = "listen on start socket " + quote(p.start_socket);
  const size_t slash = p.start_socket.rfind('/');
  const std::string dir = p.start_socket.substr(0, slash + 1);
  const std::string name = p.start_socket.substr(slash + 1);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (name.empty() || name.size() >= sizeof addr.sun_path) fail(step, ENAMETOOLONG);
  memcpy(addr.sun_path, name.data(), name.size());
  // A socket's path is limited to 107 bytes and the state root is the
  // caller's choice: bind by the name within its directory.
  if (chdir(dir.c_str()) != 0) fail(step, errno);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(step, errno);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) fail(step, errno);
  if (listen(fd, 1) != 0) fail(step, errno);
  if (chdir("/") != 0) fail(step, errno);
  return fd;
}

void wait_for_go(int start_listener) {
  int err = wire::send_record(report::sync_fd(), {protocol::kReady});
  if (err != 0) fail("send ready", err);
  if (start_listener >= 0) {
    // Blocks until `tsbox start` connects. CLOEXEC: the successful execve
    // closes the connection, which `start` reads as success; a failure
    // from here on is written to it instead (report.h).
    int conn;
    do {
      conn = accept4(start_listener, nullptr, nullptr, SOCK_CLOEXEC);
    } while (conn < 0 && errno == EINTR);
    if (conn < 0) fail("wait for start", errno);
    close(start_listener);
    report::start_fd() = conn;
    return;
  }
  wire::Record rec;
  int fd;
  err = wire::recv_record(report::sync_fd(), rec, fd);
  if (err != 0) fail("wait for start", err < 0 ? EPIPE : err);
  if (rec.empty() || rec[0] != protocol::kGo) fail("wait for start", EPROTO, "expected \"go\"");
}

void close_range_or_fail(unsigned first, unsigned last) {
  if (syscall(SYS_close_range, first, last, 0) != 0) fail("close the runtime's descriptors (close_range)", errno);
}

// Closes every descriptor but stdio, the preserved ones and `keep`, before
// anything of the container's is looked up by path. CLOEXEC is not enough:
// chdir and execve resolve their paths while such descriptors are still
// open, so a cwd or an executable through /proc/self/fd/N/.. would walk
// from a directory of the runtime's (a cgroup, the host's /proc) onto the
// host (CVE-2024-21626). The preserved descriptors are 3 up to the sync
// socket (main.cc), which stays, as do `keep`: sockets to the runtime and
// the pty of the container's devpts, none of which leads to a path.
void close_runtime_fds(std::vector<int> keep) {
  keep.push_back(report::sync_fd());
  std::sort(keep.begin(), keep.end());
  unsigned first = static_cast<unsigned>(report::sync_fd());
  for (int fd : keep) {
    if (fd < 0 || static_cast<unsigned>(fd) < first) continue;
    if (static_cast<unsigned>(fd) > first) close_range_or_fail(first, fd - 1);
    first = fd + 1;
  }
  close_range_or_fail(first, ~0U);
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The state JSON the runtime handed over at the hooks pause: for the
// createContainer hooks ("creating") and the startContainer ones ("created").
struct HookStates {
  std::string creating, created;
};

// Runs one hook as a child of the init, inside the container's namespaces,
// with the state on its stdin, and waits for it (within its timeout).
void run_hook(const plan::Hook& h, const std::string& state) {
  const std::string step = h.phase + " hook " + quote(h.path);
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) fail(step, errno);
  std::vector<char*> argv = c_strings(h.args);
  std::vector<char*> envp = c_strings(h.env);
  pid_t pid = fork();
  if (pid < 0) fail(step, errno);
  if (pid == 0) {
    dup2(in[0], 0);
    execve(h.path.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  // A hook that does not read its stdin must not stop us: SIGPIPE is
  // ignored here (reset_signals restores it before the process runs).
  signal(SIGPIPE, SIG_IGN);
  ssize_t ignored = write(in[1], state.data(), state.size());
  (void)ignored;
  close(in[1]);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) fail(step, errno);
  struct pollfd pfd = {pidfd, POLLIN, 0};
  int ready;
  do {
    ready = poll(&pfd, 1, h.timeout > 0 ? h.timeout * 1000 : -1);
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    fail(step, ETIMEDOUT, "timed out after " + std::to_string(h.timeout) + " s");
  }
  close(pidfd);
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) fail(step, errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) fail(step, ENOENT, "could not be executed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(WTERMSIG(status));
    fail(step, ECHILD, why);
  }
}

void run_hooks(const plan::Plan& p, const std::string& phase, const std::string& state) {
  for (const auto& h : p.hooks) {
    if (h.phase == phase) run_hook(h, state);
  }
}

// Stops for the runtime's prestart and createRuntime hooks, and takes the
// state that the init's own hooks read.
HookStates wait_for_hooks(const plan::Plan& p) {
  HookStates states;
  if (!p.hooks_pause) return states;
  int err = wire::send_record(report::sync_fd(), {protocol::kHooks});
  if (err != 0) fail("send hooks", err);
  wire::Record rec;
  int fd;
  err = wire::recv_record(report::sync_fd(), rec, fd);
  if (err != 0) fail("wait for hooks", err < 0 ? EPIPE : err);
  // "abort": a runtime hook failed; the runtime reports that, and the
  // failure here only makes the init undo its work and exit.
  if (!rec.empty() && rec[0] == protocol::kAbort) fail("container setup", ECANCELED, "stopped by the runtime");
  if (rec.size() != 3 || rec[0] != protocol::kGo) fail("wait for hooks", EPROTO, "expected \"go\" with the state");
  states.creating = rec[1];
  states.created = rec[2];
  return states;
}

// Every signal back to its default action. posix_spawn's reset does not
// reach glibc's two internal signals (32, 33), so an ignored disposition of
// those inherited from the caller would survive into the container; the raw
// system call reaches them all.
void reset_signals() {
  struct {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
  } dfl = {};  // SIG_DFL, no flags, nothing blocked during a handler
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof dfl.mask);
  }
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
}


// The executable for args[0], looked up in the PATH of the container's
// environment as a shell would: a name with a slash is taken as it is (and
// must be executable), otherwise each PATH entry is tried in order, and a file found but not
// executable is skipped (remembered, so that the error says "permission
// denied" rather than "not found"). Done before the process waits for
// start, so that `create` reports a missing executable as runc does (and
// engines map that error to exit status 127).
std::string find_executable(const plan::Plan& p) {
  const std::string& name = p.args[0];
  const std::string step = "exec " + quote(name);
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) fail(step, errno);
    return name;
  }
  std::string path = kDefaultPath;
  for (const auto& e : p.env) {
    if (e.compare(0, 5, "PATH=") == 0) path = e.substr(5);
  }
  bool denied = false;
  for (const auto& dir : strings::split_on(path, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    denied = true;
  }
  if (denied) fail(step, EACCES);
  fail(step, ENOENT, "executable file not found in $PATH");
}

[[noreturn]] void exec_process(const plan::Plan& p, const std::string& file, const std::vector<std::string>& env) {
  std::vector<char*> argv = c_strings(p.args);
  std::vector<char*> envp = c_strings(env);
  execve(file.c_str(), argv.data(), envp.data());
  fail("exec " + quote(p.args[0]), errno);
}


// Loads the filter; a listener fd (SCMP_ACT_NOTIFY) goes to the runtime,
// which hands it to linux.seccomp.listenerPath, and the init waits for its
// answer: the process must not run (`run` does not stop before execve)
// before the agent has the listener, or its notified system calls would
// fail with ENOSYS; "abort" if the agent could not be reached. Every system
// call from here on is filtered, this exchange included (as in runc).
void install_seccomp(const plan::Seccomp& s) {
  int listener = seccomp::load(s);
  if (listener < 0) return;
  int err = wire::send_record(report::sync_fd(), {protocol::kSeccomp}, listener);
  if (err != 0) fail("send seccomp listener fd", err);
  close(listener);
  wire::Record rec;
  int fd;
  err = wire::recv_record(report::sync_fd(), rec, fd);
  if (err != 0) fail("wait for the seccomp agent", err < 0 ? EPIPE : err);
  if (!rec.empty() && rec[0] == protocol::kAbort) fail("container setup", ECANCELED, "stopped by the runtime");
  if (rec.empty() || rec[0] != protocol::kGo) fail("wait for the seccomp agent", EPROTO, "expected \"go\"");
}

// The v1 memory cgroups, joined now that the container is set up (see
// join_cgroups in main.cc): "0" moves the calling thread, the whole init.
void join_late_cgroups(const plan::Plan& p) {
  for (size_t i = 0; i < p.late_cgroup_fds.size(); i++) {
    const std::string& procs = p.late_cgroup_procs[i];
    if (write(p.late_cgroup_fds[i], "0", 1) != 1) fail("join cgroup \"" + procs.substr(0, procs.rfind('/')) + "/tasks\"", errno);
    close(p.late_cgroup_fds[i]);
  }
}

// The process itself: limits, priorities, identity, cwd, terminal, seccomp
// and execve. The same for a container's first process and for one joining
// it (exec).
[[noreturn]] void start_process(const plan::Plan& p, int console, int start_listener,
                                const HookStates& states) {
  join_late_cgroups(p);
  // First, before seccomp (a profile may deny close_range) and before the
  // cwd, the executable, HOME's passwd and the startContainer hooks are
  // looked up.
  close_runtime_fds({console, start_listener});
  // Inside the container's cgroups now (joined or cloned into): the cpuset
  // bounds the new affinity. Before the scheduler policy, which
  // SCHED_DEADLINE ties to the CPUs allowed.
  cpu_affinity::settle(p);
  // In its cgroups (cpuset.mems bounds the nodes) and inherited across execve.
  mempolicy::apply(p);
  set_rlimits(p);
  process_attrs::set_priorities(p);
  process_attrs::set_security_labels(p);
  // Before seccomp (docker's default profile denies keyctl) and while
  // still root: the keyring is root's, the process its possessor.
  join_session_keyring(p);
  // Inside the container's root already, and still root in it: a
  // passwd the container's user may not read still gives its HOME.
  const std::vector<std::string> env = passwd::with_home(p.env, p.uid);
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
  // while the init still has it, before the capabilities are dropped (as
  // runc does); otherwise as late as possible, below.
  if (p.seccomp.set && !p.no_new_privileges) install_seccomp(p.seccomp);
  // Still root in the container: CAP_CHOWN.
  give_stdio_to_user(p, console);
  set_identity(p);
  enter_cwd(p);
  // A session (and process group) of its own, as runc does: in the
  // caller's, `kill 0` from inside would reach the caller and its whole
  // process group (an engine's shim), and the caller's terminal would be
  // the container's controlling terminal, open to TIOCSTI.
  if (console >= 0) {
    attach_terminal(console);
  } else if (setsid() < 0) {
    fail("setsid", errno);
  }
  umask(p.has_umask ? p.umask : 022);
  // Last before exec: with no_new_privs set, nothing we do afterwards could
  // gain privileges anyway, and setuid binaries in the rootfs stop working.
  if (p.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fail("prctl PR_SET_NO_NEW_PRIVS", errno);
  }
  // As the container's user, in its cwd: what it may execute.
  const std::string file = find_executable(p);
  // Before "ready": `tsbox create` must still be there to hand a listener
  // fd on, and after "ready" it is gone. The few system calls left (the
  // wait for start, startContainer hooks, execve) are filtered, as in runc.
  if (p.seccomp.set && p.no_new_privileges) install_seccomp(p.seccomp);
  process_attrs::set_personality(p);
  if (p.pause) wait_for_go(start_listener);
  run_hooks(p, "startContainer", states.created);
  reset_signals();
  exec_process(p, file, env);
}

// A process joining a running container: the helper has joined the
// container's namespaces, and the mount namespace brought its root and cwd.
[[noreturn]] void run_exec(const plan::Plan& p) {
  if (userns::enters(p)) userns::note_setgroups();
  int console = -1;
  if (p.terminal) {
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) fail("open \"/\"", errno);
    console = open_console(root, p, false);
    close(root);
  }
  start_process(p, console, -1, HookStates{});
}

}  // namespace

void run(const plan::Plan& p) {
  // Device nodes and directories get exactly the modes the plan says; the
  // process's own umask is installed just before execve.
  umask(0);
  if (p.exec) run_exec(p);

  // Both while the init still has the runtime's uid on the host: in a new
  // user namespace, the state directory and the path to the rootfs need
  // not be reachable by the container's mapped root (only the rootfs
  // itself, reached through the descriptor `root` from here on).
  int start_listener = listen_for_start(p);
  int root = rootfs::enter(p);
  if (userns::enters(p)) userns::become_root();
  rootfs::populate(root, p);
  int console = p.terminal ? open_console(root, p, true) : -1;
  // Dumpable only for the maps written above in a new user namespace (main.cc).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  rootfs::finish(root, p);
  // The spec's order: the runtime's prestart and createRuntime hooks, then
  // createContainer in the container's namespaces, all before pivot_root.
  HookStates states = wait_for_hooks(p);
  run_hooks(p, "createContainer", states.creating);
  rootfs::pivot(root, p);
  close(root);

  set_hostnames(p);
  start_process(p, console, start_listener, states);
}

}  // namespace init
