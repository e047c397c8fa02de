// The launch plan as the helper sees it: plain data decoded from the records
// that lib/plan/encode.ts writes. Every decision about *what* to do (which
// mounts, which flags, which devices) is made in TypeScript, where it is unit
// tested; the helper only decides *when*, and that order lives in init.cc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../wire.h"

namespace plan {

struct Namespace {
  std::string type;  // pid, net, mnt, uts, ipc, cgroup, user, time
  std::string path;  // empty: create a new one; else join this one
};

// One line of a uid_map or gid_map: ids [inside, inside+count) are
// [outside, outside+count) in the parent user namespace.
struct IdRange {
  uint32_t inside = 0, outside = 0, count = 0;
};

struct Mount {
  std::string source, destination, type, data;
  unsigned long flags = 0;        // MS_* flags for the mount itself
  unsigned long propagation = 0;  // MS_SHARED/SLAVE/PRIVATE/UNBINDABLE [|MS_REC]
  // rro, rnosuid, ...: MOUNT_ATTR_* set and cleared on every mount of the
  // tree (mount_setattr(AT_RECURSIVE)).
  uint64_t recursive_set = 0, recursive_clr = 0;
  // An idmapped bind mount (mounts[].uidMappings/gidMappings): the helper
  // prepares it as a detached tree (tree_fd) that the init moves into place.
  std::vector<IdRange> idmap_uids, idmap_gids;
  bool idmap_recursive = false;  // the idmap applies to the submounts too
  int tree_fd = -1;
  bool copy_up = false;  // tmpcopyup: the image's content at the destination is copied in
};

struct Device {
  std::string path;  // inside the container
  mode_t mode = 0;   // S_IFCHR/S_IFBLK/S_IFIFO | permission bits
  dev_t dev = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Symlink {
  std::string target, path;
};

struct Rlimit {
  std::string name;  // RLIMIT_NOFILE: for messages
  int resource = 0;
  uint64_t soft = 0, hard = 0;
};

struct Sysctl {
  std::string key, value;
};

struct Capabilities {
  bool set = false;  // false: leave the capability sets as they are
  int last_cap = 0;  // the highest capability this kernel knows
  uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
};

// A hook the init runs itself, in the container (createContainer,
// startContainer); the runtime runs the others.
struct Hook {
  std::string phase, path;
  std::vector<std::string> args, env;
  int timeout = 0;  // seconds; 0: none
};

// One linux.seccomp.syscalls rule for one syscall name. Conditions on
// different arguments are ANDed; the planner has split rules whose
// conditions repeat an argument (which runc treats as OR).
struct SeccompArg {
  unsigned index = 0;
  std::string op;  // SCMP_CMP_*
  uint64_t value = 0, value_two = 0;
};

struct SeccompRule {
  std::string where;  // JSON path of the name, for messages
  std::string name, action;
  uint32_t errno_ret = 0;  // for SCMP_ACT_ERRNO and SCMP_ACT_TRACE
  std::vector<SeccompArg> args;
};

// linux.seccomp. To compile (the helper's compile mode): the rules as
// libseccomp takes them. To load (the init): the program libseccomp made of
// them in the compile mode, cached by the runtime (lib/plan/seccomp-cache.ts).
struct Seccomp {
  bool set = false;  // a program to load
  std::string program;  // struct sock_filter[]
  uint32_t load_flags = 0;  // SECCOMP_FILTER_FLAG_*
  std::string default_action;
  uint32_t default_errno = 0;
  std::vector<std::string> arches, flags;
  std::vector<SeccompRule> rules;
};

// sched_setattr(2) arguments (process.scheduler).
struct Scheduler {
  bool set = false;
  uint32_t policy = 0;
  uint64_t flags = 0;
  int32_t nice = 0;
  uint32_t priority = 0;
  uint64_t runtime = 0, deadline = 0, period = 0;
};

// linux.timeOffsets: one clock of a new time namespace (timens_offsets).
// linux.netDevices: a host interface and its name in the container.
struct NetDevice {
  std::string host, name;
};

struct TimeOffset {
  std::string clock;  // monotonic, boottime
  int64_t secs = 0;
  int64_t nanosecs = 0;
};

// linux.memoryPolicy: set_mempolicy(2)'s mode (with its MPOL_F_* flags)
// and nodes.
struct MemoryPolicy {
  bool set = false;
  int mode = 0;
  std::vector<unsigned> nodes;
  std::string text;  // as the config said it, for messages
};

struct Plan {
  // A process joining a running container: no filesystem setup at all.
  bool exec = false;
  std::vector<Namespace> namespaces;
  std::vector<std::string> cgroup_procs;  // cgroup.procs files to join
  // v1 cgroups (memory) the init joins itself once set up, through the
  // `tasks` descriptors the helper opens for it (late_cgroup_fds).
  std::vector<std::string> late_cgroup_procs;
  std::vector<int> late_cgroup_fds;
  // The cgroup is made by someone else (systemd) around the helper itself:
  // report our pid and wait for "go" with the cgroup.procs files to join.
  bool await_cgroup = false;

