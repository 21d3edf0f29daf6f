// Implementation details: the wave's workloads are read in one batch (already on the new image →
// Skipped); then each service's set-image intent is journaled, the image set and the outcome
// journaled, concurrently (independent workloads); then every wait-rollout intent is journaled
// and the whole wave awaited by one WaitRollouts, with the plan's rollout timeout. A service
// counts as touched from the moment its intent is written: after a crash there, rollback must
// assume the image may have changed.
#include "phases/deploy.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "core/parallel.h"
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
    case RolloutOutcome::kCrashLoop:
      return "failed: the new pods crash-loop";
    case RolloutOutcome::kPodsCannotStart:
      return "failed: the new pods cannot start";
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
    // A write that failed may still have landed (a dropped connection): read it back. Either
    // way it is no verdict on the image: no write waits for the rollout.
    rollout.touched = ChangedSince(cluster, ref, now.image, now.helm_revision);
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

bool Deploy::Start(Context& context, const ServiceChange& change,
                   const Result<adapters::kube::WorkloadStatus>& now,
                   ServiceRollout& rollout) const {
  if (!now) {
    rollout.detail = now.error().Format();
    return false;
  }
  if (now->image == change.to_image) {
    context.logger.info("[wave {}] {}: already on {}", wave_, change.service, change.to_image);
    rollout.touched = true;  // this run (or its earlier life) set it: restore it on rollback
    return true;
  }
  return SetImage(context, change, *now, rollout);
}

void Deploy::Finish(Context& context, const adapters::kube::WorkloadStatus& before, long intent,
                    const Result<adapters::kube::RolloutResult>& waited, const std::string& elapsed,
                    ServiceRollout& rollout) const {
  const ServiceChange& change = rollout.change;
  const auto ref =
      WorkloadRefFor(*plan_.FindEnvironment(target_), *plan_.FindService(change.service));
  adapters::kube::Cluster& cluster = context.cluster(target_);
  const bool already = before.image == change.to_image;
  const adapters::Command wait = cluster.PlanWait(ref, plan_.validate.rollout_timeout);
  if (!waited) {
    rollout.detail = waited.error().Format();
    rollout.command = CommandLine(context, {wait});
    RecordFailed(*context.steps, context.logger, intent, {{"error", rollout.detail}});
    return;
  }
  rollout.detail = std::string("rollout ") + OutcomeWord(waited->outcome) +
                   (waited->detail.empty() ? "" : ": " + waited->detail);
  if (waited->outcome != RolloutOutcome::kComplete) {
    rollout.command = CommandLine(context, {wait});
    // Only the cluster's own verdicts judge the image: the progress deadline, or new pods that
    // crash-loop. A wait that ran out of time, a kubectl that failed, or pods that cannot be
    // pulled or configured in this environment (its registry access, its Secrets) do not.
    // A deadline condition left from before the run is stale: it judges nothing.
    const bool stale =
        !already && before.rollout == adapters::kube::RolloutState::kDeadlineExceeded;
    const bool judged = waited->outcome == RolloutOutcome::kDeadlineExceeded ||
                        waited->outcome == RolloutOutcome::kCrashLoop;
    rollout.blame = judged ? Blame::kRelease
                    : waited->outcome == RolloutOutcome::kPodsCannotStart || stale
                        ? Blame::kInfrastructure
                        : BlameOfRollout(cluster, ref);
    RecordFailed(*context.steps, context.logger, intent,
                 {{"outcome", OutcomeWord(waited->outcome)}, {"detail", waited->detail}});
    context.logger.warn("[wave {}] {}: {} after {}", wave_, change.service, rollout.detail,
                        elapsed);
    return;
  }
  if (auto done = context.steps->Done(intent, {{"outcome", "complete"}}); !done) {
    rollout.detail = "rolled out, but the journal could not record it: " + done.error().Format();
    return;
  }
  rollout.status = already ? StepStatus::kSkipped : StepStatus::kSucceeded;
  rollout.blame = Blame::kNone;
  rollout.detail = already ? "already on the new image, rolled out" : "rolled out in " + elapsed;
  context.logger.info("[wave {}] {}: rolled out in {}", wave_, change.service, elapsed);
}

WaveRollout Deploy::Run(Context& context) const {
  const auto started = context.now();
  const plan::Environment& env = *plan_.FindEnvironment(target_);
  adapters::kube::Cluster& cluster = context.cluster(target_);
  const auto timeout = plan_.validate.rollout_timeout;
  std::vector<adapters::kube::WorkloadRef> refs;
  std::vector<ServiceRollout> rollouts;
  for (const auto& change : changes_) {
    refs.push_back(WorkloadRefFor(env, *plan_.FindService(change.service)));
    rollouts.push_back({change, StepStatus::kFailed, false, "", Blame::kInfrastructure, ""});
  }
  // What each workload runs now, in one batch, then the writes, concurrently, each journaled.
  auto before = cluster.ReadWorkloads(refs);
  std::vector<char> awaited(changes_.size(), 0);
  ForEachConcurrently(changes_.size(), kConcurrentWrites, [&](std::size_t i) {
    awaited[i] = Start(context, changes_[i], before[i], rollouts[i]);
  });
  // Then one wait for the whole wave: it costs its slowest rollout.
  std::vector<std::size_t> waiting;
  std::vector<long> intents;
  std::vector<adapters::kube::WorkloadRef> waiting_refs;
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    if (!awaited[i]) continue;
    auto intent = context.steps->Intent("Deploying", "wait-rollout", changes_[i].service,
                                        {{"wave", wave_}, {"timeoutMs", timeout.count()}});
    if (!intent) {
      rollouts[i].detail = intent.error().Format();
      continue;
    }
    waiting.push_back(i);
    intents.push_back(*intent);
    waiting_refs.push_back(refs[i]);
  }
  auto waited = cluster.WaitRollouts(waiting_refs, timeout);
  const std::string elapsed = FormatDuration(
      std::chrono::duration_cast<std::chrono::milliseconds>(context.now() - started));
  for (std::size_t k = 0; k < waiting.size(); ++k) {
    const std::size_t i = waiting[k];
    Finish(context, *before[i], intents[k], waited[k], elapsed, rollouts[i]);
  }

  WaveRollout wave;
  wave.ok = true;
  for (auto& rollout : rollouts) {
    if (rollout.status == StepStatus::kFailed) {
      wave.ok = false;
      wave.reason +=
          (wave.reason.empty() ? "" : "; ") + rollout.change.service + ": " + rollout.detail;
      if (wave.blame != Blame::kRelease) wave.blame = rollout.blame;
    }
    wave.services.push_back(std::move(rollout));
  }
  return wave;
}

}  // namespace promote::phases
