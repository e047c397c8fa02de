// The helper's inspection modes, for tests that hold the two sides of the
// protocol together without root (test/unit/protocol.test.ts):
//   tsbox-helper --dump-plan   decodes a plan from stdin (plan.cc) and prints
//                              what the helper understood, as JSON;
//   tsbox-helper --protocol    prints protocol.h's names and record shapes.
// Numbers are printed as decimal strings, as they travel on the wire, so
// that 64-bit values reach JavaScript whole.
#include "dump.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>
#include <vector>

#include "protocol.h"

namespace dump {

namespace {

// Builds one JSON value; the caller keeps the brackets balanced.
class Json {
 public:
  std::string out;

  Json& str(const std::string& s) {
    comma();
    out += '"';
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        static const char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
    out += '"';
    return *this;
  }
  template <typename N>
  Json& num(N n) {
    return str(std::to_string(n));
  }
  Json& boolean(bool b) {
    comma();
    out += b ? "true" : "false";
    return *this;
  }
  Json& key(const char* k) {
    str(k);
    out += ':';
    return *this;
  }
  Json& open(char c) {
    comma();
    out += c;
    return *this;
  }
  Json& close(char c) {
    out += c;
    return *this;
  }
  Json& strings(const std::vector<std::string>& v) {
    open('[');
    for (const auto& s : v) str(s);
    return close(']');
  }
  template <typename N>
  Json& nums(const std::vector<N>& v) {
    open('[');
    for (N n : v) num(n);
    return close(']');
  }