  std::string rootfs;                 // absolute host path
  unsigned long root_propagation = 0; // applied to "/" before any mount
  std::vector<Mount> mounts;
  std::vector<Device> devices;
  std::vector<Symlink> symlinks;
  std::vector<std::string> mkdirs;  // directories to create (e.g. the cwd)
  std::vector<std::string> masked_paths, readonly_paths;
  bool readonly_root = false;
  unsigned long rootfs_propagation = 0;  // applied to "/" after pivot_root; 0: none
  // --no-pivot: the rootfs is moved over "/" and chrooted into (move_root.h).
  bool no_pivot = false;

  std::vector<Sysctl> sysctls;
  std::string hostname, domainname;
  bool has_hostname = false, has_domainname = false;

  bool terminal = false;
  unsigned short rows = 0, cols = 0;

  std::vector<Rlimit> rlimits;
  bool has_oom_score_adj = false;
  int oom_score_adj = 0;
  bool no_new_privileges = false;
  std::string apparmor_profile;  // empty: none
  std::string selinux_label;     // empty: none
  bool has_ioprio = false;
  int ioprio = 0;  // IOPRIO_PRIO_VALUE(class, level)
  Scheduler scheduler;
  bool has_personality = false;
  unsigned long personality = 0;
  Seccomp seccomp;
  // Only compile `seccomp` and send the program back (no container).
  bool seccomp_compile = false;
  // Only move `net_devices` back from this network namespace (a failed
  // container's, joined by path) into ours (no container).
  std::string net_devices_back;
  Capabilities caps;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool has_umask = false;
  mode_t umask = 022;
  std::string cwd = "/";
  std::vector<std::string> env, args;

  // Stop before execve and wait for "go" from the runtime (hooks, or the
  // create/start split); false: execute as soon as setup is done.
  bool pause = false;
  // With pause: after "ready", wait for `tsbox start` to connect to a unix
  // socket the init listens on at this path (the runtime that created the
  // container is gone by then) instead of a "go" on the sync socket.
  std::string start_socket;

  // The session keyring the process joins (made if none of that name is
  // there); empty: the caller's is kept.
  std::string session_keyring;

  // Stop before pivot_root until the runtime has run its hooks; its "go"
  // carries the state JSON the hooks below read.
  bool hooks_pause = false;
  std::vector<Hook> hooks;

  // process.execCPUAffinity (exec): the CPUs of the helper while it joins
  // the container's cgroups, and of the process from then on; empty: as
  // inherited (and as joining a cpuset cgroup leaves it).
  std::vector<unsigned> cpus_initial, cpus_final;
  std::vector<TimeOffset> time_offsets;
  std::vector<NetDevice> net_devices;
  MemoryPolicy memory_policy;

  // A new user namespace (a "user" namespace without a path): the maps the
  // helper writes, from the parent namespace, before the init goes on.
  std::vector<IdRange> uid_map, gid_map;
  bool setgroups_deny = false;  // write "deny" to setgroups before gid_map
  // Write the maps through these setuid tools (an unprivileged user mapping
  // more than its own ids: /etc/subuid, /etc/subgid); empty: write directly.
  std::string newuidmap, newgidmap;
};

// Decodes a plan. On failure returns false and names the bad record.
bool decode(const char* data, size_t len, Plan& out, std::string& error);

}  // namespace plan
