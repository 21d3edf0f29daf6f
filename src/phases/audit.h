// The audit phase: reads both environments (workloads, images, rollout health, required
// secrets by name, probes), compares source and target, and concludes with a verdict and a
// recommendation. Read-only by construction: it only calls Cluster reads and the Prober.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapters/git/manifest.h"
#include "adapters/kube/cluster.h"
#include "adapters/probe/prober.h"
#include "plan/freeze.h"

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

/// Whether `probe` is a metric check that got no value (no data, a query error, Prometheus
/// unreachable): it says nothing of the service, so the audit counts it neither as working nor
/// as broken (a quiet DEV with no traffic to compute a rate from does not block a promotion),
/// and it is no failure "before the run" that would excuse a failure after it. Validation, which
/// sends the traffic, counts it against the error limit.
bool WithoutValue(const adapters::probe::ProbeResult& probe);

/// A probe of a capability that failed, with where, for the sentences the conclusion makes.
struct CapabilityFailure {
  std::string probe;  ///< "api/login"
  std::string line;   ///< "POST /auth/login → 404 (route missing)", or why it was not probed
  std::string ns;     ///< the namespace of its service
  /// A metric check that got no value: unknown, not broken (it makes no environment not
  /// functional).
  bool unknown = false;
};

/// One capability (plan::Capability) in one environment: it works when every probe behind it
/// passes. The conclusion's "what works" and "what does not" are lists of these.
struct CapabilityState {
  std::string name;
  bool golden = false;
  bool implicit = false;                  ///< a service's probes that no capability names
  std::vector<std::string> probes;        ///< "api/login", as the plan names them
  std::vector<CapabilityFailure> failed;  ///< empty: it works

  bool Works() const { return failed.empty(); }
  /// Not working only for want of values (metric checks without data): neither works nor is
  /// broken, as far as anyone can tell.
  bool Unknown() const {
    return !failed.empty() && std::all_of(failed.begin(), failed.end(),
                                          [](const CapabilityFailure& f) { return f.unknown; });
  }
  /// "auth impossible: POST /auth/login → 404 (route missing), POST /auth/signup → 404 on
  /// keybuzz-api-prod", for a capability that does not work.
  std::string Impossible() const;
};

/// A required Secret of an environment: where it was found (by name only; never its value).
struct SecretFinding {
  std::string name;
  std::vector<std::string> namespaces;  ///< the service namespaces holding it; empty = missing

  bool present() const { return !namespaces.empty(); }
};

/// An image a run would deploy, as the registry the target pulls it from answered (the plan's
/// `registry.verify`): an image the target cannot pull is refused before anything changes.
struct RegistryFinding {
  /// What the registry said of the image.
  enum class Presence { kPresent, kMissing, kUnknown };
  std::string service;
  std::string image;     ///< the reference looked up: exactly what the deploy would set
  std::string registry;  ///< the base URL asked
  Presence presence = Presence::kUnknown;
  std::string detail;  ///< kUnknown: why the registry could not tell, with its fix
};

const char* PresenceName(RegistryFinding::Presence presence);  ///< "present", "missing", "unknown"

/// One environment as the audit saw it: its services and its required secrets.
struct EnvironmentObservation {
  std::string name;
  std::string context;
  std::vector<ServiceObservation> services;
  /// The namespaces of its services, each once, in plan order, as `kubectl get ns` shows them.
  std::vector<adapters::kube::NamespaceStatus> namespaces;
  std::optional<std::string> namespaces_error;  ///< they could not be read
  std::vector<SecretFinding> secrets;
  std::optional<std::string> secrets_error;  ///< the secrets could not be listed
  /// What users can and cannot do here, capability by capability (plan::CapabilitiesWithRest);
  /// empty for a release's manifest, which is not probed.
  std::vector<CapabilityState> capabilities;
  /// The plan's environment checks here (plan::Plan::environment_checks): metric checks of no
  /// service, `service` empty in each result; empty for a release's manifest.
  std::vector<adapters::probe::ProbeResult> checks;
  /// The images a run would deploy here, looked up in the registry this environment pulls from
  /// (only a target whose plan sets registry.verify); unset = not looked up.
  std::optional<std::vector<RegistryFinding>> registry;

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
  /// "auth impossible: POST /auth/login → 404 (route missing) on keybuzz-api-prod", every
  /// golden capability and probe that fails, then "also not working: inbox, webhooks".
  std::string reason;
};

