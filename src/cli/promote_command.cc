#include "cli/promote_command.h"

#include <pwd.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/wiring.h"
#include "core/redactor.h"
#include "core/shell_line.h"
#include "engine/promotion.h"
#include "engine/run_id.h"
#include "phases/context.h"
#include "report/run_reports.h"

namespace promote::cli {

std::string CurrentIdentity() {
  for (const char* variable : {"GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER", "LOGNAME"}) {
    if (const char* value = std::getenv(variable); value && *value) return value;
  }
  if (const passwd* entry = ::getpwuid(::geteuid()); entry && entry->pw_name) {
    return entry->pw_name;
  }
  return "unknown";
}

std::filesystem::path ReportDirFor(const GlobalOptions& options,
                                   const std::filesystem::path& run_dir) {
  return options.report_dir.empty() ? run_dir : std::filesystem::path(options.report_dir);
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
  run.request = RequestFrom(options, plan, source, target, restore);
  run.run_id = engine::NewRunId(context.now(), restore ? "restore" : source, target);
  run.state_dir = options.state_dir;
  run.run_dir = std::filesystem::path(options.state_dir) / "runs" / run.run_id;
  run.report_dir = ReportDirFor(options, run.run_dir);
  run.initiator = CurrentIdentity();
  run.redactor = redactor;
  logger->info("run {}: {} {} → {} as {}", run.run_id, restore ? "restoring release" : "promoting",
               source, target, run.initiator);
  report::RunReports reports(run.report_dir, *redactor, *logger);
  auto result = engine::Promotion(plan, run, &reports).Run(context);
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
  const std::string prefix = ShellLine(run.request.command_prefix);
  if (options.output == "json") {
    // Each string is redacted before the dump too: escaping could split a secret apart.
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : result.next_steps) {
      steps.push_back(
          {{"why", redactor.Redact(step.why)}, {"command", redactor.Redact(step.command)}});
    }
    nlohmann::json doc = {
        {"run", run.run_id},
        {"state", engine::StateName(result.state)},
        {"decision", engine::DecisionName(result.plan.decision)},
        {"summary", redactor.Redact(result.summary)},
        {"tag", result.tag},
        {"release", result.release_record.empty()
                        ? nlohmann::json()
                        : nlohmann::json(redactor.Redact(result.release_record))},
        {"blame", result.failure ? nlohmann::json(phases::BlameName(result.failure->blame))
                                 : nlohmann::json()},
        {"journal", (run.run_dir / "events.jsonl").string()},
        {"reports", (run.report_dir / "promotion.md").string()},
        {"nextSteps", steps},
        {"exitCode", static_cast<int>(code)}};
    out << redactor.Redact(doc.dump(2)) << "\n";
    return CommandOutcome{code};
  }
  std::string text =
      "Run " + run.run_id + ": " + engine::StateName(result.state) + "\n  " + result.summary + "\n";
  for (const auto& step : result.next_steps) {
    text += "  next: " + step.why + (step.command.empty() ? "" : "\n    " + step.command) + "\n";
  }
  if (result.state == engine::RunState::kAwaitingApproval) {
    text += "  its state is saved; see it with: " + prefix + " status " + run.run_id +
            "\n  approve it with: " + prefix + " approve " + run.run_id + ", then: " + prefix +
            " resume " + run.run_id + "\n";
  }
  text += "Journal: " + (run.run_dir / "events.jsonl").string() +
          "\nReports: " + (run.report_dir / "promotion.md").string() + ", " +
          (run.report_dir / "promotion.html").string() + ", " +
          (run.report_dir / "audit" / "audit.md").string();
  if (result.state == engine::RunState::kPromoted) {
    text += ", " + (run.report_dir / "after" / "audit.md").string();
  }
  out << redactor.Redact(text) << "\n";
  return CommandOutcome{code};
}

}  // namespace promote::cli
