// Implementation details: Machine wraps the state table and the journal, so a state changes
// only after its transition line is on disk. The run holds the target's lock from before the
// audit until it ends. The plan a run performs is the one Prepare made and the Audited
// transition journaled; a resumed run performs the plan its journal holds. Services are
// "touched" from the moment their set-image intent is journaled (unless a failed write was read
// back unchanged); rollback restores every touched service of every wave. What is recorded of
// the release at the end follows the failure's blame: judged images make it bad, anything else
// leaves it unverified, and a run that changed nothing leaves it not deployed.
#include "engine/promotion.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "adapters/git/release_repo.h"
#include "core/redactor.h"
#include "core/shell_line.h"
#include "core/text.h"
#include "core/time_format.h"
#include "engine/hook_calls.h"
#include "engine/journal.h"
#include "engine/journaled_run.h"
#include "engine/lock.h"
#include "engine/run_lock.h"
#include "phases/context.h"
#include "phases/rollback.h"
#include "phases/tag.h"
#include "phases/targets.h"
#include "phases/validate.h"
#include "plan/plan.h"

namespace promote::engine {

RunObserver::~RunObserver() = default;

namespace {

using nlohmann::json;
using phases::Blame;

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
  manifest.source_env = options.request.source;
  manifest.target_env = options.request.target;
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

json BadImagesJson(const std::vector<phases::BadImage>& images) {
  json out = json::array();
  for (const auto& bad : images) out.push_back(phases::BadImageJson(bad));
  return out;
}

/// One run in progress: what it promotes, the context and journal it works through, the state
/// machine it moves and the result it builds. Run, Resume and Continue differ only in how they
/// enter it.
class Driver {
 public:
  Driver(const plan::Plan& plan, const PromotionOptions& options, RunObserver* observer,
         phases::Context& context, Journal& journal, RunState state)
      : plan_(plan),
        options_(options),
        request_(options.request),
        observer_(observer),
        context(context),
        journal(journal),
        machine(journal, state) {
    context.steps = &journal;
    result.run_id = options.run_id;
  }
  ~Driver() { context.steps = nullptr; }

  /// The lock the run holds, checked before each forward side effect.
  void HoldsLock(const RunLock& lock) { lock_ = &lock; }

  /// A resumed run carries over what its first life was let through with: the freeze override
  /// (for that window only) and --force (for the plan that was approved).
  void CarryOver(const JournaledRun& earlier) {
    if (!request_.override_freeze && earlier.freeze_override) {
      request_.override_window = earlier.freeze_override->first;
      request_.override_freeze = earlier.freeze_override->second;
    }
    if (!request_.force_reason && earlier.plan) request_.force_reason = earlier.plan->force_reason;
  }

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

  /// Runs the hooks of `point` with the run's facts, the services it promotes and `details`.
  adapters::hooks::HookReport Hook(adapters::hooks::HookPoint point,
                                   json details = json::object()) {
    json services = json::array();
    for (const auto& entry : result.plan.diff) {
      if (entry.value("action", "") != "promote") continue;
      services.push_back(
          {{"name", entry["service"]}, {"from", entry["from"]}, {"to", entry["to"]}});
    }
    details["plan"] = plan_.name;
    details["initiator"] = options_.initiator;
    details["services"] = std::move(services);
    const adapters::hooks::HookRun facts{
        options_.run_id,
        request_.source,
        request_.target,
        StateName(machine.state()),
        options_.run_dir,
        result.tag.empty() ? std::nullopt : std::optional<std::string>(result.tag),
        adapters::hooks::RunMode::kLive};
    return CallHooks(context, point, facts, details);
  }

  /// Audits (read-only) and prepares the run; the observer gets it as `stage`. A restore whose
  /// tag went missing since the run started is a refusal, not an error.
  Prepared Audit(const std::string& stage) {
    auto prepared = AuditAndPrepare(plan_, request_, context);
    if (!prepared) {
      Prepared refused;
      refused.audit.source = request_.source;
      refused.audit.target = request_.target;
      refused.audit.recommendation_reason = prepared.error().Format();
      refused.plan.source = request_.source;
      refused.plan.target = request_.target;
      refused.plan.reason = refused.audit.recommendation_reason;
      refused.plan.refusals = {refused.plan.reason};
      // Said as what it is, never a default "not functional" with no reason.
      refused.audit.target_verdict = {phases::Functional::kNotFunctional,
                                      "the audit could not run: " + prepared.error().what};
      return refused;
    }
    result.audit = prepared->audit;
    if (observer_) observer_->Audited(prepared->audit, &prepared->plan, stage);
    return std::move(*prepared);
  }

  /// Why a forward promotion may not go on now (a freeze window of the target is in force), or
  /// "" when it may. An override is journaled first: one that cannot be recorded is not given.
  std::string FreezeRefusal() {
    const plan::FreezeVerdict freeze = plan::JudgeFreeze(
        plan_.FindEnvironment(request_.target)->freeze, request_.target, context.now(),
        request_.restore, request_.override_freeze, request_.override_window);
    if (!freeze.frozen) return "";
    if (freeze.refuses()) return freeze.refusal;
    result.freeze_override = freeze.description + " overridden by " + options_.initiator + ": " +
                             *freeze.override_reason;
    if (auto noted = journal.Note("freeze overridden", {{"window", freeze.window},
                                                        {"until", freeze.until_utc},
                                                        {"by", options_.initiator},
                                                        {"reason", *freeze.override_reason}});
        !noted) {
      return "the freeze override could not be journaled: " + noted.error().Format();
    }
    context.logger.warn("{} is frozen: {}", request_.target, result.freeze_override);
    return "";
  }

