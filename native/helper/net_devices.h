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

// Moves each device into the new network namespace of `pid`, renamed, up
// and with the addresses check() noted. Returns 0, or an errno with the
// step that failed, once the devices moved so far are back under their
// host names with their addresses (the caller kills the init, and a
// virtual device left in its namespace would be destroyed with it).
// Nothing to do for a namespace joined by path (move_into_joined).
int move(const plan::Plan& p, pid_t pid, std::string& step);

// The same into the network namespace the container joins by path, before
// the helper joins any namespace (it needs the runtime's network namespace
// and its privileges there); a failure is reported once the devices are
// back. A later failure of the container's leaves them in that namespace,
// which outlives the container: the runtime undoes that with the
// move-back mode (move_back_mode).
void move_into_joined(const plan::Plan& p);

// The move-back mode (main.cc): each device, by its name in the container,
// from the network namespace p.net_devices_back into this process's, under
// its host name, with the permanent global addresses it has there. Every
// device is tried; exits 0, or reports the first failure.
[[noreturn]] void move_back_mode(const plan::Plan& p);

}  // namespace net_devices
