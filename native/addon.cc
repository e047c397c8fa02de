// The N-API surface of tsbox: the few system calls the TypeScript runtime
// cannot make itself. Everything here is non-blocking or immediate; waiting
// (for a sync message, for a process to exit) is done by libuv polling a
// descriptor, so the JS thread never blocks and one process can launch many
// containers at once.
//
// lib/native/binding.ts declares the TypeScript view of these functions and
// is the only module that loads this file.
#include <fcntl.h>
#include <linux/mount.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <napi.h>

#include "bpf.h"
#include "datagram.h"
#include "wire.h"

extern char** environ;

namespace {

// An Error whose message reads like the rest of tsbox's one-line errors and
// which carries the facts as properties: code (errno name), errno, syscall.
Napi::Error system_error(Napi::Env env, const std::string& syscall, int err) {
  std::string code = uv_err_name(-err);
  std::string text = strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(tolower(text[0]));
  Napi::Error e = Napi::Error::New(env, syscall + ": " + text + " (" + code + ")");
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

Napi::Value throw_system_error(Napi::Env env, const std::string& syscall, int err) {
  system_error(env, syscall, err).ThrowAsJavaScriptException();
  return env.Undefined();
}

uv_loop_t* event_loop(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  return loop;
}

// A uv_poll_t that resolves one promise when its descriptor becomes
// readable, then closes itself. `on_ready` runs on the JS thread and
// settles the deferred.
//
// This is the only place the addon calls back into JS (the background
// reaper never does), and it does so from a raw libuv callback, outside any
// callback Node made. So the settling runs inside a callback scope of its
// own async context: closing the scope runs the microtasks and nextTicks
// the settling queued, i.e. the caller's `await` continues at once. Without
// it they wait for whatever callback Node runs next: on Node 26 an
// unrelated pending timer held run() up until it fired (scripts/round-trip.js
// checks this on every Node CI tests).
class Poller {
 public:
  using Callback = void (*)(Napi::Env env, int fd, Napi::Promise::Deferred& deferred);

  static Napi::Promise start(Napi::Env env, int fd, Callback on_ready) {
    auto* p = new Poller(env, fd, on_ready);
    int err = uv_poll_init(event_loop(env), &p->handle_, fd);
    if (err == 0) err = uv_poll_start(&p->handle_, UV_READABLE | UV_DISCONNECT, on_event);
    if (err != 0) {
      p->deferred_.Reject(system_error(env, "uv_poll_start", -err).Value());
      Napi::Promise promise = p->deferred_.Promise();
      if (uv_is_active(reinterpret_cast<uv_handle_t*>(&p->handle_))) {
        uv_close(reinterpret_cast<uv_handle_t*>(&p->handle_), on_close);
      } else {
        delete p;
      }
      return promise;
    }
    return p->deferred_.Promise();
  }

 private:
  Poller(Napi::Env env, int fd, Callback cb)
      : env_(env),
        fd_(fd),
        callback_(cb),
        deferred_(Napi::Promise::Deferred::New(env)),
        context_(env, "tsbox:poll") {
    handle_.data = this;
  }

  static void on_event(uv_poll_t* handle, int status, int) {
    auto* p = static_cast<Poller*>(handle->data);
    uv_poll_stop(handle);
    {
      Napi::HandleScope handles(p->env_);
      Napi::CallbackScope callback(p->env_, p->context_);
      if (status < 0) {
        p->deferred_.Reject(system_error(p->env_, "poll", -status).Value());
      } else {
        p->callback_(p->env_, p->fd_, p->deferred_);
      }
    }
    uv_close(reinterpret_cast<uv_handle_t*>(handle), on_close);
  }

  static void on_close(uv_handle_t* handle) { delete static_cast<Poller*>(handle->data); }

  Napi::Env env_;
  int fd_;
  Callback callback_;
  Napi::Promise::Deferred deferred_;
  Napi::AsyncContext context_;
  uv_poll_t handle_;
};

// ---------------------------------------------------------- the helper's image

// Why the helper is executed from a read-only clone of its directory
// (the CVE-2019-5736 class of attack):
//
// Until it calls execve, a container's init (and an exec'd process) is a
// clone of tsbox-helper, so /proc/<pid>/exe of that process names the
// helper's file on the host. A process in the container that can see it
// (same pid namespace, e.g. during `tsbox exec`) could open that link for
// writing, or open it O_PATH and reopen it for writing through
// /proc/self/fd/N once the helper is no longer running, and so replace the
// helper (a host executable run as root) with its own code.
//
// runc answers by copying itself into a sealed memfd for every container,
// which costs a copy of the binary in memory per container. Here, once per
// Node process, the addon makes a detached clone of the mount that holds the
// helper's directory (open_tree(OPEN_TREE_CLONE): a bind mount attached
// nowhere, reachable only through the descriptor), makes the clone
// read-only (mount_setattr(MOUNT_ATTR_RDONLY)), and posix_spawn changes into
// it (fchdir) and executes "./tsbox-helper" from there. The exe link of
// every helper process then leads to the helper's inode *through the
// read-only mount*: opening it for writing fails with EROFS whichever way it
// is reached, while the host's own mount of the directory is unchanged. The
// cost is one mount object for the life of the Node process, nothing per
// container. The helper also makes itself non-dumpable until it executes the
// container's process (native/helper/main.cc), so that an unprivileged
// process in the container cannot even open the link.
//
// If the kernel or the privileges do not allow the clone (open_tree needs
// Linux 5.2 and CAP_SYS_ADMIN, mount_setattr 5.12), the helper is executed
// by its path as before, protected only by being non-dumpable;
// helperImage() reports that, with the reason, for the runtime to warn.
struct HelperImage {
  std::string path;    // the helper as the runtime named it
  std::string name;    // its file name, executed relative to `dir`
  int dir = -1;        // the read-only clone of its directory, or -1
  std::string reason;  // why there is no clone (dir == -1)
};

// Held while the image is looked at or used: spawnHelperEarly executes the
// helper from a thread of its own.
std::mutex image_mutex;

HelperImage& helper_image(const std::string& path) {
  static HelperImage image;
  if (image.path == path) return image;
  if (image.dir >= 0) close(image.dir);
  image = HelperImage{};
  image.path = path;
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  image.name = "./" + (slash == std::string::npos ? path : path.substr(slash + 1));
  int tree = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (tree < 0) {
    image.reason = std::string("open_tree \"") + dir + "\": " + strerror(errno);
    return image;
  }
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  struct statvfs st;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
    image.reason = std::string("mount_setattr read-only: ") + strerror(errno);
  } else if (fstatvfs(tree, &st) != 0 || !(st.f_flag & ST_RDONLY)) {
    image.reason = "the clone of \"" + dir + "\" is not read-only";
  } else {
    image.dir = tree;
    return image;
  }
  close(tree);
  return image;
}

// helperImage(helperPath) -> { readOnly: boolean, reason: string }: how
// spawnHelper will execute the helper (see above).
Napi::Value HelperImageInfo(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(image_mutex);
  const HelperImage& image = helper_image(info[0].As<Napi::String>());
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("readOnly", Napi::Boolean::New(info.Env(), image.dir >= 0));
  out.Set("reason", Napi::String::New(info.Env(), image.reason));
  return out;
}

// ---------------------------------------------------------------- spawning

// posix_spawn of the helper with a descriptor layout: sources[i] becomes
// descriptor i, nothing else of Node's is kept. Returns 0 or an errno.
int spawn_helper_process(const std::string& helper, const std::vector<int>& sources, char* arg, pid_t& pid) {
  // Move every descriptor the child needs above the target range first, so
  // that the dup2s below cannot overwrite one another (stdio could be, say,
  // [1, 0, 2]).
  const int count = static_cast<int>(sources.size());
  std::vector<int> high(count, -1);
  int err = 0;
  for (int i = 0; i < count && err == 0; i++) {
    high[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, count + 10);
    if (high[i] < 0) err = errno;
  }
  if (err == 0) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    // First, before the dup2s could reuse its number: into the read-only
    // clone, from which the helper is executed by a relative name.
    std::lock_guard<std::mutex> lock(image_mutex);
    const HelperImage& image = helper_image(helper);
    if (image.dir >= 0) posix_spawn_file_actions_addfchdir_np(&actions, image.dir);
    for (int i = 0; i < count; i++) posix_spawn_file_actions_adddup2(&actions, high[i], i);
    // Nothing of Node's reaches the helper (and so the container) but
    // stdio, the preserved descriptors and the sync socket.
    posix_spawn_file_actions_addclosefrom_np(&actions, count);
    // Node ignores SIGPIPE and blocks some signals in its threads; the
    // container must start with default dispositions and an empty mask.
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    char* argv[] = {const_cast<char*>("tsbox-helper"), arg, nullptr};
    char* envp[] = {nullptr};
    const std::string& file = image.dir >= 0 ? image.name : helper;
    err = posix_spawn(&pid, file.c_str(), &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  for (int fd : high) {
    if (fd >= 0) close(fd);
  }
  return err;
}

// The pre-started helper (native/helper/spawner.cc): started by
// startHelperServer for a process that launches many containers; each
// spawnHelper then asks it for a fork of itself instead of executing the
// helper anew (glibc's start-up alone costs ~0.6 ms of CPU per execve in a
// virtual machine). The forked helper is our child with the same
// descriptors, signal state, environment and image as a spawned one. One
// per process, shared by every thread that loaded the addon.
//
// A forked helper inherits the credentials the spawner was started with,
// not the caller's at the time of the fork: a spawner started under other
// credentials than this process now has (process.setuid and the like,
// which Node's own API offers) is replaced, and so is one started by the
// process this one was forked from (without an execve: the control socket
// is then shared, and the spawner's forks would be the other's children).
struct Credentials {
  uid_t uid[3] = {};
  gid_t gid[3] = {};
  std::vector<gid_t> groups;
  bool operator==(const Credentials& o) const {
    return std::equal(uid, uid + 3, o.uid) && std::equal(gid, gid + 3, o.gid) && groups == o.groups;
  }
};

Credentials current_credentials() {
  Credentials c;
  getresuid(&c.uid[0], &c.uid[1], &c.uid[2]);
  getresgid(&c.gid[0], &c.gid[1], &c.gid[2]);
  int n = getgroups(0, nullptr);
  c.groups.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (n > 0 && getgroups(n, c.groups.data()) != n) c.groups.clear();
  return c;
}

struct Spawner {
  std::string helper;  // the helper it was started from
  pid_t pid = -1;
  int ctl = -1;  // our end of its control socket (CLOEXEC), or -1
  pid_t owner = -1;  // the process that started it
  Credentials credentials;  // that process's, when it did
};

std::mutex spawner_mutex;
Spawner spawner;

// Ends the spawner (it exits when its control socket closes; SIGKILL in
// case it is stuck) and reaps it: it is our child, not yet reaped, so the
// pid is still its own. One inherited through a fork is only forgotten:
// it is the other process's child, to stop.
void stop_spawner() {
  if (spawner.ctl < 0) return;
  close(spawner.ctl);
  if (spawner.owner == getpid()) {
    kill(spawner.pid, SIGKILL);
    while (waitpid(spawner.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  spawner = Spawner{};
}

// Whether the spawner can fork this process's helpers for `helper` now:
// started by this process, for that helper, under the credentials it has
// now. One inherited through a fork is forgotten (it is the other
// process's to stop); one of ours under old credentials is stopped.
bool spawner_usable(const std::string& helper) {
  if (spawner.ctl < 0) return false;
  if (spawner.owner != getpid() || spawner.helper != helper || !(spawner.credentials == current_credentials())) {
    stop_spawner();
    return false;
  }
  return true;
}

// A helper forked by the spawner: 0 (pid, pidfd set), an errno of the
// spawner's clone, or -1 when the spawner is unusable (gone, stuck: it is
// then stopped and the caller spawns instead).
int fork_helper(const std::vector<int>& sources, pid_t& pid, int& pidfd) {
  char byte = 's';
  struct iovec iov = {&byte, 1};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * sources.size()), 0);
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * sources.size());
  memcpy(CMSG_DATA(cmsg), sources.data(), sizeof(int) * sources.size());
  ssize_t n;
  do {
    n = sendmsg(spawner.ctl, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  // A descriptor that is not open: the request's fault, as posix_spawn's dup2 would say.
  if (n < 0 && errno == EBADF) return EBADF;
  // The answer comes within microseconds; a spawner that does not answer
  // in time is broken (stopped, say) and replaced by spawning.
  struct pollfd pfd = {spawner.ctl, POLLIN, 0};
  int ready = n < 0 ? -1 : 0;
  while (ready == 0) {
    ready = poll(&pfd, 1, 2000);
    if (ready < 0 && errno == EINTR) ready = 0;
    else if (ready == 0) ready = -1;
  }
  std::string answer;
  int fd = -1;
  if (ready < 0 || wire::recv_datagram(spawner.ctl, answer, fd) != 0 || answer.size() != sizeof(int32_t)) {
    if (fd >= 0) close(fd);
    stop_spawner();
    return -1;
  }
  int32_t result;
  memcpy(&result, answer.data(), sizeof result);
  if (result <= 0) {
    if (fd >= 0) close(fd);
    return result < 0 ? -result : EPROTO;
  }
  if (fd < 0) {
    // No pidfd: the helper cannot be watched; it exits on its own (its
    // sync socket closes with ours), and the spawner is not to be trusted.
    stop_spawner();
    return EPROTO;
  }
  pid = result;
  pidfd = fd;
  return 0;
}

// startHelperServer(helperPath) -> pid: starts the pre-started helper (or
// keeps the running one); spawnHelper uses it from then on.
Napi::Value StartHelperServer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string helper = info[0].As<Napi::String>();
  std::lock_guard<std::mutex> lock(spawner_mutex);
  if (spawner_usable(helper)) return Napi::Number::New(env, spawner.pid);
  stop_spawner();
  Credentials credentials = current_credentials();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return throw_system_error(env, "socketpair", errno);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) {
    int err = errno;
    close(sv[0]);
    close(sv[1]);
    return throw_system_error(env, "open \"/dev/null\"", err);
  }
  pid_t pid = -1;
  char arg[] = "--spawner";
  int err = spawn_helper_process(helper, {null, null, null, sv[1]}, arg, pid);
  close(null);
  close(sv[1]);
  if (err != 0) {
    close(sv[0]);
    return throw_system_error(env, "spawn \"" + helper + "\" --spawner", err);
  }
  spawner = Spawner{helper, pid, sv[0], getpid(), std::move(credentials)};
  return Napi::Number::New(env, pid);
}

// stopHelperServer(): ends the pre-started helper, if any; spawnHelper
// executes the helper again.
Napi::Value StopHelperServer(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(spawner_mutex);
  stop_spawner();
  return info.Env().Undefined();
}

// The plan on the runtime's end of a sync socket: one datagram, with room
// made for a large one (many mounts or a long environment). SO_SNDBUFFORCE
// needs CAP_NET_ADMIN; without it the default limit applies and an
// oversized plan fails with EMSGSIZE. Returns 0 or an errno.
int queue_plan(int sock, const char* data, size_t length) {
  int want = static_cast<int>(length) + 4096;
  if (want > 200 * 1024) {
    if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) != 0) {
      setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
    }
  }
  ssize_t sent;
  do {
    sent = send(sock, data, length, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent < 0 ? errno : 0;
}

// A started helper: our child, its pidfd, our end of its sync socket.
struct StartedHelper {
  pid_t pid = -1;
  int pidfd = -1;
  int sock = -1;
};

// Starts tsbox-helper with `sources` (stdio, then the preserved
// descriptors) as 0, 1, 2, ... and the sync socket right after them, whose
// number is the helper's argument; the plan, when given, already queued on
// it, so the helper can start work without a round trip. Returns 0, or an
// errno with `step` naming what failed. Touches no JavaScript value, so
// that it can run on another thread.
int start_helper(const std::string& helper, std::vector<int> sources, const char* plan, size_t plan_length, StartedHelper& out, std::string& step) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    step = "socketpair";
    return errno;
  }
  if (plan != nullptr) {
    int err = queue_plan(sv[0], plan, plan_length);
    if (err != 0) {
      close(sv[0]);
      close(sv[1]);
      step = "send launch plan";
      return err;
    }
  }
  sources.push_back(sv[1]);

