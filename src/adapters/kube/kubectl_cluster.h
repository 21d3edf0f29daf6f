// KubectlCluster: the Cluster interface through the real `kubectl` binary.
#pragma once

#include "adapters/kube/cluster.h"

namespace promote::adapters::kube {

/// Reads workloads and rolls out images with `kubectl get -o json`, `set image` and
/// `rollout status`; every call carries explicit --context and --namespace (and --kubeconfig
/// when known), so nothing depends on the current context of whoever runs promote.
class KubectlCluster final : public Cluster {
 public:
  KubectlCluster(Tooling tooling, ProcessRunner& runner);

  Result<WorkloadStatus> ReadWorkload(const WorkloadRef& ref) override;
  Result<std::vector<SecretPresence>> CheckSecrets(const WorkloadRef& where,
                                                   const std::vector<std::string>& names) override;
  std::vector<Command> PlanDeploy(const WorkloadRef& ref, const std::string& image,
                                  std::chrono::milliseconds timeout) const override;
  Status Deploy(const WorkloadRef& ref, const std::string& image,
                std::chrono::milliseconds timeout) override;
  Command PlanWait(const WorkloadRef& ref, std::chrono::milliseconds deadline) const override;
  Result<RolloutResult> WaitRollout(const WorkloadRef& ref,
                                    std::chrono::milliseconds deadline) override;
  std::vector<Command> PlanRollback(const WorkloadRef& ref, const RollbackTarget& target,
                                    std::chrono::milliseconds timeout) const override;
  Status Rollback(const WorkloadRef& ref, const RollbackTarget& target,
                  std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<KubeLease>> Lease(const LeaseRef& ref) override;

  /// `kubectl [--kubeconfig K] [--cache-dir C] --context X --namespace N ARGS…` as a Command.
  Command KubectlCommand(const WorkloadRef& ref, std::vector<std::string> args,
                         std::chrono::milliseconds timeout) const;
  /// Runs a command and turns "could not run" or a non-zero exit into an Error naming `doing`.
  Result<ProcessResult> RunChecked(const Command& command, const std::string& doing);

 private:
  Tooling tooling_;
  ProcessRunner& runner_;
};

}  // namespace promote::adapters::kube
