// Implementation details: Machine wraps the state table and the journal, so a state changes
// only after its transition line is on disk. The run holds the target's lock from before the
// audit until it ends. Services are "touched" from the moment their set-image intent is
// journaled; rollback restores every touched service of every wave, not only the failing one.
#include "engine/promotion.h"

#include <spdlog/logger.h>

#include <nlohmann/json.hpp>
#include <set>

#include "adapters/git/release_repo.h"
#include "core/redactor.h"
#include "core/time_format.h"
#include "engine/journal.h"
#include "engine/lock.h"
#include "engine/promotion_plan.h"
#include "phases/context.h"
#include "phases/rollback.h"
#include "phases/tag.h"
#include "phases/targets.h"
#include "phases/validate.h"
#include "plan/plan.h"
#include "report/promotion_report.h"
#include "report/report_writer.h"

namespace promote::engine {
namespace {

using nlohmann::json;

/// The state table plus the journal: MoveTo refuses a transition the table does not allow.
class Machine {
 public:
  explicit Machine(Journal& journal) : journal_(journal) {}

  RunState state() const { return state_; }

  Status MoveTo(RunState next, json detail = json::object()) {
    if (!CanMove(state_, next)) {
      return Error{ErrorKind::kInternal,
                   std::string("no transition ") + StateName(state_) + " → " + StateName(next),
                   "engine/states.cc", "report this as a bug in promote"};
    }
    auto written = journal_.Transition(StateName(next), std::move(detail));
    if (!written) return std::move(written).error();
    state_ = next;
    return Done{};
  }

 private:
  Journal& journal_;
  RunState state_ = RunState::kPlanned;
};

json ChangesJson(const std::vector<phases::ServiceChange>& changes) {
  json out = json::array();
  for (const auto& change : changes) {
    out.push_back(
        {{"service", change.service}, {"from", change.from_image}, {"to", change.to_image}});
  }
  return out;
}

// The release as it will stand in the target: promoted services at the source's image, the
// others at what the target already runs.
adapters::git::ReleaseManifest ManifestFor(const plan::Plan& plan, const phases::AuditReport& audit,
                                           const PromotionOptions& options, const std::string& at) {
  adapters::git::ReleaseManifest manifest;
  manifest.plan = plan.name;
  manifest.source_env = options.source;
  manifest.target_env = options.target;
  manifest.run_id = options.run_id;
  manifest.initiator = options.initiator;
  manifest.created_at = at;
  for (const auto& comparison : audit.comparisons) {
    manifest.services[comparison.service] = {comparison.ReleasedImage(),
                                             comparison.ReleasedDigest()};
  }
  return manifest;
}

// Shares the release tag with the plan's remote. A failed push leaves the release recorded
// locally and the run goes on: the journal and the log say so, and `git push` can finish it.
void PushTag(phases::Context& context, Journal& journal, const std::string& tag) {
  const auto& remote = context.releases_remote;
  if (!remote || !context.releases_repo) return;
  auto intent = journal.Intent("Approved", "push-tag", "", {{"tag", tag}, {"remote", *remote}});
  if (!intent) return;
  auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo);
  auto pushed = repo ? repo->Push(*remote, tag) : Status(repo.error());
  if (pushed) {
    journal.Done(*intent);
    return;
  }
  journal.Failed(*intent, {{"error", pushed.error().Format()}});
  context.logger.warn("release {} is tagged but not pushed to {}: {}", tag, *remote,
                      pushed.error().Format());
}

std::string Join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

}  // namespace

Promotion::Promotion(const plan::Plan& plan, PromotionOptions options)
    : plan_(plan), options_(std::move(options)) {}

