// Implementation details: field names are camelCase and fixed by docs/report-schema.md; absent
// values are null (never omitted) so consumers see the same shape on every run; enums are written
// as the same names the Markdown uses ("not-functional", "up-to-date", "route missing" notes).
#include "report/audit_json.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "adapters/probe/evaluate.h"
#include "phases/audit.h"

namespace promote::report {
namespace {

using nlohmann::json;

json OrNull(const std::optional<std::string>& value) {
  return value ? json(*value) : json();
}
json OrNull(const std::optional<int>& value) {
  return value ? json(*value) : json();
}
json OrNull(const std::string& value) {
  return value.empty() ? json() : json(value);
}
json Status(int status) {
  return status >= 0 ? json(status) : json();
}

json AttemptJson(const adapters::probe::ProbeAttempt& attempt) {
  return {{"outcome", adapters::probe::OutcomeName(attempt.outcome)},
          {"status", Status(attempt.status)},
          {"latencyMs", attempt.latency.count()},
          {"note", attempt.note},
          {"reason", attempt.reason}};
}

json ProbeJson(const adapters::probe::ProbeResult& probe) {
  json attempts = json::array();
  for (const auto& attempt : probe.attempts) attempts.push_back(AttemptJson(attempt));
  return {{"name", probe.probe_name},
          {"method", probe.method},
          {"path", probe.path},
          {"url", probe.url},
          {"golden", probe.golden},
          {"outcome", adapters::probe::OutcomeName(probe.verdict.outcome)},
          {"status", Status(probe.status)},
          {"latencyMs", probe.latency.count()},
          {"note", probe.verdict.note},
          {"reason", probe.verdict.reason},
          {"bodyExcerpt", probe.body_excerpt},
          {"attempts", std::move(attempts)}};
}

json ServiceJson(const phases::ServiceObservation& service) {
  const auto& s = service.status;
  json probes = json::array();
  for (const auto& probe : service.probes) probes.push_back(ProbeJson(probe));
  const bool healthy = service.Healthy();
  return {{"service", service.service},
          {"namespace", service.ns},
          {"workload", service.workload},
          {"readError", OrNull(service.read_error)},
          {"namespacePresent", s.namespace_present},
          {"workloadPresent", s.workload_present},
          {"image", OrNull(s.image)},
          {"tag", s.image.empty() ? json() : json(adapters::kube::ImageTag(s.image))},
          {"digest", OrNull(s.digest)},
          {"replicas",
           {{"desired", s.desired},
            {"updated", s.updated},
            {"ready", s.ready},
            {"available", s.available}}},
          {"rollout",
           {{"state", RolloutStateName(s.rollout)},
            {"message", s.message},
            {"generation", s.generation},
            {"observedGeneration", s.observed_generation},
            {"revision", OrNull(s.revision)},
            {"helmRevision", OrNull(s.helm_revision)}}},
          {"created", OrNull(s.created)},
          {"healthy", healthy},
          {"unhealthyReason", healthy ? json() : json(service.UnhealthyReason())},
          {"probes", std::move(probes)}};
}

json EnvironmentJson(const phases::EnvironmentObservation& env, const char* role) {
  json services = json::array();
  for (const auto& service : env.services) services.push_back(ServiceJson(service));
  json secrets = json::array();
  for (const auto& secret : env.secrets) {
    secrets.push_back(
        {{"name", secret.name}, {"present", secret.present()}, {"namespaces", secret.namespaces}});
  }
  return {{"name", env.name},
          {"role", role},
          {"context", env.context},
          {"services", std::move(services)},
          {"secrets", std::move(secrets)},
          {"secretsError", OrNull(env.secrets_error)}};
}

json VerdictJson(const std::string& env, const phases::Verdict& verdict) {
  return {{"environment", env},
          {"functional", phases::FunctionalName(verdict.functional)},
          {"reason", verdict.reason}};
}

json ComparisonJson(const phases::ServiceComparison& c) {
  return {
      {"service", c.service},
      {"sourceImage", OrNull(c.source_image)},
      {"sourceDigest", OrNull(c.source_digest)},
      {"targetImage", OrNull(c.target_image)},
      {"targetDigest", OrNull(c.target_digest)},
      {"deployImage", c.action == phases::ServiceAction::kPromote ? json(c.DeployImage()) : json()},
      {"action", phases::ServiceActionName(c.action)},
      {"reason", c.reason},
      {"knownBad", c.known_bad ? phases::BadImageJson(*c.known_bad) : json()},
      {"waivedProbes", c.waived_probes}};
}

}  // namespace

const char* RolloutStateName(adapters::kube::RolloutState state) {
  using adapters::kube::RolloutState;
  switch (state) {
    case RolloutState::kComplete:
      return "complete";
    case RolloutState::kProgressing:
      return "progressing";
    case RolloutState::kDeadlineExceeded:
      return "deadline-exceeded";
    case RolloutState::kMissing:
      return "missing";
  }
  return "unknown";
}

nlohmann::json AuditJson(const phases::AuditReport& report) {
  json comparisons = json::array();
  for (const auto& c : report.comparisons) comparisons.push_back(ComparisonJson(c));
  return {
      {"schema", kAuditSchema},
      {"plan", {{"name", report.plan_name}, {"file", OrNull(report.plan_file)}}},
      {"source", report.source},
      {"target", report.target},
      {"startedAt", report.started_at},
      {"durationMs", report.duration.count()},
      {"verdicts",
       {{"source", VerdictJson(report.source, report.source_verdict)},
        {"target", VerdictJson(report.target, report.target_verdict)}}},
      {"environments", json::array({EnvironmentJson(report.source_env, "source"),
                                    EnvironmentJson(report.target_env, "target")})},
      {"comparisons", std::move(comparisons)},
      {"drift",
       {{"checked", report.releases.known && !report.NoReleaseYet()},
        {"noReleaseYet", report.NoReleaseYet()},
        {"images", report.drift}}},
      {"recommendation",
       {{"action", phases::RecommendationName(report.recommendation)},
        {"reason", report.recommendation_reason},
        {"refusals", report.refusals},
        {"command", OrNull(report.command)}}},
      {"forced",
       {{"reason", OrNull(report.force_reason)},
        {"images",
         [&] {
           json images = json::array();
           for (const auto& bad : report.forced) images.push_back(phases::BadImageJson(bad));
           return images;
         }()}}},
      {"freeze", report.freeze.frozen ? json{{"window", report.freeze.window},
                                             {"description", report.freeze.description},
                                             {"until", OrNull(report.freeze.until_utc)},
                                             {"overridden", OrNull(report.freeze.override_reason)}}
                                      : json()},
      {"targetHealthy", report.TargetHealthy()},
      {"promotionPending", report.PromotionPending()},
  };
}

}  // namespace promote::report
