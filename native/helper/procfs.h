// Writes to /proc that matter for security (oom_score_adj, sysctls) go
// through descriptors checked to be procfs, never through a path alone: a
// container's config can mount something over /proc/sys or /proc/self/...,
// and a hostile rootfs can plant its own /proc, either of which would
// redirect a write by path to a file of the attacker's choice (the
// CVE-2025-52881 class). Each write starts from a /proc directory whose
// filesystem is procfs (fstatfs), walks to the file with openat2 refusing
// symlinks, magic links and mount crossings, and checks the file it opened
// is on procfs too.
#pragma once

#include <string>

namespace procfs {

// Checks that `dir` (a descriptor of a /proc directory named `name` in
// errors) is the root of a procfs mount; fails with a report otherwise.
// Returns dir.
int verified(int dir, const std::string& name, const std::string& step = "");

// Opens "/proc" of the current root, verified (failing as `step`). O_PATH, CLOEXEC.
int open_root(const std::string& step);

// Opens `relative` (e.g. "sys/net/ipv4/ip_forward") under the verified
// procfs directory `proc`, named `name` (e.g. "/proc") in errors, with
// `flags`. No symlink, magic link or mount is crossed on the way, and the
// result is checked to be on procfs; fails with a report naming the path
// and `step` otherwise.
int open_file(int proc, const std::string& name, const std::string& relative, int flags,
              const std::string& step);

// Like open_file, for a file of this process: "self" is resolved by reading
// the link (the pid as this procfs instance numbers us), then the walk
// continues without following any link.
int open_self(int proc, const std::string& name, const std::string& relative, int flags,
              const std::string& step);

// Writes `value` to the file, opened as by open_file/open_self.
void write_file(int fd, const std::string& value, const std::string& step);

}  // namespace procfs
