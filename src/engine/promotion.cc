// Implementation details: Machine wraps the state table and the journal, so a state changes
// only after its transition line is on disk. The run holds the target's lock from before the
// audit until it ends. Services are "touched" from the moment their set-image intent is
// journaled; rollback restores every touched service of every wave, not only the failing one.
#include "engine/promotion.h"

#include <spdlog/logger.h>

#include <cstdint>
#include <cstdio>
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
  Machine(Journal& journal, RunState state) : journal_(journal), state_(state) {}

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
  RunState state_;
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

/// One run in progress: what it promotes, the context and journal it works through, the state
/// machine it moves and the result it builds. Run and Resume differ only in how they enter it.
class Driver {
 public:
  Driver(const plan::Plan& plan, const PromotionOptions& options, phases::Context& context,
         Journal& journal, RunState state)
      : plan_(plan),
        options_(options),
        context(context),
        journal(journal),
        machine(journal, state) {
    context.journal = &journal;
  }
  ~Driver() { context.journal = nullptr; }

  /// Audits (read-only), writes the audit reports into `subdir` and returns the diff.
  json Audit(const std::string& subdir) {
    const auto bad_releases =
        options_.force ? phases::Audit::BadReleases::kAllow : phases::Audit::BadReleases::kBlock;
    result.audit =
        phases::Audit(plan_, options_.source, options_.target, bad_releases).Run(context);
    if (auto paths =
            report::WriteAuditReports(result.audit, options_.run_dir / subdir, context.redactor);
        !paths) {
      context.logger.warn("audit reports not written: {}", paths.error().Format());
    }
    return DiffJson(result.audit);
  }

  /// After Audited: nothing to do, refused, stopped at the gate, or on to the promotion.
  Result<PromotionResult> Decide(std::chrono::system_clock::time_point started,
                                 const std::string& diff_hash) {
    switch (result.audit.recommendation) {
      case phases::Recommendation::kNothingToDo:
        return End(RunState::kNothingToDo, result.audit.recommendation_reason);
      case phases::Recommendation::kDoNotPromote:
        return End(RunState::kRefused, result.audit.recommendation_reason);
      case phases::Recommendation::kPromote:
        break;
    }
    const plan::ApprovalGate& gate = plan_.FindEnvironment(options_.target)->approval;
    if (gate.required) {
      const std::string summary =
          "waiting for approval by " + std::to_string(gate.count) + " of " +
          (gate.approvers.empty() ? std::string("anyone") : Join(gate.approvers, ", ")) +
          " (plan hash " + diff_hash + ")";
      return End(RunState::kAwaitingApproval, summary, {{"diffHash", diff_hash}});
    }
    if (auto ok = machine.MoveTo(RunState::kApproved, {{"by", "no gate"}}); !ok) {
      return std::move(ok).error();
    }
    return Execute(started);
  }