  pid_t pid = -1;
  int pidfd = -1;
  int err = -1;
  {
    // The pre-started helper, when there is one for this helper (and the
    // descriptors fit one message: SCM_MAX_FD).
    std::lock_guard<std::mutex> lock(spawner_mutex);
    if (sources.size() <= 253 && spawner_usable(helper)) err = fork_helper(sources, pid, pidfd);
  }
  if (err < 0) {
    std::string sync_arg = std::to_string(sources.size() - 1);
    err = spawn_helper_process(helper, sources, &sync_arg[0], pid);
  }
  close(sv[1]);
  if (err != 0) {
    close(sv[0]);
    step = "spawn \"" + helper + "\"";
    return err;
  }
  // The helper is our child and not yet reaped, so its pid cannot have been
  // reused: the pidfd is sure to be the helper's. (A forked one came with it.)
  if (pidfd < 0) pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(sv[0]);
    step = "pidfd_open";
    return err;
  }
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  // Non-blocking: receiving is driven by libuv readiness, never a wait.
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  out = StartedHelper{pid, pidfd, sv[0]};
  return 0;
}

std::vector<int> helper_sources(Napi::Array stdio, Napi::Array extra) {
  std::vector<int> sources;
  for (uint32_t i = 0; i < 3; i++) sources.push_back(stdio.Get(i).As<Napi::Number>().Int32Value());
  for (uint32_t i = 0; i < extra.Length(); i++) sources.push_back(extra.Get(i).As<Napi::Number>().Int32Value());
  return sources;
}

