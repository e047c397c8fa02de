#include "plan.h"

#include "protocol.h"

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

// Fields [from, n) as numbers (CPUs, memory nodes).
std::vector<unsigned> numbers(const Record& r, size_t from) {
  std::vector<unsigned> out;
  for (size_t i = from; i < r.size(); i++) out.push_back(static_cast<unsigned>(u64_at(r, i)));
  return out;
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

// One record with the number of fields its shape (protocol.h) says,
// applied to the plan; false if its fields do not hold together.
bool apply(protocol::Record kind, const Record& r, Plan& p) {
  using protocol::Record;
  const size_t n = r.size();
  switch (kind) {
    case Record::Exec:
      p.exec = true;
      return true;
    case Record::Ns:
      p.namespaces.push_back({r[1], r[2]});
      return true;
    case Record::CgroupProcs:
      p.cgroup_procs.push_back(r[1]);
      return true;
    case Record::LateCgroupProcs:
      p.late_cgroup_procs.push_back(r[1]);
      return true;
    case Record::AwaitCgroup:
      p.await_cgroup = true;
      return true;
    case Record::Rootfs:
      p.rootfs = r[1];
      return true;
    case Record::RootPropagation:
      p.root_propagation = u64_at(r, 1);
      return true;
    case Record::Mount: {
      Mount m;
      m.source = r[1];
      m.destination = r[2];
      m.type = r[3];
      m.flags = u64_at(r, 4);
      m.data = r[5];
      m.propagation = u64_at(r, 6);
      p.mounts.push_back(m);
      return true;
    }
    case Record::MountRecursive:
      // Applies to the mount record just before it.
      if (p.mounts.empty()) return false;
      p.mounts.back().recursive_set = u64_at(r, 1);
      p.mounts.back().recursive_clr = u64_at(r, 2);
      return true;
    case Record::MountCopyUp:
      // tmpcopyup, for the mount record just before it.
      if (p.mounts.empty()) return false;
      p.mounts.back().copy_up = true;
      return true;
    case Record::MountIdmap: {
      // Applies to the mount record just before it.
      if (p.mounts.empty()) return false;
      Mount& m = p.mounts.back();
      m.idmap_recursive = u64_at(r, 1) != 0;
      size_t uids = u64_at(r, 2);
      if (3 + 3 * uids > n || (n - 3 - 3 * uids) % 3 != 0) return false;
      return id_ranges(r, 3, uids, m.idmap_uids) && id_ranges(r, 3 + 3 * uids, (n - 3 - 3 * uids) / 3, m.idmap_gids);
    }
    case Record::Device: {
      Device d;
      d.path = r[1];
      mode_t type = r[2] == "c" ? S_IFCHR : r[2] == "b" ? S_IFBLK : r[2] == "p" ? S_IFIFO : 0;
      if (type == 0) return false;
      d.dev = makedev(u64_at(r, 3), u64_at(r, 4));
      d.mode = type | (u64_at(r, 5) & 07777);
      d.uid = u64_at(r, 6);
      d.gid = u64_at(r, 7);
      p.devices.push_back(d);
      return true;
    }
    case Record::Symlink:
      p.symlinks.push_back({r[1], r[2]});
      return true;
    case Record::Mkdir:
      p.mkdirs.push_back(r[1]);
      return true;
    case Record::Masked:
      p.masked_paths.push_back(r[1]);
      return true;
    case Record::ReadonlyPath:
      p.readonly_paths.push_back(r[1]);
      return true;
    case Record::ReadonlyRoot:
      p.readonly_root = true;
      return true;
    case Record::RootfsPropagation:
      p.rootfs_propagation = u64_at(r, 1);
      return true;
    case Record::NoPivot:
      p.no_pivot = true;
      return true;
    case Record::Sysctl:
      p.sysctls.push_back({r[1], r[2]});
      return true;
    case Record::Hostname:
      p.hostname = r[1];
      p.has_hostname = true;
      return true;
    case Record::Domainname:
      p.domainname = r[1];
      p.has_domainname = true;
      return true;
    case Record::Terminal:
      p.terminal = true;
      p.rows = u64_at(r, 1);
      p.cols = u64_at(r, 2);
      return true;
    case Record::Rlimit:
      p.rlimits.push_back({r[1], static_cast<int>(u64_at(r, 2)), u64_at(r, 3), u64_at(r, 4)});
      return true;
    case Record::OomScoreAdj:
      p.has_oom_score_adj = true;
      p.oom_score_adj = static_cast<int>(to_i64(r[1]));
      return true;
    case Record::NoNewPrivileges:
      p.no_new_privileges = true;
      return true;
    case Record::ApparmorProfile:
      p.apparmor_profile = r[1];
      return true;
    case Record::SelinuxLabel:
      p.selinux_label = r[1];
      return true;
    case Record::Ioprio:
      p.has_ioprio = true;
      p.ioprio = static_cast<int>(u64_at(r, 1));
      return true;
    case Record::Scheduler: {
      Scheduler& s = p.scheduler;
      s.set = true;
      s.policy = static_cast<uint32_t>(u64_at(r, 1));
      s.flags = u64_at(r, 2);
      s.nice = static_cast<int32_t>(to_i64(r[3]));
      s.priority = static_cast<uint32_t>(u64_at(r, 4));
      s.runtime = u64_at(r, 5);
      s.deadline = u64_at(r, 6);
      s.period = u64_at(r, 7);
      return true;
    }
    case Record::Personality:
      p.has_personality = true;
      p.personality = u64_at(r, 1);
      return true;
    case Record::SeccompProgram:
      p.seccomp.set = true;
      p.seccomp.load_flags = static_cast<uint32_t>(u64_at(r, 1));
      return from_hex(r[2], p.seccomp.program) && !p.seccomp.program.empty() && p.seccomp.program.size() % 8 == 0;
    case Record::SeccompCompile:
      p.seccomp_compile = true;
      return true;
    case Record::NetDevicesBack:
      p.net_devices_back = r[1];
      return !p.net_devices_back.empty();
    case Record::Seccomp: {
      Seccomp& s = p.seccomp;
      s.default_action = r[1];
      s.default_errno = static_cast<uint32_t>(u64_at(r, 2));
      size_t narches = u64_at(r, 3);
      if (4 + narches > n) return false;
      s.arches.assign(r.begin() + 4, r.begin() + 4 + narches);
      s.flags.assign(r.begin() + 4 + narches, r.end());
      return true;
    }
    case Record::SeccompRule: {
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
      return true;
    }
    case Record::Capabilities:
      p.caps.set = true;
      p.caps.last_cap = static_cast<int>(u64_at(r, 1));
      p.caps.bounding = u64_at(r, 2);
      p.caps.effective = u64_at(r, 3);
      p.caps.permitted = u64_at(r, 4);
      p.caps.inheritable = u64_at(r, 5);
      p.caps.ambient = u64_at(r, 6);
      return true;
    case Record::User:
      p.uid = u64_at(r, 1);
      p.gid = u64_at(r, 2);
      for (size_t i = 3; i < n; i++) p.groups.push_back(u64_at(r, i));
      return true;
    case Record::Umask:
      p.has_umask = true;
      p.umask = u64_at(r, 1) & 07777;
      return true;
    case Record::Cwd:
      p.cwd = r[1];
      return true;
    case Record::Env:
      p.env.assign(r.begin() + 1, r.end());
      return true;
    case Record::Args:
      p.args.assign(r.begin() + 1, r.end());
      return true;
    case Record::HooksPause:
      p.hooks_pause = true;
      return true;
    case Record::Hook: {
      Hook h;
      h.phase = r[1];
      h.path = r[2];
      h.timeout = static_cast<int>(u64_at(r, 3));
      size_t nargs = u64_at(r, 4);
      if (5 + nargs > n) return false;
      h.args.assign(r.begin() + 5, r.begin() + 5 + nargs);
      h.env.assign(r.begin() + 5 + nargs, r.end());
      p.hooks.push_back(h);
      return true;
    }
    case Record::StartSocket:
      p.pause = true;
      p.start_socket = r[1];
      return true;
    case Record::Pause:
      p.pause = true;
      return true;
    case Record::SessionKeyring:
      p.session_keyring = r[1];
      return true;
    case Record::UidMap:
      return id_ranges(r, 1, 1, p.uid_map);
    case Record::GidMap:
      return id_ranges(r, 1, 1, p.gid_map);
    case Record::SetgroupsDeny:
      p.setgroups_deny = true;
      return true;
    case Record::IdmapTools:
      p.newuidmap = r[1];
      p.newgidmap = r[2];
      return true;
    case Record::ExecCpuAffinity:
      if (r[1] != "initial" && r[1] != "final") return false;
      (r[1] == "initial" ? p.cpus_initial : p.cpus_final) = numbers(r, 2);
      return true;
    case Record::TimeOffset:
      p.time_offsets.push_back({r[1], to_i64(r[2]), to_i64(r[3])});
      return true;
    case Record::MemoryPolicy:
      p.memory_policy.set = true;
      p.memory_policy.text = r[1];
      p.memory_policy.mode = static_cast<int>(u64_at(r, 2));
      p.memory_policy.nodes = numbers(r, 3);
      return true;
    case Record::NetDevice:
      p.net_devices.push_back({r[1], r[2]});
      return true;
  }
  return false;
}

const protocol::RecordShape* shape_of(const std::string& name) {
  for (const auto& shape : protocol::kPlanRecords) {
    if (name == shape.name) return &shape;
  }
  return nullptr;
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
    const protocol::RecordShape* shape = shape_of(rec[0]);
    if (!shape) {
      error = "unknown launch plan record \"" + rec[0] + "\"";
      return false;
    }
    const size_t fields = rec.size() - 1;
    if (fields < shape->fields || (fields > shape->fields && !shape->more) || !apply(shape->record, rec, out)) {
      error = "launch plan record \"" + rec[0] + "\" with " + std::to_string(fields) + " fields is malformed";
      return false;
    }
  }
  if (!out.seccomp_compile && out.net_devices_back.empty() && ((out.rootfs.empty() && !out.exec) || out.args.empty())) {
    error = "launch plan lacks rootfs or args";
    return false;
  }
  return true;
}

}  // namespace plan
