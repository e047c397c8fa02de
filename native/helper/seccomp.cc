#include "seccomp.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <string>

#include "report.h"

namespace seccomp {

using report::fail;
using report::quote;

namespace {

// The spec's architecture names are libseccomp's, upper-cased and prefixed:
// SCMP_ARCH_X86_64 is "x86_64". Returns 0 for a name this libseccomp lacks.
uint32_t arch_token(const std::string& spec_name) {
  const std::string prefix = "SCMP_ARCH_";
  if (spec_name.compare(0, prefix.size(), prefix) != 0) return 0;
  std::string name = spec_name.substr(prefix.size());
  for (auto& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return seccomp_arch_resolve_name(name.c_str());
}

// Every architecture the runtime-spec names, for `features`.
constexpr const char* kSpecArches[] = {
    "SCMP_ARCH_X86",       "SCMP_ARCH_X86_64",      "SCMP_ARCH_X32",     "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",   "SCMP_ARCH_MIPS",        "SCMP_ARCH_MIPS64",  "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",    "SCMP_ARCH_MIPSEL64",    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",     "SCMP_ARCH_PPC64LE",     "SCMP_ARCH_S390",    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",    "SCMP_ARCH_PARISC64",    "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",      "SCMP_ARCH_SH",          "SCMP_ARCH_SHEB",
};

// The action names were checked by the TypeScript validator; an unknown one
// here is a bug in the plan, reported as such.
bool action_value(const std::string& name, uint32_t errno_ret, uint32_t& out) {
  // SCMP_ACT_KILL is the historic name of killing the thread.
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") out = SCMP_ACT_KILL_THREAD;
  else if (name == "SCMP_ACT_KILL_PROCESS") out = SCMP_ACT_KILL_PROCESS;
  else if (name == "SCMP_ACT_TRAP") out = SCMP_ACT_TRAP;
  else if (name == "SCMP_ACT_ERRNO") out = SCMP_ACT_ERRNO(errno_ret);
  else if (name == "SCMP_ACT_TRACE") out = SCMP_ACT_TRACE(errno_ret);
  else if (name == "SCMP_ACT_ALLOW") out = SCMP_ACT_ALLOW;
  else if (name == "SCMP_ACT_LOG") out = SCMP_ACT_LOG;
  else if (name == "SCMP_ACT_NOTIFY") out = SCMP_ACT_NOTIFY;
  else return false;
  return true;
}

bool operator_value(const std::string& name, scmp_compare& out) {
  if (name == "SCMP_CMP_NE") out = SCMP_CMP_NE;
  else if (name == "SCMP_CMP_LT") out = SCMP_CMP_LT;
  else if (name == "SCMP_CMP_LE") out = SCMP_CMP_LE;
  else if (name == "SCMP_CMP_EQ") out = SCMP_CMP_EQ;
  else if (name == "SCMP_CMP_GE") out = SCMP_CMP_GE;
  else if (name == "SCMP_CMP_GT") out = SCMP_CMP_GT;
  else if (name == "SCMP_CMP_MASKED_EQ") out = SCMP_CMP_MASKED_EQ;
  else return false;
  return true;
}

// A filter flag as the libseccomp attribute that sets it, and the API level
// (seccomp_api_get) at which this libseccomp and kernel support it.
struct FlagAttr {
  const char* name;
  int attr;  // enum scmp_filter_attr; -1: this libseccomp has no such attribute
  unsigned api;
};

constexpr FlagAttr kFlags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC, 2},
    {"SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG, 3},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB, 4},
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6)
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SCMP_FLTATR_CTL_WAITKILL, 7},
#else
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", -1, 0},
#endif
};

std::string library_version() {
  const scmp_version* v = seccomp_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro);
}

void set_flag(scmp_filter_ctx ctx, const std::string& flag) {
  const std::string step = "seccomp flag " + quote(flag);
  for (const auto& f : kFlags) {
    if (flag != f.name) continue;
    if (f.attr < 0) {
      fail(step, EOPNOTSUPP, "not supported by libseccomp " + library_version() + " (needs 2.6.0 or later)");
    }
    if (seccomp_api_get() < f.api) {
      fail(step, EOPNOTSUPP, "not supported by this kernel and libseccomp " + library_version());
    }
    int err = seccomp_attr_set(ctx, static_cast<scmp_filter_attr>(f.attr), 1);
    if (err != 0) fail(step, -err);
    return;
  }
  fail(step, EINVAL, "unknown seccomp flag");
}

void add_rule(scmp_filter_ctx ctx, const plan::SeccompRule& r, std::vector<std::string>& unknown) {
  const std::string step = "seccomp rule for " + quote(r.name) + " (" + r.where + ")";
  int nr = seccomp_syscall_resolve_name(r.name.c_str());
  if (nr == __NR_SCMP_ERROR) {
    // A name this libseccomp does not know is most likely a system call
    // newer than it, which this kernel may not have either: skipped, as
    // runc does, so that one profile serves old and new hosts.
    unknown.push_back(r.name);
    return;
  }
  uint32_t action;
  if (!action_value(r.action, r.errno_ret, action)) fail(step, EINVAL, "unknown action " + quote(r.action));
  std::vector<scmp_arg_cmp> conditions;
  for (const auto& a : r.args) {
    scmp_arg_cmp c = {};
    c.arg = a.index;
    if (!operator_value(a.op, c.op)) fail(step, EINVAL, "unknown operator " + quote(a.op));
    c.datum_a = a.value;
    c.datum_b = a.value_two;
    conditions.push_back(c);
  }
  int err = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(conditions.size()),
                                   conditions.empty() ? nullptr : conditions.data());
  if (err != 0) fail(step, -err);
}

