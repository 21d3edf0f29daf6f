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

TEST_CASE("capabilities: what works and what does not, and a verdict naming every failure",
          "[audit][capabilities]") {
  // The test plan's probes grouped as a person names them: api/login is golden already, and
  // `stats` becomes golden through its capability.
  auto loaded = promote::plan::ParsePlan(std::string(kPlan) + R"(
capabilities:
  auth: { probes: [login], golden: true }
  reporting: { probes: [api/stats], golden: true }
  storefront: [home]
)",
                                         "shop.yaml");
  REQUIRE(loaded);
  const auto& plan = *loaded;
  auto report = Situation(/*prod_login_works=*/false, "v2", /*dev_login_works=*/true);
  report.target_env.services[0].probes[1] =
      Probe("stats", "GET", "/stats", true, 500, ProbeOutcome::kFailed, "server error");
  Conclude(plan, report);

  const auto& prod = report.target_env.capabilities;
  REQUIRE(prod.size() == 3);  // every probe is named: no implicit rest
  CHECK(prod[0].name == "auth");
  CHECK_FALSE(prod[0].Works());
  CHECK(prod[0].probes == std::vector<std::string>{"api/login"});
  CHECK(prod[1].name == "reporting");
  CHECK_FALSE(prod[1].Works());
  CHECK(prod[2].name == "storefront");
  CHECK(prod[2].Works());
  // Every golden capability that fails is named, not only the first.
  CHECK(report.target_verdict.functional == Functional::kNotFunctional);
  CHECK(report.target_verdict.reason ==
        "auth impossible: POST /login → 404 (route missing) on shop-api-prod; "
        "reporting impossible: GET /stats → 500 (server error) on shop-api-prod");
  for (const auto& capability : report.source_env.capabilities) CHECK(capability.Works());
  CHECK(report.source_verdict.functional == Functional::kFunctional);
}

TEST_CASE("capabilities: the probes no capability names are grouped by service",
          "[audit][capabilities]") {
  auto loaded = promote::plan::ParsePlan(std::string(kPlan) + R"(
capabilities:
  storefront: [web/home]
)",
                                         "shop.yaml");
  REQUIRE(loaded);
  auto report = Situation(false, "v2", true);
  Conclude(*loaded, report);
  const auto& prod = report.target_env.capabilities;
  REQUIRE(prod.size() == 2);
  CHECK(prod[1].name == "api (other probes)");
  CHECK(prod[1].implicit);
  CHECK(prod[1].probes == std::vector<std::string>{"api/login", "api/stats"});
  CHECK_FALSE(prod[1].Works());
  // Without capabilities in the plan, each service is one, and the verdict is the golden probe's.
  auto plain = Situation(false, "v2", true);
  Conclude(LoadTestPlan(), plain);
  REQUIRE(plain.target_env.capabilities.size() == 2);
  CHECK(plain.target_env.capabilities[0].name == "api");
  CHECK(plain.target_verdict.reason ==
        "login impossible: POST /login → 404 (route missing) on shop-api-prod");
}

TEST_CASE("capabilities: a non-golden one that fails is named after the golden failures",
          "[audit][capabilities]") {
  auto loaded = promote::plan::ParsePlan(std::string(kPlan) + R"(
capabilities:
  auth: [login]
  reporting: [stats]
)",
                                         "shop.yaml");
  REQUIRE(loaded);
  auto report = Situation(false, "v2", true);
  report.target_env.services[0].probes[1] =
      Probe("stats", "GET", "/stats", false, 500, ProbeOutcome::kFailed, "server error");
  Conclude(*loaded, report);
  // login is golden by itself; its capability is not, so the probe speaks for it.
  CHECK(report.target_verdict.reason ==
        "login impossible: POST /login → 404 (route missing) on shop-api-prod; "
        "also not working: auth, reporting");
}

TEST_CASE("root cause: the target's image lacks what the source's serves, so promote it",
          "[audit][root-cause]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(/*prod_login_works=*/false, "v2", /*dev_login_works=*/true);
  Conclude(plan, report);
  REQUIRE(report.causes.size() == 1);
  CHECK(report.causes[0].kind == RootCause::Kind::kImage);
  CHECK(report.causes[0].service == "api");
  CHECK(report.causes[0].sentence == "prod's api image v1 (" + DigestOf("api", "v1").substr(0, 19) +
                                         ") lacks POST /login that dev's v2 (" +
                                         DigestOf("api", "v2").substr(0, 19) + ") serves");
  REQUIRE_FALSE(report.options.empty());
  CHECK(report.options[0].kind == Option::Kind::kPromote);
  CHECK(report.options[0].command == report.command);
  CHECK_THAT(report.options[0].why, Catch::Contains("because of its images"));
}

