// The Cluster interface: everything promote asks of a Kubernetes environment. Implementations
// (KubectlCluster, HelmCluster) build argv for the real binaries and parse their `-o json`; they
// never parse tables and never read a Secret's value.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/process/process.h"
#include "core/error.h"

namespace promote::adapters::kube {

class KubeLease;
struct LeaseRef;

/// Which binaries to run and where their per-run state lives.
struct Tooling {
  std::string kubectl = "kubectl";
  std::string helm = "helm";
  /// Passed as --kubeconfig to every call when set (the plan's environment may override it).
  std::optional<std::filesystem::path> kubeconfig;
  /// kubectl's discovery cache (--cache-dir); unset = kubectl's default under ~/.kube.
  std::optional<std::filesystem::path> cache_dir;
  /// Extra environment for the children (HELM_CACHE_HOME and friends in tests).
  std::map<std::string, std::string> env;
  std::chrono::milliseconds read_timeout{30000};
  /// Objects a page of a list asks for (`limit`); the API server's continue token gives the rest.
  int list_page_size = 500;
};

/// Where one service's workload lives in one environment.
struct WorkloadRef {
  std::string context;
  std::optional<std::filesystem::path> kubeconfig;  ///< overrides Tooling::kubeconfig
  std::string ns;
  std::string kind = "deployment";
  std::string name;
  std::string container;
  std::string helm_release;  ///< HelmCluster only
  std::string helm_chart;    ///< HelmCluster only
  std::string helm_values_key = "image.tag";
};

/// Where a workload's rollout stands, as `kubectl rollout status` would judge it.
enum class RolloutState {
  kComplete,          ///< observed, all replicas updated and available
  kProgressing,       ///< still rolling
  kDeadlineExceeded,  ///< Progressing=False, reason ProgressDeadlineExceeded
  kMissing,           ///< no such workload (or namespace)
};

/// What the cluster reports of one workload.
struct WorkloadStatus {
  bool namespace_present = false;
  bool workload_present = false;
  std::string image;                  ///< the container's image in the workload's template
  std::optional<std::string> digest;  ///< sha256:… reported by its pods' imageID, when they agree
  int desired = 0;
  int updated = 0;
  int ready = 0;
  int available = 0;
  long long generation = 0;
  long long observed_generation = 0;
  std::optional<int> revision;       ///< deployment.kubernetes.io/revision
  std::optional<int> helm_revision;  ///< the release's revision (HelmCluster)
  RolloutState rollout = RolloutState::kMissing;
  std::string message;  ///< the Progressing/Available condition's message, for reports
  std::string created;  ///< creationTimestamp
  /// Plain `env` values (of every container) whose names look secret, as (name, value): only
  /// for the audit to teach the Redactor, which it does at once and then clears them.
  std::vector<std::pair<std::string, std::string>> secret_env;
  /// What the service's container is configured with, by name only, sorted: "env NAME",
  /// "secret NAME" and "configmap NAME" (referenced by env, envFrom or a volume). Two
  /// environments running one image differ here, so the audit can say what PROD lacks.
  std::vector<std::string> config;
  /// A pod of the template's image that cannot get going without a change, as "pod NAME:
  /// REASON: message" (CrashLoopBackOff, ImagePullBackOff, …); empty when none is. Waits end on
  /// it at once instead of at the progress deadline (600 s by Kubernetes' default).
  std::string stuck;
  bool crash_looping = false;  ///< `stuck` is a CrashLoopBackOff: the image's own failure
};

/// A namespace as `kubectl get namespace` shows it: whether it exists, its phase, its age.
struct NamespaceStatus {
  std::string name;
  bool present = false;
  std::string phase;    ///< "Active", "Terminating"; "" when absent
  std::string created;  ///< creationTimestamp, RFC 3339; "" when absent
};

/// Whether a required Secret exists, by name only.
struct SecretPresence {
  std::string name;
  bool present = false;
};

/// What a rollback restores: the image the target ran before, or its helm revision.
struct RollbackTarget {
  std::string image;
  std::optional<int> helm_revision;
};

/// How waiting for a rollout ended (a failure to run kubectl at all is an Error instead).
/// kCrashLoop: a new pod crashed and is backing off (the image's failure); kPodsCannotStart: a
/// new pod cannot be pulled or configured (ImagePullBackOff, CreateContainerConfigError: the
/// environment's). Both end the wait before the progress deadline.
enum class RolloutOutcome {
  kComplete,
  kDeadlineExceeded,
  kTimedOut,
  kFailed,
  kCrashLoop,
  kPodsCannotStart
};

/// The result of WaitRollout with what kubectl/helm said, for the report.
struct RolloutResult {
  RolloutOutcome outcome = RolloutOutcome::kFailed;
  std::string detail;
};

/// Everything promote reads from or changes in one Kubernetes environment.
class Cluster {
 public:
  virtual ~Cluster();

