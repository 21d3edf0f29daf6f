// Implementation details: observation (cluster reads, then every probe of both environments in
// one concurrent batch) is kept apart from the conclusion (Conclude), which is pure so that the
// verdict rules are tested on hand-made observations. Nothing here writes to a cluster.
#include "phases/audit.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>

#include "adapters/git/release_repo.h"
#include "core/time_format.h"
#include "phases/context.h"
#include "phases/targets.h"
#include "plan/plan.h"

namespace promote::phases {
namespace {

using adapters::kube::RolloutState;
using adapters::probe::ProbeOutcome;
using adapters::probe::ProbeResult;

std::string ProbeLine(const ProbeResult& probe) {
  std::string line = probe.method + " " + probe.path + " → ";
  line += probe.status >= 0 ? std::to_string(probe.status) : std::string("no answer");
  if (!probe.verdict.note.empty() && probe.verdict.note != "ok") {
    line += " (" + probe.verdict.note + ")";
  }
  return line;
}

const char* RolloutWord(RolloutState state) {
  switch (state) {
    case RolloutState::kComplete:
      return "rolled out";
    case RolloutState::kProgressing:
      return "still rolling out";
    case RolloutState::kDeadlineExceeded:
      return "stuck (progress deadline exceeded)";
    case RolloutState::kMissing:
      return "missing";
  }
  return "unknown";
}

// The reason an environment is not fully functional, or empty when it is.
Verdict JudgeEnvironment(const EnvironmentObservation& env) {
  std::vector<std::string> golden_failures;
  std::vector<std::string> other_problems;
  for (const auto& service : env.services) {
    if (service.read_error) {
      other_problems.push_back(service.service + " could not be read: " + *service.read_error);
    } else if (!service.status.namespace_present) {
      other_problems.push_back("namespace " + service.ns + " is missing");
    } else if (!service.status.workload_present) {
      other_problems.push_back(service.workload + " is missing in " + service.ns);
    } else if (service.status.rollout != RolloutState::kComplete) {
      other_problems.push_back(service.workload + " is " + RolloutWord(service.status.rollout));
    }
    for (const auto& probe : service.probes) {
      if (probe.passed()) continue;
      if (probe.golden) {
        golden_failures.push_back(probe.probe_name + " impossible: " + ProbeLine(probe) + " on " +
                                  service.ns);
      } else {
        other_problems.push_back(ProbeLine(probe) + " on " + service.ns);
      }
    }
  }
  for (const auto& secret : env.secrets) {
    if (!secret.present()) other_problems.push_back("secret " + secret.name + " is missing");
  }
  if (env.secrets_error) other_problems.push_back("secrets unreadable: " + *env.secrets_error);

  auto join = [](const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "" : "; ") + part;
    return out;
  };
  if (!golden_failures.empty()) return {Functional::kNotFunctional, join(golden_failures)};
  if (!other_problems.empty()) return {Functional::kDegraded, join(other_problems)};
  return {Functional::kFunctional, "every golden probe passes and every workload is rolled out"};
}

bool SameRelease(const ServiceObservation& source, const ServiceObservation& target) {
  if (source.status.digest && target.status.digest) {
    return *source.status.digest == *target.status.digest;
  }
  return source.status.image == target.status.image;
}

/// A release tag seen as an environment: each service at the image its manifest records, rolled
/// out (it was validated when it was released). Services the manifest lacks are left out.
EnvironmentObservation ObserveRelease(const plan::Plan& plan, const std::string& tag,
                                      const adapters::git::ReleaseManifest& manifest) {
  EnvironmentObservation observation;
  observation.name = tag;
  observation.context = "release " + tag;
  for (const auto& service : plan.services) {
    const auto released = manifest.services.find(service.name);
    if (released == manifest.services.end()) continue;
    ServiceObservation seen;
    seen.service = service.name;
    seen.environment = tag;
    seen.ns = manifest.target_env;
    seen.workload = service.workload_kind + "/" + service.workload_name;
    seen.status.namespace_present = true;
    seen.status.workload_present = true;
    seen.status.image = released->second.image;
    seen.status.digest = released->second.digest;
    seen.status.rollout = adapters::kube::RolloutState::kComplete;
    observation.services.push_back(std::move(seen));
  }
  return observation;
}

std::string Tag(const std::string& image) {
  return adapters::kube::ImageTag(image);
}

// Reads the release tags once: drift (the target runs an image no release records) and a bad
// release that carries exactly what this promotion would leave in the target. Both unknown
// (never reported) while the release repository cannot be read, e.g. before it exists.
void CheckReleases(Context& context, AuditReport& report) {
  report.drift.clear();
  report.bad_release.reset();
  report.releases_known = false;
  if (!context.releases_repo) return;
  auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo);
  if (!repo) {
    context.logger.debug("audit: releases unknown: {}", repo.error().Format());
    return;
  }
  auto releases = repo->Releases();
  if (!releases) {
    context.logger.warn("audit: releases unknown: {}", releases.error().Format());
    return;
  }
  report.releases_known = true;
  std::set<std::string> released;
  std::map<std::string, adapters::git::ReleasedImage> would_release;
  for (const auto& c : report.comparisons) {
    would_release[c.service] = {c.ReleasedImage(), c.ReleasedDigest()};
  }
  const bool changes =
      std::any_of(report.comparisons.begin(), report.comparisons.end(),
                  [](const auto& c) { return c.action == ServiceAction::kPromote; });
  for (const auto& release : *releases) {
    for (const auto& [service, image] : release.manifest.services) {
      released.insert(image.image);
      released.insert(adapters::git::PinnedImage(image));
      if (image.digest) released.insert(*image.digest);
    }
    if (changes && release.bad_reason && release.manifest.services == would_release) {
      report.bad_release = release.name + " (" + *release.bad_reason + ")";
    }
  }
  for (const auto& seen : report.target_env.services) {
    if (!seen.status.workload_present) continue;
    const bool known = released.count(seen.status.image) > 0 ||
                       (seen.status.digest && released.count(*seen.status.digest) > 0);
    if (!known) report.drift.push_back(seen.status.image);
  }
}

}  // namespace