TEST_CASE("root cause: broken in the source too, the last good release is recommended",
          "[audit][root-cause]") {
  const auto plan = LoadTestPlan();
  // DEV's new build is broken as well (it cannot be promoted), PROD's v1 lacks login, and the
  // release repository holds prod-1 (v0, validated good), prod-2 (v1, what PROD runs now) and
  // prod-3 (v0.9, marked bad).
  auto report = Situation(/*prod_login_works=*/false, "v2", /*dev_login_works=*/false);
  report.source_env.services[0].probes[1] =
      Probe("stats", "GET", "/stats", false, 500, ProbeOutcome::kFailed, "server error");
  report.target_env.services[0].probes[1] =
      Probe("stats", "GET", "/stats", false, 500, ProbeOutcome::kFailed, "server error");
  report.releases.known = true;
  report.releases.releases_of_target = 3;
  const auto image = [](const std::string& tag) {
    return promote::adapters::git::ReleasedImage{"registry.test/api:" + tag, DigestOf("api", tag)};
  };
  const promote::adapters::git::ReleasedImage web{"registry.test/web:v1", DigestOf("web", "v1")};
  report.releases.of_target = {
      {"prod-3", "2026-12-03T10:00:00Z", false, {{"api", image("v0.9")}, {"web", web}}},
      {"prod-2", "2026-12-02T10:00:00Z", true, {{"api", image("v1")}, {"web", web}}},
      {"prod-1", "2026-12-01T10:00:00Z", true, {{"api", image("v0")}, {"web", web}}}};
  Conclude(plan, report);
  CHECK(report.recommendation == Recommendation::kDoNotPromote);
  // login fails in both: nothing a promotion can fix, and so does stats.
  REQUIRE(report.causes.size() == 1);
  CHECK(report.causes[0].kind == RootCause::Kind::kEverywhere);
  CHECK(report.causes[0].probes == std::vector<std::string>{"POST /login", "GET /stats"});
  // PROD worked on prod-1 (prod-2 is what it runs now, prod-3 was marked bad): go back to it.
  REQUIRE(report.options.size() == 3);
  CHECK(report.options[0].kind == Option::Kind::kRestore);
  CHECK(report.options[0].title == "restore prod-1, the last release of prod validated good");
  CHECK(report.options[0].command ==
        "promote --plan=plans/shop.yaml '--kubeconfig=/tmp/my config' rollback prod --to prod-1");
  CHECK_THAT(report.options[0].why, Catch::Contains("api is unhealthy in dev"));
  CHECK(report.options[1].kind == Option::Kind::kFixSource);
  CHECK(report.options[2].kind == Option::Kind::kUnblock);

  SECTION("without a release validated good, the fix comes first") {
    report.releases.of_target.pop_back();
    Conclude(plan, report);
    REQUIRE(report.options.size() == 2);
    CHECK(report.options[0].kind == Option::Kind::kFixSource);
  }

  SECTION("when the target's image is the cause, its last good release goes first") {
    // DEV's login works but its stats fail (not golden here, yet golden for the release's
    // sake: the new build is blocked by a bad image note), PROD's v1 lacks login.
    report.source_env.services[0].probes[0] =
        Probe("login", "POST", "/login", true, 200, ProbeOutcome::kPassed, "ok");
    report.releases.bad_images = {
        {"api", "registry.test/api:v2", DigestOf("api", "v2"), "prod-9", "crash loop"}};
    Conclude(plan, report);
    CHECK(report.recommendation == Recommendation::kDoNotPromote);
    REQUIRE_FALSE(report.options.empty());
    CHECK(report.options[0].kind == Option::Kind::kRestore);
    CHECK_THAT(report.options[0].why, Catch::Contains("failed in release prod-9"));
  }
}

TEST_CASE("root cause: the same image in both, the target's environment lacks a secret",
          "[audit][root-cause]") {
  const auto plan = LoadTestPlan();
  auto report = Situation(/*prod_login_works=*/false, "v1", /*dev_login_works=*/true);
  report.target_env.secrets = {{"db-password", {}}};
  report.source_env.services[0].status.config = {"env DB_URL", "secret db-password"};
  report.target_env.services[0].status.config = {"env DB_URL"};
  Conclude(plan, report);
  REQUIRE(report.causes.size() == 1);
  CHECK(report.causes[0].kind == RootCause::Kind::kEnvironment);
  CHECK(report.causes[0].sentence ==
        "api runs the same image, v1 (" + DigestOf("api", "v1").substr(0, 19) +
            "), in dev and prod, yet POST /login (404) fails only in prod: the difference is in "
            "prod's "
            "environment; prod's api lacks secret db-password that dev's has; prod lacks "
            "required secrets db-password");
  REQUIRE_FALSE(report.options.empty());
  CHECK(report.options[0].kind == Option::Kind::kFixTarget);
  // The image is blameless, so going back to an older release is not offered.
  report.releases.known = true;
  report.releases.of_target = {{"prod-1",
                                "2026-12-01T10:00:00Z",
                                true,
                                {{"api", {"registry.test/api:v0", DigestOf("api", "v0")}},
                                 {"web", {"registry.test/web:v1", DigestOf("web", "v1")}}}}};
  Conclude(plan, report);
  for (const auto& option : report.options) CHECK(option.kind != Option::Kind::kRestore);
}