  /// --force over bad images is recorded like a freeze override: who, which images, why.
  Status RecordForce(const RunPlan& run) {
    if (run.forced.empty()) return Done{};
    std::vector<std::string> images;
    for (const auto& bad : run.forced) images.push_back(bad.Describe());
    result.forced = "--force by " + options_.initiator + " (" + run.force_reason.value_or("") +
                    "): " + Join(images, "; ");
    auto noted = journal.Note("bad images forced", {{"by", options_.initiator},
                                                    {"reason", run.force_reason.value_or("")},
                                                    {"images", BadImagesJson(run.forced)}});
    if (!noted) return std::move(noted).error();
    context.logger.warn("{}", result.forced);
    return Done{};
  }

  /// From Planned (or Audited, on resume): audits, journals the plan, then decides.
  Result<PromotionResult> AuditAndDecide(std::chrono::system_clock::time_point started,
                                         const std::string& stage) {
    // A freeze is judged by the audit (Conclude), like every refusal: it refuses a run that
    // would change something, never a read, and the dry run says exactly the same.
    if (auto hooks = Hook(adapters::hooks::HookPoint::kPreAudit); hooks.StopsRun()) {
      return End(RunState::kRefused, "stopped before the audit: " + hooks.Summary());
    }
    Prepared prepared = Audit(stage);
    result.plan = prepared.plan;
    const json detail = {{"recommendation", DecisionName(prepared.plan.decision)},
                         {"diff", prepared.plan.diff},
                         {"diffHash", prepared.plan.diff_hash},
                         {"plan", RunPlanJson(prepared.plan)}};
    if (machine.state() == RunState::kAudited) {
      // Resumed after the audit: the fresh plan replaces the journaled one (nothing approved).
      if (auto ok = journal.Note("audited again on resume", detail); !ok) {
        return std::move(ok).error();
      }
    } else if (auto ok = machine.MoveTo(RunState::kAudited, detail); !ok) {
      return std::move(ok).error();
    }
    Hook(adapters::hooks::HookPoint::kPostAudit,
         {{"recommendation", DecisionName(prepared.plan.decision)},
          {"reason", prepared.plan.reason}});
    if (prepared.plan.decision == Decision::kPromote && prepared.plan.freeze.frozen) {
      // Let through by an override: journaled before anything else, or not given at all.
      if (const std::string frozen = FreezeRefusal(); !frozen.empty()) {
        return End(RunState::kRefused, frozen, {{"frozen", true}});
      }
    }
    return Decide(started, prepared.plan);
  }

  /// After Audited: nothing to do, refused, stopped at the gate, or on to the promotion.
  Result<PromotionResult> Decide(std::chrono::system_clock::time_point started,
                                 const RunPlan& run) {
    switch (run.decision) {
      case Decision::kNothingToDo:
        return End(RunState::kNothingToDo, run.reason);
      case Decision::kRefused:
        return End(RunState::kRefused, run.reason, {{"refusals", run.refusals}});
      case Decision::kPromote:
        break;
    }
    if (run.approval_required) {
      const std::string summary =
          "waiting for approval by " + std::to_string(run.approvals) + " of " +
          (run.approvers.empty() ? std::string("anyone") : Join(run.approvers, ", ")) +
          " (plan hash " + run.diff_hash + ")";
      return End(RunState::kAwaitingApproval, summary, {{"diffHash", run.diff_hash}});
    }
    if (auto ok = machine.MoveTo(RunState::kApproved, {{"by", "no gate"}}); !ok) {
      return std::move(ok).error();
    }
    return Execute(started, run);
  }

  /// Records the release before the target changes: an annotated tag with its manifest (pushed
  /// when the plan has a remote), or for a restore the restored release's own tag. A tag the
  /// run's earlier life started to create keeps its name (CreateRelease finds it if written);
  /// a name taken meanwhile by another release gives way to the next free one.
  Result<std::string> TagRelease(std::chrono::system_clock::time_point started, const RunPlan& run,
                                 const JournaledRun* resumed) {
    if (!run.tag.create) return run.tag.name;
    std::string tag = resumed && !resumed->tag_intent.empty() ? resumed->tag_intent : run.tag.name;
    if (context.releases_repo && (!resumed || resumed->tag_intent.empty())) {
      if (auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo)) {
        if (auto free = repo->NextFreeName(tag, context.releases_remote)) tag = *free;
      }
    }
    const auto manifest = ManifestFor(plan_, result.audit, options_, Rfc3339(started));
    auto tagged = phases::Tag(tag, manifest).Run(context);
    if (!tagged) return std::move(tagged).error();
    PushTag(context, journal, tagged->name);
    return tagged->name;
  }

