#include "engine/hook_calls.h"

#include <spdlog/logger.h>

#include "phases/context.h"
#include "phases/step_log.h"

namespace promote::engine {

adapters::hooks::HookReport CallHooks(phases::Context& context, adapters::hooks::HookPoint point,
                                      const adapters::hooks::HookRun& run,
                                      const nlohmann::json& details) {
  adapters::hooks::HookReport report;
  report.point = point;
  if (!context.hooks) return report;
  report = context.hooks->Run(point, run, details);
  for (const auto& warning : report.warnings) context.logger.warn("{}", warning);
  if (report.executions.empty() && report.warnings.empty()) return report;
  const std::string name(adapters::hooks::HookPointName(point));
  if (!report.Passed())
    context.logger.warn("{}", report.Summary());
  else
    context.logger.info("{} hook(s) passed: {}", name, report.executions.size());
  if (context.steps) {
    if (auto noted = context.steps->Note("hook " + name, report.ToJson()); !noted) {
      context.logger.warn("the {} hooks' output is not journaled: {}", name,
                          noted.error().Format());
    }
  }
  return report;
}

}  // namespace promote::engine
