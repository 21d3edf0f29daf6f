#include "cli/promote_command.h"

#include <pwd.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/wiring.h"
#include "core/redactor.h"
#include "engine/promotion.h"
#include "engine/run_id.h"
#include "phases/context.h"

namespace promote::cli {
namespace {

ExitCode ExitCodeForRun(engine::RunState state) {
  switch (state) {
    case engine::RunState::kPromoted:
    case engine::RunState::kNothingToDo:
      return ExitCode::kOk;
    case engine::RunState::kAwaitingApproval:
      return ExitCode::kAwaitingApproval;
    case engine::RunState::kRollbackFailed:
      return ExitCode::kRollbackFailed;
    default:
      return ExitCode::kFailed;
  }
}

}  // namespace

std::string CurrentIdentity() {
  for (const char* variable : {"GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER", "LOGNAME"}) {
    if (const char* value = std::getenv(variable); value && *value) return value;
  }
  if (const passwd* entry = ::getpwuid(::geteuid()); entry && entry->pw_name) {
    return entry->pw_name;
  }
  return "unknown";
}

namespace {

/// One run (a promotion, or a restore when `restore`) from the command line to its printed end.
Result<CommandOutcome> StartRun(const GlobalOptions& options, const plan::Plan& plan,
                                const std::string& source, const std::string& target, bool restore,
                                std::shared_ptr<const Redactor> redactor,
                                std::shared_ptr<spdlog::logger> logger, std::ostream& out) {
  auto wiring = Wiring::Create(WiringOptionsFrom(options), plan, redactor, logger);
  if (!wiring) return std::move(wiring).error();
  phases::Context& context = (*wiring)->context();
  engine::PromotionOptions run;
  run.source = source;
  run.target = target;
  run.restore = restore;
  if (options.override_freeze) run.override_freeze = options.reason;
  run.run_id = engine::NewRunId(context.now(), restore ? "restore" : source, target);
  run.state_dir = options.state_dir;
  run.run_dir = std::filesystem::path(options.state_dir) / "runs" / run.run_id;
  run.initiator = CurrentIdentity();
  run.force = options.force;
  run.redactor = redactor;
  logger->info("run {}: {} {} → {} as {}", run.run_id, restore ? "restoring release" : "promoting",
               source, target, run.initiator);
  auto result = engine::Promotion(plan, run).Run(context);
  if (!result) return std::move(result).error();
  return PrintRun(options, run, *result, *redactor, out);
}

}  // namespace

Result<CommandOutcome> RunPromoteCommand(const GlobalOptions& options, const plan::Plan& plan,
                                         const std::string& source, const std::string& target,
                                         std::shared_ptr<const Redactor> redactor,
                                         std::shared_ptr<spdlog::logger> logger,
                                         std::ostream& out) {
  return StartRun(options, plan, source, target, false, std::move(redactor), std::move(logger),
                  out);
}

Result<CommandOutcome> RunRestoreCommand(const GlobalOptions& options, const plan::Plan& plan,
                                         const std::string& target, const std::string& tag,
                                         std::shared_ptr<const Redactor> redactor,
                                         std::shared_ptr<spdlog::logger> logger,
                                         std::ostream& out) {
  return StartRun(options, plan, tag, target, true, std::move(redactor), std::move(logger), out);
}

Result<CommandOutcome> PrintRun(const GlobalOptions& options, const engine::PromotionOptions& run,
                                const engine::PromotionResult& result, const Redactor& redactor,
                                std::ostream& out) {
  const ExitCode code = ExitCodeForRun(result.state);
  if (options.output == "json") {
    nlohmann::json doc = {{"run", run.run_id},
                          {"state", engine::StateName(result.state)},
                          {"summary", result.summary},
                          {"tag", result.tag},
                          {"journal", (run.run_dir / "events.jsonl").string()},
                          {"nextSteps", result.next_steps},
                          {"exitCode", static_cast<int>(code)}};
    out << redactor.Redact(doc.dump(2)) << "\n";
  } else {
    std::string text = "Run " + run.run_id + ": " + engine::StateName(result.state) + "\n  " +
                       result.summary + "\n";
    for (const auto& step : result.next_steps) text += "  run: " + step + "\n";
    if (result.state == engine::RunState::kAwaitingApproval) {
      text += "  its state is saved; see it with: promote --state-dir " + options.state_dir +
              " status " + run.run_id + "\n  approve it with: promote approve " + run.run_id +
              ", then: promote resume " + run.run_id + "\n";
    }
    text += "Journal: " + (run.run_dir / "events.jsonl").string() +
            "\nReports: " + (run.run_dir / "promotion.md").string() + ", " +
            (run.run_dir / "audit" / "audit.md").string();
    if (result.state == engine::RunState::kPromoted) {
      text += ", " + (run.run_dir / "after" / "audit.md").string();
    }
    out << redactor.Redact(text) << "\n";
  }
  return CommandOutcome{code};
}

}  // namespace promote::cli
