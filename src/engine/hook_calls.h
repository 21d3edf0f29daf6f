// The run's calls to the operator's hooks (adapters/hooks): one function that runs a point's
// hooks through the context, journals what ran (when anything did) and logs what went wrong,
// so every caller (promotion, audit, dry run) reports hooks the same way.
#pragma once

#include <nlohmann/json.hpp>

#include "adapters/hooks/hooks.h"

namespace promote::phases {
struct Context;
}

namespace promote::engine {

/// Runs the hooks of `point` (none when the context has no hook runner) and returns the report;
/// its StopsRun() tells a caller at a `pre-*` point to stop before any change.
adapters::hooks::HookReport CallHooks(phases::Context& context, adapters::hooks::HookPoint point,
                                      const adapters::hooks::HookRun& run,
                                      const nlohmann::json& details);

}  // namespace promote::engine