  /// From Approved: tag, then each wave deployed and validated, then promoted or rolled back.
  Result<PromotionResult> Execute(std::chrono::system_clock::time_point started) {
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
      return End(RunState::kRefused, "could not tag the release: " + tagged.error().Format());
    result.tag = tagged->name;
    PushTag(context, journal, result.tag);
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
      journal.Note("validation of wave " + std::to_string(number), {{"passed", verdict.passed},
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
      Audit("after");
      return End(RunState::kPromoted,
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
        const auto ref = phases::WorkloadRefFor(*plan_.FindEnvironment(options_.target),
                                                *plan_.FindService(service.change.service));
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
      return End(RunState::kRollbackFailed,
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
    return End(RunState::kRolledBack,
               failure + "; rolled back " + std::to_string(touched.size()) +
                   " service(s) to what " + options_.target + " ran before, which is " +
                   (after.passed ? "healthy again" : "still unhealthy: " + after.reason) +
                   "; release " + result.tag + " marked bad",
               {{"restoredHealthy", after.passed}});
  }

  /// Moves to `state` (terminal, or the gate), writes the run report and returns the result.
  Result<PromotionResult> End(RunState state, std::string summary, json detail = json::object()) {
    detail["summary"] = summary;
    result.summary = std::move(summary);
    if (auto ok = machine.MoveTo(state, std::move(detail)); !ok) return std::move(ok).error();
    result.state = state;
    // The run report sits beside the journal; failing to write it does not change the outcome,
    // which the journal already holds.
    if (auto written = report::WritePromotionReports(result, options_.run_id, options_.run_dir,
                                                     context.redactor);
        !written) {
      context.logger.warn("run report not written: {}", written.error().Format());
    }
    return std::move(result);
  }

 private:
  const plan::Plan& plan_;
  const PromotionOptions& options_;

 public:
  phases::Context& context;
  Journal& journal;
  Machine machine;
  PromotionResult result;
};

}  // namespace

json DiffJson(const phases::AuditReport& audit) {
  json diff = json::array();
  for (const auto& c : audit.comparisons) {
    diff.push_back({{"service", c.service},
                    {"action", phases::ServiceActionName(c.action)},
                    {"from", c.target_image},
                    {"to", c.DeployImage()}});
  }
  return diff;
}

std::string DiffHash(const json& diff) {
  // FNV-1a 64 of the compact JSON: stable across builds and machines, unlike std::hash.
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : diff.dump()) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

Promotion::Promotion(const plan::Plan& plan, PromotionOptions options)
    : plan_(plan), options_(std::move(options)) {}

Result<PromotionResult> Promotion::Run(phases::Context& context) const {
  const auto started = context.now();
  auto lock = EnvironmentLock::Acquire(options_.state_dir, options_.target,
                                       LockHolder::Current(options_.run_id, started));
  if (!lock) return std::move(lock).error();
  auto journal = Journal::Create(options_.run_dir, options_.run_id, options_.redactor);
  if (!journal) return std::move(journal).error();
  auto planned = journal->Transition(
      StateName(RunState::kPlanned),
      {{"plan", std::filesystem::absolute(plan_.source_file).lexically_normal().string()},
       {"source", options_.source},
       {"target", options_.target},
       {"initiator", options_.initiator}});
  if (!planned) return std::move(planned).error();
  Driver run(plan_, options_, context, *journal, RunState::kPlanned);
  const json diff = run.Audit("audit");
  const std::string hash = DiffHash(diff);
  if (auto ok = run.machine.MoveTo(
          RunState::kAudited,
          {{"recommendation", phases::RecommendationName(run.result.audit.recommendation)},
           {"diff", diff},
           {"diffHash", hash}});
      !ok) {
    return std::move(ok).error();
  }
  return run.Decide(started, hash);
}

Result<PromotionResult> Promotion::Resume(phases::Context& context,
                                          const std::vector<std::string>& approvers,
                                          const std::string& approved_hash) const {
  const auto started = context.now();
  auto lock = EnvironmentLock::Acquire(options_.state_dir, options_.target,
                                       LockHolder::Current(options_.run_id, started));
  if (!lock) return std::move(lock).error();
  auto journal = Journal::Open(options_.run_dir, options_.redactor);
  if (!journal) return std::move(journal).error();
  if (journal->CurrentState() != StateName(RunState::kAwaitingApproval)) {
    return Error{
        ErrorKind::kUsage,
        "run " + options_.run_id + " is " + journal->CurrentState() + ", not AwaitingApproval",
        options_.run_dir.string(),
        "resume continues an approved run; see `promote status " + options_.run_id + "`"};
  }
  Driver run(plan_, options_, context, *journal, RunState::kAwaitingApproval);
  // An approval is for that exact change: a fresh audit must still want to deploy it.
  const json diff = run.Audit("audit-resume");
  const std::string hash = DiffHash(diff);
  if (hash != approved_hash) {
    std::string changed;
    json approved = json::array();
    for (const auto& event : journal->events()) {
      if (event.state == StateName(RunState::kAudited) && event.detail.contains("diff")) {
        approved = event.detail["diff"];
      }
    }
    for (const auto& now : diff) {
      json then;
      for (const auto& a : approved) {
        if (a["service"] == now["service"]) then = a;
      }
      if (then != now) {
        changed +=
            (changed.empty() ? "" : "; ") + now["service"].get<std::string>() + ": approved " +
            (then.is_null()
                 ? std::string("nothing")
                 : then["action"].get<std::string>() + " to " + then["to"].get<std::string>()) +
            ", now " + now["action"].get<std::string>() + " to " + now["to"].get<std::string>();
      }
    }
    return run.End(RunState::kRefused,
                   "what would be deployed changed since it was approved (" + changed +
                       "); start a new run and have it approved",
                   {{"approvedHash", approved_hash}, {"diffHash", hash}});
  }
  if (auto ok = run.machine.MoveTo(RunState::kApproved, {{"by", approvers}}); !ok) {
    return std::move(ok).error();
  }
  return run.Execute(started);
}

}  // namespace promote::engine