Napi::Object started_object(Napi::Env env, const StartedHelper& h) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, h.pid));
  out.Set("pidfd", Napi::Number::New(env, h.pidfd));
  out.Set("sock", Napi::Number::New(env, h.sock));
  return out;
}

// spawnHelper(helperPath, plan: Buffer | null, stdio: [in, out, err], extra: number[])
//   -> { pid, pidfd, sock }
// start_helper on this thread; with a null plan, none is queued (sendPlan
// gives it). The container gets stdio as 0, 1, 2 and `extra`
// (--preserve-fds) as 3, 4, ...
Napi::Value SpawnHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string helper = info[0].As<Napi::String>();
  std::vector<int> sources = helper_sources(info[2].As<Napi::Array>(), info[3].As<Napi::Array>());
  const char* plan = nullptr;
  size_t length = 0;
  if (!info[1].IsNull()) {
    Napi::Buffer<char> buf = info[1].As<Napi::Buffer<char>>();
    plan = buf.Data();
    length = buf.Length();
  }
  StartedHelper h;
  std::string step;
  int err = start_helper(helper, sources, plan, length, h, step);
  if (err != 0) return throw_system_error(env, step, err);
  return started_object(env, h);
}

// spawnHelperEarly(helperPath, stdio, extra) -> Promise<{ pid, pidfd, sock }>:
// start_helper without a plan (sendPlan gives it); unless the helper is
// pre-started, on a thread of the addon's own. posix_spawn holds its
// caller until the child's execve has replaced the memory they share
// (glibc spawns with CLONE_VFORK): 0.1-1 ms, more on a loaded machine,
// during which the runtime can plan instead. Not libuv's pool: a program
// can hold all of its threads (reads of FIFOs without a writer, slow
// lookups), and no launch would then get its helper. The caller keeps the
// descriptors open until the promise settles.
struct EarlySpawn {
  std::string helper;
  std::vector<int> sources;
  Napi::Promise::Deferred deferred;
  // Settles the promise on the JavaScript thread; holds its event loop
  // open until then.
  Napi::ThreadSafeFunction settle;
  StartedHelper started{};
  std::string step{};
  int err = 0;
};

