// The audit's conclusion rules on hand-made observations (no cluster, no network).
#include "phases/audit.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "plan/loader.h"
#include "plan/plan.h"

namespace {

using namespace promote::phases;
using promote::adapters::kube::RolloutState;
using promote::adapters::probe::ProbeOutcome;
using promote::adapters::probe::ProbeResult;

const char* kPlan = R"(
apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test" }
  prod: { context: prod, namespace: "shop-{service}-prod", url: "http://{service}.prod.test",
          secrets: [db-password] }
services:
  - name: api
    workload: deployment/api
    image: registry.test/api
    probes:
      - { name: login, post: /login, expect: { not: 404 }, golden: true }
      - { name: stats, get: /stats, expect: 200 }
  - name: web
    workload: deployment/web
    image: registry.test/web
    probes: [ { name: home, get: /, expect: 200, golden: true } ]
)";

promote::plan::Plan LoadTestPlan() {
  auto plan = promote::plan::ParsePlan(kPlan, "shop.yaml");
  REQUIRE(plan.ok());
  return std::move(plan).value();
}

ProbeResult Probe(const std::string& name, const std::string& method, const std::string& path,
                  bool golden, int status, ProbeOutcome outcome, const std::string& note) {
  ProbeResult probe;
  probe.probe_name = name;
  probe.method = method;
  probe.path = path;
  probe.golden = golden;
  probe.status = status;
  probe.verdict.outcome = outcome;
  probe.verdict.note = note;
  return probe;
}

// A well-formed sha256 digest that names service and tag (their bytes in hex, then zeros).
std::string DigestOf(const std::string& service, const std::string& tag) {
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : service + tag) hex += {kHex[c >> 4], kHex[c & 15]};
  hex.resize(64, '0');
  return "sha256:" + hex;
}

ServiceObservation Running(const std::string& service, const std::string& env,
                           const std::string& tag, bool login_works) {
  ServiceObservation seen;
  seen.service = service;
  seen.environment = env;
  seen.ns = "shop-" + service + "-" + env;
  seen.workload = "deployment/" + service;
  seen.status.namespace_present = true;
  seen.status.workload_present = true;
  seen.status.image = "registry.test/" + service + ":" + tag;
  seen.status.digest = DigestOf(service, tag);
  seen.status.rollout = RolloutState::kComplete;
  if (service == "api") {
    seen.probes.push_back(
        login_works
            ? Probe("login", "POST", "/login", true, 200, ProbeOutcome::kPassed, "ok")
            : Probe("login", "POST", "/login", true, 404, ProbeOutcome::kFailed, "route missing"));
    seen.probes.push_back(Probe("stats", "GET", "/stats", false, 200, ProbeOutcome::kPassed, "ok"));
  } else {
    seen.probes.push_back(Probe("home", "GET", "/", true, 200, ProbeOutcome::kPassed, "ok"));
  }
  return seen;
}

AuditReport Situation(bool prod_login_works, const std::string& dev_api_tag, bool dev_login_works) {
  AuditReport report;
  report.source = "dev";
  report.target = "prod";
  report.plan_file = "plans/shop.yaml";
  report.command_prefix = {"promote", "--plan=plans/shop.yaml", "--kubeconfig=/tmp/my config"};
  report.source_env.name = "dev";
  report.target_env.name = "prod";
  report.source_env.services = {Running("api", "dev", dev_api_tag, dev_login_works),
                                Running("web", "dev", "v1", true)};
  report.target_env.services = {Running("api", "prod", "v1", prod_login_works),
                                Running("web", "prod", "v1", true)};
  report.target_env.secrets = {{"db-password", {"shop-api-prod"}}};
  return report;
}

}  // namespace

TEST_CASE("a broken target and a healthy, newer source: promote", "[audit]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(/*prod_login_works=*/false, "v2", /*dev_login_works=*/true);
  Conclude(plan, report);
  CHECK(report.target_verdict.functional == Functional::kNotFunctional);
  CHECK(report.target_verdict.reason ==
        "login impossible: POST /login → 404 (route missing) on shop-api-prod");
  CHECK(report.source_verdict.functional == Functional::kFunctional);
  REQUIRE(report.comparisons.size() == 2);
  CHECK(report.comparisons[0].action == ServiceAction::kPromote);
  CHECK(report.comparisons[0].reason == "v1 → v2");
  CHECK(report.comparisons[0].DeployImage() == "registry.test/api:v2@" + DigestOf("api", "v2"));
  CHECK(report.comparisons[1].action == ServiceAction::kUpToDate);
  CHECK(report.recommendation == Recommendation::kPromote);
  // The suggestion carries the invocation's global flags, quoted so it can be pasted.
  CHECK(report.command == "promote --plan=plans/shop.yaml '--kubeconfig=/tmp/my config' dev prod");
}