  /// From Approved: the pre-deploy hook, the tag, then every wave, then the after-audit;
  /// promoted, failed to start, or turned back. `resumed` is what a killed earlier life did
  /// (null for a fresh run): its tag is reused, its validated waves are not redone.
  Result<PromotionResult> Execute(std::chrono::system_clock::time_point started, const RunPlan& run,
                                  const JournaledRun* resumed = nullptr) {
    result.plan = run;
    if (resumed) result.validations = resumed->validations;
    if (auto forced = RecordForce(run); !forced) return std::move(forced).error();
    if (machine.state() == RunState::kApproved) {
      // The last word of the operator's checks (change ticket, on-call…) before any change.
      if (auto hooks = Hook(adapters::hooks::HookPoint::kPreDeploy); hooks.StopsRun()) {
        return End(RunState::kRefused, "stopped before any change: " + hooks.Summary());
      }
      if (auto owned = StillLocked(); !owned) return std::move(owned).error();
      auto tagged = TagRelease(started, run, resumed);
      if (!tagged) return FailToStart("could not tag the release", tagged.error());
      result.tag = *tagged;
      if (auto ok =
              machine.MoveTo(RunState::kTagged, {{"tag", result.tag}, {"restore", run.restore}});
          !ok) {
        return std::move(ok).error();
      }
    } else {
      result.tag = resumed->tag;
      if (!resumed->tag_pushed && run.tag.create) PushTag(context, journal, result.tag);
    }
    if (resumed) touched_ = resumed->touched;
    for (const auto& wave : run.waves) {
      auto outcome = RunWave(run, wave, resumed);
      if (!outcome) return std::move(outcome).error();
      if (outcome->ended) return std::move(*outcome->ended);
      if (outcome->failure) return TurnBackOrStop(*outcome->failure);
    }
    if (auto failure = AfterAudit()) return TurnBackOrStop(*failure);
    return End(RunState::kPromoted,
               request_.target + " now runs release " + result.tag + "; " +
                   FunctionalName(result.audit.target_verdict.functional) + ": " +
                   result.audit.target_verdict.reason,
               {{"tag", result.tag}});
  }

  /// How one wave ended: on to the next, a failure to turn back from, or the run's end.
  struct WaveOutcome {
    std::optional<RunFailure> failure;
    std::optional<PromotionResult> ended;
  };

  /// Deploys a wave's changes (when it has any) and validates every service of the wave.
  Result<WaveOutcome> RunWave(const RunPlan& run, const PlannedWave& wave,
                              const JournaledRun* resumed) {
    const std::string name = "wave " + std::to_string(wave.number);
    if (resumed && resumed->validated_waves.count(wave.number)) return WaveOutcome{};
    if (resumed && resumed->current_wave == wave.number && !resumed->failed_validation.empty() &&
        machine.state() == RunState::kValidating) {
      return WaveOutcome{FailureOf(name + " failed validation: " + resumed->failed_validation,
                                   resumed->failed_validation_judged, resumed->failed_services,
                                   resumed->failed_probes, run),
                         std::nullopt};
    }
    if (auto owned = StillLocked(); !owned) return std::move(owned).error();
    if (!wave.changes.empty()) {
      auto deployed = DeployWave(wave, resumed);
      if (!deployed) return std::move(deployed).error();
      if (deployed->failure || deployed->ended) return deployed;
    }
    if (auto ok = machine.MoveTo(RunState::kValidating, {{"wave", wave.number}}); !ok) {
      return std::move(ok).error();
    }
    auto verdict = phases::Validate(plan_, request_.target, wave.services, plan_.validate,
                                    run.waived, phases::GoldenWaivers::kNever,
                                    phases::MetricChecks::kEvaluated, wave.images)
                       .Run(context);
    auto noted = journal.Note("validation of " + name, {{"wave", wave.number},
                                                        {"passed", verdict.passed},
                                                        {"reason", verdict.reason},
                                                        {"rounds", verdict.rounds},
                                                        {"failures", verdict.failures},
                                                        {"errors", verdict.errors},
                                                        {"judged", verdict.judged},
                                                        {"failedServices", verdict.failed_services},
                                                        {"failedProbes", verdict.failed_probes}});
    if (!noted) return std::move(noted).error();
    result.validations.emplace_back(name, verdict);
    Hook(adapters::hooks::HookPoint::kPostValidate,
         {{"wave", wave.number}, {"passed", verdict.passed}, {"reason", verdict.reason}});
    if (verdict.passed) return WaveOutcome{};
    return WaveOutcome{FailureOf(name + " failed validation: " + verdict.reason, verdict.judged,
                                 verdict.failed_services, verdict.failed_probes, run),
                       std::nullopt};
  }

  /// The Deploying part of a wave: sets its images (a resumed wave only waits for those set).
  Result<WaveOutcome> DeployWave(const PlannedWave& wave, const JournaledRun* resumed) {
    const json deploying = {{"wave", wave.number}, {"changes", ChangesJson(wave.changes)}};
    if (machine.state() == RunState::kDeploying && resumed &&
        resumed->current_wave == wave.number) {
      // Killed while this wave rolled out: Deploy checks each service's image first, so going
      // through it again only waits for what is already set.
      if (auto noted = journal.Note("resuming wave " + std::to_string(wave.number), deploying);
          !noted) {
        return std::move(noted).error();
      }
    } else if (auto ok = machine.MoveTo(RunState::kDeploying, deploying); !ok) {
      return std::move(ok).error();
    }
    auto rolled = phases::Deploy(plan_, request_.target, wave.number, wave.changes).Run(context);
    // A step it could not journal was not made; neither is any other from here on.
    if (auto broken = journal.write_failure()) return *broken;
    for (const auto& service : rolled.services) {
      bool known = false;
      for (const auto& t : touched_) known = known || t.service == service.change.service;
      if (service.touched && !known) touched_.push_back(service.change);
      // A write read back unchanged touched nothing, whatever an earlier life's intent said
      // (the journal reads it the same way on a later resume).
      if (!service.touched && service.status == phases::StepStatus::kFailed) {
        std::erase_if(touched_, [&](const auto& t) { return t.service == service.change.service; });
      }
      result.rollouts.push_back(service);
    }
    Hook(adapters::hooks::HookPoint::kPostDeploy,
         {{"wave", wave.number}, {"rolledOut", rolled.ok}, {"reason", rolled.reason}});
    if (rolled.ok) return WaveOutcome{};
    const std::string reason =
        "wave " + std::to_string(wave.number) + " did not roll out: " + rolled.reason;
    if (touched_.empty()) {
      // Nothing in the target changed: nothing to roll back, and nothing was judged.
      const auto& failed = rolled.services.front();
      Error error{ErrorKind::kExternal, rolled.reason, "", FixFor(failed)};
      auto ended = FailToStart("wave " + std::to_string(wave.number) + " did not roll out", error);
      if (!ended) return std::move(ended).error();
      return WaveOutcome{std::nullopt, std::move(*ended)};
    }
    RunFailure failure{reason, rolled.blame, {}};
    if (rolled.blame == Blame::kRelease) {
      for (const auto& service : rolled.services) {
        if (service.blame == Blame::kRelease) {
          failure.images.push_back(
              Judged(service.change.service, service.change.to_image, service.detail));
        }
      }
    }
    return WaveOutcome{std::move(failure), std::nullopt};
  }