// Never destroyed: at exit the thread still waits on the condition
// variable, whose destructor would wait for it.
struct EarlyQueue {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<EarlySpawn*> queue;
  bool thread = false;
};
EarlyQueue& early = *new EarlyQueue;

void settle_early(Napi::Env env, Napi::Function, EarlySpawn* work) {
  if (work->err != 0) work->deferred.Reject(system_error(env, work->step, work->err).Value());
  else work->deferred.Resolve(started_object(env, work->started));
  delete work;
}

// The spawning thread: one spawn at a time, for as long as the process runs.
void early_spawns() {
  for (;;) {
    EarlySpawn* work;
    {
      std::unique_lock<std::mutex> lock(early.mutex);
      early.wake.wait(lock, [] { return !early.queue.empty(); });
      work = early.queue.front();
      early.queue.pop_front();
    }
    work->err = start_helper(work->helper, work->sources, nullptr, 0, work->started, work->step);
    Napi::ThreadSafeFunction settle = work->settle;
    if (settle.BlockingCall(work, settle_early) != napi_ok) {
      // Its environment is gone (a worker thread that ended): so is
      // whoever would have used the helper, which exits at the end of
      // its socket.
      if (work->err == 0) {
        close(work->started.sock);
        close(work->started.pidfd);
      }
      delete work;
    }
    settle.Release();
  }
}

