// Test fixture shared by the report writers' tests: the audit of the incident that started the
// project (PROD api on v0.9.29-contact-fix answering 404 on /auth/login and /auth/signup, DEV on
// v0.4.31-replacement healthy), built by hand so the writers are tested without a cluster.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "adapters/kube/cluster.h"
#include "adapters/probe/evaluate.h"
#include "adapters/probe/prober.h"
#include "phases/audit.h"

namespace promote::report::testdata {

inline constexpr char kDevApiImage[] = "ghcr.io/keybuzz/keybuzz-api:v0.4.31-replacement";
inline constexpr char kProdApiImage[] = "ghcr.io/keybuzz/keybuzz-api:v0.9.29-contact-fix";
inline constexpr char kDevApiDigest[] =
    "sha256:4f1c9e2ab07d5c3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60";
inline constexpr char kProdApiDigest[] =
    "sha256:9a0bd3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
inline constexpr char kProdReason[] =
    "login impossible: POST /auth/login → 404 (route missing) on keybuzz-api-prod";
inline constexpr char kCommand[] = "promote dev prod --plan plans/keybuzz.yaml";

/// A probe attempt with an answer.
inline adapters::probe::ProbeAttempt Answered(adapters::probe::ProbeOutcome outcome, int status,
                                              int latency_ms, std::string note,
                                              std::string reason = "") {
  adapters::probe::ProbeAttempt attempt;
  attempt.outcome = outcome;
  attempt.status = status;
  attempt.latency = std::chrono::milliseconds(latency_ms);
  attempt.note = std::move(note);
  attempt.reason = std::move(reason);
  return attempt;
}

/// A probe attempt that got no answer.
inline adapters::probe::ProbeAttempt NoAnswer(int latency_ms, std::string note,
                                              std::string reason) {
  adapters::probe::ProbeAttempt attempt;
  attempt.outcome = adapters::probe::ProbeOutcome::kErrored;
  attempt.status = -1;
  attempt.latency = std::chrono::milliseconds(latency_ms);
  attempt.note = std::move(note);
  attempt.reason = std::move(reason);
  return attempt;
}

/// A probe result whose final verdict is its last attempt.
inline adapters::probe::ProbeResult Probe(const std::string& env, const std::string& service,
                                          const std::string& base_url, std::string name,
                                          std::string method, std::string path, bool golden,
                                          std::vector<adapters::probe::ProbeAttempt> attempts,
                                          std::string body_excerpt = "") {
  adapters::probe::ProbeResult result;
  result.service = service;
  result.environment = env;
  result.probe_name = std::move(name);
  result.method = std::move(method);
  result.path = std::move(path);
  result.url = base_url + result.path;
  result.golden = golden;
  const auto& last = attempts.back();
  result.verdict = {last.outcome, last.reason, last.note};
  result.status = last.status;
  result.latency = last.latency;
  result.attempts = std::move(attempts);
  result.body_excerpt = std::move(body_excerpt);
  return result;
}

/// One service as the cluster reported it, rolled out with every replica ready.
inline phases::ServiceObservation Service(const std::string& env, const std::string& service,
                                          const std::string& image, const std::string& digest,
                                          const std::string& created) {
  phases::ServiceObservation obs;
  obs.service = service;
  obs.environment = env;
  obs.ns = "keybuzz-" + service + "-" + env;
  obs.workload = "deployment/keybuzz-" + service;
  auto& s = obs.status;
  s.namespace_present = true;
  s.workload_present = true;
  s.image = image;
  if (!digest.empty()) s.digest = digest;
  s.desired = s.updated = s.ready = s.available = 2;
  s.generation = s.observed_generation = 3;
  s.revision = 3;
  s.rollout = adapters::kube::RolloutState::kComplete;
  s.message = "ReplicaSet has successfully progressed.";
  s.created = created;
  return obs;
}

/// The audit of keybuzz dev → prod as it stood when the project started.
inline phases::AuditReport KeybuzzAudit() {
  using adapters::probe::ProbeOutcome;
  const ProbeOutcome kPass = ProbeOutcome::kPassed;
  const ProbeOutcome kFail = ProbeOutcome::kFailed;
  phases::AuditReport report;
  report.plan_name = "keybuzz";
  report.plan_file = "plans/keybuzz.yaml";
  report.source = "dev";
  report.target = "prod";
  report.started_at = "2026-02-01T09:00:00Z";
  report.duration = std::chrono::milliseconds(4321);

  auto& dev = report.source_env;
  dev.name = "dev";
  dev.context = "dev";
  {
    auto api = Service("dev", "api", kDevApiImage, kDevApiDigest, "2026-01-30T09:00:00Z");
    const std::string url = "https://api.dev.keybuzz.io";
    api.probes.push_back(Probe("dev", "api", url, "health", "GET", "/health", false,
                               {Answered(kPass, 200, 35, "ok")}));
    api.probes.push_back(Probe("dev", "api", url, "login", "POST", "/auth/login", true,
                               {Answered(kPass, 422, 48, "ok")}));
    api.probes.push_back(Probe("dev", "api", url, "signup", "POST", "/auth/signup", true,
                               {Answered(kPass, 200, 61, "ok")}));
    dev.services.push_back(std::move(api));
    auto client = Service("dev", "client", "ghcr.io/keybuzz/keybuzz-client:v1.8.2", "",
                          "2026-01-15T10:30:00Z");
    client.probes.push_back(Probe("dev", "client", "https://client.dev.keybuzz.io", "login-page",
                                  "GET", "/login", false,
                                  {NoAnswer(5000, "timeout after 5s", "no answer within 5s"),
                                   Answered(kPass, 200, 120, "ok")}));
    dev.services.push_back(std::move(client));
    auto website = Service("dev", "website", "ghcr.io/keybuzz/keybuzz-website:v2.3.0", "",
                           "2026-01-10T12:00:00Z");
    website.probes.push_back(Probe("dev", "website", "https://website.dev.keybuzz.io", "home",
                                   "GET", "/", false, {Answered(kPass, 200, 80, "ok")}));
    dev.services.push_back(std::move(website));
  }

  auto& prod = report.target_env;
  prod.name = "prod";
  prod.context = "prod";
  {
    auto api = Service("prod", "api", kProdApiImage, kProdApiDigest, "2026-01-29T18:45:00Z");
    const std::string url = "https://api.keybuzz.io";
    const std::string not_found =
        R"({"message":"Cannot POST /auth/login","error":"Not Found","statusCode":404})";
    api.probes.push_back(Probe("prod", "api", url, "health", "GET", "/health", false,
                               {Answered(kPass, 200, 30, "ok")}));
    api.probes.push_back(
        Probe("prod", "api", url, "login", "POST", "/auth/login", true,
              {Answered(kFail, 404, 22, "route missing", "expected status not 404, got 404")},
              not_found));
    api.probes.push_back(
        Probe("prod", "api", url, "signup", "POST", "/auth/signup", true,
              {Answered(kFail, 404, 19, "route missing", "expected status not 404, got 404")},
              R"({"message":"Cannot POST /auth/signup","statusCode":404})"));
    prod.services.push_back(std::move(api));
    auto client = Service("prod", "client", "ghcr.io/keybuzz/keybuzz-client:v1.8.2", "",
                          "2026-01-16T10:30:00Z");
    client.probes.push_back(Probe("prod", "client", "https://client.keybuzz.io", "login-page",
                                  "GET", "/login", false, {Answered(kPass, 200, 95, "ok")}));
    prod.services.push_back(std::move(client));
    auto website = Service("prod", "website", "ghcr.io/keybuzz/keybuzz-website:v2.3.0", "",
                           "2026-01-11T12:00:00Z");
    website.probes.push_back(Probe("prod", "website", "https://keybuzz.pro", "home", "GET", "/",
                                   false, {Answered(kPass, 200, 70, "ok")}));
    prod.services.push_back(std::move(website));
    for (const char* name :
         {"keybuzz-api-postgres", "keybuzz-stripe", "minio-credentials", "ghcr-cred"}) {
      prod.secrets.push_back({name, {"keybuzz-api-prod"}});
    }
  }

  phases::ServiceComparison api;
  api.service = "api";
  api.source_image = kDevApiImage;
  api.source_digest = kDevApiDigest;
  api.target_image = kProdApiImage;
  api.target_digest = kProdApiDigest;
  api.action = phases::ServiceAction::kPromote;
  api.reason = "v0.9.29-contact-fix → v0.4.31-replacement";
  report.comparisons.push_back(api);
  for (const auto& [service, image] : std::vector<std::pair<std::string, std::string>>{
           {"client", "ghcr.io/keybuzz/keybuzz-client:v1.8.2"},
           {"website", "ghcr.io/keybuzz/keybuzz-website:v2.3.0"}}) {
    phases::ServiceComparison same;
    same.service = service;
    same.source_image = image;
    same.target_image = image;
    same.action = phases::ServiceAction::kUpToDate;
    same.reason = "prod already runs " + image.substr(image.rfind(':') + 1);
    report.comparisons.push_back(same);
  }

  report.source_verdict = {phases::Functional::kFunctional,
                           "every golden probe passes and every workload is rolled out"};
  report.target_verdict = {phases::Functional::kNotFunctional, kProdReason};
  report.drift = {kProdApiImage};
  report.releases.known = true;
  report.releases.releases_of_target = 1;
  report.recommendation = phases::Recommendation::kPromote;
  report.recommendation_reason =
      "promote the stable dev to prod: api v0.9.29-contact-fix → v0.4.31-replacement";
  report.command = kCommand;
  return report;
}

}  // namespace promote::report::testdata
