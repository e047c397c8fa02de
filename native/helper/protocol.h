// The helper protocol, C++ side: the names of the sync messages (drawn in
// main.cc) and the records of a launch plan with their number of fields.
// lib/native/protocol.ts is the TypeScript side; `tsbox-helper --protocol`
// prints this one as JSON, and test/unit/protocol.test.ts holds the two
// together (and round-trips plans through the decoder: --dump-plan).
#pragma once

#include <cstddef>

namespace protocol {

// Sync messages (one wire::Record each; the first field is the name).
// From the helper or the init to the runtime:
constexpr char kCgroupPending[] = "cgroup-pending";  // <helper pid>: systemd's scope is awaited
constexpr char kSpawned[] = "spawned";               // <init pid> + pidfd
constexpr char kPty[] = "pty";                       // + the terminal's master
constexpr char kHooks[] = "hooks";                   // stopped before pivot_root for the runtime's hooks
constexpr char kSeccomp[] = "seccomp";               // + the seccomp listener; answered by go/abort
constexpr char kReady[] = "ready";                   // stopped before execve
constexpr char kWarning[] = "warning";               // <text>: something not applied, said by the runtime
constexpr char kError[] = "error";                   // <step> <errno> <detail>; the sender exits
constexpr char kSeccompProgram[] = "seccomp-program";  // compile mode: <load flags> <hex> <unknown names...>
// From the runtime:
constexpr char kGo[] = "go";        // go on (with cgroup.procs files, or the hooks' states)
constexpr char kAbort[] = "abort";  // stop: the runtime failed and reports why

constexpr const char* kHelperMessages[] = {kCgroupPending, kSpawned, kPty,   kHooks,
                                           kSeccomp,       kReady,   kWarning, kError, kSeccompProgram};
constexpr const char* kRuntimeMessages[] = {kGo, kAbort};

// The records of a launch plan (lib/plan/encode.ts writes them, plan.cc
// reads them). The decoder switches over Record, so a record added here and
// not decoded is a compiler warning.
enum class Record {
  Exec, Ns, CgroupProcs, LateCgroupProcs, AwaitCgroup, Rootfs, RootPropagation, Mount, MountRecursive, MountCopyUp, MountIdmap,
  Device, Symlink, Mkdir, Masked, ReadonlyPath, ReadonlyRoot, RootfsPropagation, NoPivot, Sysctl, Hostname,
  Domainname, Terminal, Rlimit, OomScoreAdj, NoNewPrivileges, ApparmorProfile, SelinuxLabel, Ioprio,
  Scheduler, Personality, SeccompProgram, SeccompCompile, Seccomp, SeccompRule, Capabilities, User,
  Umask, Cwd, Env, Args, HooksPause, Hook, StartSocket, Pause, SessionKeyring, UidMap, GidMap, SetgroupsDeny, IdmapTools,
  ExecCpuAffinity, TimeOffset, MemoryPolicy, NetDevice, NetDevicesBack,
};

struct RecordShape {
  Record record;
  const char* name;
  size_t fields;  // after the name
  bool more;      // true: at least `fields`, the rest as the record says
};

constexpr RecordShape kPlanRecords[] = {
    {Record::Exec, "exec", 0, false},
    {Record::Ns, "ns", 2, false},  // type, path ("": a new one)
    {Record::CgroupProcs, "cgroup-procs", 1, false},
    {Record::LateCgroupProcs, "late-cgroup-procs", 1, false},
    {Record::AwaitCgroup, "await-cgroup", 0, false},
    {Record::Rootfs, "rootfs", 1, false},
    {Record::RootPropagation, "root-propagation", 1, false},
    {Record::Mount, "mount", 6, false},  // source, destination, type, flags, data, propagation
    {Record::MountRecursive, "mount-recursive", 2, false},  // MOUNT_ATTR_* set, cleared (AT_RECURSIVE)
    {Record::MountCopyUp, "mount-copy-up", 0, false},  // tmpcopyup: the image's content copied into the tmpfs
    // recursive, number of uid ranges, the uid ranges, the gid ranges (3 fields each)
    {Record::MountIdmap, "mount-idmap", 2, true},
    {Record::Device, "device", 7, false},  // path, type, major, minor, mode, uid, gid
    {Record::Symlink, "symlink", 2, false},  // target, path
    {Record::Mkdir, "mkdir", 1, false},
    {Record::Masked, "masked", 1, false},
    {Record::ReadonlyPath, "readonly-path", 1, false},
    {Record::ReadonlyRoot, "readonly-root", 0, false},
    {Record::RootfsPropagation, "rootfs-propagation", 1, false},
    {Record::NoPivot, "no-pivot", 0, false},
    {Record::Sysctl, "sysctl", 2, false},
    {Record::Hostname, "hostname", 1, false},
    {Record::Domainname, "domainname", 1, false},
    {Record::Terminal, "terminal", 2, false},  // rows, cols
    {Record::Rlimit, "rlimit", 4, false},  // name, resource, soft, hard
    {Record::OomScoreAdj, "oom-score-adj", 1, false},
    {Record::NoNewPrivileges, "no-new-privileges", 0, false},
    {Record::ApparmorProfile, "apparmor-profile", 1, false},
    {Record::SelinuxLabel, "selinux-label", 1, false},
    {Record::Ioprio, "ioprio", 1, false},
    {Record::Scheduler, "scheduler", 7, false},  // policy, flags, nice, priority, runtime, deadline, period
    {Record::Personality, "personality", 1, false},
    {Record::SeccompProgram, "seccomp-program", 2, false},  // load flags, the program in hex
    {Record::SeccompCompile, "seccomp-compile", 0, false},
    // default action, errno, number of architectures, the architectures, the flags
    {Record::Seccomp, "seccomp", 3, true},
    // where, name, action, errno, number of conditions, 4 fields each
    {Record::SeccompRule, "seccomp-rule", 5, true},
    // last cap, bounding, effective, permitted, inheritable, ambient
    {Record::Capabilities, "capabilities", 6, false},
    {Record::User, "user", 2, true},  // uid, gid, additional gids
    {Record::Umask, "umask", 1, false},
    {Record::Cwd, "cwd", 1, false},
    {Record::Env, "env", 0, true},
    {Record::Args, "args", 1, true},
    {Record::HooksPause, "hooks-pause", 0, false},
    {Record::Hook, "hook", 4, true},  // phase, path, timeout, number of args, the args, the env
    {Record::StartSocket, "start-socket", 1, false},  // the socket the init waits on for `tsbox start`
    {Record::Pause, "pause", 0, false},
    {Record::SessionKeyring, "session-keyring", 1, false},  // the name of the session keyring to join
    {Record::UidMap, "uid-map", 3, false},  // inside, outside, count
    {Record::GidMap, "gid-map", 3, false},
    {Record::SetgroupsDeny, "setgroups-deny", 0, false},
    {Record::IdmapTools, "idmap-tools", 2, false},  // newuidmap, newgidmap
    {Record::ExecCpuAffinity, "exec-cpu-affinity", 1, true},  // "initial" or "final", the CPUs
    {Record::TimeOffset, "time-offset", 3, false},  // clock, seconds, nanoseconds
    {Record::MemoryPolicy, "memory-policy", 2, true},  // as configured, mode with its flags, the nodes
    {Record::NetDevice, "net-device", 2, false},  // host interface, its name in the container
    {Record::NetDevicesBack, "net-devices-back", 1, false},  // the joined network namespace (its own mode)
};

}  // namespace protocol
