// HOME for the container's process, from the image's /etc/passwd, as runc
// sets it: engines (ctr, BuildKit) leave it to the runtime.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace passwd {

// `env` with HOME set to the home of `uid` in /etc/passwd ("/" if the file,
// or the user in it, is missing), unless it already has a non-empty HOME.
// Reads /etc/passwd as the calling process sees it: call it inside the
// container's root (after pivot_root, or once the mount namespace of a
// running container is joined), so that the image's symlinks resolve
// inside the container and never lead to a file of the host.
std::vector<std::string> with_home(const std::vector<std::string>& env, uid_t uid);

}  // namespace passwd