/// What the promotion would do to one service.
enum class ServiceAction {
  kPromote,   ///< source healthy and target differs
  kUpToDate,  ///< target already runs the source's image
  kBlocked,   ///< source unhealthy: must not be promoted
};

/// A service image that a release marked bad was judged on: a later run that would deploy the
/// same image (same repository and digest) is refused, whatever else changes.
struct BadImage {
  std::string service;
  std::string image;
  std::optional<std::string> digest;
  std::string release;  ///< the bad release's tag
  std::string reason;   ///< why that image failed there

  /// "billing ghcr.io/acme/billing:v0.9.0 failed in release prod-2026-12-01: …"
  std::string Describe() const;
};

/// A BadImage as the reports and the journal write it: {service, image, digest, release,
/// reason}; read back leniently (a field of another type reads as empty).
nlohmann::json BadImageJson(const BadImage& bad);
BadImage BadImageFromJson(const nlohmann::json& entry);

/// A release of the target as `promote rollback ENV --to TAG` could restore it.
struct PastRelease {
  std::string tag;
  std::string created_at;  ///< RFC 3339 UTC
  /// Validated good: its promotion ended Promoted (its tag carries no note). A release noted
  /// bad, unverified or never deployed is not one to go back to.
  bool good = false;
  std::map<std::string, adapters::git::ReleasedImage> services;
};

/// What the release repository says, read once by the audit (tags and notes; nothing written).
struct ReleaseFacts {
  std::string repo;                    ///< its path, "" when none is configured
  bool known = false;                  ///< the repository was read
  std::string unknown_reason;          ///< why not, when a repository is configured
  int releases_of_target = 0;          ///< 0: nothing recorded yet (a new installation)
  std::vector<std::string> tag_names;  ///< every tag name: where the next release name is free
  /// Images, pinned references and digests that the target's releases record, each once (a
  /// year of daily releases of 200 services records far fewer distinct images than entries).
  std::set<std::string> released;
  std::vector<BadImage> bad_images;  ///< from every bad release note that names its images
  /// Bad releases whose note names no image (written before images were recorded): what they
  /// released is refused as a whole, as it always was.
  std::vector<std::pair<std::string, adapters::git::ReleaseManifest>> bad_whole;
  std::vector<std::string> bad_whole_reasons;  ///< parallel to bad_whole
  std::vector<PastRelease> of_target;          ///< the target's releases, newest first
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
  /// The promoted image is one a bad release failed on (refused, or let through by --force).
  std::optional<BadImage> known_bad;
  /// Probes of this service that fail in the source as well (not golden): the target is not
  /// held to them, since the source never passed them (they are reported, not required).
  std::vector<std::string> waived_probes;

  /// The image a deploy would set: the source image pinned by digest when known.
  std::string DeployImage() const;
  /// The image the target runs once the promotion is done (source if promoted, else target).
  std::string ReleasedImage() const;
  std::optional<std::string> ReleasedDigest() const;
};

/// Why a probe that passes in the source fails in the target, as the audit attributes it.
struct RootCause {
  /// Where the difference is.
  enum class Kind {
    kImage,        ///< the service runs different images: the target's lacks or breaks routes
    kEnvironment,  ///< the same image in both: the target's configuration, secrets or data
    kEverywhere,   ///< it fails in the source too: no promotion can fix it
  };
  Kind kind = Kind::kImage;
  std::string service;
  std::vector<std::string> probes;  ///< "POST /auth/login", as the probes read
  /// "prod's api image v0.9.29-contact-fix (sha256:0f3c…) lacks POST /auth/login, … that
  /// dev's v0.4.31-replacement (sha256:9a1b…) serves"
  std::string sentence;
};

const char* RootCauseKindName(RootCause::Kind kind);  ///< "image", "environment", "everywhere"

/// One thing a person could do about the target, with the command that does it and why; the
/// audit ranks them, the recommended one first.
struct Option {
  /// What the option does.
  enum class Kind {
    kPromote,    ///< promote the source's images
    kRestore,    ///< restore the target's last release validated good (rollback --to)
    kFixSource,  ///< the same probes fail in the source: fix the service, build, promote
    kFixTarget,  ///< the target's environment differs: fix its configuration or secrets
    kUnblock,    ///< the promotion is refused: remove its reasons, audit again
    kNothing,    ///< the target runs what the source runs and works
  };
  Kind kind = Kind::kNothing;
  std::string title;    ///< "promote the stable dev to prod"
  std::string command;  ///< what to run, "" when it is work for a person (a fix, a build)
  std::string why;
};

