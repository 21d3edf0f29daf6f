// Implementation details: field names are camelCase and fixed by docs/report-schema.md; absent
// values are null (never omitted) so consumers see the same shape on every run; enums are written
// as the same names the Markdown uses ("not-functional", "up-to-date", "route missing" notes).
#include "report/audit_json.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  json out = {{"name", probe.probe_name},
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
  if (probe.metric) out["query"] = probe.query;
  return out;
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

// With with_services false, "services" is an empty array for AuditJsonText to fill in.
json EnvironmentJson(const phases::EnvironmentObservation& env, const char* role,
                     bool with_services) {
  json services = json::array();
  if (with_services) {
    for (const auto& service : env.services) services.push_back(ServiceJson(service));
  }
  json secrets = json::array();
  for (const auto& secret : env.secrets) {
    secrets.push_back(
        {{"name", secret.name}, {"present", secret.present()}, {"namespaces", secret.namespaces}});
  }
  json namespaces = json::array();
  for (const auto& ns : env.namespaces) {
    namespaces.push_back({{"name", ns.name},
                          {"present", ns.present},
                          {"phase", OrNull(ns.phase)},
                          {"created", OrNull(ns.created)}});
  }
  json capabilities = json::array();
  for (const auto& capability : env.capabilities) {
    json failed = json::array();
    for (const auto& failure : capability.failed) {
      failed.push_back(
          {{"probe", failure.probe}, {"line", failure.line}, {"namespace", OrNull(failure.ns)}});
    }
    capabilities.push_back({{"name", capability.name},
                            {"golden", capability.golden},
                            {"implicit", capability.implicit},
                            {"works", capability.Works()},
                            {"unknown", capability.Unknown()},
                            {"probes", capability.probes},
                            {"failed", std::move(failed)}});
  }
  json checks = json::array();  // the plan's environment checks (of no service)
  for (const auto& check : env.checks) checks.push_back(ProbeJson(check));
  json registry;  // null: not looked up
  if (env.registry) {
    registry = json::array();
    for (const auto& finding : *env.registry) {
      registry.push_back({{"service", finding.service},
                          {"image", finding.image},
                          {"registry", finding.registry},
                          {"presence", phases::PresenceName(finding.presence)},
                          {"detail", OrNull(finding.detail)}});
    }
  }
  return {{"name", env.name},
          {"role", role},
          {"context", env.context},
          {"namespaces", std::move(namespaces)},
          {"namespacesError", OrNull(env.namespaces_error)},
          {"services", std::move(services)},
          {"secrets", std::move(secrets)},
          {"secretsError", OrNull(env.secrets_error)},
          {"capabilities", std::move(capabilities)},
          {"checks", std::move(checks)},
          {"registry", std::move(registry)}};
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

json AuditDocument(const phases::AuditReport& report, bool with_services) {
  json comparisons = json::array();
  for (const auto& c : report.comparisons) comparisons.push_back(ComparisonJson(c));
  json causes = json::array();
  for (const auto& cause : report.causes) {
    causes.push_back({{"kind", phases::RootCauseKindName(cause.kind)},
                      {"service", cause.service},
                      {"probes", cause.probes},
                      {"sentence", cause.sentence}});
  }
  json options = json::array();
  for (std::size_t i = 0; i < report.options.size(); ++i) {
    const auto& option = report.options[i];
    options.push_back({{"kind", phases::OptionKindName(option.kind)},
                       {"title", option.title},
                       {"command", OrNull(option.command)},
                       {"why", option.why},
                       {"recommended", i == 0}});
  }
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
      {"environments", json::array({EnvironmentJson(report.source_env, "source", with_services),
                                    EnvironmentJson(report.target_env, "target", with_services)})},
      {"comparisons", std::move(comparisons)},
      {"causes", std::move(causes)},
      {"options", std::move(options)},
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

std::string Dump(const json& value) {
  return value.dump(2, ' ', false, json::error_handler_t::replace);
}

// Appends `text` (a dump at depth 0) as it would appear at `indent`: every line but the first
// gains the indent. A dump has no raw newline inside a string (it escapes them), so each '\n'
// is a line break of the layout.
void AppendIndented(std::string& out, const std::string& text, const std::string& indent) {
  std::size_t copied = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', nl + 1)) {
    out.append(text, copied, nl + 1 - copied).append(indent);
    copied = nl + 1;
  }
  out.append(text, copied);
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
  return AuditDocument(report, true);
}

std::string AuditJsonText(const phases::AuditReport& report) {
  // The envelope has an empty "services" array per environment, source then target (keys are
  // sorted and only an environment has that key; inside a string its quotes would be escaped).
  static constexpr std::string_view kEmpty = "\"services\": []";
  const std::string envelope = Dump(AuditDocument(report, false));
  // Each environment's services as they will appear, so the text is allocated once at its exact
  // size (growing it by doubling would hold up to three times the text at once).
  struct Splice {
    std::size_t at;      ///< where kEmpty is in the envelope
    std::string indent;  ///< the indentation of its line
    std::string items;   ///< the array's contents, "" when the environment has no service
  };
  std::vector<Splice> splices;
  std::size_t size = envelope.size() + 1;  // room for the newline a file ends with
  for (const auto* env : {&report.source_env, &report.target_env}) {
    const std::size_t from = splices.empty() ? 0 : splices.back().at + kEmpty.size();
    const std::size_t at = envelope.find(kEmpty, from);
    if (at == std::string::npos) break;  // cannot happen: AuditDocument writes both
    const std::size_t line = envelope.rfind('\n', at) + 1;
    Splice splice{at, envelope.substr(line, at - line), {}};
    const std::string inner = splice.indent + "  ";
    for (std::size_t i = 0; i < env->services.size(); ++i) {
      splice.items.append(i == 0 ? "\n" : ",\n").append(inner);
      AppendIndented(splice.items, Dump(ServiceJson(env->services[i])), inner);
    }
    if (!env->services.empty()) splice.items.append("\n").append(splice.indent);
    size += splice.items.size();
    splices.push_back(std::move(splice));
  }
  std::string out;
  out.reserve(size);
  std::size_t copied = 0;
  for (Splice& splice : splices) {
    out.append(envelope, copied, splice.at - copied).append("\"services\": [");
    out.append(splice.items).append("]");
    std::string().swap(splice.items);
    copied = splice.at + kEmpty.size();
  }
  out.append(envelope, copied);
  return out;
}

}  // namespace promote::report