Napi::Value SpawnHelperEarly(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string helper = info[0].As<Napi::String>();
  std::vector<int> sources = helper_sources(info[1].As<Napi::Array>(), info[2].As<Napi::Array>());
  bool prestarted;
  {
    std::lock_guard<std::mutex> lock(spawner_mutex);
    prestarted = spawner.ctl >= 0 && spawner.helper == helper;
  }
  auto deferred = Napi::Promise::Deferred::New(env);
  Napi::Promise promise = deferred.Promise();
  if (prestarted) {
    // A fork of the pre-started helper takes tens of microseconds: less
    // than handing the work to the spawning thread and back.
    StartedHelper h;
    std::string step;
    int err = start_helper(helper, sources, nullptr, 0, h, step);
    if (err != 0) deferred.Reject(system_error(env, step, err).Value());
    else deferred.Resolve(started_object(env, h));
    return promise;
  }
  auto* work = new EarlySpawn{helper, std::move(sources), deferred, Napi::ThreadSafeFunction::New(env, Napi::Function(), "tsbox:spawnHelperEarly", 0, 1)};
  {
    std::lock_guard<std::mutex> lock(early.mutex);
    if (!early.thread) {
      // Born with every signal blocked, as libuv's threads are: Node's
      // handlers belong to its own threads.
      sigset_t all, old;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, &old);
      std::thread(early_spawns).detach();
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      early.thread = true;
    }
    early.queue.push_back(work);
  }
  early.wake.notify_one();
  return promise;
}

// ---------------------------------------------------------------- messages

// Settles a receive that brought no message: "again" when woken without
// one (a spurious readiness: the caller asks again), null at end of stream
// (every peer closed its end), a rejection on an error. False when a
// message came (err 0): the caller settles with it.
bool settled_without_message(Napi::Env env, int err, Napi::Promise::Deferred& deferred) {
  if (err == 0) return false;
  if (err == EAGAIN) deferred.Resolve(Napi::String::New(env, "again"));
  else if (err == -1 || err == ECONNRESET) deferred.Resolve(env.Null());
  else deferred.Reject(system_error(env, "recvmsg", err).Value());
  return true;
}

