// Implementation details: the audit, the dry run and the run share one path to their decision
// (engine::AuditAndPrepare with the same RunRequest the run would build, RequestFrom), so a dry
// run is the run minus the side effects: its decision, tag, changes and freeze are the run's,
// and its exit code is the run's outcome class (ExitCodeForAudit).
#include "cli/audit_command.h"

#include <spdlog/logger.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/wiring.h"
#include "core/redactor.h"
#include "engine/hook_calls.h"
#include "engine/promotion.h"
#include "engine/run_id.h"
#include "engine/run_lock.h"
#include "phases/audit.h"
#include "plan/plan.h"
#include "report/audit_json.h"
#include "report/console.h"
#include "report/report_writer.h"

namespace promote::cli {
namespace {

/// The text printed on stdout: the audit's summary, the dry run's plan, where the reports are.
void PrintText(const phases::AuditReport& report, const engine::RunPlan& plan, bool dry_run,
               const report::ReportPaths& paths, const Redactor& redactor, std::ostream& out) {
  out << redactor.Redact(report::RenderAuditSummary(report));
  if (dry_run) out << report::RenderPromotionPlan(plan, redactor);
  if (plan.freeze.frozen) {
    out << "Freeze: "
        << redactor.Redact(plan.freeze.refuses() ? plan.freeze.refusal
                                                 : plan.freeze.description + " (overridden)")
        << "\n";
  }
  out << "Reports: " << paths.markdown.string() << ", " << paths.json.string() << ", "
      << paths.junit.string() << ", " << paths.html.string() << "\n";
}

}  // namespace

Result<CommandOutcome> RunAuditCommand(const GlobalOptions& options, const plan::Plan& plan,
                                       const std::string& source, const std::string& target,
                                       AuditMode mode, std::shared_ptr<const Redactor> redactor,
                                       std::shared_ptr<spdlog::logger> logger, std::ostream& out) {
  auto wiring = Wiring::Create(WiringOptionsFrom(options), plan, redactor, logger);
  if (!wiring) return std::move(wiring).error();
  phases::Context& context = (*wiring)->context();

  const auto started = context.now();
  const bool restore = mode == AuditMode::kRestoreDryRun;
  const std::string run_id = engine::NewRunId(started, restore ? "restore" : source, target);
  const std::filesystem::path report_dir =
      options.report_dir.empty() ? std::filesystem::path(options.state_dir) / "runs" / run_id
                                 : std::filesystem::path(options.report_dir);
  const bool dry_run = mode != AuditMode::kAuditOnly;
  logger->info("{} {} → {} (run {})", dry_run ? "dry run" : "audit", source, target, run_id);
  // A dry run takes no lock, so it may plan from what a run in progress is changing: say so.
  if (const plan::Environment* env = plan.FindEnvironment(target); dry_run && env) {
    if (auto holder = engine::InspectRunLock(*env, options.state_dir, context.cluster(target));
        holder && *holder) {
      logger->warn(
          "{} is locked by run {} (pid {} on {}, since {}): this dry run takes no lock and plans "
          "from what {} runs now, which that run may be changing",
          target, (*holder)->run_id, (*holder)->pid, (*holder)->host, (*holder)->since, target);
    }
  }

  // Audits and dry runs change nothing, so their hooks are told so; they still alert (nightly).
  adapters::hooks::HookRun facts{run_id,
                                 source,
                                 target,
                                 "Planned",
                                 report_dir,
                                 std::nullopt,
                                 adapters::hooks::RunMode::kDryRun};
  const nlohmann::json details = {{"plan", plan.name}, {"mode", dry_run ? "dry-run" : "audit"}};
  if (auto hooks =
          engine::CallHooks(context, adapters::hooks::HookPoint::kPreAudit, facts, details);
      hooks.StopsRun()) {
    return Error{ErrorKind::kExternal, "stopped before the audit: " + hooks.Summary(),
                 "hook pre-audit", "fix what the hook reports, or remove it from the hooks folder"};
  }
  auto prepared =
      engine::AuditAndPrepare(plan, RequestFrom(options, plan, source, target, restore), context);
  if (!prepared) return std::move(prepared).error();
  const phases::AuditReport& report = prepared->audit;
  const engine::RunPlan& promotion = prepared->plan;

  auto paths = report::WriteAuditReports(report, report_dir, *redactor);
  if (!paths) return std::move(paths).error();
  if (dry_run) {
    auto written = report::WriteRedactedFile(
        report_dir / "promotion-plan.json",
        report::PromotionPlanJson(promotion, *redactor).dump(2) + "\n", *redactor);
    if (!written) return std::move(written).error();
  }

  CommandOutcome outcome{ExitCodeForAudit(report, promotion)};
  facts.state = "Audited";
  nlohmann::json audited = details;
  audited["recommendation"] = engine::DecisionName(promotion.decision);
  audited["reason"] = promotion.reason;
  audited["exitCode"] = static_cast<int>(outcome.code);
  audited["reports"] = {{"markdown", paths->markdown.string()}, {"json", paths->json.string()}};
  engine::CallHooks(context, adapters::hooks::HookPoint::kPostAudit, facts, audited);
  // A scheduler alerts on the exit code; on-failure lets it alert through a hook as well. A
  // pending promotion (6) is news, not an alarm.
  audited["message"] = promotion.reason;
  const bool fine = outcome.code == ExitCode::kOk || outcome.code == ExitCode::kPromotionPending;
  engine::CallHooks(
      context,
      fine ? adapters::hooks::HookPoint::kOnSuccess : adapters::hooks::HookPoint::kOnFailure, facts,
      audited);
  if (options.output == "json") {
    nlohmann::json doc = {{"run", run_id},
                          {"audit", report::AuditJson(report)},
                          {"decision", engine::DecisionName(promotion.decision)},
                          {"reports",
                           {{"markdown", paths->markdown.string()},
                            {"json", paths->json.string()},
                            {"junit", paths->junit.string()},
                            {"html", paths->html.string()}}},
                          {"exitCode", static_cast<int>(outcome.code)}};
    if (dry_run) doc["promotionPlan"] = report::PromotionPlanJson(promotion, *redactor);
    doc["freeze"] = promotion.freeze.frozen
                        ? nlohmann::json(promotion.freeze.refuses() ? promotion.freeze.refusal
                                                                    : promotion.freeze.description)
                        : nlohmann::json(nullptr);
    out << redactor->Redact(doc.dump(2)) << "\n";
  } else {
    PrintText(report, promotion, dry_run, *paths, *redactor, out);
  }
  return outcome;
}

}  // namespace promote::cli
