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
#include "core/content_hash.h"
#include "core/redactor.h"
#include "core/time_format.h"
#include "engine/hook_calls.h"
#include "engine/journal.h"
#include "engine/journaled_run.h"
#include "engine/lock.h"
#include "engine/promotion_plan.h"
#include "engine/run_lock.h"
#include "phases/context.h"
#include "phases/rollback.h"
#include "phases/tag.h"
#include "phases/targets.h"
#include "phases/validate.h"
#include "plan/freeze.h"
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

/// "api: approved promote to X, now promote to Y; …" — what differs between two diffs.
std::string DescribeDiffChange(const json& approved, const json& now) {
  auto text = [](const json& entry, const char* key) {
    return entry.is_object() && entry.contains(key) && entry[key].is_string()
               ? entry[key].get<std::string>()
               : std::string("?");
  };
  std::string changed;
  for (const auto& entry : now) {
    json then;
    for (const auto& a : approved) {
      if (text(a, "service") == text(entry, "service")) then = a;
    }
    if (then == entry) continue;
    changed += (changed.empty() ? "" : "; ") + text(entry, "service") + ": approved " +
               (then.is_null() ? std::string("nothing")
                               : text(then, "action") + " to " + text(then, "to")) +
               ", now " + text(entry, "action") + " to " + text(entry, "to");
  }
  return changed;
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
  // The push is idempotent: a journal line lost here only means a resume pushes again.
  if (pushed) {
    if (auto done = journal.Done(*intent); !done) {
      context.logger.warn("tag {} pushed, but the journal says not: {}", tag,
                          done.error().Format());
    }
    return;
  }
  if (auto failed = journal.Failed(*intent, {{"error", pushed.error().Format()}}); !failed) {
    context.logger.warn("the failed push is not journaled: {}", failed.error().Format());
  }
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
    context.steps = &journal;
  }
  ~Driver() { context.steps = nullptr; }

  /// The lock the run holds, checked before each forward side effect.
  void HoldsLock(const RunLock& lock) { lock_ = &lock; }

  /// Fails (kLocked) when the run's Lease was taken over or deleted: another runner may be
  /// changing the target, so this run stops where it is (resumable) rather than race it.
  Status StillLocked() const {
    if (!lock_ || !lock_->lost()) return Done{};
    return Error{ErrorKind::kLocked,
                 "run " + options_.run_id + " lost its lock: " + lock_->lost_reason(),
                 lock_->Describe(),
                 "nothing more was changed; see `promote status " + options_.run_id +
                     "`, then `promote resume " + options_.run_id + "` once the lock is free"};
  }

  /// The change a resumed run is about (its journaled diff), for the hooks.
  void SetDiff(json diff) { diff_ = std::move(diff); }

  /// Runs the hooks of `point` with the run's facts, the services it promotes and `details`.
  adapters::hooks::HookReport Hook(adapters::hooks::HookPoint point,
                                   json details = json::object()) {
    json services = json::array();
    for (const auto& entry : diff_) {
      if (entry.value("action", "") != "promote") continue;
      services.push_back(
          {{"name", entry["service"]}, {"from", entry["from"]}, {"to", entry["to"]}});
    }
    details["plan"] = plan_.name;
    details["initiator"] = options_.initiator;
    details["services"] = std::move(services);
    const adapters::hooks::HookRun facts{
        options_.run_id,
        options_.source,
        options_.target,
        StateName(machine.state()),
        options_.run_dir,
        result.tag.empty() ? std::nullopt : std::optional<std::string>(result.tag),
        adapters::hooks::RunMode::kLive};
    return CallHooks(context, point, facts, details);
  }

  /// Audits (read-only), writes the audit reports into `subdir` and returns the diff.
  json Audit(const std::string& subdir) {
    const auto bad_releases =
        options_.force ? phases::Audit::BadReleases::kAllow : phases::Audit::BadReleases::kBlock;
    if (options_.restore) {
      auto manifest = ReleaseToRestore(context, options_.source, options_.target);
      if (manifest) {
        result.audit = phases::Audit::OfRestore(plan_, options_.source, std::move(*manifest),
                                                options_.target, bad_releases)
                           .Run(context);
      } else {
        // Checked before the run started; gone since (a deleted tag): nothing to deploy.
        result.audit.recommendation = phases::Recommendation::kDoNotPromote;
        result.audit.recommendation_reason = manifest.error().Format();
      }
    } else {
      result.audit =
          phases::Audit(plan_, options_.source, options_.target, bad_releases).Run(context);
    }
    if (auto paths =
            report::WriteAuditReports(result.audit, options_.run_dir / subdir, context.redactor);
        !paths) {
      context.logger.warn("audit reports not written: {}", paths.error().Format());
    }
    return DiffJson(result.audit);
  }

  /// Why a forward promotion may not start now (a freeze window of the target is in force), or
  /// "" when it may: no window, a restore (rollbacks are never frozen), or an override, which is
  /// journaled and reported instead.
  std::string FreezeRefusal() {
    if (options_.restore) return "";
    const plan::FreezePolicy& policy = plan_.FindEnvironment(options_.target)->freeze;
    if (policy.windows.empty()) return "";
    auto active = plan::FreezeAt(policy, context.now());
    if (!active) {
      // Fail closed: a freeze that cannot be evaluated must not be walked through.
      return "the freeze windows of " + options_.target +
             " cannot be evaluated: " + active.error().Format();
    }
    if (!*active) return "";
    const plan::ActiveFreeze& freeze = **active;
    std::optional<std::string> override_reason = options_.override_freeze;
    for (const auto& event : journal.events()) {
      // An override given when the run started carries over to its resume.
      // Only for the same window: an override is not a pass for every later freeze.
      if (!override_reason && event.kind == EventKind::kNote &&
          event.detail.value("message", "") == "freeze overridden" &&
          event.detail.value("window", "") == freeze.window) {
        override_reason = event.detail.value("reason", "");
      }
    }
    const std::string window = "window '" + freeze.window + "'" +
                               (freeze.reason.empty() ? "" : " (" + freeze.reason + ")") +
                               " until " + freeze.ends_local + " (" + Rfc3339(freeze.ends) + ")";
    if (override_reason) {
      result.freeze_override =
          window + " overridden by " + options_.initiator + ": " + *override_reason;
      // An override that cannot be recorded is not given: the record must show who and why.
      if (auto noted = journal.Note("freeze overridden", {{"window", freeze.window},
                                                          {"until", Rfc3339(freeze.ends)},
                                                          {"by", options_.initiator},
                                                          {"reason", *override_reason}});
          !noted) {
        return "the freeze override could not be journaled: " + noted.error().Format();
      }
      context.logger.warn("{} is frozen: {}", options_.target, result.freeze_override);
      return "";
    }
    return options_.target + " is frozen by " + window +
           "; rollbacks are allowed; to promote anyway pass --override-freeze --reason \"…\"";
  }

  /// From Planned (or Audited, on resume): audits, journals the diff, then decides.
  Result<PromotionResult> AuditAndDecide(std::chrono::system_clock::time_point started,
                                         const std::string& subdir) {
    if (const std::string frozen = FreezeRefusal(); !frozen.empty()) {
      return End(RunState::kRefused, frozen, {{"frozen", true}});
    }
    if (auto hooks = Hook(adapters::hooks::HookPoint::kPreAudit); hooks.StopsRun()) {
      return End(RunState::kRefused, "stopped before the audit: " + hooks.Summary());
    }
    const json diff = Audit(subdir);
    diff_ = diff;
    const std::string hash = DiffHash(diff);
    const json detail = {
        {"recommendation", phases::RecommendationName(result.audit.recommendation)},
        {"diff", diff},
        {"diffHash", hash},
        {"fromRevisions", RevisionsJson(result.audit)}};
    if (machine.state() == RunState::kAudited) {
      // Resumed after the audit: the fresh diff replaces the journaled one (nothing was approved).
      if (auto ok = journal.Note("audited again on resume", detail); !ok) {
        return std::move(ok).error();
      }
    } else if (auto ok = machine.MoveTo(RunState::kAudited, detail); !ok) {
      return std::move(ok).error();
    }
    Hook(adapters::hooks::HookPoint::kPostAudit,
         {{"recommendation", phases::RecommendationName(result.audit.recommendation)},
          {"reason", result.audit.recommendation_reason}});
    return Decide(started, hash);
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

  /// Records the release before the target changes: an annotated tag with its manifest (pushed
  /// when the plan has a remote), or, for a restore, the restored release's own tag. A tag the
  /// run's earlier life started to create keeps its name (CreateRelease finds it if written).
  Result<std::string> TagRelease(std::chrono::system_clock::time_point started,
                                 const JournaledRun* resumed) {
    if (options_.restore) return options_.source;
    std::string tag = resumed && !resumed->tag_intent.empty()
                          ? resumed->tag_intent
                          : ExpandTagTemplate(plan_, options_.target, UtcDate(started));
    if (context.releases_repo && (!resumed || resumed->tag_intent.empty())) {
      if (auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo)) {
        if (auto free = repo->NextFreeName(tag)) tag = *free;
      }
    }
    const auto manifest = ManifestFor(plan_, result.audit, options_, Rfc3339(started));
    auto tagged = phases::Tag(tag, manifest).Run(context);
    if (!tagged) return std::move(tagged).error();
    PushTag(context, journal, tagged->name);
    return tagged->name;
  }

  /// From Approved: tag, then each wave deployed and validated, then promoted or rolled back.
  /// `resumed` is what a killed earlier life of the run already did (null for a fresh run): its
  /// tag is reused, its validated waves are not redone, its touched services stay touched.
  Result<PromotionResult> Execute(std::chrono::system_clock::time_point started,
                                  const JournaledRun* resumed = nullptr) {
    // The change comes from the journal: a resumed run's target is half-promoted, so a fresh
    // audit would no longer show what the run set out (and was approved) to deploy.
    const json diff = resumed ? resumed->diff : DiffJson(result.audit);
    const json revisions = resumed ? resumed->revisions : RevisionsJson(result.audit);
    diff_ = diff;
    std::vector<phases::ServiceChange> touched;
    if (resumed) touched = resumed->touched;
    if (resumed) result.validations = resumed->validations;

    if (machine.state() == RunState::kApproved) {
      // The last word of the operator's checks (change ticket, on-call…) before any change.
      if (auto hooks = Hook(adapters::hooks::HookPoint::kPreDeploy); hooks.StopsRun()) {
        return End(RunState::kRefused, "stopped before any change: " + hooks.Summary());
      }
      if (auto owned = StillLocked(); !owned) return std::move(owned).error();
      auto tagged = TagRelease(started, resumed);
      if (!tagged)
        return End(RunState::kRefused, "could not tag the release: " + tagged.error().Format());
      result.tag = *tagged;
      if (auto ok = machine.MoveTo(RunState::kTagged,
                                   {{"tag", result.tag}, {"restore", options_.restore}});
          !ok) {
        return std::move(ok).error();
      }
    } else {
      result.tag = resumed->tag;
      if (!resumed->tag_pushed && !options_.restore) PushTag(context, journal, result.tag);
    }

    std::string failure;
    for (const auto& wave : plan_.Waves()) {
      std::vector<phases::ServiceChange> changes;
      std::vector<std::string> names;
      for (const plan::Service* service : wave) {
        for (const auto& entry : diff) {
          if (entry.value("service", "") != service->name || entry.value("action", "") != "promote")
            continue;
          phases::ServiceChange change{service->name, entry.value("from", ""), std::nullopt,
                                       entry.value("to", "")};
          if (revisions.contains(service->name)) {
            change.from_helm_revision = revisions[service->name].get<int>();
          }
          changes.push_back(std::move(change));
          names.push_back(service->name);
        }
      }
      if (changes.empty()) continue;
      const int number = wave.front()->wave;
      if (resumed && resumed->validated_waves.count(number)) continue;
      if (resumed && resumed->current_wave == number && !resumed->failed_validation.empty() &&
          machine.state() == RunState::kValidating) {
        failure =
            "wave " + std::to_string(number) + " failed validation: " + resumed->failed_validation;
        break;
      }
      if (auto owned = StillLocked(); !owned) return std::move(owned).error();
      const json deploying = {{"wave", number}, {"changes", ChangesJson(changes)}};
      if (machine.state() == RunState::kDeploying && resumed && resumed->current_wave == number) {
        // Killed while this wave rolled out: Deploy checks each service's image first, so
        // going through it again only waits for what is already set.
        if (auto noted = journal.Note("resuming wave " + std::to_string(number), deploying);
            !noted) {
          return std::move(noted).error();
        }
      } else if (auto ok = machine.MoveTo(RunState::kDeploying, deploying); !ok) {
        return std::move(ok).error();
      }
      auto rolled = phases::Deploy(plan_, options_.target, number, changes).Run(context);
      for (const auto& service : rolled.services) {
        bool known = false;
        for (const auto& t : touched) known = known || t.service == service.change.service;
        if (service.touched && !known) touched.push_back(service.change);
        result.rollouts.push_back(service);
      }
      Hook(adapters::hooks::HookPoint::kPostDeploy,
           {{"wave", number}, {"rolledOut", rolled.ok}, {"reason", rolled.reason}});
      if (!rolled.ok) {
        failure = "wave " + std::to_string(number) + " did not roll out: " + rolled.reason;
        break;
      }
      if (auto ok = machine.MoveTo(RunState::kValidating, {{"wave", number}}); !ok) {
        return std::move(ok).error();
      }
      auto verdict = phases::Validate(plan_, options_.target, names, plan_.validate).Run(context);
      auto noted = journal.Note("validation of wave " + std::to_string(number),
                                {{"wave", number},
                                 {"passed", verdict.passed},
                                 {"reason", verdict.reason},
                                 {"rounds", verdict.rounds},
                                 {"failures", verdict.failures},
                                 {"errors", verdict.errors}});
      if (!noted) return std::move(noted).error();
      result.validations.emplace_back("wave " + std::to_string(number), verdict);
      Hook(adapters::hooks::HookPoint::kPostValidate,
           {{"wave", number}, {"passed", verdict.passed}, {"reason", verdict.reason}});
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
    Hook(adapters::hooks::HookPoint::kOnRollback,
         {{"reason", failure}, {"rollingBack", ChangesJson(touched)}});
    return RollBack(failure, touched);
  }

  /// From RollingBack: restores `touched` (checking each service's image first, so a resumed
  /// rollback does not redo what is done), revalidates once, marks the release bad.
  Result<PromotionResult> RollBack(const std::string& failure,
                                   const std::vector<phases::ServiceChange>& touched) {
    if (machine.state() == RunState::kRollingBack) {
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
                   .PlanRollback(ref,
                                 {service.change.from_image, service.change.from_helm_revision},
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
    }
    std::vector<std::string> names;
    for (const auto& change : touched) names.push_back(change.service);
    plan::ValidationPolicy once = plan_.validate;
    once.initial_delay = std::chrono::milliseconds(0);
    once.soak = std::chrono::milliseconds(0);
    once.successes = 1;
    const auto after = phases::Validate(plan_, options_.target, names, once).Run(context);
    result.validations.emplace_back("after rollback", after);
    // A failed restore leaves the restored release alone: it was good once and may be the way
    // back another time (the failure is in this run's journal and report).
    // The summary says "marked bad" only when the note was written.
    std::string marked = "; release " + result.tag + " not marked bad";
    if (context.releases_repo && !result.tag.empty() && !options_.restore) {
      auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo);
      auto written = repo ? repo->MarkBad(result.tag, failure,
                                          {options_.initiator, options_.initiator + "@promote"})
                          : Status(repo.error());
      marked = written ? "; release " + result.tag + " marked bad"
                       : "; release " + result.tag +
                             " could NOT be marked bad: " + written.error().Format();
    } else if (options_.restore) {
      marked = "; release " + result.tag + " is left as it was (a restored release)";
    }
    return End(RunState::kRolledBack,
               failure + "; rolled back " + std::to_string(touched.size()) +
                   " service(s) to what " + options_.target + " ran before, which is " +
                   (after.passed ? "healthy again" : "still unhealthy: " + after.reason) + marked,
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
    if (IsTerminal(state)) {
      const bool success = state == RunState::kPromoted || state == RunState::kNothingToDo;
      Hook(
          success ? adapters::hooks::HookPoint::kOnSuccess : adapters::hooks::HookPoint::kOnFailure,
          {{"outcome", StateName(state)}, {"message", result.summary}});
    }
    return std::move(result);
  }

 private:
  const plan::Plan& plan_;
  const PromotionOptions& options_;
  json diff_ = json::array();  ///< the change the run is about: what hooks are told it promotes
  const RunLock* lock_ = nullptr;

 public:
  phases::Context& context;
  Journal& journal;
  Machine machine;
  PromotionResult result;
};

/// The target's run lock, with the plan's backend (file or Lease), held by `options.run_id`.
Result<RunLock> LockTarget(const plan::Plan& plan, const PromotionOptions& options,
                           phases::Context& context, std::chrono::system_clock::time_point at) {
  return AcquireRunLock(*plan.FindEnvironment(options.target), options.state_dir,
                        LockHolder::Current(options.run_id, at), context.cluster(options.target));
}

/// A journal promote did not write that way (hand-edited, corrupt) throws from nlohmann::json
/// where a field has another type; that becomes an Error naming the journal, not a crash.
template <typename Body>
Result<PromotionResult> GuardJournal(const std::filesystem::path& run_dir, Body&& body) {
  try {
    return body();
  } catch (const nlohmann::json::exception& e) {
    return Error{ErrorKind::kExternal,
                 std::string("the run's journal holds a field promote cannot read: ") + e.what(),
                 (run_dir / Journal::kFileName).string(),
                 "repair the line (see `promote status`), or start a new run"};
  }
}

}  // namespace

