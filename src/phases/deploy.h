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

/// What happened to one service of the wave.
struct ServiceRollout {
  ServiceChange change;
  StepStatus status = StepStatus::kFailed;
  bool touched = false;  ///< the image was set (or may have been): rollback must restore it
  std::string detail;    ///< kubectl/helm's word on the rollout, or the error
};

/// The wave's result: every service rolled out, or the first reasons it did not.
struct WaveRollout {
  bool ok = false;
  std::vector<ServiceRollout> services;
  std::string reason;
};

/// Sets the images of a wave's services in the target and waits for their rollouts.
class Deploy {
 public:
  Deploy(const plan::Plan& plan, std::string target, int wave, std::vector<ServiceChange> changes);

  WaveRollout Run(Context& context) const;

 private:
  ServiceRollout RollOut(Context& context, const ServiceChange& change) const;

  const plan::Plan& plan_;
  std::string target_;
  int wave_;
  std::vector<ServiceChange> changes_;
};

const char* StepStatusName(StepStatus status);  ///< "succeeded", "skipped", "failed"

}  // namespace promote::phases
