// The deploy phase: rolls one wave of services out to the target, concurrently, each side
// effect journaled first. Idempotent: a service already on its new image is Skipped, so a
// resumed run never sets an image twice blindly.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "adapters/kube/cluster.h"

namespace promote::plan {
struct Plan;
}

namespace promote::phases {

struct Context;

/// How one step ended, as in Kargo: done, nothing to do, or failed.
enum class StepStatus { kSucceeded, kSkipped, kFailed };

/// One service to roll out in a wave: where it goes and what it ran before (to restore it).
struct ServiceChange {
  std::string service;
  std::string from_image;
  std::optional<int> from_helm_revision;
  std::string to_image;
};

/// Whose fault a failed step is: what decides what the run records about its release. Only a
/// change that happened and was judged makes a release bad.
enum class Blame {
  kNone,            ///< it did not fail
  kRelease,         ///< the cluster judged the new image (its rollout exceeded its deadline)
  kInfrastructure,  ///< it could not be completed or judged: a timeout, a dropped or refused
                    ///< call, a 5xx, a journal that cannot be written
};

/// What happened to one service of the wave.
struct ServiceRollout {
  ServiceChange change;
  StepStatus status = StepStatus::kFailed;
  /// The image was set (or may have been): rollback must restore it. A write that failed is
  /// checked by reading the workload back; only an unchanged workload counts as untouched.
  bool touched = false;
  std::string detail;  ///< a sentence: what happened, or the error
  Blame blame = Blame::kNone;
  std::string command;  ///< on failure: the command that failed, as a shell line (redacted)
};

/// The wave's result: every service rolled out, or the first reasons it did not.
struct WaveRollout {
  bool ok = false;
  std::vector<ServiceRollout> services;
  std::string reason;
  Blame blame = Blame::kNone;  ///< kRelease when any service was judged, else the failures'

  bool touched() const;  ///< whether any service may have changed
};

/// Sets the images of a wave's services in the target and waits for their rollouts.
class Deploy {
 public:
  Deploy(const plan::Plan& plan, std::string target, int wave, std::vector<ServiceChange> changes);

  WaveRollout Run(Context& context) const;

  /// Writes of a wave in flight at once: each is a kubectl or helm process.
  static constexpr std::size_t kConcurrentWrites = 16;

 private:
  /// Sets the new image of `change` unless the workload (read as `now`) already runs it; true
  /// when its rollout is to be awaited, false when `rollout` already says how it failed.
  bool Start(Context& context, const ServiceChange& change,
             const Result<adapters::kube::WorkloadStatus>& now, ServiceRollout& rollout) const;
  /// Judges the awaited rollout of `change` and records it under the journal's `intent`.
  void Finish(Context& context, const adapters::kube::WorkloadStatus& before, long intent,
              const Result<adapters::kube::RolloutResult>& waited, const std::string& elapsed,
              ServiceRollout& rollout) const;
  /// Journals and makes the write of `change` (the workload ran `now`); false when it failed,
  /// with `rollout` saying why, whether it landed, and whose fault it was.
  bool SetImage(Context& context, const ServiceChange& change,
                const adapters::kube::WorkloadStatus& now, ServiceRollout& rollout) const;

  const plan::Plan& plan_;
  std::string target_;
  int wave_;
  std::vector<ServiceChange> changes_;
};

/// Whether the workload `ref` no longer runs `image` (or its helm revision moved on), read back
/// after a write that failed. A workload that cannot be read counts as changed.
bool ChangedSince(adapters::kube::Cluster& cluster, const adapters::kube::WorkloadRef& ref,
                  const std::string& image, const std::optional<int>& helm_revision);

/// kRelease when the cluster judged the workload's rollout (progress deadline exceeded), else
/// kInfrastructure: a wait that ran out of time is no verdict on the image.
Blame BlameOfRollout(adapters::kube::Cluster& cluster, const adapters::kube::WorkloadRef& ref);

const char* StepStatusName(StepStatus status);  ///< "succeeded", "skipped", "failed"
const char* BlameName(Blame blame);             ///< "none", "release", "infrastructure"

}  // namespace promote::phases
