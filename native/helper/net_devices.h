// linux.netDevices (spec 1.3): host network interfaces moved into the
// container's network namespace, renamed as asked, over rtnetlink
// (RTM_NEWLINK with IFLA_NET_NS_FD and IFLA_IFNAME: one request, so the
// new name never has to be free in the runtime's namespace), and set up.
#pragma once

#include <sys/types.h>

#include <string>

#include "plan.h"

namespace net_devices {

// Before the init exists: every device named must be in the runtime's
// network namespace, so a missing one fails with nothing made yet; their
// permanent global addresses are noted (the kernel drops them on a move).
void check(const plan::Plan& p);

// Moves each device into the network namespace of `pid`. Returns 0, or an
// errno with the step that failed, once the devices moved so far are back
// under their host names (the caller kills the init, and a virtual device
// left in its namespace would be destroyed with it).
int move(const plan::Plan& p, pid_t pid, std::string& step);

// In the init, once the helper moved the devices: the addresses noted by
// check() put back on them in the container's namespace, as runc does.
void restore_addresses();

}  // namespace net_devices
