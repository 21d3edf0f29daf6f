// The plan: what to promote, from where to where, and how to tell that it worked. These types
// are plain data, filled and validated by plan/loader; nothing here touches the outside world.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace promote::plan {

/// How a target environment is changed: `kubectl set image` or `helm upgrade`.
enum class Driver { kKubectl, kHelm };

/// Who may let a promotion into an environment, and how many of them must.
struct ApprovalGate {
  bool required = false;
  std::vector<std::string> approvers;  ///< empty = anyone may approve
  bool allow_self_approval = false;    ///< may the initiator approve their own run
  int count = 1;                       ///< distinct approvals needed
};

/// Where an environment's run lock lives: a file under --state-dir (one machine), or a
/// coordination.k8s.io/v1 Lease in the environment's cluster (several runners sharing it).
struct LockPolicy {
  /// The lock's backend.
  enum class Backend { kFile, kLease };
  Backend backend = Backend::kFile;
  std::string lease_namespace = "default";  ///< lease: the Lease's namespace
  std::string lease_name;                   ///< lease: empty = "promote-<environment>"
  std::chrono::seconds lease_duration{60};  ///< lease: expired (stale) when not renewed for this
};

/// One span of time in which forward promotions into an environment are refused: recurring
/// (a cron `schedule` of start times plus a `duration`) or one-off (`from` … `until`).
/// Local times are in the policy's time zone; exactly one of the two forms is set.
struct FreezeWindow {
  std::string name;
  std::string reason;                               ///< shown to whoever is refused; may be empty
  std::string schedule;                             ///< recurring: 5-field cron; empty for one-off
  std::chrono::milliseconds duration{0};            ///< recurring: length of each window
  std::optional<std::chrono::local_seconds> from;   ///< one-off: first frozen instant
  std::optional<std::chrono::local_seconds> until;  ///< one-off: first instant free again
};

/// When an environment refuses forward promotions (rollbacks stay allowed); see plan/freeze.h.
struct FreezePolicy {
  std::string time_zone = "UTC";  ///< IANA name, as in /usr/share/zoneinfo
  std::vector<FreezeWindow> windows;
};

/// Whether an image is checked to be in the registry an environment pulls it from before the
/// first change, and where that registry answers: a node that cannot pull the image would
/// otherwise fail the rollout only after PROD has started to change.
struct RegistryCheck {
  bool verify = false;
  /// Registry host as images name it ("ghcr.io", "docker.io") → the base URL this environment
  /// pulls it through (a mirror); a host not named is asked at https://HOST.
  std::map<std::string, std::string> mirrors;
  /// Registry host → the environment variable holding "USER:PASSWORD" (or a token) for it; the
  /// variable's value is redacted like secretEnv and only its name is ever written.
  std::map<std::string, std::string> credentials;
};

/// Where an environment's metrics are queried: a Prometheus HTTP API, and the headers it needs.
struct PrometheusSource {
  std::string url;
  /// Header name → the environment variable holding its value (a bearer token, say); the value
  /// is redacted like secretEnv's and only its name is ever written.
  std::map<std::string, std::string> headers;
};

/// One environment (dev, prod, …): where its workloads live and how to reach its services.
struct Environment {
  std::string name;
  std::string context;  ///< kube context, always passed explicitly
  std::optional<std::string> kubeconfig;
  Driver driver = Driver::kKubectl;
  std::string namespace_template;           ///< may contain {service}
  std::string url_template;                 ///< base URL for every service, may contain {service}
  std::map<std::string, std::string> urls;  ///< per-service base URL, overrides url_template
  std::vector<std::string> secrets;         ///< required Secret names (never their values)
  ApprovalGate approval;
  LockPolicy lock;
  FreezePolicy freeze;
  /// Every image deployed here must be pinned by a digest (the source's pods report it).
  bool require_digest = false;
  /// Where the metric checks of its services are queried; unset when the plan has none.
  std::optional<PrometheusSource> prometheus;
  RegistryCheck registry;

  /// Namespace of `service` in this environment ({service} substituted).
  std::string NamespaceFor(const std::string& service) const;
  /// Base URL of `name` for probes, a service or a probe's base (its url entry, else the
  /// template with {service} = name).
  std::string UrlFor(const std::string& name) const;
};

/// Which HTTP statuses a probe accepts: any of `codes`, any range, and none of `not_codes`.
struct StatusExpectation {
  std::vector<int> codes;
  std::vector<std::pair<int, int>> ranges;  ///< inclusive [low, high], "2xx" = {200, 299}
  std::vector<int> not_codes;

  bool Accepts(int status) const;
  /// "200", "2xx", "not 404", "200 or 401" — as a person would write it in a report.
  std::string Describe() const;
};

/// A check of one field of a JSON body: `path` is dotted (`data.service`), `equals` its text.
struct JsonFieldMatch {
  std::string path;
  std::string equals;
};

/// One comparison of an Argo Rollouts condition: `result[0] OP number`.
struct MetricComparison {
  /// The operator, as written: < <= > >= == !=.
  enum class Op { kLess, kLessEqual, kGreater, kGreaterEqual, kEqual, kNotEqual };
  Op op = Op::kGreaterEqual;
  double number = 0;