  /// After the last wave: the target audited again; a golden probe that fails there turns the
  /// run back (judged when it answered wrong), whatever the waves' validations said.
  std::optional<RunFailure> AfterAudit() {
    const Prepared after = Audit("after");
    if (after.audit.target_verdict.functional != phases::Functional::kNotFunctional) {
      return std::nullopt;
    }
    RunFailure failure{"the after-audit found " + request_.target +
                           " not functional: " + after.audit.target_verdict.reason,
                       Blame::kInfrastructure,
                       {}};
    for (const auto& seen : after.audit.target_env.services) {
      for (const auto& probe : seen.probes) {
        if (!probe.golden || probe.verdict.outcome != adapters::probe::ProbeOutcome::kFailed) {
          continue;
        }
        failure.blame = Blame::kRelease;
        failure.images.push_back(
            Judged(seen.service, seen.status.image,
                   probe.method + " " + probe.path + " answered " + std::to_string(probe.status)));
        break;
      }
    }
    return failure;
  }

  /// A failed validation as a RunFailure: judged → the failing services' images are bad.
  RunFailure FailureOf(const std::string& reason, bool judged,
                       const std::map<std::string, std::string>& failed_services,
                       const std::map<std::string, std::vector<std::string>>& failed_probes,
                       const RunPlan& run) {
    RunFailure failure{reason, judged ? Blame::kRelease : Blame::kInfrastructure, {}};
    if (!judged) return failure;
    for (const auto& [service, why] : failed_services) {
      // A probe that is not golden and failed before the run judges nothing by failing now:
      // the cause may be the target's (a backend down), not the image's. A golden probe always
      // judges: making it pass is what a promotion is for.
      if (OnlyFailedBefore(service, failed_probes, run)) continue;
      std::string image;
      for (const auto& change : run.Changes()) {
        if (change.service == service) image = change.to_image;
      }
      if (image.empty()) {
        // Not changed by the run: the image it kept is the one judged.
        const auto* seen = result.audit.target_env.Find(service);
        if (seen) image = seen->status.image;
      }
      failure.images.push_back(Judged(service, image, why));
    }
    if (failure.images.empty()) failure.blame = Blame::kInfrastructure;
    return failure;
  }

  /// Whether every probe of `service` that answered wrong is not golden and failed before the run.
  bool OnlyFailedBefore(const std::string& service,
                        const std::map<std::string, std::vector<std::string>>& failed_probes,
                        const RunPlan& run) const {
    const auto before = run.failing_before.find(service);
    const auto failed = failed_probes.find(service);
    const plan::Service* planned = plan_.FindService(service);
    if (before == run.failing_before.end() || failed == failed_probes.end() || !planned) {
      return false;
    }
    return std::all_of(failed->second.begin(), failed->second.end(), [&](const std::string& name) {
      const bool golden =
          std::any_of(planned->probes.begin(), planned->probes.end(),
                      [&](const plan::Probe& p) { return p.name == name && p.golden; });
      return !golden &&
             std::find(before->second.begin(), before->second.end(), name) != before->second.end();
    });
  }

  /// The image `reference` of `service` as a release note records it (digest apart).
  static adapters::git::JudgedImage Judged(const std::string& service, const std::string& reference,
                                           const std::string& reason) {
    adapters::git::JudgedImage judged{service, {reference, std::nullopt}, reason};
    if (const auto at = reference.find("@sha256:"); at != std::string::npos) {
      judged.image.digest = reference.substr(at + 1);
    }
    return judged;
  }

  /// The fix a person needs for a failed first write: the adapter's own, or where to look.
  static std::string FixFor(const phases::ServiceRollout& failed) {
    return failed.command.empty() ? "check the cluster's answer above"
                                  : "run `" + failed.command +
                                        "` by hand to see the cluster's "
                                        "answer; fix it (credentials, chart path, RBAC), then run "
                                        "again";
  }