TEST_CASE("only images from the plan's repositories are promoted", "[audit][supply-chain]") {
  auto plan = LoadTestPlan();
  SECTION("an image from elsewhere is refused, naming service, image and the repositories") {
    auto report = Situation(false, "v2", true);
    report.source_env.services[0].status.image = "evil.example/cryptominer:1.0";
    Conclude(plan, report);
    CHECK(report.comparisons[0].action == ServiceAction::kBlocked);
    CHECK(report.recommendation == Recommendation::kDoNotPromote);
    CHECK_THAT(report.recommendation_reason,
               Catch::Contains("api: dev runs evil.example/cryptominer:1.0, which is not from the "
                               "repositories the plan allows for api (registry.test/api)"));
  }
  SECTION("already running in the target too: still refused, a release would record it") {
    auto report = Situation(true, "v1", true);
    report.source_env.services[1].status.image = "evil.example/web:v1";
    report.target_env.services[1].status.image = "evil.example/web:v1";
    Conclude(plan, report);
    CHECK(report.comparisons[1].action == ServiceAction::kBlocked);
    CHECK(report.recommendation == Recommendation::kDoNotPromote);
  }
  SECTION("a reference that breaks the grammar is refused, saying why") {
    auto report = Situation(false, "v2", true);
    report.source_env.services[0].status.image = "registry.test/api:x;y";
    Conclude(plan, report);
    CHECK(report.comparisons[0].action == ServiceAction::kBlocked);
    CHECK_THAT(report.comparisons[0].reason, Catch::Contains("tag 'x;y'"));
  }
  SECTION("a digest that does not parse is refused rather than deployed") {
    auto report = Situation(false, "v2", true);
    report.source_env.services[0].status.digest = "sha256:not-hex";
    Conclude(plan, report);
    CHECK(report.comparisons[0].action == ServiceAction::kBlocked);
    CHECK_THAT(report.comparisons[0].reason, Catch::Contains("digest"));
  }
  SECTION("a pattern the plan declares lets its repositories in") {
    plan.services[0].repositories.push_back("mirror.test/team/*");
    auto report = Situation(false, "v2", true);
    report.source_env.services[0].status.image = "mirror.test/team/api:v2";
    Conclude(plan, report);
    CHECK(report.comparisons[0].action == ServiceAction::kPromote);
    CHECK(report.recommendation == Recommendation::kPromote);
  }
  SECTION("requireDigest: no digest known, no promotion") {
    plan.environments.at("prod").require_digest = true;
    auto report = Situation(false, "v2", true);
    report.source_env.services[0].status.digest.reset();
    Conclude(plan, report);
    CHECK(report.comparisons[0].action == ServiceAction::kBlocked);
    CHECK_THAT(report.comparisons[0].reason,
               Catch::Contains("prod requires a digest (requireDigest)"));
    report.source_env.services[0].status.digest = DigestOf("api", "v2");
    Conclude(plan, report);
    CHECK(report.comparisons[0].action == ServiceAction::kPromote);
  }
}

TEST_CASE("an image the target's registry lacks, or cannot be asked about, is refused",
          "[audit][supply-chain]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(false, "v2", true);
  const std::string image = "registry.test/api:v2@" + DigestOf("api", "v2");
  SECTION("not looked up yet (the first conclusion): no refusal of its own") {
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kPromote);
  }
  SECTION("present: promoted") {
    report.target_env.registry = {
        {"api", image, "http://127.0.0.1:5000", RegistryFinding::Presence::kPresent, ""}};
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kPromote);
  }
  SECTION("missing: refused, naming the service, the image and the registry") {
    report.target_env.registry = {
        {"api", image, "http://127.0.0.1:5000", RegistryFinding::Presence::kMissing, ""}};
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kDoNotPromote);
    CHECK_THAT(report.recommendation_reason,
               Catch::Contains("api: " + image +
                               " is not in the registry prod pulls it from "
                               "(http://127.0.0.1:5000), so prod could not pull it"));
  }
  SECTION("unknown: refused with the registry's error, never waved through") {
    report.target_env.registry = {{"api", image, "http://127.0.0.1:5000",
                                   RegistryFinding::Presence::kUnknown, "answered 503"}};
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kDoNotPromote);
    CHECK_THAT(
        report.recommendation_reason,
        Catch::Contains("could not check that prod's registry holds " + image + ": answered 503"));
  }
  SECTION("looked up, but not this image: refused") {
    report.target_env.registry = std::vector<RegistryFinding>{};
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kDoNotPromote);
    CHECK_THAT(report.recommendation_reason, Catch::Contains("was not looked up"));
  }
}

TEST_CASE("an unhealthy source is never recommended", "[audit]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(true, "v2", /*dev_login_works=*/false);
  Conclude(plan, report);
  CHECK(report.comparisons[0].action == ServiceAction::kBlocked);
  CHECK(report.recommendation == Recommendation::kDoNotPromote);
  CHECK(report.recommendation_reason.find("api is unhealthy in dev: POST /login → 404") !=
        std::string::npos);
}

TEST_CASE("same versions and a healthy target: nothing to do", "[audit]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(true, "v1", true);
  Conclude(plan, report);
  CHECK(report.recommendation == Recommendation::kNothingToDo);
  CHECK(report.TargetHealthy());
  CHECK(report.command.empty());
}