  bool Holds(double value) const;
};

/// An Argo Rollouts successCondition or failureCondition of the forms promote reads:
/// comparisons joined by && and ||, && binding tighter (as in Argo's expression language).
struct MetricCondition {
  std::string text;  ///< as written in the template, for the reports
  /// It holds when every comparison of any one group holds.
  std::vector<std::vector<MetricComparison>> any_of;

  bool Holds(double value) const;
};

/// Argo Rollouts' per-metric measurement policy, for a check that brings its own (one from an
/// AnalysisTemplate): its measurements are counted against these limits rather than the plan's
/// rounds, and it is measured at most every `interval`, at most `count` times.
struct MeasurementLimits {
  std::optional<std::chrono::milliseconds> interval;  ///< unset: every validation round
  std::optional<int> count;                           ///< unset: as long as the validation runs
  int failure_limit = 0;            ///< failed measurements tolerated (Argo's default 0)
  int consecutive_error_limit = 4;  ///< consecutive errors tolerated (Argo's default 4)
  int inconclusive_limit = 0;       ///< inconclusive measurements tolerated (Argo's default 0)
};

/// A Prometheus query a metric check evaluates, and what its value must be: a range (Flagger's
/// thresholdRange) or Argo Rollouts' success and failure conditions.
struct MetricQuery {
  /// PromQL; {service}, {namespace}, {env}, {interval} (the validation interval, as Prometheus
  /// writes durations) and {image} (what the service runs) are substituted before it is sent.
  std::string query;
  std::optional<double> min;  ///< the value must be ≥ min
  std::optional<double> max;  ///< the value must be ≤ max
  /// Argo's rule: the measurement fails when `failure` holds, or when only `success` is given
  /// and it does not; it is inconclusive when both are given and neither holds.
  std::optional<MetricCondition> success;
  std::optional<MetricCondition> failure;
  /// Its own measurement policy; unset: counted by round against the plan's `validate` limits.
  std::optional<MeasurementLimits> limits;
  /// A query answered with no series (or NaN) is inconclusive, counted against the check's own
  /// inconclusive limit, rather than errored (Argo Rollouts' inconclusiveLimit); a query error
  /// or Prometheus unreachable stays errored.
  bool no_data_inconclusive = false;
  /// The AnalysisTemplate file it came from, as the plan names it; "" for a check of the plan.
  std::string template_file;

  /// What the value is held to, as a report writes it: "min 0.95, max 1" or the conditions
  /// ("result[0] >= 0.95", "failure: result[0] < 0.5").
  std::string Describe() const;
};

/// One check of a service: an HTTP request and what counts as healthy, or (`metric`) a
/// Prometheus query whose value must lie in a range. Both are judged, counted, waived, grouped in
/// capabilities and reported the same way.
struct Probe {
  std::string name;
  std::string method = "GET";
  std::string path;
  std::optional<std::string> body;  ///< request body (sent as application/json)
  std::map<std::string, std::string> headers;
  StatusExpectation expect;
  std::optional<std::string> body_contains;
  std::optional<JsonFieldMatch> json;
  std::chrono::milliseconds timeout{5000};
  int retries = 0;
  bool golden = false;  ///< without this route the product is down for users
  /// Set for a metric check (the plan's `metrics:` of a service): the query and its range. Its
  /// method is "METRIC" and its path the check's name, as reports show it.
  std::optional<MetricQuery> metric;
  /// Probed at this URL of the environment instead of its service's (the website's "www"
  /// host): a key of the environment's url map, or {service} of its template; "" = the service.
  std::string base;

  /// The name of the environment URL this probe goes to: its base, else its service's.
  const std::string& UrlName(const std::string& service) const {
    return base.empty() ? service : base;
  }
};

/// How a service is rolled out by helm: release name, chart, and the values key of the image.
struct HelmTarget {
  /// Where helm finds the chart, as the loader decided from the plan's `chart:` text.
  enum class ChartSource {
    kLocalFolder,   ///< a chart folder beside the plan (or absolute); `chart` is its absolute path
    kLocalArchive,  ///< a packaged chart file (.tgz); `chart` is its absolute path
    kRepository,    ///< `repo/name` from helm's configured repositories; `chart` as written
    kRemote,        ///< an oci://, http:// or https:// reference; `chart` as written
  };
  std::string release;
  /// What goes to `helm upgrade` as the chart: an absolute, lexically normal path for a local
  /// chart (so it does not depend on the directory promote runs in), else the text as written.
  std::string chart;
  ChartSource chart_source = ChartSource::kRepository;
  std::string values_key = "image.tag";
};

/// One deployable unit: its workload, image, rollout wave and probes.
struct Service {
  std::string name;
  std::string workload_kind = "deployment";
  std::string workload_name;
  std::string container;  ///< defaults to the service name
  std::string image;      ///< image repository, e.g. ghcr.io/keybuzz/keybuzz-api
  /// Where its images may come from: `image` first, then the plan's `repositories` (exact, or
  /// with '*' for any characters but '/'). An image from anywhere else is never promoted.
  std::vector<std::string> repositories;
  std::optional<HelmTarget> helm;
  int wave = 1;
  std::vector<Probe> probes;
};

