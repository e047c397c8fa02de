// cgroup2 device control: loading the device program lib/cgroups/devices-bpf.ts
// compiles (cgroup2 has no devices.allow/deny files; the kernel asks an eBPF
// program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup instead)
// and attaching it to the container's cgroup directory, replacing the one a
// previous create or update attached.
//
// Programs are attached with BPF_F_ALLOW_MULTI, as runc does: a program that
// the parent cgroups carry (systemd's, an engine's) keeps working, and every
// program on the path must allow an access. The cgroup holds the program:
// our descriptors are closed once it is attached.
#include "bpf.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Our programs carry this name, so an update replaces only tsbox's program
// and never one someone else attached to the same cgroup.
constexpr char kProgName[] = "tsbox_devices";

long sys_bpf(int cmd, union bpf_attr* attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

Napi::Value throw_error(Napi::Env env, const std::string& what, int err, const std::string& detail = "") {
  std::string code = uv_err_name(-err);
  std::string text = strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(tolower(text[0]));
  Napi::Error e = Napi::Error::New(env, what + ": " + text + " (" + code + ")" + detail);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, "bpf"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// Descriptors closed whatever way we leave.
struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int fd : fds) close(fd);
  }
  int keep(int fd) {
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
};

// The last lines of a verifier log, on one line: where it gave up and why.
std::string log_tail(const std::vector<char>& log) {
  std::string text(log.data(), strnlen(log.data(), log.size()));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > 600) text = "..." + text.substr(text.size() - 600);
  for (char& c : text) {
    if (c == '\n') c = ';';
  }
  return text;
}

int load(const uint8_t* insns, size_t size, std::vector<char>* log) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uintptr_t>(insns);
  attr.insn_cnt = static_cast<uint32_t>(size / sizeof(struct bpf_insn));
  // No GPL-only helper is called; the string only has to be there.
  attr.license = reinterpret_cast<uintptr_t>("Apache-2.0");
  memcpy(attr.prog_name, kProgName, sizeof kProgName);
  if (log) {
    attr.log_level = 1;
    attr.log_buf = reinterpret_cast<uintptr_t>(log->data());
    attr.log_size = static_cast<uint32_t>(log->size());
  }
  return static_cast<int>(sys_bpf(BPF_PROG_LOAD, &attr));
}

// Ids of the device programs attached to the cgroup itself (not inherited).
int query(int cgroup, std::vector<uint32_t>* ids) {
  ids->assign(64, 0);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.query.target_fd = cgroup;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = reinterpret_cast<uintptr_t>(ids->data());
  attr.query.prog_cnt = static_cast<uint32_t>(ids->size());
  if (sys_bpf(BPF_PROG_QUERY, &attr) != 0) return errno;
  ids->resize(attr.query.prog_cnt);
  return 0;
}

// A descriptor for one of tsbox's programs by id, or -1 (someone else's, or gone).
int ours(uint32_t id) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_id = id;
  int fd = static_cast<int>(sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr));
  if (fd < 0) return -1;
  struct bpf_prog_info info;
  memset(&info, 0, sizeof info);
  memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = fd;
  attr.info.info_len = sizeof info;
  attr.info.info = reinterpret_cast<uintptr_t>(&info);
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0 || strcmp(info.name, kProgName) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// attachDeviceProgram(cgroupDir, insns: Buffer, replace: boolean)
// Loads the program and attaches it to the cgroup2 directory. With
// `replace` (update), tsbox's previous program there is swapped for it
// atomically (BPF_F_REPLACE) or, if there were several, detached after the
// new one is attached: never a moment without a program.
Napi::Value AttachDeviceProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = info[0].As<Napi::String>();
  Napi::Buffer<uint8_t> insns = info[1].As<Napi::Buffer<uint8_t>>();
  bool replace = info[2].As<Napi::Boolean>();
  Fds fds;

  int cgroup = fds.keep(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cgroup < 0) return throw_error(env, "open cgroup \"" + dir + "\"", errno);

  int prog = fds.keep(load(insns.Data(), insns.Length(), nullptr));
  if (prog < 0) {
    int err = errno;
    // Loaded again with the verifier's log, only to say why.
    std::vector<char> log(256 * 1024, 0);
    int again = load(insns.Data(), insns.Length(), &log);
    if (again >= 0) close(again);
    std::string tail = log_tail(log);
    return throw_error(env, "bpf(BPF_PROG_LOAD) of the device program for \"" + dir + "\"", err,
                       tail.empty() ? "" : "; verifier: " + tail);
  }

  std::vector<int> old;
  if (replace) {
    std::vector<uint32_t> ids;
    if (int err = query(cgroup, &ids)) return throw_error(env, "bpf(BPF_PROG_QUERY) on \"" + dir + "\"", err);
    for (uint32_t id : ids) {
      int fd = fds.keep(ours(id));
      if (fd >= 0) old.push_back(fd);
    }
  }

  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = cgroup;
  attr.attach_bpf_fd = prog;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (old.size() == 1) {
    attr.attach_flags |= BPF_F_REPLACE;
    attr.replace_bpf_fd = old[0];
  }
  if (sys_bpf(BPF_PROG_ATTACH, &attr) != 0) {
    return throw_error(env, "bpf(BPF_PROG_ATTACH) of the device program to \"" + dir + "\"", errno);
  }
  if (old.size() > 1) {
    for (int fd : old) {
      memset(&attr, 0, sizeof attr);
      attr.target_fd = cgroup;
      attr.attach_bpf_fd = fd;
      attr.attach_type = BPF_CGROUP_DEVICE;
      if (sys_bpf(BPF_PROG_DETACH, &attr) != 0 && errno != ENOENT) {
        return throw_error(env, "bpf(BPF_PROG_DETACH) of the old device program from \"" + dir + "\"", errno);
      }
    }
  }
  return env.Undefined();
}

// deviceProgramIds(cgroupDir) -> ids of tsbox's device programs attached there.
Napi::Value DeviceProgramIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = info[0].As<Napi::String>();
  Fds fds;
  int cgroup = fds.keep(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cgroup < 0) return throw_error(env, "open cgroup \"" + dir + "\"", errno);
  std::vector<uint32_t> ids;
  if (int err = query(cgroup, &ids)) return throw_error(env, "bpf(BPF_PROG_QUERY) on \"" + dir + "\"", err);
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (uint32_t id : ids) {
    int fd = ours(id);
    if (fd < 0) continue;
    close(fd);
    out.Set(n++, Napi::Number::New(env, id));
  }
  return out;
}

}  // namespace

void RegisterBpf(Napi::Env env, Napi::Object exports) {
  exports.Set("attachDeviceProgram", Napi::Function::New(env, AttachDeviceProgram));
  exports.Set("deviceProgramIds", Napi::Function::New(env, DeviceProgramIds));
}