bool ServiceObservation::GoldenProbesPass() const {
  return std::all_of(probes.begin(), probes.end(),
                     [](const ProbeResult& p) { return !p.golden || p.passed(); });
}

bool ServiceObservation::Healthy() const {
  return !read_error && status.workload_present && status.rollout == RolloutState::kComplete &&
         GoldenProbesPass();
}

std::string ServiceObservation::UnhealthyReason() const {
  if (read_error) return "could not be read: " + *read_error;
  if (!status.namespace_present) return "namespace " + ns + " is missing";
  if (!status.workload_present) return workload + " is missing in " + ns;
  if (status.rollout != RolloutState::kComplete) {
    return workload + " is " + RolloutWord(status.rollout);
  }
  for (const auto& probe : probes) {
    if (probe.golden && !probe.passed()) return ProbeLine(probe) + " on " + ns;
  }
  return "";
}

const ServiceObservation* EnvironmentObservation::Find(const std::string& service) const {
  for (const auto& observation : services) {
    if (observation.service == service) return &observation;
  }
  return nullptr;
}

std::string ServiceComparison::ReleasedImage() const {
  return action == ServiceAction::kPromote ? source_image : target_image;
}

std::optional<std::string> ServiceComparison::ReleasedDigest() const {
  return action == ServiceAction::kPromote ? source_digest : target_digest;
}

std::string ServiceComparison::DeployImage() const {
  if (!source_digest || source_image.find('@') != std::string::npos) return source_image;
  return source_image + "@" + *source_digest;
}

const char* FunctionalName(Functional functional) {
  switch (functional) {
    case Functional::kFunctional:
      return "functional";
    case Functional::kDegraded:
      return "degraded";
    case Functional::kNotFunctional:
      return "not-functional";
  }
  return "unknown";
}

const char* ServiceActionName(ServiceAction action) {
  switch (action) {
    case ServiceAction::kPromote:
      return "promote";
    case ServiceAction::kUpToDate:
      return "up-to-date";
    case ServiceAction::kBlocked:
      return "blocked";
  }
  return "unknown";
}