Result<adapters::git::ReleaseManifest> ReleaseToRestore(const phases::Context& context,
                                                        const std::string& tag,
                                                        const std::string& target) {
  if (!context.releases_repo) {
    return Error{ErrorKind::kUsage, "no release repository to restore " + tag + " from",
                 "plan releases.repo", "set releases.repo in the plan or pass --releases DIR"};
  }
  auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo);
  if (!repo) return std::move(repo).error();
  auto found = repo->Find(tag);
  if (!found)
    return Error{ErrorKind::kUsage, found.error().what, found.error().where,
                 "name a release tag of " + target + " (see `promote history " + target + "`)"};
  if (!*found) {
    return Error{ErrorKind::kUsage, "no release tag '" + tag + "'", context.releases_repo->string(),
                 "see the releases of " + target + " with `promote history " + target + "`"};
  }
  if ((*found)->manifest.target_env != target) {
    return Error{ErrorKind::kUsage,
                 tag + " is a release of " + (*found)->manifest.target_env + ", not of " + target,
                 context.releases_repo->string(),
                 "name a release tag of " + target + " (see `promote history " + target + "`)"};
  }
  return (*found)->manifest;
}

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
  return ContentHash(diff.dump());
}

Promotion::Promotion(const plan::Plan& plan, PromotionOptions options)
    : plan_(plan), options_(std::move(options)) {}

