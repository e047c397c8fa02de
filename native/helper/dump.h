// The helper's inspection modes (--dump-plan, --protocol): see dump.cc.
#pragma once

#include <string>

#include "plan.h"

namespace dump {

// What the helper understood of a plan, as JSON.
std::string plan_json(const plan::Plan& p);

// protocol.h's message names and plan record shapes, as JSON.
std::string protocol_json();

}  // namespace dump
