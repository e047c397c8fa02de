// The pre-started helper (`tsbox-helper --spawner`): see spawner.cc.
#pragma once

namespace spawner {

// What a forked helper runs: main.cc's launch, given its sync socket.
using Launch = void (*)(int sync_fd);

// Serves the runtime on `ctl` until it closes its end; never returns.
[[noreturn]] void serve(int ctl, Launch launch);

}  // namespace spawner