Result<PromotionResult> Promotion::Run(phases::Context& context) const {
  const auto started = context.now();
  if (options_.restore) {
    // A tag that is not a release of the target is bad input: refused before anything is written.
    if (auto release = ReleaseToRestore(context, options_.source, options_.target); !release) {
      return std::move(release).error();
    }
  }
  auto lock = LockTarget(plan_, options_, context, started);
  if (!lock) return std::move(lock).error();
  auto journal = Journal::Create(options_.run_dir, options_.run_id, options_.redactor);
  if (!journal) return std::move(journal).error();
  auto planned = journal->Transition(
      StateName(RunState::kPlanned),
      {{"plan", std::filesystem::absolute(plan_.source_file).lexically_normal().string()},
       {"source", options_.source},
       {"target", options_.target},
       {"initiator", options_.initiator},
       {"restore", options_.restore},
       {"planHash", plan_.content_hash}});
  if (!planned) return std::move(planned).error();
  Driver run(plan_, options_, context, *journal, RunState::kPlanned);
  run.HoldsLock(*lock);
  return run.AuditAndDecide(started, "audit");
}

Result<PromotionResult> Promotion::Resume(phases::Context& context,
                                          const std::vector<std::string>& approvers,
                                          const std::string& approved_hash) const {
  return GuardJournal(options_.run_dir, [&]() -> Result<PromotionResult> {
    const auto started = context.now();
    auto lock = LockTarget(plan_, options_, context, started);
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
    run.HoldsLock(*lock);
    // A freeze that began while the run waited for its approvers stops it too.
    if (const std::string frozen = run.FreezeRefusal(); !frozen.empty()) {
      return run.End(RunState::kRefused, frozen, {{"frozen", true}});
    }
    // An approval is for that exact change: a fresh audit must still want to deploy it.
    const json diff = run.Audit("audit-resume");
    const std::string hash = DiffHash(diff);
    if (hash != approved_hash) {
      const std::string changed = DescribeDiffChange(ReadJournaledRun(*journal).diff, diff);
      return run.End(RunState::kRefused,
                     "what would be deployed changed since it was approved (" + changed +
                         "); start a new run and have it approved",
                     {{"approvedHash", approved_hash}, {"diffHash", hash}});
    }
    if (auto ok = run.machine.MoveTo(RunState::kApproved, {{"by", approvers}}); !ok) {
      return std::move(ok).error();
    }
    return run.Execute(started);
  });
}