  virtual Result<WorkloadStatus> ReadWorkload(const WorkloadRef& ref) = 0;
  /// Presence of each named Secret in `ns` (values never leave the cluster's answer to kubectl).
  virtual Result<std::vector<SecretPresence>> CheckSecrets(
      const WorkloadRef& where, const std::vector<std::string>& names) = 0;

  // Batches: what the audit and a wave ask of one environment at once, one answer per ref in the
  // order given. The defaults call the single versions, kConcurrentCalls at a time; KubectlCluster
  // and HelmCluster answer a batch with a fixed number of list requests, whatever its size.

  /// ReadWorkload for each of `refs`.
  virtual std::vector<Result<WorkloadStatus>> ReadWorkloads(const std::vector<WorkloadRef>& refs);
  /// CheckSecrets for each namespace of `wheres`.
  virtual std::vector<Result<std::vector<SecretPresence>>> CheckSecretsIn(
      const std::vector<WorkloadRef>& wheres, const std::vector<std::string>& names);
  /// WaitRollout for all of `refs` at once, under one `deadline`: a wave costs its slowest rollout.
  virtual std::vector<Result<RolloutResult>> WaitRollouts(const std::vector<WorkloadRef>& refs,
                                                          std::chrono::milliseconds deadline);
  /// Single calls of a default batch in flight at once: enough to hide each call's latency, few
  /// enough not to crowd an API server.
  static constexpr std::size_t kConcurrentCalls = 8;

  /// The exact commands Deploy would run: what a dry run prints and the journal records first.
  virtual std::vector<Command> PlanDeploy(const WorkloadRef& ref, const std::string& image,
                                          std::chrono::milliseconds timeout) const = 0;
  virtual Status Deploy(const WorkloadRef& ref, const std::string& image,
                        std::chrono::milliseconds timeout) = 0;
  /// The command a person runs to watch the same rollout WaitRollout waits for (the report's
  /// "run this" after a failed wait); WaitRollout itself may read the status another way.
  virtual Command PlanWait(const WorkloadRef& ref, std::chrono::milliseconds deadline) const = 0;
  /// Waits until the rollout completes, fails (progress deadline) or `deadline` passes.
  virtual Result<RolloutResult> WaitRollout(const WorkloadRef& ref,
                                            std::chrono::milliseconds deadline) = 0;

  virtual std::vector<Command> PlanRollback(const WorkloadRef& ref, const RollbackTarget& target,
                                            std::chrono::milliseconds timeout) const = 0;
  virtual Status Rollback(const WorkloadRef& ref, const RollbackTarget& target,
                          std::chrono::milliseconds timeout) = 0;

  /// Each of `names` as a namespace of the cluster `where` names (its context and kubeconfig),
  /// in the order given. Not pure, so fakes need not read namespaces: the default is an Error.
  virtual Result<std::vector<NamespaceStatus>> ReadNamespaces(
      const WorkloadRef& where, const std::vector<std::string>& names);

  /// The Lease `ref` as a run lock (adapters/kube/lease.h), through this cluster's kubectl.
  /// Not pure, so fakes that never lock need not implement it: the default is an Error.
  virtual Result<std::unique_ptr<KubeLease>> Lease(const LeaseRef& ref);
};

/// The kubectl and helm to run: the flag when given, else $PROMOTE_KUBECTL / $PROMOTE_HELM,
/// else the bare name (looked up on PATH by the process adapter).
Tooling ResolveTooling(const std::string& kubectl_flag, const std::string& helm_flag);

/// "ghcr.io/x/api:v1" → "v1"; "repo@sha256:…" → "sha256:…"; no tag → "latest".
std::string ImageTag(const std::string& image);

}  // namespace promote::adapters::kube