  /// Ends a run that changed nothing in the target: nothing rolled back, the release recorded
  /// as never deployed (when tagged), and the fix named.
  Result<PromotionResult> FailToStart(const std::string& what, const Error& error) {
    const std::string why = error.what.empty() ? what : what + ": " + error.what;
    result.failure = RunFailure{why, Blame::kInfrastructure, {}};
    result.release_record =
        RecordRelease(adapters::git::ReleaseStatus::kNotDeployed, *result.failure);
    result.next_steps.push_back(
        {error.fix.empty() ? "fix what failed, then run again" : error.fix, ""});
    result.next_steps.push_back({"run again once it is fixed", Suggest(RunAgain())});
    return End(RunState::kFailedToStart,
               why + "; nothing in " + request_.target + " changed, nothing was rolled back" +
                   (result.release_record.empty() ? "" : "; release " + result.release_record),
               {{"error", error.Format()}});
  }

  /// A failure after something changed turns the run back; one before anything changed (a
  /// wave validated before any image was set) ends it as failed to start: nothing to restore,
  /// and a release never deployed is not judged by it.
  Result<PromotionResult> TurnBackOrStop(const RunFailure& failure) {
    if (!touched_.empty()) return TurnBack(failure);
    return FailToStart(failure.reason,
                       Error{ErrorKind::kExternal, "", "", "see the validation in the report"});
  }

  /// Every service the run touched goes back; the failure is journaled first.
  Result<PromotionResult> TurnBack(const RunFailure& failure) {
    context.logger.warn("{}: rolling back {} service(s)", failure.reason, touched_.size());
    json detail = FailureJson(failure);
    detail["services"] = ChangesJson(touched_);
    if (auto ok = machine.MoveTo(RunState::kRollingBack, detail); !ok) {
      return std::move(ok).error();
    }
    Hook(adapters::hooks::HookPoint::kOnRollback,
         {{"reason", failure.reason}, {"rollingBack", ChangesJson(touched_)}});
    return RollBack(failure, touched_);
  }

  /// From RollingBack: restores `touched` (checking each service's image first, so a resumed
  /// rollback does not redo what is done), validates the restored state over a soak of its own,
  /// and records what the failure says of the release.
  Result<PromotionResult> RollBack(const RunFailure& failure,
                                   const std::vector<phases::ServiceChange>& touched) {
    result.failure = failure;
    if (machine.state() == RunState::kRollingBack) {
      auto restored =
          phases::Rollback(plan_, request_.target, touched, plan_.rollback.timeout).Run(context);
      result.restores = restored.services;
      if (auto broken = journal.write_failure()) return *broken;
      if (!restored.ok) {
        return Stranded(failure, touched, "ROLLBACK FAILED: " + restored.reason);
      }
      if (auto ok = machine.MoveTo(RunState::kRevalidating); !ok) return std::move(ok).error();
    }
    // Every service, not only the restored ones: a change may have broken a neighbour, and the
    // target is back only when all of it answers as before the run.
    std::vector<std::string> names;
    for (const auto& service : plan_.services) names.push_back(service.name);
    plan::ValidationPolicy soak = plan_.validate;
    soak.initial_delay = std::chrono::milliseconds(0);
    soak.soak = plan_.rollback.soak;
    soak.successes = plan_.rollback.successes;
    // The target is judged against what it was before the run: back to a known state.
    const auto after = phases::Validate(plan_, request_.target, names, soak,
                                        result.plan.failing_before, phases::GoldenWaivers::kAllowed,
                                        phases::MetricChecks::kSkippedAfterRollback)
                           .Run(context);
    result.validations.emplace_back("after rollback", after);
    if (!after.passed) {
      return Stranded(failure, touched, "the restored state is still unhealthy: " + after.reason);
    }
    result.release_record = RecordRelease(StatusOf(failure), failure);
    result.next_steps = AfterRollbackSteps(failure);
    const bool broken_before = !result.plan.failing_before.empty();
    return End(RunState::kRolledBack,
               failure.reason + "; rolled back " + std::to_string(touched.size()) +
                   " service(s) to what " + request_.target + " ran before, " +
                   (broken_before ? "which answers as it did before the run (" + after.reason +
                                        "; it failed probes already)"
                                  : "healthy again (" + after.reason + ")") +
                   (result.release_record.empty() ? "" : "; release " + result.release_record),
               {{"restoredHealthy", true}});
  }

  /// A rollback that did not leave the target healthy: a person is needed, with the commands.
  Result<PromotionResult> Stranded(const RunFailure& failure,
                                   const std::vector<phases::ServiceChange>& touched,
                                   const std::string& what) {
    result.release_record = RecordRelease(StatusOf(failure), failure);
    const plan::Environment& env = *plan_.FindEnvironment(request_.target);
    for (const auto& change : touched) {
      const auto ref = phases::WorkloadRefFor(env, *plan_.FindService(change.service));
      for (const auto& command :
           context.cluster(request_.target)
               .PlanRollback(ref, {change.from_image, change.from_helm_revision},
                             plan_.rollback.timeout)) {
        result.next_steps.push_back({"restore " + change.service + " to " + change.from_image,
                                     ShellLine(context.redactor.RedactArgv(command.argv))});
      }
    }
    result.next_steps.push_back(
        {"then check " + request_.target + " end to end",
         Suggest(
             {"audit", request_.restore ? request_.target : request_.source, request_.target})});
    json steps = json::array();
    for (const auto& step : result.next_steps) {
      steps.push_back({{"why", step.why}, {"command", step.command}});
    }
    return End(RunState::kRollbackFailed,
               failure.reason + "; " + what + " — " + request_.target + " needs a person now" +
                   (result.release_record.empty() ? "" : "; release " + result.release_record),
               {{"nextSteps", steps}});
  }

