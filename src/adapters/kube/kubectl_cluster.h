// KubectlCluster: the Cluster interface through the real `kubectl` binary.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "adapters/kube/api_proxy.h"
#include "adapters/kube/cluster.h"

namespace promote::adapters::kube {

/// Reads workloads and waits for rollouts through one `kubectl proxy` per context (ApiProxy:
/// plain GETs, so a read costs no process), and writes with explicit `kubectl set image`
/// commands a dry run can print. Every command carries explicit --context and --namespace (and
/// --kubeconfig when known), so nothing depends on the current context of whoever runs promote.
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
  /// GET `path` from the API server of `ref`'s context, through its proxy; 404 is an answer,
  /// any other status ≥ 400 an Error naming `doing` and what the server said.
  Result<ApiResponse> ApiGet(const WorkloadRef& ref, const std::string& path,
                             const std::string& doing,
                             const std::string& accept = "application/json");

 private:
  Tooling tooling_;
  ProcessRunner& runner_;
  std::mutex proxies_mutex_;
  /// One proxy per (kubeconfig, context), started on first use.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ApiProxy>> proxies_;
};

}  // namespace promote::adapters::kube
