// cgroup2 device programs (native/bpf.cc): adds attachDeviceProgram and
// deviceProgramIds to the addon's exports.
#pragma once

#include <napi.h>

void RegisterBpf(Napi::Env env, Napi::Object exports);