Result<PromotionResult> Promotion::Run(phases::Context& context) const {
  const auto started = context.now();
  auto lock = EnvironmentLock::Acquire(options_.state_dir, options_.target,
                                       LockHolder::Current(options_.run_id, started));
  if (!lock) return std::move(lock).error();
  auto journal = Journal::Create(options_.run_dir, options_.run_id, options_.redactor);
  if (!journal) return std::move(journal).error();
  context.journal = &*journal;
  Machine machine(*journal);
  PromotionResult result;

  auto started_line =
      journal->Transition(StateName(RunState::kPlanned), {{"plan", plan_.source_file},
                                                          {"source", options_.source},
                                                          {"target", options_.target},
                                                          {"initiator", options_.initiator}});
  if (!started_line) return std::move(started_line).error();

  // Audit: read-only; its reports live in the run folder.
  const auto bad_releases =
      options_.force ? phases::Audit::BadReleases::kAllow : phases::Audit::BadReleases::kBlock;
  result.audit = phases::Audit(plan_, options_.source, options_.target, bad_releases).Run(context);
  if (auto paths =
          report::WriteAuditReports(result.audit, options_.run_dir / "audit", context.redactor);
      !paths) {
    return std::move(paths).error();
  }
  json diff = json::array();
  for (const auto& c : result.audit.comparisons) {
    diff.push_back({{"service", c.service},
                    {"action", phases::ServiceActionName(c.action)},
                    {"from", c.target_image},
                    {"to", c.DeployImage()}});
  }
  if (auto ok = machine.MoveTo(
          RunState::kAudited,
          {{"recommendation", phases::RecommendationName(result.audit.recommendation)},
           {"diff", diff}});
      !ok) {
    return std::move(ok).error();
  }

  // The run's own report sits beside its journal; failing to write it does not change the
  // outcome, which the journal already holds.
  auto write_report = [&] {
    if (auto written = report::WritePromotionReports(result, options_.run_id, options_.run_dir,
                                                     context.redactor);
        !written) {
      context.logger.warn("run report not written: {}", written.error().Format());
    }
  };
  auto end = [&](RunState state, std::string summary, json detail = json::object()) {
    detail["summary"] = summary;
    result.summary = std::move(summary);
    auto ok = machine.MoveTo(state, std::move(detail));
    if (!ok) return Result<PromotionResult>(std::move(ok).error());
    result.state = state;
    context.journal = nullptr;
    write_report();
    return Result<PromotionResult>(std::move(result));
  };

  switch (result.audit.recommendation) {
    case phases::Recommendation::kNothingToDo:
      return end(RunState::kNothingToDo, result.audit.recommendation_reason);
    case phases::Recommendation::kDoNotPromote:
      return end(RunState::kRefused, result.audit.recommendation_reason);
    case phases::Recommendation::kPromote:
      break;
  }

  const plan::Environment& target = *plan_.FindEnvironment(options_.target);
  if (target.approval.required) {
    result.state = RunState::kAwaitingApproval;
    result.summary = "waiting for approval by " + std::to_string(target.approval.count) + " of " +
                     (target.approval.approvers.empty() ? std::string("anyone")
                                                        : Join(target.approval.approvers, ", "));
    if (auto ok = machine.MoveTo(RunState::kAwaitingApproval, {{"summary", result.summary}}); !ok) {
      return std::move(ok).error();
    }
    context.journal = nullptr;
    write_report();
    return result;
  }
  if (auto ok = machine.MoveTo(RunState::kApproved, {{"by", "no gate"}}); !ok) {
    return std::move(ok).error();
  }

  const auto manifest = ManifestFor(plan_, result.audit, options_, Rfc3339(started));
  // Tag: the release is recorded before the target changes.
  std::string tag = ExpandTagTemplate(plan_, options_.target, UtcDate(started));
  if (context.releases_repo) {
    if (auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo)) {
      if (auto free = repo->NextFreeName(tag)) tag = *free;
    }
  }
  auto tagged = phases::Tag(tag, manifest).Run(context);
  if (!tagged)
    return end(RunState::kRefused, "could not tag the release: " + tagged.error().Format());
  result.tag = tagged->name;
  PushTag(context, *journal, result.tag);
  if (auto ok = machine.MoveTo(RunState::kTagged, {{"tag", result.tag}}); !ok) {
    return std::move(ok).error();
  }

  std::vector<phases::ServiceChange> touched;
  std::string failure;
  for (const auto& wave : plan_.Waves()) {
    std::vector<phases::ServiceChange> changes;
    std::vector<std::string> names;
    for (const plan::Service* service : wave) {
      for (const auto& c : result.audit.comparisons) {
        if (c.service != service->name || c.action != phases::ServiceAction::kPromote) continue;
        const auto* seen = result.audit.target_env.Find(c.service);
        changes.push_back({c.service, c.target_image,
                           seen ? seen->status.helm_revision : std::nullopt, c.DeployImage()});
        names.push_back(c.service);
      }
    }
    if (changes.empty()) continue;
    const int number = wave.front()->wave;
    if (auto ok = machine.MoveTo(RunState::kDeploying,
                                 {{"wave", number}, {"changes", ChangesJson(changes)}});
        !ok) {
      return std::move(ok).error();
    }
    auto rolled = phases::Deploy(plan_, options_.target, number, changes).Run(context);
    for (const auto& service : rolled.services) {
      if (service.touched) touched.push_back(service.change);
      result.rollouts.push_back(service);
    }
    if (!rolled.ok) {
      failure = "wave " + std::to_string(number) + " did not roll out: " + rolled.reason;
      break;
    }
    if (auto ok = machine.MoveTo(RunState::kValidating, {{"wave", number}}); !ok) {
      return std::move(ok).error();
    }
    auto verdict = phases::Validate(plan_, options_.target, names, plan_.validate).Run(context);
    journal->Note("validation of wave " + std::to_string(number), {{"passed", verdict.passed},
                                                                   {"reason", verdict.reason},
                                                                   {"rounds", verdict.rounds},
                                                                   {"failures", verdict.failures},
                                                                   {"errors", verdict.errors}});
    result.validations.emplace_back("wave " + std::to_string(number), verdict);
    if (!verdict.passed) {
      failure = "wave " + std::to_string(number) + " failed validation: " + verdict.reason;
      break;
    }
  }

  if (failure.empty()) {
    result.audit =
        phases::Audit(plan_, options_.source, options_.target, bad_releases).Run(context);
    report::WriteAuditReports(result.audit, options_.run_dir / "after", context.redactor);
    return end(RunState::kPromoted,
               options_.target + " now runs release " + result.tag + "; " +
                   FunctionalName(result.audit.target_verdict.functional) + ": " +
                   result.audit.target_verdict.reason,
               {{"tag", result.tag}});
  }

  // Rollback: every service this run touched, in every wave, goes back.
  context.logger.warn("{}: rolling back {} service(s)", failure, touched.size());
  if (auto ok = machine.MoveTo(RunState::kRollingBack,
                               {{"reason", failure}, {"services", ChangesJson(touched)}});
      !ok) {
    return std::move(ok).error();
  }
  auto restored =
      phases::Rollback(plan_, options_.target, touched, options_.rollback_budget).Run(context);
  result.restores = restored.services;
  if (!restored.ok) {
    for (const auto& service : restored.services) {
      if (service.status != phases::StepStatus::kFailed) continue;
      const auto ref = phases::WorkloadRefFor(target, *plan_.FindService(service.change.service));
      for (const auto& command :
           context.cluster(options_.target)
               .PlanRollback(ref, {service.change.from_image, service.change.from_helm_revision},
                             options_.rollback_budget)) {
        std::string line;
        for (const auto& arg : context.redactor.RedactArgv(command.argv))
          line += (line.empty() ? "" : " ") + arg;
        result.next_steps.push_back(line);
      }
    }
    return end(RunState::kRollbackFailed,
               failure + "; ROLLBACK FAILED: " + restored.reason + " — " + options_.target +
                   " needs a person now",
               {{"nextSteps", result.next_steps}});
  }
  if (auto ok = machine.MoveTo(RunState::kRevalidating); !ok) return std::move(ok).error();
  std::vector<std::string> names;
  for (const auto& change : touched) names.push_back(change.service);
  plan::ValidationPolicy once = plan_.validate;
  once.initial_delay = std::chrono::milliseconds(0);
  once.soak = std::chrono::milliseconds(0);
  once.successes = 1;
  const auto after = phases::Validate(plan_, options_.target, names, once).Run(context);
  result.validations.emplace_back("after rollback", after);
  if (context.releases_repo && !result.tag.empty()) {
    if (auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo)) {
      repo->MarkBad(result.tag, failure, {options_.initiator, options_.initiator + "@promote"});
    }
  }
  return end(RunState::kRolledBack,
             failure + "; rolled back " + std::to_string(touched.size()) + " service(s) to what " +
                 options_.target + " ran before, which is " +
                 (after.passed ? "healthy again" : "still unhealthy: " + after.reason) +
                 "; release " + result.tag + " marked bad",
             {{"restoredHealthy", after.passed}});
}

}  // namespace promote::engine