const char* RecommendationName(Recommendation recommendation) {
  switch (recommendation) {
    case Recommendation::kPromote:
      return "promote";
    case Recommendation::kNothingToDo:
      return "nothing-to-do";
    case Recommendation::kDoNotPromote:
      return "do-not-promote";
  }
  return "unknown";
}

void Conclude(const plan::Plan& plan, AuditReport& report) {
  report.comparisons.clear();
  std::vector<std::string> changes;
  std::vector<std::string> blocked;
  for (const auto& service : plan.services) {
    const ServiceObservation* source = report.source_env.Find(service.name);
    const ServiceObservation* target = report.target_env.Find(service.name);
    if (!source || !target) continue;
    ServiceComparison comparison;
    comparison.service = service.name;
    comparison.source_image = source->status.image;
    comparison.source_digest = source->status.digest;
    comparison.target_image = target->status.image;
    comparison.target_digest = target->status.digest;
    if (source->status.workload_present && target->status.workload_present &&
        SameRelease(*source, *target)) {
      comparison.action = ServiceAction::kUpToDate;
      comparison.reason = report.target + " already runs " + Tag(source->status.image);
    } else if (!source->Healthy()) {
      comparison.action = ServiceAction::kBlocked;
      comparison.reason =
          service.name + " is unhealthy in " + report.source + ": " + source->UnhealthyReason();
      blocked.push_back(comparison.reason);
    } else {
      comparison.action = ServiceAction::kPromote;
      comparison.reason =
          (target->status.workload_present ? Tag(target->status.image) : std::string("nothing")) +
          " → " + Tag(source->status.image);
      changes.push_back(service.name + " " + comparison.reason);
    }
    report.comparisons.push_back(std::move(comparison));
  }
  report.source_verdict = JudgeEnvironment(report.source_env);
  report.target_verdict = JudgeEnvironment(report.target_env);

  std::vector<std::string> missing_secrets;
  for (const auto& secret : report.target_env.secrets) {
    if (!secret.present()) missing_secrets.push_back(secret.name);
  }
  const std::string plan_arg = report.plan_file.empty() ? "" : " --plan " + report.plan_file;
  report.command.clear();
  if (!blocked.empty()) {
    report.recommendation = Recommendation::kDoNotPromote;
    report.recommendation_reason = "do not promote: " + blocked.front();
    report.command = "promote audit " + report.source + " " + report.target + plan_arg;
  } else if (!changes.empty() && report.bad_release && !report.allow_bad_release) {
    report.recommendation = Recommendation::kDoNotPromote;
    report.recommendation_reason =
        "do not promote: these images were released before and marked "
        "bad: " +
        *report.bad_release + "; pass --force to promote them anyway";
  } else if (!changes.empty() && !missing_secrets.empty()) {
    report.recommendation = Recommendation::kDoNotPromote;
    std::string names;
    for (const auto& name : missing_secrets) names += (names.empty() ? "" : ", ") + name;
    report.recommendation_reason =
        "do not promote: " + report.target + " lacks required secrets " + names;
  } else if (!changes.empty()) {
    report.recommendation = Recommendation::kPromote;
    std::string what;
    for (const auto& change : changes) what += (what.empty() ? "" : ", ") + change;
    report.recommendation_reason =
        (report.restore ? "restore release " + report.source + " in "
                        : "promote the stable " + report.source + " to ") +
        report.target + ": " + what;
    report.command = report.restore ? "promote" + plan_arg + " rollback " + report.target +
                                          " --to " + report.source
                                    : "promote " + report.source + " " + report.target + plan_arg;
  } else {
    report.recommendation = Recommendation::kNothingToDo;
    report.recommendation_reason =
        report.TargetHealthy()
            ? "nothing to do: " + report.target + " runs what " + report.source + " runs"
            : "nothing to promote, but " + report.target + " is " +
                  FunctionalName(report.target_verdict.functional) + ": " +
                  report.target_verdict.reason;
  }
}