void settle_record(Napi::Env env, int sock, Napi::Promise::Deferred& deferred) {
  wire::Record rec;
  int fd = -1;
  if (settled_without_message(env, wire::recv_record(sock, rec, fd), deferred)) return;
  Napi::Array fields = Napi::Array::New(env, rec.size());
  for (uint32_t i = 0; i < rec.size(); i++) fields.Set(i, Napi::String::New(env, rec[i]));
  Napi::Object out = Napi::Object::New(env);
  out.Set("fields", fields);
  out.Set("fd", Napi::Number::New(env, fd));
  deferred.Resolve(out);
}

// recv(sock) -> Promise<{ fields: string[], fd: number } | null | "again">
// null is end of stream: every peer closed its end (on success, the init's
// execve did).
Napi::Value Recv(const Napi::CallbackInfo& info) {
  int sock = info[0].As<Napi::Number>().Int32Value();
  return Poller::start(info.Env(), sock, settle_record);
}

// sendPlan(sock, plan: Buffer): the plan for a helper spawned without one.
Napi::Value SendPlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<char> plan = info[1].As<Napi::Buffer<char>>();
  int err = queue_plan(sock, plan.Data(), plan.Length());
  if (err != 0) return throw_system_error(env, "send launch plan", err);
  return env.Undefined();
}

// send(sock, fields: string[])
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = info[0].As<Napi::Number>().Int32Value();
  Napi::Array arr = info[1].As<Napi::Array>();
  wire::Record rec;
  for (uint32_t i = 0; i < arr.Length(); i++) rec.push_back(arr.Get(i).As<Napi::String>());
  int err = wire::send_record(sock, rec);
  if (err != 0) return throw_system_error(env, "sendmsg", err);
  return env.Undefined();
}

// ------------------------------------------------------------- packets

// A SOCK_SEQPACKET pair for a peer that speaks its own messages (CRIU's
// RPC, `criu swrk`): packets are raw bytes, not wire records.

// seqpacketPair() -> [ours, theirs]: both close-on-exec (a child gets
// `theirs` by dup2, as a stdio entry); ours is non-blocking (recvPacket
// waits through libuv).
Napi::Value SeqpacketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return throw_system_error(env, "socketpair", errno);
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, sv[0]));
  out.Set(1u, Napi::Number::New(env, sv[1]));
  return out;
}

void settle_packet(Napi::Env env, int sock, Napi::Promise::Deferred& deferred) {
  std::string buf;
  int fd = -1;
  if (settled_without_message(env, wire::recv_datagram(sock, buf, fd), deferred)) return;
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<char>::Copy(env, buf.data(), buf.size()));
  out.Set("fd", Napi::Number::New(env, fd));
  deferred.Resolve(out);
}

// recvPacket(sock) -> Promise<{ data: Buffer, fd: number } | null | "again">
// fd: a descriptor that came with the packet (SCM_RIGHTS, close-on-exec) or -1;
// null at end of stream (the peer closed its end, or exited).
Napi::Value RecvPacket(const Napi::CallbackInfo& info) {
  int sock = info[0].As<Napi::Number>().Int32Value();
  return Poller::start(info.Env(), sock, settle_packet);
}

// sendPacket(sock, data: Buffer)
Napi::Value SendPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  int err = wire::send_bytes(sock, std::string(data.Data(), data.Length()));
  if (err != 0) return throw_system_error(env, "sendmsg", err);
  return env.Undefined();
}

// ------------------------------------------------------------------ exits

void settle_exit(Napi::Env env, int pidfd, Napi::Promise::Deferred& deferred) {
  siginfo_t si = {};
  // P_PIDFD names exactly this process, so no other child of this Node
  // process can be reaped by mistake, and a reused pid cannot confuse us.
  if (waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &si, WEXITED | WNOHANG) != 0) {
    deferred.Reject(system_error(env, "waitid", errno).Value());
    return;
  }
  Napi::Object out = Napi::Object::New(env);
  if (si.si_pid == 0) {
    deferred.Resolve(Napi::String::New(env, "again"));
    return;
  }
  bool signaled = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
  out.Set("code", signaled ? env.Null() : Napi::Number::New(env, si.si_status));
  out.Set("signal", signaled ? Napi::Number::New(env, si.si_status) : env.Null());
  deferred.Resolve(out);
}

// waitExit(pidfd) -> Promise<{ code: number|null, signal: number|null } | "again">
// Reaps the process when it exits; the pidfd stays open for the caller to close.
Napi::Value WaitExit(const Napi::CallbackInfo& info) {
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  return Poller::start(info.Env(), pidfd, settle_exit);
}