  static adapters::git::ReleaseStatus StatusOf(const RunFailure& failure) {
    return failure.blame == Blame::kRelease ? adapters::git::ReleaseStatus::kBad
                                            : adapters::git::ReleaseStatus::kUnverified;
  }

  /// Records what became of the release (journaled as a step) and says so in a phrase; a
  /// restored release is left as it was (it was good once and may be the way back again).
  std::string RecordRelease(adapters::git::ReleaseStatus status, const RunFailure& failure) {
    if (result.tag.empty()) return "";
    if (request_.restore) return result.tag + " left as it was (a restored release)";
    if (!context.releases_repo) return result.tag + " could NOT be recorded: no release repository";
    // The note is pushed and read back by later runs: it holds only redacted text.
    adapters::git::ReleaseNote note{status, context.redactor.Redact(failure.reason), "",
                                    failure.images};
    for (auto& judged : note.images) judged.reason = context.redactor.Redact(judged.reason);
    const char* word = adapters::git::ReleaseStatusName(status);
    auto intent = journal.Intent(StateName(machine.state()), "mark-release", "",
                                 {{"tag", result.tag}, {"status", word}});
    if (!intent)
      return result.tag + " could NOT be recorded " + word + ": " + intent.error().Format();
    auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo);
    auto written = repo ? repo->MarkRelease(result.tag, note,
                                            {options_.initiator, options_.initiator + "@promote"})
                        : Status(repo.error());
    if (!written) {
      phases::RecordFailed(journal, context.logger, *intent, {{"error", written.error().Format()}});
      return result.tag + " could NOT be recorded " + word + ": " + written.error().Format();
    }
    result.recorded = status;
    if (auto done = journal.Done(*intent); !done) {
      context.logger.warn("release {} recorded {}, but not journaled: {}", result.tag, word,
                          done.error().Format());
    }
    std::vector<std::string> images;
    for (const auto& judged : failure.images)
      images.push_back(judged.service + " " + judged.image.image);
    if (status == adapters::git::ReleaseStatus::kBad) {
      return result.tag + " marked bad" + (images.empty() ? "" : " (" + Join(images, ", ") + ")");
    }
    if (status == adapters::git::ReleaseStatus::kUnverified) {
      return result.tag + " recorded unverified (not judged: a later run may promote it)";
    }
    return result.tag + " recorded as never deployed";
  }

  /// What a person does after a rollback: look, then fix the images or the infrastructure.
  std::vector<NextStep> AfterRollbackSteps(const RunFailure& failure) const {
    std::vector<NextStep> steps;
    steps.push_back(
        {"see the run's releases and how it ended", Suggest({"history", request_.target})});
    const bool refused_now = result.recorded == adapters::git::ReleaseStatus::kBad;
    if (failure.blame == Blame::kRelease) {
      for (const auto& judged : failure.images) {
        steps.push_back(
            {"fix " + judged.service + " (" + judged.image.image + ": " + judged.reason + ")" +
                 (request_.restore ? "" : ", prove the new build in " + request_.source) +
                 (refused_now ? "; this image is now refused"
                              : "; it is not recorded as bad (see the release line)"),
             ""});
      }
      steps.push_back({"then run again", Suggest(RunAgain())});
    } else {
      steps.push_back({std::string("nothing judged the release: once the cause is fixed, run "
                                   "again") +
                           (result.plan.forced.empty() ? " (no --force needed)" : ""),
                       Suggest(RunAgain())});
    }
    return steps;
  }

  std::vector<std::string> RunAgain() const {
    if (request_.restore) return {"rollback", request_.target, "--to", request_.source};
    return {request_.source, request_.target};
  }

  std::string Suggest(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = request_.command_prefix;
    argv.insert(argv.end(), args.begin(), args.end());
    return ShellLine(argv);
  }