 private:
  // Between values: after anything but an opening bracket or a key.
  void comma() {
    if (!out.empty() && out.back() != '[' && out.back() != '{' && out.back() != ':') out += ',';
  }
};

void id_ranges(Json& j, const std::vector<plan::IdRange>& ranges) {
  j.open('[');
  for (const auto& r : ranges) {
    j.open('{');
    j.key("containerID").num(r.inside).key("hostID").num(r.outside).key("size").num(r.count);
    j.close('}');
  }
  j.close(']');
}

const char* device_type(mode_t mode) {
  if (S_ISCHR(mode)) return "c";
  if (S_ISBLK(mode)) return "b";
  if (S_ISFIFO(mode)) return "p";
  return "?";
}

std::string hex(const std::string& bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace

std::string plan_json(const plan::Plan& p) {
  Json j;
  j.open('{');
  j.key("exec").boolean(p.exec);
  j.key("namespaces").open('[');
  for (const auto& ns : p.namespaces) j.open('{').key("type").str(ns.type).key("path").str(ns.path).close('}');
  j.close(']');
  j.key("cgroupProcs").strings(p.cgroup_procs);
  j.key("lateCgroupProcs").strings(p.late_cgroup_procs);
  j.key("awaitCgroup").boolean(p.await_cgroup);
  j.key("rootfs").str(p.rootfs);
  j.key("rootPropagation").num(p.root_propagation);
  j.key("mounts").open('[');
  for (const auto& m : p.mounts) {
    j.open('{');
    j.key("source").str(m.source).key("destination").str(m.destination).key("type").str(m.type);
    j.key("flags").num(m.flags).key("data").str(m.data).key("propagation").num(m.propagation);
    j.key("recursiveSet").num(m.recursive_set).key("recursiveClear").num(m.recursive_clr);
    j.key("idmapUids");
    id_ranges(j, m.idmap_uids);
    j.key("idmapGids");
    id_ranges(j, m.idmap_gids);
    j.key("idmapRecursive").boolean(m.idmap_recursive);
    j.key("copyUp").boolean(m.copy_up);
    j.close('}');
  }
  j.close(']');
  j.key("devices").open('[');
  for (const auto& d : p.devices) {
    j.open('{');
    j.key("path").str(d.path).key("type").str(device_type(d.mode)).key("major").num(major(d.dev));
    j.key("minor").num(minor(d.dev)).key("mode").num(d.mode & 07777).key("uid").num(d.uid).key("gid").num(d.gid);
    j.close('}');
  }
  j.close(']');
  j.key("symlinks").open('[');
  for (const auto& s : p.symlinks) j.open('{').key("target").str(s.target).key("path").str(s.path).close('}');
  j.close(']');
  j.key("mkdirs").strings(p.mkdirs);
  j.key("maskedPaths").strings(p.masked_paths);
  j.key("readonlyPaths").strings(p.readonly_paths);
  j.key("readonlyRoot").boolean(p.readonly_root);
  j.key("rootfsPropagation").num(p.rootfs_propagation);
  if (p.no_pivot) j.key("noPivot").boolean(true);
  j.key("sysctls").open('[');
  for (const auto& s : p.sysctls) j.strings({s.key, s.value});
  j.close(']');
  if (p.has_hostname) j.key("hostname").str(p.hostname);
  if (p.has_domainname) j.key("domainname").str(p.domainname);
  if (p.terminal) j.key("terminal").open('{').key("rows").num(p.rows).key("cols").num(p.cols).close('}');
  j.key("rlimits").open('[');
  for (const auto& r : p.rlimits) {
    j.open('{');
    j.key("name").str(r.name).key("resource").num(r.resource).key("soft").num(r.soft).key("hard").num(r.hard);
    j.close('}');
  }
  j.close(']');
  if (p.has_oom_score_adj) j.key("oomScoreAdj").num(p.oom_score_adj);
  j.key("noNewPrivileges").boolean(p.no_new_privileges);
  if (!p.apparmor_profile.empty()) j.key("apparmorProfile").str(p.apparmor_profile);
  if (!p.selinux_label.empty()) j.key("selinuxLabel").str(p.selinux_label);
  if (p.has_ioprio) j.key("ioPriority").num(p.ioprio);
  if (p.scheduler.set) {
    const plan::Scheduler& s = p.scheduler;
    j.key("scheduler").open('{');
    j.key("policy").num(s.policy).key("flags").num(s.flags).key("nice").num(s.nice).key("priority").num(s.priority);
    j.key("runtime").num(s.runtime).key("deadline").num(s.deadline).key("period").num(s.period);
    j.close('}');
  }
  if (p.has_personality) j.key("personality").num(p.personality);
  if (p.seccomp.set) {
    j.key("seccompProgram").open('{').key("loadFlags").num(p.seccomp.load_flags).key("program").str(hex(p.seccomp.program));
    j.close('}');
  }
  if (p.seccomp_compile) {
    const plan::Seccomp& s = p.seccomp;
    j.key("seccomp").open('{');
    j.key("defaultAction").str(s.default_action).key("defaultErrno").num(s.default_errno);
    j.key("architectures").strings(s.arches).key("flags").strings(s.flags);
    j.key("rules").open('[');
    for (const auto& r : s.rules) {
      j.open('{');
      j.key("where").str(r.where).key("name").str(r.name).key("action").str(r.action).key("errno").num(r.errno_ret);
      j.key("args").open('[');
      for (const auto& a : r.args) {
        j.open('{');
        j.key("index").num(a.index).key("op").str(a.op).key("value").num(a.value).key("valueTwo").num(a.value_two);
        j.close('}');
      }
      j.close(']').close('}');
    }
    j.close(']').close('}');
  }
  if (p.caps.set) {
    const plan::Capabilities& c = p.caps;
    j.key("capabilities").open('{');
    j.key("lastCap").num(c.last_cap).key("bounding").num(c.bounding).key("effective").num(c.effective);
    j.key("permitted").num(c.permitted).key("inheritable").num(c.inheritable).key("ambient").num(c.ambient);
    j.close('}');
  }
  j.key("user").open('{').key("uid").num(p.uid).key("gid").num(p.gid).key("groups").nums(p.groups).close('}');
  if (p.has_umask) j.key("umask").num(p.umask);
  j.key("cwd").str(p.cwd);
  j.key("env").strings(p.env);
  j.key("args").strings(p.args);
  j.key("pause").boolean(p.pause);
  if (!p.start_socket.empty()) j.key("startSocket").str(p.start_socket);
  if (!p.session_keyring.empty()) j.key("sessionKeyring").str(p.session_keyring);
  j.key("hooksPause").boolean(p.hooks_pause);
  j.key("hooks").open('[');
  for (const auto& h : p.hooks) {
    j.open('{');
    j.key("phase").str(h.phase).key("path").str(h.path).key("args").strings(h.args).key("env").strings(h.env);
    j.key("timeout").num(h.timeout);
    j.close('}');
  }
  j.close(']');
  if (!p.cpus_initial.empty() || !p.cpus_final.empty()) {
    j.key("execCpuAffinity").open('{').key("initial").nums(p.cpus_initial).key("final").nums(p.cpus_final).close('}');
  }
  j.key("timeOffsets").open('[');
  for (const auto& t : p.time_offsets) {
    j.open('{').key("clock").str(t.clock).key("secs").num(t.secs).key("nanosecs").num(t.nanosecs).close('}');
  }
  j.close(']');
  if (p.memory_policy.set) {
    const plan::MemoryPolicy& m = p.memory_policy;
    j.key("memoryPolicy").open('{').key("text").str(m.text).key("mode").num(m.mode).key("nodes").nums(m.nodes).close('}');
  }
  if (!p.net_devices_back.empty()) j.key("netDevicesBack").str(p.net_devices_back);
  if (!p.net_devices.empty()) {
    j.key("netDevices").open('[');
    for (const auto& d : p.net_devices) j.open('{').key("host").str(d.host).key("name").str(d.name).close('}');
    j.close(']');
  }
  if (!p.uid_map.empty() || !p.gid_map.empty()) {
    j.key("userns").open('{');
    j.key("uidMappings");
    id_ranges(j, p.uid_map);
    j.key("gidMappings");
    id_ranges(j, p.gid_map);
    j.key("setgroupsDeny").boolean(p.setgroups_deny);
    if (!p.newuidmap.empty()) j.key("tools").open('{').key("newuidmap").str(p.newuidmap).key("newgidmap").str(p.newgidmap).close('}');
    j.close('}');
  }
  j.close('}');
  return j.out + "\n";
}

std::string protocol_json() {
  Json j;
  j.open('{');
  j.key("helperMessages").open('[');
  for (const char* m : protocol::kHelperMessages) j.str(m);
  j.close(']');
  j.key("runtimeMessages").open('[');
  for (const char* m : protocol::kRuntimeMessages) j.str(m);
  j.close(']');
  j.key("planRecords").open('{');
  for (const auto& r : protocol::kPlanRecords) {
    j.key(r.name).open('{').key("fields").num(r.fields).key("more").boolean(r.more).close('}');
  }
  j.close('}').close('}');
  return j.out + "\n";
}

}  // namespace dump
