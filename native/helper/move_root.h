// --no-pivot: entering the rootfs without pivot_root, for a root that
// pivot_root cannot leave (an initramfs, or a runtime started inside a
// chroot): the rootfs mount is moved over "/" and the init chroots into it.
#pragma once

#include <string>

namespace move_root {

// Hides the host's whole procfs and sysfs mounts outside `rootfs` (the
// namespace keeps the host's mounts under the moved rootfs, and a reachable
// full procfs or sysfs mount is what lets a mount of a new one pass the
// kernel's "too revealing" check), then moves the rootfs mount `root` (a
// descriptor of it) onto "/" and makes it the process's root and cwd.
// Fails with a report naming the step.
void enter(int root, const std::string& rootfs);

}  // namespace move_root