  /// Moves to `state` (terminal, or the gate), hands the result to the observer, returns it.
  Result<PromotionResult> End(RunState state, std::string summary, json detail = json::object()) {
    detail["summary"] = summary;
    result.summary = std::move(summary);
    if (auto ok = machine.MoveTo(state, std::move(detail)); !ok) return std::move(ok).error();
    result.state = state;
    result.timeline = BuildTimeline(journal.events(), result.validations);
    if (observer_) observer_->Ended(result);
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
  RunRequest request_;  ///< the options' request, with what a resumed run carries over
  RunObserver* observer_;
  const RunLock* lock_ = nullptr;
  std::vector<phases::ServiceChange> touched_;  ///< every service the run may have changed

 public:
  phases::Context& context;
  Journal& journal;
  Machine machine;
  PromotionResult result;
};

/// The target's run lock, with the plan's backend (file or Lease), held by `options.run_id`.
Result<RunLock> LockTarget(const plan::Plan& plan, const PromotionOptions& options,
                           phases::Context& context, std::chrono::system_clock::time_point at) {
  return AcquireRunLock(*plan.FindEnvironment(options.request.target), options.state_dir,
                        LockHolder::Current(options.run_id, at),
                        context.cluster(options.request.target));
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

/// Why a fresh audit no longer allows the approved plan, or "": it must still decide to
/// promote, the same change, and force no bad image the approval did not see forced.
std::string ChangedSinceApproval(const RunPlan& approved, const RunPlan& now) {
  if (now.decision != Decision::kPromote) return now.reason;
  if (now.diff_hash != approved.diff_hash) return DescribeDiffChange(approved.diff, now.diff);
  for (const auto& bad : now.forced) {
    const bool seen = std::any_of(approved.forced.begin(), approved.forced.end(), [&](auto& was) {
      return was.service == bad.service && was.image == bad.image;
    });
    if (!seen) return bad.Describe() + ", which was not forced when the run was approved";
  }
  return "";
}

/// The approved plan with what only the present can tell: the probes failing now in the source
/// or the target (what the target is held to, and what a rollback must give back), which were
/// not part of what was approved. Nothing changed in the target since the plan was made.
RunPlan ToPerform(RunPlan approved, const RunPlan& now) {
  approved.waived = now.waived;
  approved.failing_before = now.failing_before;
  return approved;
}

/// The plan a resumed run performs: the one its journal holds.
Result<RunPlan> JournaledPlan(const JournaledRun& earlier, const PromotionOptions& options) {
  if (earlier.plan) return *earlier.plan;
  return Error{ErrorKind::kUsage, "run " + options.run_id + " holds no run plan in its journal",
               (options.run_dir / Journal::kFileName).string(),
               "it was started by an older promote: finish it with that version, or start a new "
               "run"};
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

Result<Prepared> AuditAndPrepare(const plan::Plan& plan, const RunRequest& request,
                                 phases::Context& context) {
  const phases::AuditRequest audit_request{request.force_reason, request.override_freeze,
                                           request.override_window, request.command_prefix};
  Prepared prepared;
  if (request.restore) {
    auto manifest = ReleaseToRestore(context, request.source, request.target);
    if (!manifest) return std::move(manifest).error();
    prepared.audit = phases::Audit::OfRestore(plan, request.source, std::move(*manifest),
                                              request.target, audit_request)
                         .Run(context);
  } else {
    prepared.audit =
        phases::Audit(plan, request.source, request.target, audit_request).Run(context);
  }
  prepared.plan = Prepare(plan, prepared.audit, context.cluster(request.target), context.now());
  return prepared;
}

Result<PromotionResult> Promotion::Locked(phases::Context& context, const LockedBody& body) const {
  const auto started = context.now();
  auto lock = LockTarget(plan_, options_, context, started);
  if (!lock) return std::move(lock).error();
  return KeptIfInterrupted(GuardJournal(options_.run_dir, [&] { return body(started, *lock); }),
                           *lock);
}

Result<PromotionResult> Promotion::KeptIfInterrupted(Result<PromotionResult> ended,
                                                     RunLock& lock) const {
  if (ended || ended.error().kind != ErrorKind::kInterrupted) return ended;
  // The run could not journal its next step, so it made none: the target may be half changed,
  // and only this run's journal knows how. Its lock stays, so no other run starts on top of it;
  // `promote resume` takes it back and finishes or rolls back.
  lock.Keep();
  Error error = std::move(ended).error();
  error.what = "run " + options_.run_id + " stopped, nothing lost: " + error.what;
  error.fix = "make " + options_.run_dir.parent_path().parent_path().string() +
              " writable (free space, raise the file size limit, remount read-write), then run "
              "`promote resume " +
              options_.run_id + "`; the target keeps its lock until then";
  return error;
}

Promotion::Promotion(const plan::Plan& plan, PromotionOptions options, RunObserver* observer)
    : plan_(plan), options_(std::move(options)), observer_(observer) {}

Result<PromotionResult> Promotion::Run(phases::Context& context) const {
  const auto started = context.now();
  const RunRequest& request = options_.request;
  if (request.restore) {
    // A tag that is not a release of the target is bad input: refused before anything is written.
    if (auto release = ReleaseToRestore(context, request.source, request.target); !release) {
      return std::move(release).error();
    }
  }
  auto lock = LockTarget(plan_, options_, context, started);
  if (!lock) return std::move(lock).error();
  auto journal = Journal::Create(options_.run_dir, options_.run_id, options_.redactor);
  if (!journal) return std::move(journal).error();
  return KeptIfInterrupted(RunLocked(context, started, *lock, *journal), *lock);
}

Result<PromotionResult> Promotion::RunLocked(phases::Context& context,
                                             std::chrono::system_clock::time_point started,
                                             RunLock& lock, Journal& journal) const {
  const RunRequest& request = options_.request;
  auto planned = journal.Transition(
      StateName(RunState::kPlanned),
      {{"plan", std::filesystem::absolute(plan_.source_file).lexically_normal().string()},
       {"source", request.source},
       {"target", request.target},
       {"initiator", options_.initiator},
       {"restore", request.restore},
       {"planHash", plan_.content_hash}});
  if (!planned) return std::move(planned).error();
  Driver run(plan_, options_, observer_, context, journal, RunState::kPlanned);
  run.HoldsLock(lock);
  return run.AuditAndDecide(started, "audit");
}

Result<PromotionResult> Promotion::Resume(phases::Context& context,
                                          const std::vector<std::string>& approvers,
                                          const std::string& approved_hash) const {
  return Locked(
      context,
      [&](std::chrono::system_clock::time_point started, RunLock& lock) -> Result<PromotionResult> {
        auto journal = Journal::Open(options_.run_dir, options_.redactor);
        if (!journal) return std::move(journal).error();
        if (journal->CurrentState() != StateName(RunState::kAwaitingApproval)) {
          return Error{
              ErrorKind::kUsage,
              "run " + options_.run_id + " is " + journal->CurrentState() +
                  ", not AwaitingApproval",
              options_.run_dir.string(),
              "resume continues an approved run; see `promote status " + options_.run_id + "`"};
        }
        const JournaledRun earlier = ReadJournaledRun(*journal);
        auto approved = JournaledPlan(earlier, options_);
        if (!approved) return std::move(approved).error();
        Driver run(plan_, options_, observer_, context, *journal, RunState::kAwaitingApproval);
        run.HoldsLock(lock);
        run.CarryOver(earlier);
        run.result.plan = *approved;
        // A freeze that began while the run waited for its approvers stops it too.
        if (const std::string frozen = run.FreezeRefusal(); !frozen.empty()) {
          return run.End(RunState::kRefused, frozen, {{"frozen", true}});
        }
        // An approval is for that exact change: a fresh audit must still want to deploy it.
        const Prepared now = run.Audit("audit-resume");
        RunPlan approved_plan = *approved;
        approved_plan.diff_hash = approved_hash;
        if (const std::string changed = ChangedSinceApproval(approved_plan, now.plan);
            !changed.empty()) {
          return run.End(RunState::kRefused,
                         "what would be deployed changed since it was approved (" + changed +
                             "); start a new run and have it approved",
                         {{"approvedHash", approved_hash}, {"diffHash", now.plan.diff_hash}});
        }
        if (auto ok = run.machine.MoveTo(RunState::kApproved, {{"by", approvers}}); !ok) {
          return std::move(ok).error();
        }
        return run.Execute(started, ToPerform(*approved, now.plan));
      });
}

Result<PromotionResult> Promotion::Continue(phases::Context& context) const {
  // A run killed right after journaling its end never answered nor released its lock, which
  // still names it (seen before Locked takes it back): its resume reports that end.
  bool end_unreported = false;
  if (auto journal = Journal::Open(options_.run_dir, options_.redactor); journal) {
    const std::optional<RunState> ended = StateFromName(journal->CurrentState());
    if (ended && IsTerminal(*ended)) {
      auto holder = InspectRunLock(*plan_.FindEnvironment(options_.request.target),
                                   options_.state_dir, context.cluster(options_.request.target));
      end_unreported = holder && *holder && (*holder)->run_id == options_.run_id;
    }
  }
  return Locked(
      context,
      [&](std::chrono::system_clock::time_point started, RunLock& lock) -> Result<PromotionResult> {
        auto journal = Journal::Open(options_.run_dir, options_.redactor);
        if (!journal) return std::move(journal).error();
        const std::string current = journal->CurrentState();
        const std::optional<RunState> found = StateFromName(current);
        const bool known = found.has_value();
        const RunState state = found.value_or(RunState::kPlanned);
        if (known && IsTerminal(state) && end_unreported) {
          // Nothing is redone: the end stands as journaled, with its exit code; the lock goes.
          if (auto noted = journal->Note("the run had ended as " + current +
                                         "; its process died before it could answer");
              !noted) {
            return std::move(noted).error();
          }
          const JournaledRun earlier = ReadJournaledRun(*journal);
          Driver run(plan_, options_, observer_, context, *journal, state);
          if (earlier.plan) run.result.plan = *earlier.plan;
          run.result.tag = earlier.tag;
          run.result.validations = earlier.validations;
          run.result.state = state;
          const auto events = journal->events();
          for (auto it = events.rbegin(); it != events.rend(); ++it) {
            if (it->kind != EventKind::kTransition) continue;
            run.result.summary = it->detail.value("summary", current);
            break;
          }
          return std::move(run.result);
        }
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
        if (auto noted = journal->Note(
                "resumed after the run stopped in " + current,
                {{"openIntents", open}, {"tornTail", journal->torn_tail().has_value()}});
            !noted) {
          return std::move(noted).error();
        }
        context.logger.info("run {}: resuming from {} ({} step(s) were in flight)", options_.run_id,
                            current, open.size());
        Driver run(plan_, options_, observer_, context, *journal, state);
        run.HoldsLock(lock);
        run.CarryOver(earlier);
        if (state == RunState::kPlanned || state == RunState::kAudited) {
          // Nothing changed yet: audit again and decide as a fresh run would.
          return run.AuditAndDecide(started, "audit-resume");
        }
        auto journaled = JournaledPlan(earlier, options_);
        if (!journaled) return std::move(journaled).error();
        run.result.plan = *journaled;
        if (state == RunState::kApproved) {
          // Nothing in the target changed yet: a freeze that began meanwhile stops the run.
          if (const std::string frozen = run.FreezeRefusal(); !frozen.empty()) {
            return run.End(RunState::kRefused, frozen, {{"frozen", true}});
          }
          // Approved, perhaps tagging: the change must still be the one decided (and approved).
          const Prepared now = run.Audit("audit-resume");
          if (const std::string changed = ChangedSinceApproval(*journaled, now.plan);
              !changed.empty()) {
            return run.End(
                RunState::kRefused,
                "what would be deployed changed since the run was approved (" + changed +
                    "); start a new run",
                {{"approvedHash", journaled->diff_hash}, {"diffHash", now.plan.diff_hash}});
          }
          return run.Execute(started, ToPerform(*journaled, now.plan), &earlier);
        }
        run.Audit("audit-resume");  // what the target runs now, for the report
        if (state == RunState::kRollingBack || state == RunState::kRevalidating) {
          run.result.tag = earlier.tag;
          run.result.validations = earlier.validations;
          return run.RollBack(earlier.failure, earlier.rolling_back);
        }
        return run.Execute(started, *journaled, &earlier);
      });
}

}  // namespace promote::engine