TEST_CASE("a metric check without a value is unknown: it neither blocks nor is waived",
          "[audit][metrics]") {
  auto loaded = promote::plan::ParsePlan(std::string(kPlan) + R"(
capabilities:
  storefront: [home]
)",
                                         "shop.yaml");
  REQUIRE(loaded);
  auto report = Situation(/*prod_login_works=*/false, "v2", /*dev_login_works=*/true);
  // A latency check of the api: no data in a quiet DEV, a value in PROD.
  ProbeResult quiet =
      Probe("p90-latency", "METRIC", "p90-latency", false, -1, ProbeOutcome::kErrored, "no data");
  quiet.metric = true;
  ProbeResult measured = Probe("p90-latency", "METRIC", "p90-latency", false, -1,
                               ProbeOutcome::kPassed, "0.05 (max 0.2)");
  measured.metric = true;
  report.source_env.services[0].probes.push_back(quiet);
  report.target_env.services[0].probes.push_back(measured);
  Conclude(*loaded, report);
  // DEV is neither broken nor degraded by it (nothing is known of it), but the verdict names
  // it rather than claiming it passes; the promotion goes, and PROD is still held to the check.
  CHECK(report.source_verdict.functional == Functional::kFunctional);
  CHECK_THAT(report.source_verdict.reason,
             Catch::Contains("every golden check with an answer passes"));
  CHECK_THAT(report.source_verdict.reason, Catch::Contains("; no metric data: METRIC p90-latency"));
  CHECK(report.comparisons[0].action == ServiceAction::kPromote);
  const auto& waived = report.comparisons[0].waived_probes;
  CHECK(std::find(waived.begin(), waived.end(), "p90-latency") == waived.end());
  // And it blames nothing: no root cause of its own.
  for (const auto& cause : report.causes) {
    for (const auto& probe : cause.probes) CHECK(probe != "METRIC p90-latency");
  }
}

TEST_CASE(
    "the environment's own checks: in the verdict, and a cause when failing only in the target",
    "[audit][metrics]") {
  auto loaded = promote::plan::ParsePlan(std::string(kPlan), "shop.yaml");
  REQUIRE(loaded);
  // Both environments' login works; PROD's error budget is spent, DEV's is not.
  auto report = Situation(/*prod_login_works=*/true, "v2", /*dev_login_works=*/true);
  ProbeResult spent = Probe("error-budget", "METRIC", "error-budget", false, -1,
                            ProbeOutcome::kFailed, "0.5, above max 0.1");
  spent.metric = true;
  ProbeResult fine = Probe("error-budget", "METRIC", "error-budget", false, -1,
                           ProbeOutcome::kPassed, "0.01 (max 0.1)");
  fine.metric = true;
  spent.service = fine.service = "";
  report.target_env.checks.push_back(spent);
  report.source_env.checks.push_back(fine);
  Conclude(*loaded, report);
  CHECK(report.target_verdict.functional == Functional::kDegraded);
  CHECK_THAT(report.target_verdict.reason,
             Catch::Contains("the environment's METRIC error-budget → 0.5, above max 0.1 in prod"));
  const auto cause = std::find_if(report.causes.begin(), report.causes.end(),
                                  [](const RootCause& c) { return c.service.empty(); });
  REQUIRE(cause != report.causes.end());
  CHECK(cause->kind == RootCause::Kind::kImage);  // the api's images differ (v1 and v2)
  CHECK(cause->sentence ==
        "the environment's METRIC error-budget (0.01 (max 0.1) in dev, 0.5, above max 0.1 in "
        "prod) fails only in prod, whose images differ from dev's");

  SECTION("golden and failing in the source, it refuses the run: the source proves nothing") {
    auto golden = Situation(false, "v2", true);
    ProbeResult spent_in_dev = spent;
    spent_in_dev.golden = true;
    golden.source_env.checks.push_back(spent_in_dev);
    Conclude(*loaded, golden);
    REQUIRE(golden.refusals.size() == 1);
    CHECK(golden.refusals[0] ==
          "dev's golden METRIC error-budget of the environment fails (0.5, above max 0.1), so dev "
          "does not prove the release; fix it in dev first");
    CHECK(golden.recommendation != Recommendation::kPromote);
  }
  SECTION("failing in the source too, it is a cause no promotion fixes") {
    auto both = Situation(true, "v2", true);
    both.target_env.checks.push_back(spent);
    ProbeResult spent_too = spent;
    both.source_env.checks.push_back(spent_too);
    Conclude(*loaded, both);
    const auto everywhere = std::find_if(both.causes.begin(), both.causes.end(),
                                         [](const RootCause& c) { return c.service.empty(); });
    REQUIRE(everywhere != both.causes.end());
    CHECK(everywhere->kind == RootCause::Kind::kEverywhere);
  }
}
