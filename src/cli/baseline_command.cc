#include "cli/baseline_command.h"

#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/promote_command.h"
#include "cli/wiring.h"
#include "core/redactor.h"
#include "engine/run_id.h"
#include "phases/baseline.h"
#include "plan/plan.h"

namespace promote::cli {

Result<CommandOutcome> RunBaselineCommand(const GlobalOptions& options, const plan::Plan& plan,
                                          const std::string& env,
                                          std::shared_ptr<const Redactor> redactor,
                                          std::shared_ptr<spdlog::logger> logger,
                                          std::ostream& out) {
  auto wiring = Wiring::Create(WiringOptionsFrom(options), plan, redactor, logger);
  if (!wiring) return std::move(wiring).error();
  phases::Context& context = (*wiring)->context();
  const std::string run_id = engine::NewRunId(context.now(), "baseline", env);
  auto result = phases::Baseline(plan, env, CurrentIdentity(), run_id)
                    .Run(context, options.dry_run ? phases::BaselineMode::kDryRun
                                                  : phases::BaselineMode::kRecord);
  if (!result) return std::move(result).error();
  if (options.output == "json") {
    nlohmann::json services = nlohmann::json::object();
    for (const auto& [service, image] : result->manifest.services) {
      services[service] = {
          {"image", image.image},
          {"digest", image.digest ? nlohmann::json(*image.digest) : nlohmann::json()}};
    }
    const nlohmann::json doc = {{"tag", result->tag},
                                {"written", result->written},
                                {"environment", env},
                                {"services", services},
                                {"missing", result->missing}};
    out << redactor->Redact(doc.dump(2)) << "\n";
    return CommandOutcome{};
  }
  std::string text = (result->written ? "Recorded " : "Dry run: would record ") + env +
                     " as it runs now as release " + result->tag + ":\n";
  for (const auto& [service, image] : result->manifest.services) {
    text += "  " + service + ": " + image.image + (image.digest ? " (" + *image.digest + ")" : "") +
            "\n";
  }
  for (const auto& service : result->missing) {
    text += "  " + service + ": no workload in " + env + " (not recorded)\n";
  }
  out << redactor->Redact(text);
  return CommandOutcome{};
}

}  // namespace promote::cli