const char* OptionKindName(Option::Kind kind);  ///< "promote", "restore", "fix-source", …

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
  ReleaseFacts releases;
  /// Target images found in no release of the target (empty when the release repository cannot
  /// be read, or records no release of the target yet: that is a new installation, not drift).
  std::vector<std::string> drift;
  /// --force --reason: bad images are promoted anyway, and this says who was told why.
  std::optional<std::string> force_reason;
  /// Bad images this promotion would deploy because of --force (journaled and reported).
  std::vector<BadImage> forced;
  plan::FreezeVerdict freeze;  ///< the target's freeze windows now, for this promotion
  bool restore = false;        ///< the source is a release tag (`promote rollback --to`)
  Recommendation recommendation = Recommendation::kDoNotPromote;
  std::string recommendation_reason;
  /// Every reason not to promote, each with its fix (the first is in recommendation_reason).
  std::vector<std::string> refusals;
  /// Why the target fails where the source does not, service by service (not for a restore).
  std::vector<RootCause> causes;
  /// What could be done, the recommended option first; never empty after Conclude.
  std::vector<Option> options;
  /// How the person invoked promote (program and global flags): every command a report
  /// suggests starts with these, so it runs against the same plan, clusters and repositories.
  std::vector<std::string> command_prefix = {"promote"};
  std::string command;  ///< the exact command to run next, when there is one

  bool TargetHealthy() const { return target_verdict.functional == Functional::kFunctional; }
  bool PromotionPending() const { return recommendation == Recommendation::kPromote; }
  /// The release repository was read and holds no release of the target yet.
  bool NoReleaseYet() const { return releases.known && releases.releases_of_target == 0; }
  /// `command_prefix` + `args`, as one line a shell reads back.
  std::string Suggest(const std::vector<std::string>& args) const;
};

const char* FunctionalName(Functional functional);    ///< "functional", "degraded", …
const char* ServiceActionName(ServiceAction action);  ///< "promote", "up-to-date", "blocked"
const char* RecommendationName(Recommendation recommendation);  ///< "promote", "nothing-to-do", …

/// What the person asked for that bears on the audit's choice.
struct AuditRequest {
  /// --force --reason: images a bad release failed on are promoted anyway (and recorded).
  std::optional<std::string> force_reason;
  /// --override-freeze --reason, and the window it was given for (unset: whichever is in force).
  std::optional<std::string> override_freeze;
  std::optional<std::string> override_window;
  std::vector<std::string> command_prefix = {"promote"};  ///< see AuditReport::command_prefix
};

/// The audit of `source` → `target` for `plan`: reads through `context`, changes nothing.
class Audit {
 public:
  Audit(const plan::Plan& plan, std::string source, std::string target, AuditRequest request = {});

  /// The audit of restoring release `tag` (its manifest) into `target`: the source side is the
  /// manifest, not an environment (it was validated when it was released), so only the target
  /// is read and probed.
  static Audit OfRestore(const plan::Plan& plan, const std::string& tag,
                         adapters::git::ReleaseManifest manifest, std::string target,
                         AuditRequest request = {});

  AuditReport Run(Context& context) const;

 private:
  EnvironmentObservation Observe(Context& context, const std::string& env_name) const;
  /// Looks every image the run would deploy up in the target's registry (registry.verify);
  /// false when the plan asks for no such check.
  bool CheckRegistry(Context& context, AuditReport& report) const;

  const plan::Plan& plan_;
  std::string source_;
  std::string target_;
  AuditRequest request_;
  std::optional<adapters::git::ReleaseManifest> release_;  ///< set: the source is this release
};

/// The release repository's facts for an audit into `target` (ReleaseFacts::known false when
/// it is not configured or cannot be read; the reason is kept).
ReleaseFacts ReadReleaseFacts(Context& context, const std::string& target);

/// The conclusion from observations alone (pure, so it is unit-tested without a cluster): fills
/// comparisons, verdicts, drift, refusals, recommendation and command of `report`. This is the
/// one place that decides whether a promotion may go ahead; the dry run and the run both act on
/// it. The rule for the source's own failures: a service whose golden probe fails in the source
/// blocks the promotion (the run validates every wave and would be bound to roll back), and a
/// probe that is not golden and fails in the source too is waived in the target (the target is
/// judged only on what the source proved).
void Conclude(const plan::Plan& plan, AuditReport& report);

}  // namespace promote::phases