// A context built from the plan, not loaded.
struct Filter {
  scmp_filter_ctx ctx = nullptr;
  bool notify = false;  // some rule uses SCMP_ACT_NOTIFY: the load asks for a listener fd
};

Filter build(const plan::Seccomp& s, std::vector<std::string>& unknown) {
  uint32_t default_action;
  if (!action_value(s.default_action, s.default_errno, default_action)) {
    fail("seccomp default action", EINVAL, "unknown action " + quote(s.default_action));
  }
  scmp_filter_ctx ctx = seccomp_init(default_action);
  if (ctx == nullptr) fail("seccomp_init", EINVAL);
  // no_new_privs is the config's to decide (process.noNewPrivileges), not
  // libseccomp's: without it, loading needs CAP_SYS_ADMIN, which the init
  // still holds at that point.
  int err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (err != 0) fail("seccomp no_new_privs attribute", -err);
  for (const auto& arch : s.arches) {
    uint32_t token = arch_token(arch);
    if (token == 0) {
      fail("seccomp architecture " + quote(arch), EOPNOTSUPP, "not known to libseccomp " + library_version());
    }
    err = seccomp_arch_add(ctx, token);
    // The native architecture is in every filter already.
    if (err != 0 && err != -EEXIST) fail("seccomp architecture " + quote(arch), -err);
  }
  for (const auto& flag : s.flags) set_flag(ctx, flag);
  // A binary tree instead of a linear list of comparisons makes every
  // system call of a long profile cheaper to filter. Not with few rules:
  // libseccomp up to 2.5.4 misbehaves with the tree and no rules (runc uses
  // the same threshold). Failing to set it only costs speed.
  if (s.rules.size() > 32) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  Filter f;
  f.ctx = ctx;
  for (const auto& r : s.rules) {
    add_rule(ctx, r, unknown);
    if (r.action == "SCMP_ACT_NOTIFY") f.notify = true;
  }
  return f;
}

bool attr_on(scmp_filter_ctx ctx, scmp_filter_attr attr) {
  uint32_t value = 0;
  return seccomp_attr_get(ctx, attr, &value) == 0 && value != 0;
}

// The seccomp(2) flags seccomp_load would use for this context.
uint32_t load_flags(const Filter& f) {
  uint32_t flags = 0;
  if (attr_on(f.ctx, SCMP_FLTATR_CTL_TSYNC)) flags |= SECCOMP_FILTER_FLAG_TSYNC;
  if (attr_on(f.ctx, SCMP_FLTATR_CTL_LOG)) flags |= SECCOMP_FILTER_FLAG_LOG;
  if (attr_on(f.ctx, SCMP_FLTATR_CTL_SSB)) flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  if (f.notify) {
    flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    // The kernel takes TSYNC with a listener only if a thread that cannot
    // be synchronized is reported as ESRCH rather than by its id.
    if (flags & SECCOMP_FILTER_FLAG_TSYNC) flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
  }
  return flags;
}

}  // namespace

// The program is libseccomp's own output (the rule: link libseccomp,
// do not hand-roll BPF); only where it is made moves, from every start to
// once per profile. libseccomp 2.5 exports to a descriptor only.
Compiled compile(const plan::Seccomp& s) {
  Compiled c;
  Filter f = build(s, c.unknown);
  c.load_flags = load_flags(f);
  int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
  if (fd < 0) fail("memfd_create", errno);
  int err = seccomp_export_bpf(f.ctx, fd);
  if (err != 0) fail("export seccomp filter", -err);
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) fail("export seccomp filter", EINVAL, "a program of " + std::to_string(size) + " bytes");
  c.program.resize(static_cast<size_t>(size));
  if (pread(fd, &c.program[0], c.program.size(), 0) != size) fail("read seccomp filter", errno);
  close(fd);
  seccomp_release(f.ctx);
  return c;
}

int load(const plan::Seccomp& s) {
  // The kernel's limit, checked here since prog.len would wrap beyond it.
  if (s.program.size() / sizeof(sock_filter) > BPF_MAXINSNS) {
    fail("load seccomp filter", EINVAL, "a program of " + std::to_string(s.program.size() / sizeof(sock_filter)) +
                                            " instructions (the kernel takes up to " + std::to_string(BPF_MAXINSNS) + ")");
  }
  sock_fprog prog = {};
  prog.len = static_cast<unsigned short>(s.program.size() / sizeof(sock_filter));
  prog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(s.program.data()));
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s.load_flags, &prog);
  if (rc < 0) fail("load seccomp filter", errno);
  if (s.load_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) return static_cast<int>(rc);
  // TSYNC without a listener: a positive value names a thread that could
  // not be synchronized (the init has no other threads).
  if (rc > 0) fail("load seccomp filter", ESRCH, "thread " + std::to_string(rc) + " could not be synchronized");
  return -1;
}

std::string features_json() {
  std::string archs, flags;
  for (const char* arch : kSpecArches) {
    if (arch_token(arch) == 0) continue;
    archs += (archs.empty() ? "\"" : ",\"") + std::string(arch) + "\"";
  }
  const unsigned api = seccomp_api_get();
  for (const auto& f : kFlags) {
    if (f.attr < 0 || api < f.api) continue;
    flags += (flags.empty() ? "\"" : ",\"") + std::string(f.name) + "\"";
  }
  return "{\"version\":\"" + library_version() + "\",\"api\":" + std::to_string(api) + ",\"archs\":[" + archs +
         "],\"supportedFlags\":[" + flags + "]}";
}

}  // namespace seccomp