Result<PromotionResult> Promotion::Continue(phases::Context& context) const {
  return GuardJournal(options_.run_dir, [&]() -> Result<PromotionResult> {
    const auto started = context.now();
    auto lock = LockTarget(plan_, options_, context, started);
    if (!lock) return std::move(lock).error();
    auto journal = Journal::Open(options_.run_dir, options_.redactor);
    if (!journal) return std::move(journal).error();
    const std::string current = journal->CurrentState();
    const std::optional<RunState> found = StateFromName(current);
    const bool known = found.has_value();
    const RunState state = found.value_or(RunState::kPlanned);
    if (!known || IsTerminal(state) || state == RunState::kAwaitingApproval) {
      return Error{ErrorKind::kUsage,
                   "run " + options_.run_id + " is " + (current.empty() ? "empty" : current) +
                       (known && IsTerminal(state) ? ": it has ended" : ""),
                   options_.run_dir.string(),
                   state == RunState::kAwaitingApproval
                       ? "approve it first (`promote approve " + options_.run_id + "`)"
                       : "see `promote status " + options_.run_id + "`"};
    }
    const JournaledRun earlier = ReadJournaledRun(*journal);
    json open = json::array();
    for (const auto& intent : journal->OpenIntents()) {
      open.push_back({{"seq", intent.seq}, {"step", intent.step}, {"service", intent.service}});
    }
    if (auto noted =
            journal->Note("resumed after the run stopped in " + current,
                          {{"openIntents", open}, {"tornTail", journal->torn_tail().has_value()}});
        !noted) {
      return std::move(noted).error();
    }
    context.logger.info("run {}: resuming from {} ({} step(s) were in flight)", options_.run_id,
                        current, open.size());
    Driver run(plan_, options_, context, *journal, state);
    run.HoldsLock(*lock);
    switch (state) {
      case RunState::kPlanned:
      case RunState::kAudited:
        // Nothing changed yet: audit again and decide as a fresh run would.
        return run.AuditAndDecide(started, "audit-resume");
      case RunState::kApproved: {
        // Nothing in the target changed yet: a freeze that began meanwhile stops the run.
        if (const std::string frozen = run.FreezeRefusal(); !frozen.empty()) {
          return run.End(RunState::kRefused, frozen, {{"frozen", true}});
        }
        // Approved, perhaps tagging: the change must still be the one decided (and approved).
        const json diff = run.Audit("audit-resume");
        if (DiffHash(diff) != earlier.diff_hash) {
          return run.End(RunState::kRefused,
                         "what would be deployed changed since the run was approved (" +
                             DescribeDiffChange(earlier.diff, diff) + "); start a new run",
                         {{"approvedHash", earlier.diff_hash}, {"diffHash", DiffHash(diff)}});
        }
        return run.Execute(started, &earlier);
      }
      case RunState::kTagged:
      case RunState::kDeploying:
      case RunState::kValidating:
        run.Audit("audit-resume");  // what the target runs now, for the report
        return run.Execute(started, &earlier);
      case RunState::kRollingBack:
      case RunState::kRevalidating:
        run.Audit("audit-resume");
        run.result.tag = earlier.tag;
        run.result.validations = earlier.validations;
        run.SetDiff(earlier.diff);
        return run.RollBack(earlier.rollback_reason, earlier.rolling_back);
      default:
        break;
    }
    return Error{ErrorKind::kInternal, "cannot resume a run in " + current, "engine/promotion.cc",
                 "report this as a bug in promote"};
  });
}

}  // namespace promote::engine