/// A probe of the plan, named by its service and its own name: "api/login".
struct ProbeRef {
  std::string service;
  std::string probe;

  std::string Name() const { return service + "/" + probe; }
  bool operator==(const ProbeRef&) const = default;
};

/// What a person recognises the product by ("auth", "inbox"): a named group of probes that works
/// only when every probe in it passes. The audit's conclusion lists what works and what does not
/// by capability, as a hand-written audit would, rather than probe by probe.
struct Capability {
  std::string name;
  std::vector<ProbeRef> probes;
  /// Without it the product is down for users: when it fails the environment is not functional.
  /// The loader makes every probe of a golden capability golden.
  bool golden = false;
  /// Not in the plan: the probes of one service that no capability names, grouped under the
  /// service's name so that every probe counts somewhere in the conclusion.
  bool implicit = false;
};

/// When to call a promotion healthy or failed (Argo Rollouts' analysis thresholds).
struct ValidationPolicy {
  std::chrono::milliseconds initial_delay{0};
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds soak{60000};
  int successes = 3;      ///< consecutive passing rounds needed
  int failure_limit = 2;  ///< wrong answers tolerated before failing
  int error_limit = 3;    ///< no answers (timeout, refused) tolerated before failing
  std::chrono::milliseconds rollout_timeout{300000};
};

/// How a rollback's restored state is judged: probed for `soak`, then `successes` consecutive
/// passing rounds, and the services given `timeout` to come back at all.
struct RollbackPolicy {
  std::chrono::milliseconds soak{30000};  ///< default: 3 × validate.interval (set by the loader)
  int successes = 2;                      ///< consecutive passing rounds needed after the soak
  std::chrono::milliseconds timeout{300000};  ///< time budget of restoring every service
};

/// Where releases are recorded: a git repository and the tag name template.
struct ReleaseRepo {
  std::string repo;  ///< path, relative to the plan file's folder
  std::string tag_template = "{env}-{date}";
  std::optional<std::string> remote;  ///< pushed to when set
};

/// A whole promotion plan as loaded from plans/NAME.yaml (or .json).
struct Plan {
  std::string source_file;
  /// ContentHash of the bytes it was loaded from: a run records it, so the same plan can be
  /// recognised at another path (a CI job that checked the repository out elsewhere).
  std::string content_hash;
  std::string name;
  ReleaseRepo releases;
  std::map<std::string, Environment> environments;
  std::vector<Service> services;         ///< plan order
  std::vector<Capability> capabilities;  ///< plan order; only those the plan names
  ValidationPolicy validate;
  RollbackPolicy rollback;  ///< how a rollback's restored state is judged
  std::map<std::string, std::vector<std::string>> hooks;  ///< boundary → executables
  std::vector<std::string> secret_env;  ///< environment variables whose values are redacted
  /// The files the plan brings in (AnalysisTemplates), with the ContentHash of each as read:
  /// part of the plan's identity, so a changed template is a changed plan.
  std::vector<std::pair<std::string, std::string>> included_files;
  /// Metric checks of each environment as a whole, not of one service (an error budget, the
  /// ingress' 5xx rate): the audit evaluates them in both environments, every wave's validation
  /// in the target. Their queries know {env} and {interval} only.
  std::vector<Probe> environment_checks;

  const Environment* FindEnvironment(const std::string& name) const;
  const Service* FindService(const std::string& name) const;
  /// The plan's capabilities, then one implicit capability per service for its probes that none
  /// names ("api", or "api (other probes)" once the plan names capabilities of its own).
  std::vector<Capability> CapabilitiesWithRest() const;
  /// Whether any service or environment has a metric check (then every environment names its
  /// Prometheus).
  bool HasMetrics() const;
  /// The query of metric check `check` of `service` in environment `env`, its placeholders
  /// filled in: {service}, {namespace} (the service's there), {env}, {interval} (the validation
  /// interval as Prometheus writes a duration: "10s", "500ms") and {image} (`image`: the image
  /// the service runs there, as its workload names it; "" when not known).
  std::string ExpandQuery(const Probe& check, const std::string& env, const std::string& service,
                          const std::string& image = "") const;
  /// Whether `check` is a metric check whose query needs the service's image ({image}).
  static bool NeedsImage(const Probe& check);
  /// The URL names probes give as their base, each once, in plan order.
  std::vector<std::string> ProbeBases() const;
  /// Service names grouped by wave, waves ascending, plan order within a wave.
  std::vector<std::vector<const Service*>> Waves() const;
};

/// The release tag name from the plan's template: {env} = target, {plan} = plan name,
/// {date} = `date` (YYYY-MM-DD, UTC).
std::string ExpandTagTemplate(const Plan& plan, const std::string& target, const std::string& date);

}  // namespace promote::plan
