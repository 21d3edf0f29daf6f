// Implementation details: each service of a wave rolls out on its own thread (they are
// independent workloads); for each, the world is read first (already on the new image → Skipped),
// then the set-image intent is journaled, the image set, the outcome journaled, and the rollout
// awaited with the plan's rollout timeout. A service counts as touched from the moment its
// intent is written: after a crash there, rollback must assume the image may have changed.
#include "phases/deploy.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "core/redactor.h"
#include "core/shell_line.h"
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

const char* BlameName(Blame blame) {
  switch (blame) {
    case Blame::kNone:
      return "none";
    case Blame::kRelease:
      return "release";
    case Blame::kInfrastructure:
      return "infrastructure";
  }
  return "unknown";
}

bool WaveRollout::touched() const {
  return std::any_of(services.begin(), services.end(),
                     [](const ServiceRollout& s) { return s.touched; });
}

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

namespace {

/// The commands as one redacted line each, joined: what a report names as having failed.
std::string CommandLine(const Context& context, const std::vector<adapters::Command>& commands) {
  std::string line;
  for (const auto& command : commands) {
    line += (line.empty() ? "" : " && ") + ShellLine(context.redactor.RedactArgv(command.argv));
  }
  return line;
}

}  // namespace

bool ChangedSince(adapters::kube::Cluster& cluster, const adapters::kube::WorkloadRef& ref,
                  const std::string& image, const std::optional<int>& helm_revision) {
  auto now = cluster.ReadWorkload(ref);
  // What cannot be read back may have changed: only a workload seen unchanged is untouched.
  if (!now) return true;
  if (now->image != image) return true;
  return helm_revision && now->helm_revision && *now->helm_revision != *helm_revision;
}

Blame BlameOfRollout(adapters::kube::Cluster& cluster, const adapters::kube::WorkloadRef& ref) {
  auto now = cluster.ReadWorkload(ref);
  return now && now->rollout == adapters::kube::RolloutState::kDeadlineExceeded
             ? Blame::kRelease
             : Blame::kInfrastructure;
}

bool Deploy::SetImage(Context& context, const ServiceChange& change,
                      const adapters::kube::WorkloadStatus& now, ServiceRollout& rollout) const {
  const auto ref =
      WorkloadRefFor(*plan_.FindEnvironment(target_), *plan_.FindService(change.service));
  adapters::kube::Cluster& cluster = context.cluster(target_);
  const auto timeout = plan_.validate.rollout_timeout;
  const auto commands = cluster.PlanDeploy(ref, change.to_image, timeout);
  nlohmann::json argv = nlohmann::json::array();
  for (const auto& command : commands) argv.push_back(context.redactor.RedactArgv(command.argv));
  auto intent = context.steps->Intent(
      "Deploying", "set-image", change.service,
      {{"wave", wave_}, {"from", change.from_image}, {"to", change.to_image}, {"argv", argv}});
  if (!intent) {
    rollout.detail = intent.error().Format();
    return false;
  }
  rollout.touched = true;
  context.logger.info("[wave {}] {}: set image {}", wave_, change.service, change.to_image);
  auto deployed = cluster.Deploy(ref, change.to_image, timeout);
  if (!deployed) {
    rollout.detail = deployed.error().what;  // the command goes beside it, not a generic fix
    rollout.command = CommandLine(context, commands);
    // A write that failed may still have landed (a dropped connection): read it back.
    rollout.touched = ChangedSince(cluster, ref, now.image, now.helm_revision);
    // A failed write is no verdict on the image, but helm's write waits for the rollout too:
    // then the cluster's own deadline may judge it (unless it was already past one before).
    if (rollout.touched && plan_.FindEnvironment(target_)->driver == plan::Driver::kHelm &&
        now.rollout != adapters::kube::RolloutState::kDeadlineExceeded) {
      rollout.blame = BlameOfRollout(cluster, ref);
    }
    RecordFailed(*context.steps, context.logger, *intent,
                 {{"error", rollout.detail}, {"changed", rollout.touched}});
    return false;
  }
  if (auto done = context.steps->Done(*intent, {}); !done) {
    rollout.detail =
        "the image was set but the journal could not record it: " + done.error().Format();
    return false;
  }
  return true;
}

ServiceRollout Deploy::RollOut(Context& context, const ServiceChange& change) const {
  ServiceRollout rollout{change, StepStatus::kFailed, false, "", Blame::kInfrastructure, ""};
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
    if (!SetImage(context, change, *now, rollout)) return rollout;
  } else {
    context.logger.info("[wave {}] {}: already on {}", wave_, change.service, change.to_image);
    rollout.touched = true;  // this run (or its earlier life) set it: restore it on rollback
  }

  const adapters::Command wait = cluster.PlanWait(ref, timeout);
  auto intent = context.steps->Intent(state, "wait-rollout", change.service,
                                      {{"wave", wave_}, {"timeoutMs", timeout.count()}});
  if (!intent) {
    rollout.detail = intent.error().Format();
    return rollout;
  }
  auto waited = cluster.WaitRollout(ref, timeout);
  if (!waited) {
    rollout.detail = waited.error().Format();
    rollout.command = CommandLine(context, {wait});
    RecordFailed(*context.steps, context.logger, *intent, {{"error", rollout.detail}});
    return rollout;
  }
  rollout.detail = std::string("rollout ") + OutcomeWord(waited->outcome) +
                   (waited->detail.empty() ? "" : ": " + waited->detail);
  if (waited->outcome != RolloutOutcome::kComplete) {
    rollout.command = CommandLine(context, {wait});
    // Only the cluster's own verdict (the progress deadline) judges the image; a wait that ran
    // out of time, or a kubectl that failed, does not.
    // A deadline condition left from before the run is stale: it judges nothing.
    const bool stale = !already && now->rollout == adapters::kube::RolloutState::kDeadlineExceeded;
    rollout.blame = waited->outcome == RolloutOutcome::kDeadlineExceeded ? Blame::kRelease
                    : stale                                              ? Blame::kInfrastructure
                            : BlameOfRollout(cluster, ref);
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
  rollout.blame = Blame::kNone;
  rollout.detail = already ? "already on the new image, rolled out" : "rolled out in " + elapsed();
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
      if (wave.blame != Blame::kRelease) wave.blame = rollout.blame;
    }
  }
  return wave;
}

}  // namespace promote::phases
