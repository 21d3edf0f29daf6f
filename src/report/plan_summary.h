// What a plan would promote, rendered for a person (text) or a machine (JSON). Pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace promote::plan {
struct Plan;
}

namespace promote::report {

/// A few readable lines: environments, waves of services, probes, gates and secrets.
std::string RenderPlanSummary(const plan::Plan& plan);

/// The same facts as JSON (schema "promote/plan-summary/v1").
nlohmann::json PlanSummaryJson(const plan::Plan& plan);

}  // namespace promote::report