Audit::Audit(const plan::Plan& plan, std::string source, std::string target,
             BadReleases bad_releases)
    : plan_(plan),
      source_(std::move(source)),
      target_(std::move(target)),
      bad_releases_(bad_releases) {}

Audit Audit::OfRestore(const plan::Plan& plan, const std::string& tag,
                       adapters::git::ReleaseManifest manifest, std::string target,
                       BadReleases bad_releases) {
  Audit audit(plan, tag, std::move(target), bad_releases);
  audit.release_ = std::move(manifest);
  return audit;
}

EnvironmentObservation Audit::Observe(Context& context, const std::string& env_name) const {
  const plan::Environment& env = *plan_.FindEnvironment(env_name);
  adapters::kube::Cluster& cluster = context.cluster(env_name);
  EnvironmentObservation observation;
  observation.name = env_name;
  observation.context = env.context;
  for (const auto& service : plan_.services) {
    ServiceObservation seen;
    seen.service = service.name;
    seen.environment = env_name;
    seen.ns = env.NamespaceFor(service.name);
    seen.workload = service.workload_kind + "/" + service.workload_name;
    auto status = cluster.ReadWorkload(WorkloadRefFor(env, service));
    if (status) {
      seen.status = std::move(*status);
    } else {
      seen.read_error = status.error().Format();
      context.logger.warn("audit: {} in {}: {}", service.name, env_name, *seen.read_error);
    }
    observation.services.push_back(std::move(seen));
  }
  // Required secrets may live in any of the environment's service namespaces.
  std::map<std::string, std::vector<std::string>> found;
  for (const auto& seen : observation.services) {
    if (env.secrets.empty() || !seen.status.namespace_present) continue;
    adapters::kube::WorkloadRef where;
    where.context = env.context;
    where.kubeconfig = env.kubeconfig;
    where.ns = seen.ns;
    auto presence = cluster.CheckSecrets(where, env.secrets);
    if (!presence) {
      observation.secrets_error = presence.error().Format();
      continue;
    }
    for (const auto& secret : *presence) {
      if (secret.present) found[secret.name].push_back(seen.ns);
    }
  }
  for (const auto& name : env.secrets) observation.secrets.push_back({name, found[name]});
  return observation;
}

AuditReport Audit::Run(Context& context) const {
  const auto started = context.now();
  AuditReport report;
  report.plan_name = plan_.name;
  report.plan_file = plan_.source_file;
  report.source = source_;
  report.target = target_;
  report.started_at = Rfc3339(started);

  std::vector<EnvironmentObservation*> probed = {&report.source_env, &report.target_env};
  if (release_) {
    report.restore = true;
    report.target_env = Observe(context, target_);
    report.source_env = ObserveRelease(plan_, source_, *release_);
    probed = {&report.target_env};
  } else {
    // Both environments are read side by side: each is a separate API server.
    auto source_read = std::async(std::launch::async, [&] { return Observe(context, source_); });
    report.target_env = Observe(context, target_);
    report.source_env = source_read.get();
  }

  // Every probe of both environments in one concurrent batch.
  std::vector<adapters::probe::ProbeTarget> targets;
  std::vector<ServiceObservation*> owners;
  for (EnvironmentObservation* env : probed) {
    const plan::Environment& planned = *plan_.FindEnvironment(env->name);
    for (auto& seen : env->services) {
      const plan::Service* service = plan_.FindService(seen.service);
      const std::string base = BaseUrlFor(context, planned, seen.service);
      for (const auto& probe : service->probes) {
        targets.push_back({seen.service, env->name, base, probe});
        owners.push_back(&seen);
      }
    }
  }
  auto results = context.prober.Run(targets);
  for (size_t i = 0; i < results.size() && i < owners.size(); ++i) {
    owners[i]->probes.push_back(std::move(results[i]));
  }

  report.allow_bad_release = bad_releases_ == BadReleases::kAllow;
  Conclude(plan_, report);
  CheckReleases(context, report);
  Conclude(plan_, report);  // again: a bad release changes the recommendation
  report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(context.now() - started);
  return report;
}

}  // namespace promote::phases
