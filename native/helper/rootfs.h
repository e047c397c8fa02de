// The container's filesystem: mounts, devices and links made inside the
// rootfs, then pivot_root. Every path inside the rootfs is resolved with
// openat2(RESOLVE_IN_ROOT), so a symlink planted in a hostile rootfs resolves
// inside it instead of leading the runtime onto the host, and every mount is
// made onto a descriptor (through /proc/self/fd) rather than onto a path that
// could be swapped between check and use.
#pragma once

#include <string>

#include "plan.h"

namespace rootfs {

// Opens `path` (absolute, inside the container) relative to the root `root`,
// without letting symlinks or ".." leave it. `resolve`: more RESOLVE_* flags
// (RESOLVE_NO_SYMLINKS: a path reached without any symlink). Returns a
// descriptor or -1/errno.
int open_in_root(int root, const std::string& path, int flags, unsigned long long resolve = 0);

// Creates `path` as a regular file (if absent) and returns an O_PATH
// descriptor of it; fails with a report naming `step`.
int ensure_file(int root, const std::string& path, const std::string& step);

// "/proc/self/fd/N": the name through which mount(2) reaches a descriptor.
std::string fd_path(int fd);

// Makes the mount namespace private to the container and bind-mounts the
// rootfs onto itself so it can become the root. Returns an O_PATH descriptor
// of the rootfs.
int enter(const plan::Plan& p);

// Mounts, directories, device nodes and symlinks, in plan order.
void populate(int root, const plan::Plan& p);

// Sysctls, masked and read-only paths: the last changes made while the
// host's /proc is still reachable and before the root may become read-only.
void finish(int root, const plan::Plan& p);

// pivot_root into the rootfs, detaching the old root, then the read-only
// remount and the propagation of the new root.
void pivot(int root, const plan::Plan& p);

}  // namespace rootfs
