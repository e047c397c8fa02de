// tmpcopyup: a new tmpfs gets the image's content at its mount point
// (podman run --read-only, --tmpfs), copied before the container sees it.
#pragma once

#include <string>

namespace copyup {

// Copies what is in the directory `from` (the image's, opened before the
// tmpfs covered it) into the directory `to` (the new tmpfs): files,
// directories, symlinks and other nodes, with their owners, modes and
// times. `destination` names the mount in errors.
void copy_tree(int from, int to, const std::string& destination);

}  // namespace copyup
