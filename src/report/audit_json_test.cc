#include "report/audit_json.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "phases/audit.h"
#include "report/testdata.h"

namespace promote::report {
namespace {

using nlohmann::json;

// The service object of `service` in the environment with role `role`.
const json& ServiceOf(const json& doc, const std::string& role, const std::string& service) {
  for (const auto& env : doc.at("environments")) {
    if (env.at("role") != role) continue;
    for (const auto& s : env.at("services")) {
      if (s.at("service") == service) return s;
    }
  }
  FAIL("no service " << service << " in " << role);
  static const json kNull;
  return kNull;
}

const json& ProbeOf(const json& service, const std::string& name) {
  for (const auto& p : service.at("probes")) {
    if (p.at("name") == name) return p;
  }
  FAIL("no probe " << name);
  static const json kNull;
  return kNull;
}

TEST_CASE("audit json: schema, run and verdicts", "[report]") {
  // Through text and back, as a consumer reads the file.
  const json doc = json::parse(AuditJson(testdata::KeybuzzAudit()).dump());
  CHECK(doc.at("schema") == "promote/audit/v2");
  CHECK(doc.at("plan") == json({{"name", "keybuzz"}, {"file", "plans/keybuzz.yaml"}}));
  CHECK(doc.at("source") == "dev");
  CHECK(doc.at("target") == "prod");
  CHECK(doc.at("startedAt") == "2026-02-01T09:00:00Z");
  CHECK(doc.at("durationMs") == 4321);
  CHECK(doc.at("verdicts").at("target").at("environment") == "prod");
  CHECK(doc.at("verdicts").at("target").at("functional") == "not-functional");
  CHECK(doc.at("verdicts").at("target").at("reason") == testdata::kProdReason);
  CHECK(doc.at("verdicts").at("source").at("functional") == "functional");
  CHECK(doc.at("recommendation").at("action") == "promote");
  CHECK(doc.at("recommendation").at("command") == testdata::kCommand);
  CHECK(doc.at("targetHealthy") == false);
  CHECK(doc.at("promotionPending") == true);
  CHECK(doc.at("drift").at("checked") == true);
  CHECK(doc.at("drift").at("images") == json::array({testdata::kProdApiImage}));
}

TEST_CASE("audit json: services carry image, digest, replicas, rollout and probes", "[report]") {
  const json doc = AuditJson(testdata::KeybuzzAudit());
  REQUIRE(doc.at("environments").size() == 2);
  CHECK(doc.at("environments")[0].at("name") == "dev");
  CHECK(doc.at("environments")[1].at("name") == "prod");
  const json& api = ServiceOf(doc, "target", "api");
  CHECK(api.at("namespace") == "keybuzz-api-prod");
  CHECK(api.at("workload") == "deployment/keybuzz-api");
  CHECK(api.at("image") == testdata::kProdApiImage);
  CHECK(api.at("tag") == "v0.9.29-contact-fix");
  CHECK(api.at("digest") == testdata::kProdApiDigest);
  CHECK(api.at("replicas").at("desired") == 2);
  CHECK(api.at("replicas").at("ready") == 2);
  CHECK(api.at("rollout").at("state") == "complete");
  CHECK(api.at("rollout").at("revision") == 3);
  CHECK(api.at("rollout").at("helmRevision").is_null());
  CHECK(api.at("readError").is_null());
  CHECK(api.at("healthy") == false);
  CHECK(api.at("unhealthyReason").is_string());

  const json& login = ProbeOf(api, "login");
  CHECK(login.at("method") == "POST");
  CHECK(login.at("path") == "/auth/login");
  CHECK(login.at("url") == "https://api.keybuzz.io/auth/login");
  CHECK(login.at("golden") == true);
  CHECK(login.at("outcome") == "failed");
  CHECK(login.at("status") == 404);
  CHECK(login.at("latencyMs") == 22);
  CHECK(login.at("note") == "route missing");
  CHECK(login.at("reason") == "expected status not 404, got 404");
  CHECK(login.at("attempts").size() == 1);

  const json& dev_login = ProbeOf(ServiceOf(doc, "source", "api"), "login");
  CHECK(dev_login.at("outcome") == "passed");
  CHECK(dev_login.at("status") == 422);

  const json& retried = ProbeOf(ServiceOf(doc, "source", "client"), "login-page");
  REQUIRE(retried.at("attempts").size() == 2);
  CHECK(retried.at("attempts")[0].at("outcome") == "errored");
  CHECK(retried.at("attempts")[0].at("status").is_null());  // no answer: null, not -1
  CHECK(retried.at("attempts")[0].at("note") == "timeout after 5s");
  CHECK(retried.at("attempts")[1].at("status") == 200);
  CHECK(ServiceOf(doc, "source", "client").at("digest").is_null());
}

TEST_CASE("audit json: secrets by name and comparisons", "[report]") {
  auto report = testdata::KeybuzzAudit();
  report.target_env.secrets[3].namespaces.clear();
  const json doc = AuditJson(report);
  const json& secrets = doc.at("environments")[1].at("secrets");
  REQUIRE(secrets.size() == 4);
  CHECK(secrets[0] == json({{"name", "keybuzz-api-postgres"},
                            {"present", true},
                            {"namespaces", {"keybuzz-api-prod"}}}));
  CHECK(secrets[3].at("name") == "ghcr-cred");
  CHECK(secrets[3].at("present") == false);
  CHECK(secrets[3].at("namespaces").empty());
  CHECK(doc.at("environments")[0].at("secrets").empty());
  CHECK(doc.at("environments")[1].at("secretsError").is_null());

  const json& comparisons = doc.at("comparisons");
  REQUIRE(comparisons.size() == 3);
  CHECK(comparisons[0].at("service") == "api");
  CHECK(comparisons[0].at("sourceImage") == testdata::kDevApiImage);
  CHECK(comparisons[0].at("targetImage") == testdata::kProdApiImage);
  CHECK(comparisons[0].at("action") == "promote");
  CHECK(comparisons[0].at("reason") == "v0.9.29-contact-fix → v0.4.31-replacement");
  CHECK(comparisons[0].at("deployImage") ==
        std::string(testdata::kDevApiImage) + "@" + testdata::kDevApiDigest);
  CHECK(comparisons[1].at("action") == "up-to-date");
  CHECK(comparisons[1].at("deployImage").is_null());
}

TEST_CASE("audit json: rollout state names", "[report]") {
  using adapters::kube::RolloutState;
  CHECK(std::string(RolloutStateName(RolloutState::kComplete)) == "complete");
  CHECK(std::string(RolloutStateName(RolloutState::kProgressing)) == "progressing");
  CHECK(std::string(RolloutStateName(RolloutState::kDeadlineExceeded)) == "deadline-exceeded");
  CHECK(std::string(RolloutStateName(RolloutState::kMissing)) == "missing");
}

TEST_CASE("audit json: the text written a service at a time is the tree's own dump", "[report]") {
  auto report = testdata::KeybuzzAudit();
  REQUIRE(report.source_env.services.size() >= 2);
  const auto whole = [](const phases::AuditReport& r) {
    return AuditJson(r).dump(2, ' ', false, json::error_handler_t::replace);
  };
  CHECK(AuditJsonText(report) == whole(report));
  // A string that looks like the key the text is spliced at, and a cut UTF-8 character.
  report.source_env.services[0].status.message = "\"services\": [] \n done";
  report.target_env.services[0].probes.at(0).body_excerpt = "caf\xc3";
  CHECK(AuditJsonText(report) == whole(report));
  report.target_env.services.clear();  // an environment with no services writes []
  CHECK(AuditJsonText(report) == whole(report));
  CHECK(json::parse(AuditJsonText(report)).at("environments").at(1).at("services") ==
        json::array());
}

}  // namespace
}  // namespace promote::report
