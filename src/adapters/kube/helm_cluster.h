// HelmCluster: the Cluster interface for services released with the real `helm` binary.
#pragma once

#include "adapters/kube/kubectl_cluster.h"

namespace promote::adapters::kube {

/// Rolls out with `helm upgrade --reuse-values --set KEY=TAG` and rolls back with
/// `helm rollback REVISION`; reads workloads, secrets and rollout state through kubectl's proxy
/// (helm has no view of a Deployment's image or health), and the release revision from the
/// labels of helm's release Secrets. Waiting is WaitRollouts' one loop for a whole wave, not
/// helm's --wait (one helm process a service, each polling on its own).
class HelmCluster final : public Cluster {
 public:
  HelmCluster(Tooling tooling, ProcessRunner& runner);

  Result<WorkloadStatus> ReadWorkload(const WorkloadRef& ref) override;
  Result<std::vector<SecretPresence>> CheckSecrets(const WorkloadRef& where,
                                                   const std::vector<std::string>& names) override;
  std::vector<Result<WorkloadStatus>> ReadWorkloads(const std::vector<WorkloadRef>& refs) override;
  Result<std::vector<NamespaceStatus>> ReadNamespaces(
      const WorkloadRef& where, const std::vector<std::string>& names) override;
  std::vector<Result<std::vector<SecretPresence>>> CheckSecretsIn(
      const std::vector<WorkloadRef>& wheres, const std::vector<std::string>& names) override;
  std::vector<Result<RolloutResult>> WaitRollouts(const std::vector<WorkloadRef>& refs,
                                                  std::chrono::milliseconds deadline) override;
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
  /// Through kubectl: helm has no view of Leases.
  Result<std::unique_ptr<KubeLease>> Lease(const LeaseRef& ref) override;

 private:
  /// `helm ARGS… --kube-context X --namespace N [--kubeconfig K]` as a Command.
  Command HelmCommand(const WorkloadRef& ref, std::vector<std::string> args,
                      std::chrono::milliseconds timeout) const;
  /// The release's latest revision, as `helm status` would say it.
  Result<std::optional<int>> ReleaseRevision(const WorkloadRef& ref);
  /// True under helm's default storage (HELM_DRIVER unset or secret[s]).
  bool StoresReleasesInSecrets() const;

  Tooling tooling_;
  KubectlCluster kubectl_;
};

}  // namespace promote::adapters::kube