TEST_CASE("a missing secret or a failing non-golden probe degrades the target", "[audit]") {
  const auto plan = LoadTestPlan();
  SECTION("missing secret blocks the promotion") {
    auto report = Situation(false, "v2", true);
    report.target_env.secrets = {{"db-password", {}}};
    report.target_env.services[0].probes[0] =
        Probe("login", "POST", "/login", true, 200, ProbeOutcome::kPassed, "ok");
    Conclude(plan, report);
    CHECK(report.target_verdict.functional == Functional::kDegraded);
    CHECK(report.target_verdict.reason.find("secret db-password is missing") != std::string::npos);
    CHECK(report.recommendation == Recommendation::kDoNotPromote);
  }
  SECTION("a stuck rollout is named") {
    auto report = Situation(true, "v1", true);
    report.target_env.services[1].status.rollout = RolloutState::kDeadlineExceeded;
    Conclude(plan, report);
    CHECK(report.target_verdict.functional == Functional::kDegraded);
    CHECK(report.target_verdict.reason == "deployment/web is stuck (progress deadline exceeded)");
  }
}

TEST_CASE("a bad image is refused by repository and digest, whatever else changes", "[audit]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(false, "v2", true);
  report.releases.known = true;
  report.releases.releases_of_target = 2;
  report.releases.released = {"registry.test/api:v1", "registry.test/web:v1"};
  SECTION("the same digest under another tag is the same image") {
    report.releases.bad_images = {{"api", "registry.test/api:v2-rc", DigestOf("api", "v2"),
                                   "prod-1.2", "login answered 500"}};
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kDoNotPromote);
    CHECK(report.recommendation_reason.find("api registry.test/api:v2-rc@" + DigestOf("api", "v2") +
                                            " failed in release prod-1.2: login "
                                            "answered 500") != std::string::npos);
    REQUIRE(report.comparisons[0].known_bad.has_value());
  }
  SECTION("another digest of the repository is another image") {
    report.releases.bad_images = {{"api", "registry.test/api:v2", "sha256:" + std::string(64, 'f'),
                                   "prod-1.2", "login answered 500"}};
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kPromote);
  }
  SECTION("--force promotes it and lists it as forced") {
    report.releases.bad_images = {
        {"api", "registry.test/api:v2", DigestOf("api", "v2"), "prod-1.2", "login answered 500"}};
    report.force_reason = "INC-7";
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kPromote);
    REQUIRE(report.forced.size() == 1);
    CHECK(report.forced[0].release == "prod-1.2");
  }
}

TEST_CASE("a release repository with no release of the target yet is no drift", "[audit]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(true, "v1", true);
  report.releases.known = true;
  report.releases.releases_of_target = 0;
  Conclude(plan, report);
  CHECK(report.drift.empty());
  CHECK(report.NoReleaseYet());
  CHECK(report.recommendation == Recommendation::kNothingToDo);

  // Once a release of the target exists, an image none records is drift again.
  report.releases.releases_of_target = 1;
  report.releases.released = {"registry.test/web:v1"};
  Conclude(plan, report);
  CHECK(report.drift == std::vector<std::string>{"registry.test/api:v1"});
}

TEST_CASE("every reason not to promote is kept, each with its fix", "[audit]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(false, "v2", true);
  report.target_env.secrets = {{"db-password", {}}};
  report.freeze.frozen = true;
  report.freeze.refusal = "prod is frozen by window 'weekend'";
  Conclude(plan, report);
  CHECK(report.recommendation == Recommendation::kDoNotPromote);
  REQUIRE(report.refusals.size() == 2);
  CHECK(report.refusals[0] == "prod lacks required secrets db-password");
  CHECK(report.refusals[1] == "prod is frozen by window 'weekend'");
  CHECK(report.recommendation_reason.find("(and 1 more reason(s))") != std::string::npos);
}

TEST_CASE(
    "a target that could not be read refuses the run and its secrets are unknown, not missing",
    "[audit]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(true, "v2", true);
  report.target_env.services[0] = ServiceObservation{};
  report.target_env.services[0].service = "api";
  report.target_env.services[0].ns = "shop-api-prod";
  report.target_env.services[0].read_error = "Unable to connect to the server: EOF";
  report.target_env.secrets = {{"db-password", {}}};
  report.target_env.secrets_error = "not checked in shop-api-prod: Unable to connect to the server";
  Conclude(plan, report);
  CHECK(report.recommendation == Recommendation::kDoNotPromote);
  CHECK(report.recommendation_reason.find("api could not be read in prod") != std::string::npos);
  for (const auto& refusal : report.refusals) {
    CHECK(refusal.find("lacks required secrets") == std::string::npos);
  }
  CHECK(report.target_verdict.reason.find("secret db-password is missing") == std::string::npos);
  // Not "latest → promote": what runs there is unknown, so the service itself is blocked, once.
  REQUIRE(report.comparisons.size() >= 1);
  CHECK(report.comparisons[0].service == "api");
  CHECK(report.comparisons[0].action == ServiceAction::kBlocked);
  CHECK(std::count_if(report.refusals.begin(), report.refusals.end(), [](const std::string& r) {
          return r.find("api could not be read in prod") != std::string::npos;
        }) == 1);
}
