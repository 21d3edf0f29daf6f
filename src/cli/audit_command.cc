#include "cli/audit_command.h"

#include <spdlog/logger.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "adapters/git/release_repo.h"
#include "cli/wiring.h"
#include "core/redactor.h"
#include "core/time_format.h"
#include "engine/hook_calls.h"
#include "engine/promotion.h"
#include "engine/promotion_plan.h"
#include "engine/run_id.h"
#include "phases/audit.h"
#include "plan/freeze.h"
#include "plan/plan.h"
#include "report/audit_json.h"
#include "report/console.h"
#include "report/report_writer.h"

namespace promote::cli {

Result<CommandOutcome> RunAuditCommand(const GlobalOptions& options, const plan::Plan& plan,
                                       const std::string& source, const std::string& target,
                                       AuditMode mode, std::shared_ptr<const Redactor> redactor,
                                       std::shared_ptr<spdlog::logger> logger, std::ostream& out) {
  auto wiring = Wiring::Create(WiringOptionsFrom(options), plan, redactor, logger);
  if (!wiring) return std::move(wiring).error();
  phases::Context& context = (*wiring)->context();

  const auto started = context.now();
  const std::string run_id = engine::NewRunId(started, source, target);
  const std::filesystem::path report_dir =
      options.report_dir.empty() ? std::filesystem::path(options.state_dir) / "runs" / run_id
                                 : std::filesystem::path(options.report_dir);
  const bool dry_run = mode != AuditMode::kAuditOnly;
  logger->info("{} {} → {} (run {})", dry_run ? "dry run" : "audit", source, target, run_id);

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
  const auto bad_releases =
      options.force ? phases::Audit::BadReleases::kAllow : phases::Audit::BadReleases::kBlock;
  phases::AuditReport report;
  if (mode == AuditMode::kRestoreDryRun) {
    auto release = engine::ReleaseToRestore(context, source, target);
    if (!release) return std::move(release).error();
    report = phases::Audit::OfRestore(plan, source, std::move(*release), target, bad_releases)
                 .Run(context);
  } else {
    report = phases::Audit(plan, source, target, bad_releases).Run(context);
  }
  engine::PromotionPlan promotion;
  if (dry_run) {
    std::string tag = mode == AuditMode::kRestoreDryRun
                          ? source
                          : engine::ExpandTagTemplate(plan, target, UtcDate(started));
    // The suffix a second promotion of the day gets (prod-2026-02-01.2), read-only.
    if (context.releases_repo && mode != AuditMode::kRestoreDryRun) {
      if (auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo)) {
        if (auto free = repo->NextFreeName(tag)) tag = *free;
      }
    }
    promotion = engine::PreparePromotion(
        plan, report, (*wiring)->ClusterFor(target), tag,
        context.releases_repo ? context.releases_repo->lexically_normal().string() : "(none)");
  }

  auto paths = report::WriteAuditReports(report, report_dir, *redactor);
  if (!paths) return std::move(paths).error();
  if (dry_run) {
    auto written = report::WriteRedactedFile(
        report_dir / "promotion-plan.json",
        report::PromotionPlanJson(promotion, *redactor).dump(2) + "\n", *redactor);
    if (!written) return std::move(written).error();
  }

  CommandOutcome outcome{ExitCodeForAudit(report)};
  // A dry run is not blocked by a freeze (it changes nothing) but says that the real run would be;
  // a restore is never frozen.
  std::string freeze;
  if (mode == AuditMode::kDryRun) {
    auto active = plan::FreezeAt(plan.FindEnvironment(target)->freeze, context.now());
    if (!active) {
      freeze = "cannot be evaluated: " + active.error().Format();
    } else if (*active) {
      freeze = target + " is frozen by window '" + (*active)->window + "' until " +
               (*active)->ends_local + ": a promotion now would be refused";
    }
  }
  facts.state = "Audited";
  nlohmann::json audited = details;
  audited["recommendation"] = phases::RecommendationName(report.recommendation);
  audited["reason"] = report.recommendation_reason;
  audited["exitCode"] = static_cast<int>(outcome.code);
  audited["reports"] = {{"markdown", paths->markdown.string()}, {"json", paths->json.string()}};
  engine::CallHooks(context, adapters::hooks::HookPoint::kPostAudit, facts, audited);
  // A scheduler alerts on the exit code; on-failure lets it alert through a hook as well. A
  // pending promotion (6) is news, not an alarm.
  audited["message"] = report.recommendation_reason;
  const bool fine = outcome.code == ExitCode::kOk || outcome.code == ExitCode::kPromotionPending;
  engine::CallHooks(
      context,
      fine ? adapters::hooks::HookPoint::kOnSuccess : adapters::hooks::HookPoint::kOnFailure, facts,
      audited);
  if (options.output == "json") {
    nlohmann::json doc = {{"run", run_id},
                          {"audit", report::AuditJson(report)},
                          {"reports",
                           {{"markdown", paths->markdown.string()},
                            {"json", paths->json.string()},
                            {"junit", paths->junit.string()}}},
                          {"exitCode", static_cast<int>(outcome.code)}};
    if (dry_run) {
      doc["promotionPlan"] = report::PromotionPlanJson(promotion, *redactor);
      doc["freeze"] = freeze.empty() ? nlohmann::json(nullptr) : nlohmann::json(freeze);
    }
    out << redactor->Redact(doc.dump(2)) << "\n";
  } else {
    out << redactor->Redact(report::RenderAuditSummary(report));
    if (dry_run) out << report::RenderPromotionPlan(promotion, *redactor);
    if (!freeze.empty()) out << "Freeze: " << redactor->Redact(freeze) << "\n";
    out << "Reports: " << paths->markdown.string() << ", " << paths->json.string() << ", "
        << paths->junit.string() << "\n";
  }
  return outcome;
}

}  // namespace promote::cli
