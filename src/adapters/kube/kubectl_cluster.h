// KubectlCluster: the Cluster interface through the real `kubectl` binary.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <utility>

#include "adapters/kube/api_proxy.h"
#include "adapters/kube/cluster.h"

namespace promote::adapters::kube {

/// A collection to list: its API prefix ("/apis/apps/v1", "/api/v1"), its resource ("pods"), an
/// optional label selector, and the Accept header (kMetadataListAccept for names and labels only).
struct ListQuery {
  std::string api;
  std::string resource;
  std::string label_selector;
  std::string accept = "application/json";
  /// Keys dropped while a page is parsed, at any depth, besides managedFields (a pod's "spec"):
  /// a page of 500 objects is parsed whole, so what is never read is never kept.
  std::vector<std::string> drop_keys = {};
};

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
  std::vector<Result<WorkloadStatus>> ReadWorkloads(const std::vector<WorkloadRef>& refs) override;
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
  Result<std::unique_ptr<KubeLease>> Lease(const LeaseRef& ref) override;

  /// `kubectl [--kubeconfig K] [--cache-dir C] --context X --namespace N ARGS…` as a Command.
  Command KubectlCommand(const WorkloadRef& ref, std::vector<std::string> args,
                         std::chrono::milliseconds timeout) const;
  /// Runs a command and turns "could not run" or a non-zero exit into an Error naming `doing`.
  Result<ProcessResult> RunChecked(const Command& command, const std::string& doing);
  /// RunChecked, repeated up to kTransientRetries times while the failure is transient: for
  /// writes that set an exact value, which a repeat cannot apply twice.
  Result<ProcessResult> RunRepeated(const Command& command, const std::string& doing);
  /// GET `path` from the API server of `ref`'s context, through its proxy; the statuses in
  /// `answers` are answers, any other status ≥ 400 an Error naming `doing` and what the server
  /// said.
  Result<ApiResponse> ApiGet(const WorkloadRef& ref, const std::string& path,
                             const std::string& doing,
                             const std::string& accept = "application/json",
                             std::initializer_list<long> answers = {404});
  /// Calls `visit` with every object of `query` in `namespaces` (of `scope`'s context), page by
  /// page. Up to kNamespaceListsUpTo namespaces are listed one by one, more with one list of the
  /// whole cluster, filtered here; when RBAC forbids that, one by one again. `visit` is never
  /// called concurrently.
  /// Up to kNamespaceListsUpTo namespaces are read with one GET each, more with one list of
  /// every namespace, filtered here (one GET each again when RBAC forbids that list).
  Result<std::vector<NamespaceStatus>> ReadNamespaces(
      const WorkloadRef& where, const std::vector<std::string>& names) override;
  Status List(const WorkloadRef& scope, const ListQuery& query,
              const std::set<std::string>& namespaces,
              const std::function<void(nlohmann::json&)>& visit, const std::string& doing);

  /// Batches up to this size are read with one GET a workload; larger ones are listed.
  static constexpr std::size_t kObjectReadsUpTo = 2;
  /// Lists cover up to this many namespaces one by one (see List).
  static constexpr std::size_t kNamespaceListsUpTo = 2;

 private:
  /// Lists the workloads of `refs` (one context) into `found`, keyed by kind, namespace and name.
  Status ListWorkloads(const std::vector<const WorkloadRef*>& refs,
                       std::map<std::string, nlohmann::json>& found);
  /// ReadWorkloads by lists, whatever the batch's size: a wait's batch keeps its fixed number
  /// of requests a tick as it shrinks.
  std::vector<Result<WorkloadStatus>> ListedWorkloads(const std::vector<WorkloadRef>& refs);

  Tooling tooling_;
  ProcessRunner& runner_;
  std::mutex proxies_mutex_;
  /// One proxy per (kubeconfig, context), started on first use.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ApiProxy>> proxies_;
};

}  // namespace promote::adapters::kube