// readable(fd) -> Promise<void>: e.g. a pidfd of a process that is not our
// child (waitExit cannot reap it), which becomes readable when it exits.
Napi::Value Readable(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  return Poller::start(info.Env(), fd, [](Napi::Env env, int, Napi::Promise::Deferred& d) { d.Resolve(env.Undefined()); });
}

// reapInBackground(pidfd): reaps a child this process does not wait for (a
// created container's init, a detached exec) whenever it exits, and closes
// the pidfd. All in C++, with no JS involved: the exit may come while Node
// is tearing down, when calling into JS is fatal. The poll is unref'd, so it
// never keeps Node running; if Node ends first, whoever inherits the child
// reaps it.
struct Reaper {
  uv_poll_t handle;
  int pidfd;
};

void on_reapable(uv_poll_t* handle, int status, int) {
  auto* r = static_cast<Reaper*>(handle->data);
  siginfo_t si = {};
  int rc = waitid(static_cast<idtype_t>(P_PIDFD), r->pidfd, &si, WEXITED | WNOHANG);
  // Still running (a spurious wake-up): keep waiting. ECHILD: someone else
  // (delete) reaped it already.
  if (status >= 0 && rc == 0 && si.si_pid == 0) return;
  uv_poll_stop(handle);
  close(r->pidfd);
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete static_cast<Reaper*>(h->data); });
}

Napi::Value ReapInBackground(const Napi::CallbackInfo& info) {
  auto* r = new Reaper{};
  r->pidfd = info[0].As<Napi::Number>().Int32Value();
  r->handle.data = r;
  int err = uv_poll_init(event_loop(info.Env()), &r->handle, r->pidfd);
  if (err != 0) {
    delete r;
    return throw_system_error(info.Env(), "uv_poll_init", -err);
  }
  uv_poll_start(&r->handle, UV_READABLE | UV_DISCONNECT, on_reapable);
  uv_unref(reinterpret_cast<uv_handle_t*>(&r->handle));
  return info.Env().Undefined();
}

// ---------------------------------------------------------------- helpers

// signal(pidfd, sig) -> errno (0 on success): ESRCH is an answer, not a fault.
Napi::Value Signal(const Napi::CallbackInfo& info) {
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  int rc = static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
  return Napi::Number::New(info.Env(), rc == 0 ? 0 : errno);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// eventfd() -> a non-blocking, CLOEXEC eventfd: cgroup v1 OOM notifications
// (cgroup.event_control) arrive on one; read(8 bytes) takes the count.
Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return throw_system_error(info.Env(), "eventfd", errno);
  return Napi::Number::New(info.Env(), fd);
}

// pipe() -> [readFd, writeFd], both CLOEXEC.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return throw_system_error(env, "pipe2", errno);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

Napi::Value Strerror(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), strerror(info[0].As<Napi::Number>().Int32Value()));
}

// setWindowSize(fd, rows, cols)
Napi::Value SetWindowSize(const Napi::CallbackInfo& info) {
  struct winsize ws = {};
  ws.ws_row = static_cast<unsigned short>(info[1].As<Napi::Number>().Uint32Value());
  ws.ws_col = static_cast<unsigned short>(info[2].As<Napi::Number>().Uint32Value());
  if (ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCSWINSZ, &ws) != 0) {
    return throw_system_error(info.Env(), "ioctl TIOCSWINSZ", errno);
  }
  return info.Env().Undefined();
}

// makeRaw(fd) -> Buffer: puts a terminal in raw mode (cfmakeraw: no echo, no
// line editing, no signal keys, and no output processing, so the
// container's own pty does the \n -> \r\n translation exactly once; libuv's
// raw mode keeps ONLCR on). Returns the previous settings for
// restoreTerminal.
Napi::Value MakeRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct termios saved, raw;
  if (tcgetattr(fd, &saved) != 0) return throw_system_error(env, "tcgetattr", errno);
  raw = saved;
  cfmakeraw(&raw);
  if (tcsetattr(fd, TCSADRAIN, &raw) != 0) return throw_system_error(env, "tcsetattr", errno);
  return Napi::Buffer<char>::Copy(env, reinterpret_cast<char*>(&saved), sizeof saved);
}

// restoreTerminal(fd, saved: Buffer)
Napi::Value RestoreTerminal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<char> saved = info[1].As<Napi::Buffer<char>>();
  struct termios t;
  if (saved.Length() != sizeof t) return throw_system_error(env, "restore terminal", EINVAL);
  memcpy(&t, saved.Data(), sizeof t);
  if (tcsetattr(fd, TCSADRAIN, &t) != 0) return throw_system_error(env, "tcsetattr", errno);
  return env.Undefined();
}

