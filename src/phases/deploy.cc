// Implementation details: each service of a wave rolls out on its own thread (they are
// independent workloads); for each, the world is read first (already on the new image → Skipped),
// then the set-image intent is journaled, the image set, the outcome journaled, and the rollout
// awaited with the plan's rollout timeout. A service counts as touched from the moment its
// intent is written: after a crash there, rollback must assume the image may have changed.
#include "phases/deploy.h"

#include <spdlog/logger.h>

#include <future>
#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "core/redactor.h"
#include "phases/context.h"
#include "phases/step_log.h"
#include "phases/targets.h"
#include "plan/plan.h"

namespace promote::phases {
namespace {

using adapters::kube::RolloutOutcome;

const char* OutcomeWord(RolloutOutcome outcome) {
  switch (outcome) {
    case RolloutOutcome::kComplete:
      return "complete";
    case RolloutOutcome::kDeadlineExceeded:
      return "progress deadline exceeded";
    case RolloutOutcome::kTimedOut:
      return "timed out";
    case RolloutOutcome::kFailed:
      return "failed";
  }
  return "unknown";
}

}  // namespace

const char* StepStatusName(StepStatus status) {
  switch (status) {
    case StepStatus::kSucceeded:
      return "succeeded";
    case StepStatus::kSkipped:
      return "skipped";
    case StepStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

Deploy::Deploy(const plan::Plan& plan, std::string target, int wave,
               std::vector<ServiceChange> changes)
    : plan_(plan), target_(std::move(target)), wave_(wave), changes_(std::move(changes)) {}

ServiceRollout Deploy::RollOut(Context& context, const ServiceChange& change) const {
  ServiceRollout rollout{change, StepStatus::kFailed, false, ""};
  const auto started = context.now();
  auto elapsed = [&] {
    return FormatDuration(
        std::chrono::duration_cast<std::chrono::milliseconds>(context.now() - started));
  };
  const plan::Environment& env = *plan_.FindEnvironment(target_);
  const auto ref = WorkloadRefFor(env, *plan_.FindService(change.service));
  adapters::kube::Cluster& cluster = context.cluster(target_);
  const auto timeout = plan_.validate.rollout_timeout;
  const std::string state = "Deploying";

  auto now = cluster.ReadWorkload(ref);
  if (!now) {
    rollout.detail = now.error().Format();
    return rollout;
  }
  const bool already = now->image == change.to_image;
  if (!already) {
    nlohmann::json argv = nlohmann::json::array();
    for (const auto& command : cluster.PlanDeploy(ref, change.to_image, timeout)) {
      argv.push_back(context.redactor.RedactArgv(command.argv));
    }
    auto intent = context.steps->Intent(
        state, "set-image", change.service,
        {{"wave", wave_}, {"from", change.from_image}, {"to", change.to_image}, {"argv", argv}});
    if (!intent) {
      rollout.detail = intent.error().Format();
      return rollout;
    }
    rollout.touched = true;
    context.logger.info("[wave {}] {}: set image {}", wave_, change.service, change.to_image);
    auto deployed = cluster.Deploy(ref, change.to_image, timeout);
    if (!deployed) {
      rollout.detail = deployed.error().Format();
      RecordFailed(*context.steps, context.logger, *intent, {{"error", rollout.detail}});
      return rollout;
    }
    if (auto done = context.steps->Done(*intent, {}); !done) {
      rollout.detail =
          "the image was set but the journal could not record it: " + done.error().Format();
      return rollout;
    }
  } else {
    context.logger.info("[wave {}] {}: already on {}", wave_, change.service, change.to_image);
    rollout.touched = true;  // this run (or its earlier life) set it: restore it on rollback
  }

  auto intent = context.steps->Intent(state, "wait-rollout", change.service,
                                      {{"wave", wave_}, {"timeoutMs", timeout.count()}});
  if (!intent) {
    rollout.detail = intent.error().Format();
    return rollout;
  }
  auto waited = cluster.WaitRollout(ref, timeout);
  if (!waited) {
    rollout.detail = waited.error().Format();
    RecordFailed(*context.steps, context.logger, *intent, {{"error", rollout.detail}});
    return rollout;
  }
  rollout.detail = std::string("rollout ") + OutcomeWord(waited->outcome) +
                   (waited->detail.empty() ? "" : ": " + waited->detail);
  if (waited->outcome != RolloutOutcome::kComplete) {
    RecordFailed(*context.steps, context.logger, *intent,
                 {{"outcome", OutcomeWord(waited->outcome)}, {"detail", waited->detail}});
    context.logger.warn("[wave {}] {}: {} after {}", wave_, change.service, rollout.detail,
                        elapsed());
    return rollout;
  }
  if (auto done = context.steps->Done(*intent, {{"outcome", "complete"}}); !done) {
    rollout.detail = "rolled out, but the journal could not record it: " + done.error().Format();
    return rollout;
  }
  rollout.status = already ? StepStatus::kSkipped : StepStatus::kSucceeded;
  context.logger.info("[wave {}] {}: rolled out in {}", wave_, change.service, elapsed());
  return rollout;
}

WaveRollout Deploy::Run(Context& context) const {
  std::vector<std::future<ServiceRollout>> running;
  for (const auto& change : changes_) {
    running.push_back(
        std::async(std::launch::async, [&, change] { return RollOut(context, change); }));
  }
  WaveRollout wave;
  wave.ok = true;
  for (auto& future : running) {
    wave.services.push_back(future.get());
    const auto& rollout = wave.services.back();
    if (rollout.status == StepStatus::kFailed) {
      wave.ok = false;
      wave.reason +=
          (wave.reason.empty() ? "" : "; ") + rollout.change.service + ": " + rollout.detail;
    }
  }
  return wave;
}

}  // namespace promote::phases
