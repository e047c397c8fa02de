#include "plan.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace plan {

namespace {

using wire::Record;
using wire::to_i64;
using wire::to_u64;

uint64_t u64_at(const Record& r, size_t i) { return to_u64(r[i]); }

// Fields [from, from + 3*n) as n id ranges (inside, outside, count).
bool id_ranges(const Record& r, size_t from, size_t n, std::vector<IdRange>& out) {
  if (from + 3 * n > r.size()) return false;
  for (size_t i = 0; i < n; i++) {
    size_t at = from + 3 * i;
    out.push_back({static_cast<uint32_t>(u64_at(r, at)), static_cast<uint32_t>(u64_at(r, at + 1)),
                   static_cast<uint32_t>(u64_at(r, at + 2))});
  }
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Lower-case hex (records are UTF-8 text) to bytes.
bool from_hex(const std::string& hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.resize(hex.size() / 2);
  for (size_t i = 0; i < out.size(); i++) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return true;
}

// The user namespace records (new in the plan for user namespaces and
// idmapped mounts); false if `r` is none of them or is malformed.
bool apply_userns(const Record& r, Plan& p) {
  const std::string& kind = r[0];
  const size_t n = r.size();
  if (kind == "uid-map" && n == 4) return id_ranges(r, 1, 1, p.uid_map);
  if (kind == "gid-map" && n == 4) return id_ranges(r, 1, 1, p.gid_map);
  if (kind == "setgroups-deny" && n == 1) {
    p.setgroups_deny = true;
    return true;
  }
  if (kind == "idmap-tools" && n == 3) {
    p.newuidmap = r[1];
    p.newgidmap = r[2];
    return true;
  }
  // Applies to the mount record just before it.
  if (kind == "mount-idmap" && n >= 3 && !p.mounts.empty()) {
    Mount& m = p.mounts.back();
    m.idmap_recursive = u64_at(r, 1) != 0;
    size_t uids = u64_at(r, 2);
    if (3 + 3 * uids > n || (n - 3 - 3 * uids) % 3 != 0) return false;
    return id_ranges(r, 3, uids, m.idmap_uids) && id_ranges(r, 3 + 3 * uids, (n - 3 - 3 * uids) / 3, m.idmap_gids);
  }
  return false;
}

// Applies one record to the plan; false if the record is unknown or has the
// wrong number of fields.
bool apply(const Record& r, Plan& p) {
  const std::string& kind = r[0];
  const size_t n = r.size();
  if (kind == "exec" && n == 1) {
    p.exec = true;
  } else if (kind == "ns" && n == 3) {
    p.namespaces.push_back({r[1], r[2]});
  } else if (kind == "cgroup-procs" && n == 2) {
    p.cgroup_procs.push_back(r[1]);
  } else if (kind == "late-cgroup-procs" && n == 2) {
    p.late_cgroup_procs.push_back(r[1]);
  } else if (kind == "await-cgroup" && n == 1) {
    p.await_cgroup = true;
  } else if (kind == "rootfs" && n == 2) {
    p.rootfs = r[1];
  } else if (kind == "root-propagation" && n == 2) {
    p.root_propagation = u64_at(r, 1);
  } else if (kind == "mount" && n == 7) {
    Mount m;
    m.source = r[1];
    m.destination = r[2];
    m.type = r[3];
    m.flags = u64_at(r, 4);
    m.data = r[5];
    m.propagation = u64_at(r, 6);
    p.mounts.push_back(m);
  } else if (kind == "mount-copy-up" && n == 1 && !p.mounts.empty()) {
    p.mounts.back().copy_up = true;  // of the mount record just before it
  } else if (kind == "device" && n == 8) {
    Device d;
    d.path = r[1];
    mode_t type = r[2] == "c" ? S_IFCHR : r[2] == "b" ? S_IFBLK : r[2] == "p" ? S_IFIFO : 0;
    if (type == 0) return false;
    d.dev = makedev(u64_at(r, 3), u64_at(r, 4));
    d.mode = type | (u64_at(r, 5) & 07777);
    d.uid = u64_at(r, 6);
    d.gid = u64_at(r, 7);
    p.devices.push_back(d);
  } else if (kind == "symlink" && n == 3) {
    p.symlinks.push_back({r[1], r[2]});
  } else if (kind == "mkdir" && n == 2) {
    p.mkdirs.push_back(r[1]);
  } else if (kind == "masked" && n == 2) {
    p.masked_paths.push_back(r[1]);
  } else if (kind == "readonly-path" && n == 2) {
    p.readonly_paths.push_back(r[1]);
  } else if (kind == "readonly-root" && n == 1) {
    p.readonly_root = true;
  } else if (kind == "rootfs-propagation" && n == 2) {
    p.rootfs_propagation = u64_at(r, 1);
  } else if (kind == "sysctl" && n == 3) {
    p.sysctls.push_back({r[1], r[2]});
  } else if (kind == "hostname" && n == 2) {
    p.hostname = r[1];
    p.has_hostname = true;
  } else if (kind == "domainname" && n == 2) {
    p.domainname = r[1];
    p.has_domainname = true;
  } else if (kind == "terminal" && n == 3) {
    p.terminal = true;
    p.rows = u64_at(r, 1);
    p.cols = u64_at(r, 2);
  } else if (kind == "rlimit" && n == 5) {
    p.rlimits.push_back({r[1], static_cast<int>(u64_at(r, 2)), u64_at(r, 3), u64_at(r, 4)});
  } else if (kind == "oom-score-adj" && n == 2) {
    p.has_oom_score_adj = true;
    p.oom_score_adj = static_cast<int>(to_i64(r[1]));
  } else if (kind == "no-new-privileges" && n == 1) {
    p.no_new_privileges = true;
  } else if (kind == "apparmor-profile" && n == 2) {
    p.apparmor_profile = r[1];
  } else if (kind == "selinux-label" && n == 2) {
    p.selinux_label = r[1];
  } else if (kind == "ioprio" && n == 2) {
    p.has_ioprio = true;
    p.ioprio = static_cast<int>(u64_at(r, 1));
  } else if (kind == "scheduler" && n == 8) {
    Scheduler& s = p.scheduler;
    s.set = true;
    s.policy = static_cast<uint32_t>(u64_at(r, 1));
    s.flags = u64_at(r, 2);
    s.nice = static_cast<int32_t>(to_i64(r[3]));
    s.priority = static_cast<uint32_t>(u64_at(r, 4));
    s.runtime = u64_at(r, 5);
    s.deadline = u64_at(r, 6);
    s.period = u64_at(r, 7);
  } else if (kind == "personality" && n == 2) {
    p.has_personality = true;
    p.personality = u64_at(r, 1);
  } else if (kind == "seccomp-program" && n == 3) {
    // load flags, the program in hex
    p.seccomp.set = true;
    p.seccomp.load_flags = static_cast<uint32_t>(u64_at(r, 1));
    return from_hex(r[2], p.seccomp.program) && !p.seccomp.program.empty() && p.seccomp.program.size() % 8 == 0;
  } else if (kind == "seccomp-compile" && n == 1) {
    p.seccomp_compile = true;
  } else if (kind == "seccomp" && n >= 4) {
    // action, errno, number of architectures, the architectures, the flags
    Seccomp& s = p.seccomp;
    s.default_action = r[1];
    s.default_errno = static_cast<uint32_t>(u64_at(r, 2));
    size_t narches = u64_at(r, 3);
    if (4 + narches > n) return false;
    s.arches.assign(r.begin() + 4, r.begin() + 4 + narches);
    s.flags.assign(r.begin() + 4 + narches, r.end());
  } else if (kind == "seccomp-rule" && n >= 6) {
    // where, name, action, errno, number of conditions, 4 fields each
    SeccompRule rule;
    rule.where = r[1];
    rule.name = r[2];
    rule.action = r[3];
    rule.errno_ret = static_cast<uint32_t>(u64_at(r, 4));
    size_t nargs = u64_at(r, 5);
    if (n != 6 + 4 * nargs) return false;
    for (size_t i = 0; i < nargs; i++) {
      size_t at = 6 + 4 * i;
      rule.args.push_back({static_cast<unsigned>(u64_at(r, at)), r[at + 1], u64_at(r, at + 2), u64_at(r, at + 3)});
    }
    p.seccomp.rules.push_back(rule);
  } else if (kind == "capabilities" && n == 7) {
    p.caps.set = true;
    p.caps.last_cap = static_cast<int>(u64_at(r, 1));
    p.caps.bounding = u64_at(r, 2);
    p.caps.effective = u64_at(r, 3);
    p.caps.permitted = u64_at(r, 4);
    p.caps.inheritable = u64_at(r, 5);
    p.caps.ambient = u64_at(r, 6);
  } else if (kind == "user" && n >= 3) {
    p.uid = u64_at(r, 1);
    p.gid = u64_at(r, 2);
    for (size_t i = 3; i < n; i++) p.groups.push_back(u64_at(r, i));
  } else if (kind == "umask" && n == 2) {
    p.has_umask = true;
    p.umask = u64_at(r, 1) & 07777;
  } else if (kind == "cwd" && n == 2) {
    p.cwd = r[1];
  } else if (kind == "env") {
    p.env.assign(r.begin() + 1, r.end());
  } else if (kind == "args" && n >= 2) {
    p.args.assign(r.begin() + 1, r.end());
  } else if (kind == "pause" && n == 1) {
    p.pause = true;
  } else if (kind == "hooks-pause" && n == 1) {
    p.hooks_pause = true;
  } else if (kind == "hook" && n >= 5) {
    Hook h;
    h.phase = r[1];
    h.path = r[2];
    h.timeout = static_cast<int>(u64_at(r, 3));
    size_t nargs = u64_at(r, 4);
    if (5 + nargs > n) return false;
    h.args.assign(r.begin() + 5, r.begin() + 5 + nargs);
    h.env.assign(r.begin() + 5 + nargs, r.end());
    p.hooks.push_back(h);
  } else if (kind == "start-fifo" && n == 2) {
    p.pause = true;
    p.start_fifo = r[1];
  } else {
    return apply_userns(r, p);
  }
  return true;
}

}  // namespace

bool decode(const char* data, size_t len, Plan& out, std::string& error) {
  wire::Reader reader(data, len);
  Record rec;
  while (!reader.done()) {
    if (!reader.next(rec) || rec.empty()) {
      error = "truncated launch plan";
      return false;
    }
    if (!apply(rec, out)) {
      error = "unknown launch plan record \"" + rec[0] + "\" with " +
              std::to_string(rec.size()) + " fields";
      return false;
    }
  }
  if (!out.seccomp_compile && ((out.rootfs.empty() && !out.exec) || out.args.empty())) {
    error = "launch plan lacks rootfs or args";
    return false;
  }
  return true;
}

}  // namespace plan