// lock(fd): an exclusive flock, waiting for it. Used by CLI commands, each a
// process doing one thing, to take turns on one container; released when
// the descriptor is closed or the process ends.
Napi::Value Lock(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int rc;
  do {
    rc = flock(fd, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return throw_system_error(info.Env(), "flock", errno);
  return info.Env().Undefined();
}

// pidfdOpen(pid) -> pidfd (CLOEXEC), or -errno (ESRCH: no such process).
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  int pid = info[0].As<Napi::Number>().Int32Value();
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), fd >= 0 ? fd : -errno);
}

// sendFd(socketPath, fd, message, what): connects to a unix socket and
// sends the descriptor (SCM_RIGHTS) with `message` as the data: a terminal's
// master for --console-socket (message "/dev/ptmx"), a seccomp listener with
// the container's state for linux.seccomp.listenerPath. `what` names the
// socket in errors.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = info[1].As<Napi::Number>().Int32Value();
  std::string message = info[2].As<Napi::String>();
  std::string what = info[3].As<Napi::String>();
  std::string where = what + " \"" + path + "\"";
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return throw_system_error(env, where, ENAMETOOLONG);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return throw_system_error(env, "socket", errno);
  if (connect(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(sock);
    return throw_system_error(env, "connect to " + where, err);
  }
  int err = wire::send_bytes(sock, message, fd);
  close(sock);
  if (err != 0) return throw_system_error(env, "send to " + where, err);
  return env.Undefined();
}

// connectStream(path) -> fd: a non-blocking unix stream socket connected
// to path (`tsbox start` to the init's start socket). The same connect as
// node:net's, without loading node:net and the stream modules for one
// connection (~4 ms of CPU per `start`). Errors carry the errno's code
// (ECONNREFUSED: nobody listens any more).
Napi::Value ConnectStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return throw_system_error(env, "connect", ENAMETOOLONG);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (sock < 0) return throw_system_error(env, "socket", errno);
  if (connect(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(sock);
    return throw_system_error(env, "connect", err);
  }
  return Napi::Number::New(env, sock);
}

void settle_chunk(Napi::Env env, int sock, Napi::Promise::Deferred& deferred) {
  char buf[4096];
  ssize_t n;
  do {
    n = read(sock, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) {
    deferred.Resolve(Napi::String::New(env, "again"));
  } else if (n < 0 && errno != ECONNRESET) {
    deferred.Reject(system_error(env, "read", errno).Value());
  } else if (n <= 0) {
    deferred.Resolve(env.Null());
  } else {
    deferred.Resolve(Napi::Buffer<char>::Copy(env, buf, static_cast<size_t>(n)));
  }
}

// readStream(sock) -> Promise<Buffer | null | "again">: what a stream
// socket has to read once it is readable; null at end of stream (the peer
// closed its end: on success, the init's execve did).
Napi::Value ReadStream(const Napi::CallbackInfo& info) {
  int sock = info[0].As<Napi::Number>().Int32Value();
  return Poller::start(info.Env(), sock, settle_chunk);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("lock", Napi::Function::New(env, Lock));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("sendFd", Napi::Function::New(env, SendFd));
  exports.Set("connectStream", Napi::Function::New(env, ConnectStream));
  exports.Set("readStream", Napi::Function::New(env, ReadStream));
  exports.Set("makeRaw", Napi::Function::New(env, MakeRaw));
  exports.Set("restoreTerminal", Napi::Function::New(env, RestoreTerminal));
  exports.Set("spawnHelper", Napi::Function::New(env, SpawnHelper));
  exports.Set("spawnHelperEarly", Napi::Function::New(env, SpawnHelperEarly));
  exports.Set("helperImage", Napi::Function::New(env, HelperImageInfo));
  exports.Set("startHelperServer", Napi::Function::New(env, StartHelperServer));
  exports.Set("stopHelperServer", Napi::Function::New(env, StopHelperServer));
  exports.Set("recv", Napi::Function::New(env, Recv));
  exports.Set("send", Napi::Function::New(env, Send));
  exports.Set("sendPlan", Napi::Function::New(env, SendPlan));
  exports.Set("seqpacketPair", Napi::Function::New(env, SeqpacketPair));
  exports.Set("recvPacket", Napi::Function::New(env, RecvPacket));
  exports.Set("sendPacket", Napi::Function::New(env, SendPacket));
  exports.Set("waitExit", Napi::Function::New(env, WaitExit));
  exports.Set("readable", Napi::Function::New(env, Readable));
  exports.Set("reapInBackground", Napi::Function::New(env, ReapInBackground));
  exports.Set("signal", Napi::Function::New(env, Signal));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("eventfd", Napi::Function::New(env, Eventfd));
  exports.Set("strerror", Napi::Function::New(env, Strerror));
  exports.Set("setWindowSize", Napi::Function::New(env, SetWindowSize));
  RegisterBpf(env, exports);
  RegisterDatagram(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tsbox, Init)
