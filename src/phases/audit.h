// The audit phase: reads both environments (workloads, images, rollout health, required
// secrets by name, probes), compares source and target, and concludes with a verdict and a
// recommendation. Read-only by construction: it only calls Cluster reads and the Prober.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "adapters/git/manifest.h"
#include "adapters/kube/cluster.h"
#include "adapters/probe/prober.h"

namespace promote::plan {
struct Plan;
}

namespace promote::phases {

struct Context;

/// One service in one environment as the audit saw it.
struct ServiceObservation {
  std::string service;
  std::string environment;
  std::string ns;
  std::string workload;  ///< "deployment/keybuzz-api"
  adapters::kube::WorkloadStatus status;
  std::optional<std::string> read_error;  ///< the cluster could not be read for this service
  std::vector<adapters::probe::ProbeResult> probes;

  bool GoldenProbesPass() const;
  /// Present, rolled out, and every golden probe passing.
  bool Healthy() const;
  /// The first reason it is not healthy, as a sentence ("POST /auth/login → 404 (route missing)").
  std::string UnhealthyReason() const;
};

/// A required Secret of an environment: where it was found (by name only; never its value).
struct SecretFinding {
  std::string name;
  std::vector<std::string> namespaces;  ///< the service namespaces holding it; empty = missing

  bool present() const { return !namespaces.empty(); }
};

/// One environment as the audit saw it: its services and its required secrets.
struct EnvironmentObservation {
  std::string name;
  std::string context;
  std::vector<ServiceObservation> services;
  std::vector<SecretFinding> secrets;
  std::optional<std::string> secrets_error;  ///< the secrets could not be listed

  const ServiceObservation* Find(const std::string& service) const;
};

/// Whether an environment works for its users, decided by the golden probes.
enum class Functional {
  kFunctional,     ///< every golden probe passes, every workload rolled out
  kDegraded,       ///< golden probes pass, but something else is wrong
  kNotFunctional,  ///< a golden probe fails: users cannot do what matters
};

/// The verdict on one environment with its reason in a sentence.
struct Verdict {
  Functional functional = Functional::kNotFunctional;
  std::string reason;  ///< "login impossible: POST /auth/login → 404 on keybuzz-api-prod"
};

/// What the promotion would do to one service.
enum class ServiceAction {
  kPromote,   ///< source healthy and target differs
  kUpToDate,  ///< target already runs the source's image
  kBlocked,   ///< source unhealthy: must not be promoted
};

/// Source vs target for one service: the promotion *diff*.
struct ServiceComparison {
  std::string service;
  std::string source_image;
  std::optional<std::string> source_digest;
  std::string target_image;
  std::optional<std::string> target_digest;
  ServiceAction action = ServiceAction::kBlocked;
  std::string reason;  ///< why blocked, or what changes

  /// The image a deploy would set: the source image pinned by digest when known.
  std::string DeployImage() const;
  /// The image the target runs once the promotion is done (source if promoted, else target).
  std::string ReleasedImage() const;
  std::optional<std::string> ReleasedDigest() const;
};

/// The audit's conclusion.
enum class Recommendation {
  kPromote,       ///< at least one service would change and none is blocked
  kNothingToDo,   ///< same versions, target healthy
  kDoNotPromote,  ///< a service to promote is unhealthy in the source
};

/// Everything the audit found: what the reports render and the later phases act on.
struct AuditReport {
  std::string plan_name;
  std::string plan_file;
  std::string source;
  std::string target;
  std::string started_at;  ///< RFC 3339 UTC
  std::chrono::milliseconds duration{0};
  EnvironmentObservation source_env;
  EnvironmentObservation target_env;
  std::vector<ServiceComparison> comparisons;  ///< plan order
  Verdict source_verdict;
  Verdict target_verdict;
  /// Target images found in no release tag (empty when the release repo cannot be read).
  std::vector<std::string> drift;
  /// A release marked bad that carries exactly the images this promotion would leave in the
  /// target: "prod-2026-02-01.2 (wave 1 failed validation: …)".
  std::optional<std::string> bad_release;
  bool allow_bad_release = false;  ///< --force: promote it anyway (noted, not blocking)
  bool restore = false;            ///< the source is a release tag (`promote rollback --to`)
  bool releases_known = false;     ///< the release repository was read
  Recommendation recommendation = Recommendation::kDoNotPromote;
  std::string recommendation_reason;
  std::string command;  ///< the exact command to run next, when there is one

  bool TargetHealthy() const { return target_verdict.functional == Functional::kFunctional; }
  bool PromotionPending() const { return recommendation == Recommendation::kPromote; }
};

const char* FunctionalName(Functional functional);    ///< "functional", "degraded", …
const char* ServiceActionName(ServiceAction action);  ///< "promote", "up-to-date", "blocked"
const char* RecommendationName(Recommendation recommendation);  ///< "promote", "nothing-to-do", …

/// The audit of `source` → `target` for `plan`: reads through `context`, changes nothing.
class Audit {
 public:
  /// Whether a release marked bad blocks the recommendation (the default) or is only noted.
  enum class BadReleases { kBlock, kAllow };

  Audit(const plan::Plan& plan, std::string source, std::string target,
        BadReleases bad_releases = BadReleases::kBlock);

  /// The audit of restoring release `tag` (its manifest) into `target`: the source side is the
  /// manifest, not an environment (it was validated when it was released), so only the target
  /// is read and probed.
  static Audit OfRestore(const plan::Plan& plan, const std::string& tag,
                         adapters::git::ReleaseManifest manifest, std::string target,
                         BadReleases bad_releases = BadReleases::kBlock);

  AuditReport Run(Context& context) const;

 private:
  EnvironmentObservation Observe(Context& context, const std::string& env_name) const;

  const plan::Plan& plan_;
  std::string source_;
  std::string target_;
  BadReleases bad_releases_;
  std::optional<adapters::git::ReleaseManifest> release_;  ///< set: the source is this release
};

/// The conclusion from observations alone (pure, so it is unit-tested without a cluster):
/// fills comparisons, verdicts, recommendation and command of `report`.
void Conclude(const plan::Plan& plan, AuditReport& report);

}  // namespace promote::phases
