// Implementation details: services are restored concurrently, like a wave, at once: what to
// restore was recorded by the audit, so nothing is read first (setting an image a workload
// already runs changes nothing, so a re-run after a crash costs one idempotent write). A helm
// service goes back to its recorded revision. The restored services are then awaited together,
// by one WaitRollouts.
#include "phases/rollback.h"

#include <spdlog/logger.h>

#include <nlohmann/json.hpp>

#include "core/parallel.h"
#include "core/redactor.h"
#include "core/shell_line.h"
#include "phases/context.h"
#include "phases/step_log.h"
#include "phases/targets.h"
#include "plan/plan.h"

namespace promote::phases {

Rollback::Rollback(const plan::Plan& plan, std::string target, std::vector<ServiceChange> changes,
                   std::chrono::milliseconds budget)
    : plan_(plan), target_(std::move(target)), changes_(std::move(changes)), budget_(budget) {}

namespace {

/// The pause before try `tries + 1`, never past `give_up`.
std::chrono::milliseconds PauseBefore(int tries, std::chrono::system_clock::time_point now,
                                      std::chrono::system_clock::time_point give_up) {
  auto pause = std::min(Rollback::kMaxPause, Rollback::kFirstPause * (1 << std::min(tries - 1, 4)));
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - now);
  return std::max(std::chrono::milliseconds(0), std::min(pause, left));
}

}  // namespace

bool Rollback::Restore(Context& context, const ServiceChange& change, ServiceRollout& restored,
                       std::chrono::system_clock::time_point give_up) const {
  const plan::Environment& env = *plan_.FindEnvironment(target_);
  const auto ref = WorkloadRefFor(env, *plan_.FindService(change.service));
  adapters::kube::Cluster& cluster = context.cluster(target_);
  const adapters::kube::RollbackTarget to{change.from_image, change.from_helm_revision};
  const auto commands = cluster.PlanRollback(ref, to, budget_);
  std::string line;
  nlohmann::json argv = nlohmann::json::array();
  for (const auto& command : commands) {
    const auto redacted = context.redactor.RedactArgv(command.argv);
    line += (line.empty() ? "" : " && ") + ShellLine(redacted);
    argv.push_back(redacted);
  }
  auto intent =
      context.steps->Intent("RollingBack", "restore", change.service,
                            {{"from", change.to_image}, {"to", change.from_image}, {"argv", argv}});
  if (!intent) {
    restored.detail = intent.error().Format();
    return false;
  }
  context.logger.warn("rollback {}: restoring {}", change.service, change.from_image);
  int tries = 1;
  auto done = cluster.Rollback(ref, to, budget_);
  while (!done && done.error().transient && tries < kMaxTries && context.now() < give_up) {
    const auto pause = PauseBefore(tries, context.now(), give_up);
    context.logger.warn("rollback {}: try {} failed, trying again in {} ms: {}", change.service,
                        tries, pause.count(), done.error().what);
    context.sleep(pause);
    ++tries;
    done = cluster.Rollback(ref, to, budget_);
  }
  if (!done) {
    restored.detail = done.error().Format();
    if (tries > 1) restored.detail += " (" + std::to_string(tries) + " tries of the restore)";
    restored.command = line;
    RecordFailed(*context.steps, context.logger, *intent,
                 {{"error", restored.detail}, {"tries", tries}});
    return false;
  }
  if (auto recorded = context.steps->Done(*intent, {{"tries", tries}}); !recorded) {
    restored.detail = "restored, but the journal could not record it: " + recorded.error().Format();
    return false;
  }
  return true;
}

RollbackOutcome Rollback::Run(Context& context) const {
  // What is left of the budget at a moment, never below zero.
  const auto Left = [&](std::chrono::system_clock::time_point give_up) {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(give_up - context.now()));
  };
  const plan::Environment& env = *plan_.FindEnvironment(target_);
  adapters::kube::Cluster& cluster = context.cluster(target_);
  std::vector<ServiceRollout> restored;
  for (const auto& change : changes_) {
    restored.push_back({change, StepStatus::kFailed, true, "", Blame::kInfrastructure, ""});
  }
  // Every restore at once (what to restore was recorded: nothing is read first), then one wait.
  const auto give_up = context.now() + budget_;
  std::vector<char> written(changes_.size(), 0);
  ForEachConcurrently(changes_.size(), Deploy::kConcurrentWrites, [&](std::size_t i) {
    written[i] = Restore(context, changes_[i], restored[i], give_up);
  });
  std::vector<std::size_t> waiting;
  std::vector<long> intents;
  std::vector<adapters::kube::WorkloadRef> refs;
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    if (!written[i]) continue;
    auto intent = context.steps->Intent("RollingBack", "wait-restore", changes_[i].service,
                                        {{"timeoutMs", budget_.count()}});
    if (!intent) {
      restored[i].detail = intent.error().Format();
      continue;
    }
    waiting.push_back(i);
    intents.push_back(*intent);
    refs.push_back(WorkloadRefFor(env, *plan_.FindService(changes_[i].service)));
  }
  auto waited = cluster.WaitRollouts(refs, Left(give_up));
  // A wait that could not read the cluster (its reads gave up) is waited again while the budget
  // lasts; a rollout that ended (complete, or failed on its own) is not.
  for (int tries = 1; tries < kMaxTries; ++tries) {
    std::vector<std::size_t> again;
    for (std::size_t k = 0; k < waiting.size(); ++k) {
      if (!waited[k] && waited[k].error().transient) again.push_back(k);
    }
    if (again.empty() || context.now() >= give_up) break;
    const auto pause = PauseBefore(tries, context.now(), give_up);
    context.logger.warn("rollback: waiting for {} service(s) failed, waiting again in {} ms: {}",
                        again.size(), pause.count(), waited[again.front()].error().what);
    context.sleep(pause);
    std::vector<adapters::kube::WorkloadRef> again_refs;
    for (std::size_t k : again) again_refs.push_back(refs[k]);
    auto rewaited = cluster.WaitRollouts(again_refs, Left(give_up));
    for (std::size_t j = 0; j < again.size(); ++j) waited[again[j]] = std::move(rewaited[j]);
  }
  for (std::size_t k = 0; k < waiting.size(); ++k) {
    ServiceRollout& service = restored[waiting[k]];
    const auto& wait = waited[k];
    if (!wait || wait->outcome != adapters::kube::RolloutOutcome::kComplete) {
      service.detail = wait ? "rollout of the previous image did not complete: " + wait->detail
                            : wait.error().Format();
      service.command =
          ShellLine(context.redactor.RedactArgv(cluster.PlanWait(refs[k], budget_).argv));
      RecordFailed(*context.steps, context.logger, intents[k], {{"error", service.detail}});
      continue;
    }
    if (auto recorded = context.steps->Done(intents[k], {{"outcome", "complete"}}); !recorded) {
      service.detail = "back on the previous image, but the journal could not record it: " +
                       recorded.error().Format();
      continue;
    }
    service.status = StepStatus::kSucceeded;
    service.blame = Blame::kNone;
    service.detail = "back on " + service.change.from_image;
  }

  RollbackOutcome outcome;
  outcome.ok = true;
  for (auto& service : restored) {
    if (service.status == StepStatus::kFailed) {
      outcome.ok = false;
      outcome.reason +=
          (outcome.reason.empty() ? "" : "; ") + service.change.service + ": " + service.detail;
    }
    outcome.services.push_back(std::move(service));
  }
  return outcome;
}

}  // namespace promote::phases
