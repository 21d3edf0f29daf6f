// Implementation details: services are restored concurrently, like a wave, at once: what to
// restore was recorded by the audit, so nothing is read first (setting an image a workload
// already runs changes nothing, so a re-run after a crash costs one idempotent write). A helm
// service goes back to its recorded revision.
#include "phases/rollback.h"

#include <spdlog/logger.h>

#include <future>
#include <nlohmann/json.hpp>

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

ServiceRollout Rollback::Restore(Context& context, const ServiceChange& change) const {
  ServiceRollout restored{change, StepStatus::kFailed, true, "", Blame::kInfrastructure, ""};
  const plan::Environment& env = *plan_.FindEnvironment(target_);
  const auto ref = WorkloadRefFor(env, *plan_.FindService(change.service));
  adapters::kube::Cluster& cluster = context.cluster(target_);
  const adapters::kube::RollbackTarget to{change.from_image, change.from_helm_revision};
  const std::string state = "RollingBack";

  const auto commands = cluster.PlanRollback(ref, to, budget_);
  std::string line;
  for (const auto& command : commands) {
    line += (line.empty() ? "" : " && ") + ShellLine(context.redactor.RedactArgv(command.argv));
  }
  {
    nlohmann::json argv = nlohmann::json::array();
    for (const auto& command : commands) argv.push_back(context.redactor.RedactArgv(command.argv));
    auto intent = context.steps->Intent(
        state, "restore", change.service,
        {{"from", change.to_image}, {"to", change.from_image}, {"argv", argv}});
    if (!intent) {
      restored.detail = intent.error().Format();
      return restored;
    }
    context.logger.warn("rollback {}: restoring {}", change.service, change.from_image);
    auto done = cluster.Rollback(ref, to, budget_);
    if (!done) {
      restored.detail = done.error().Format();
      restored.command = line;
      RecordFailed(*context.steps, context.logger, *intent, {{"error", restored.detail}});
      return restored;
    }
    if (auto recorded = context.steps->Done(*intent, {}); !recorded) {
      restored.detail =
          "restored, but the journal could not record it: " + recorded.error().Format();
      return restored;
    }
  }
  auto intent = context.steps->Intent(state, "wait-restore", change.service,
                                      {{"timeoutMs", budget_.count()}});
  if (!intent) {
    restored.detail = intent.error().Format();
    return restored;
  }
  auto waited = cluster.WaitRollout(ref, budget_);
  if (!waited || waited->outcome != adapters::kube::RolloutOutcome::kComplete) {
    restored.detail = waited ? "rollout of the previous image did not complete: " + waited->detail
                             : waited.error().Format();
    restored.command = ShellLine(context.redactor.RedactArgv(cluster.PlanWait(ref, budget_).argv));
    RecordFailed(*context.steps, context.logger, *intent, {{"error", restored.detail}});
    return restored;
  }
  if (auto recorded = context.steps->Done(*intent, {{"outcome", "complete"}}); !recorded) {
    restored.detail = "back on the previous image, but the journal could not record it: " +
                      recorded.error().Format();
    return restored;
  }
  restored.status = StepStatus::kSucceeded;
  restored.blame = Blame::kNone;
  restored.detail = "back on " + change.from_image;
  return restored;
}

RollbackOutcome Rollback::Run(Context& context) const {
  std::vector<std::future<ServiceRollout>> running;
  for (const auto& change : changes_) {
    running.push_back(
        std::async(std::launch::async, [&, change] { return Restore(context, change); }));
  }
  RollbackOutcome outcome;
  outcome.ok = true;
  for (auto& future : running) {
    outcome.services.push_back(future.get());
    const auto& service = outcome.services.back();
    if (service.status == StepStatus::kFailed) {
      outcome.ok = false;
      outcome.reason +=
          (outcome.reason.empty() ? "" : "; ") + service.change.service + ": " + service.detail;
    }
  }
  return outcome;
}

}  // namespace promote::phases
