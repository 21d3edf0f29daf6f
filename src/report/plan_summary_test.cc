#include "report/plan_summary.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "plan/loader.h"
#include "plan/plan.h"

namespace promote::report {
namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = PROMOTE_SOURCE_DIR;
const fs::path kGoodDir = kSourceDir / "tests/plans/good";

/// tests/plans/good/shop.yaml: helm in prod, one chart of each kind a plan can name.
plan::Plan ShopPlan() {
  auto loaded = plan::LoadPlan(kGoodDir / "shop.yaml");
  INFO((loaded.ok() ? "" : loaded.error().Format()));
  REQUIRE(loaded.ok());
  return std::move(loaded).value();
}

const nlohmann::json& ServiceOf(const nlohmann::json& summary, const std::string& name) {
  for (const auto& service : summary.at("services")) {
    if (service.at("name") == name) return service;
  }
  FAIL("no service " << name << " in the summary");
  static const nlohmann::json kNull;
  return kNull;
}

}  // namespace

TEST_CASE("the plan summary shows each service's helm release, resolved chart and valuesKey",
          "[report][helm]") {
  const std::string text = RenderPlanSummary(ShopPlan());
  INFO(text);
  const std::string web_chart = (kGoodDir / "charts/web").lexically_normal().string();
  CHECK_THAT(text, Catch::Contains("      helm in prod: release shop-api, chart charts/api "
                                   "(repository chart: helm resolves it from its repositories; "
                                   "no folder of that name beside the plan), valuesKey "
                                   "server.image.tag\n"));
  CHECK_THAT(text, Catch::Contains("      helm in prod: release web, chart " + web_chart +
                                   " (local folder), valuesKey image.tag\n"));
  CHECK_THAT(text, Catch::Contains("      helm in prod: release worker, chart "
                                   "oci://registry.shop.test/charts/worker (remote chart), "
                                   "valuesKey image.tag\n"));
}

TEST_CASE("the plan summary says when no environment uses a service's helm settings",
          "[report][helm]") {
  plan::Plan plan = ShopPlan();
  plan.environments.at("prod").driver = plan::Driver::kKubectl;
  plan.services.at(1).helm->chart = "/srv/charts/web-1.0.0.tgz";
  plan.services.at(1).helm->chart_source = plan::HelmTarget::ChartSource::kLocalArchive;
  const std::string text = RenderPlanSummary(plan);
  INFO(text);
  CHECK_THAT(text, Catch::Contains("      helm (no environment uses driver helm): release web, "
                                   "chart /srv/charts/web-1.0.0.tgz (local chart archive)"));
  CHECK_THAT(text, !Catch::Contains("helm in "));
}

TEST_CASE("a plan without helm blocks shows no helm settings", "[report][helm]") {
  auto loaded = plan::LoadPlan(kSourceDir / "plans/keybuzz.yaml");
  REQUIRE(loaded.ok());
  const std::string text = RenderPlanSummary(*loaded);
  INFO(text);
  CHECK_THAT(text, !Catch::Contains("      helm"));
  // Kept in a variable: a range-for over `PlanSummaryJson(…).at(…)` reads a destroyed temporary.
  const nlohmann::json summary = PlanSummaryJson(*loaded);
  for (const auto& service : summary.at("services")) {
    CHECK(service.at("helm").is_null());
  }
}

TEST_CASE("the JSON plan summary adds each service's helm settings and keeps its other fields",
          "[report][helm]") {
  const nlohmann::json summary = PlanSummaryJson(ShopPlan());
  INFO(summary.dump(2));
  CHECK(summary.at("schema") == "promote/plan-summary/v1");
  const nlohmann::json& api = ServiceOf(summary, "api");
  CHECK(api.at("helm") == nlohmann::json{{"release", "shop-api"},
                                         {"chart", "charts/api"},
                                         {"chartSource", "repository"},
                                         {"valuesKey", "server.image.tag"}});
  // The fields that were there before the helm settings, unchanged.
  CHECK(api.at("workload") == "deployment/shop-api");
  CHECK(api.at("container") == "server");
  CHECK(api.at("wave") == 1);
  CHECK(api.at("namespaces").at("prod") == "shop-prod");
  CHECK(api.at("probes").size() == 4);

  const nlohmann::json& web = ServiceOf(summary, "web");
  CHECK(web.at("helm").at("chart") == (kGoodDir / "charts/web").lexically_normal().string());
  CHECK(web.at("helm").at("chartSource") == "local-folder");
  CHECK(web.at("helm").at("release") == "web");
  CHECK(ServiceOf(summary, "worker").at("helm").at("chartSource") == "remote");
}

TEST_CASE("the plan summary shows the rollback policy", "[report][rollback]") {
  const plan::Plan shop = ShopPlan();
  // shop.yaml: rollback { successes: 4, timeout: 90s }, the soak defaulted to 3 × 250ms.
  CHECK_THAT(RenderPlanSummary(shop),
             Catch::Contains("\nRollback: services restored within 1m30s, then probed for 750ms "
                             "and 4 consecutive successes\n"));
  CHECK(PlanSummaryJson(shop).at("rollback") ==
        nlohmann::json{{"soakMs", 750}, {"successes", 4}, {"timeoutMs", 90000}});

  plan::Plan other = shop;
  other.rollback = plan::RollbackPolicy{std::chrono::seconds(3), 1, std::chrono::minutes(5)};
  CHECK_THAT(RenderPlanSummary(other),
             Catch::Contains("Rollback: services restored within 5m, then probed for 3s and 1 "
                             "consecutive successes\n"));
  CHECK(PlanSummaryJson(other).at("rollback").at("soakMs") == 3000);
}

TEST_CASE("the plan summary shows the capabilities and the probes' other URLs",
          "[report][capabilities]") {
  auto loaded = plan::LoadPlan(kSourceDir / "plans/keybuzz.yaml");
  REQUIRE(loaded.ok());
  const std::string summary = RenderPlanSummary(*loaded);
  CHECK_THAT(summary, Catch::Contains("\nCapabilities (what the audit says works or not; ★ "
                                      "golden):\n  health: api/health, api/me\n"));
  CHECK_THAT(summary, Catch::Contains("  login ★: api/login\n"));
  CHECK_THAT(summary, Catch::Contains("  website: website/home, website/www\n"));
  CHECK_THAT(summary,
             Catch::Contains("prod: namespace keybuzz-website-prod, http://keybuzz.test, www at "
                             "www http://www.keybuzz.test\n"));
  CHECK_THAT(RenderPlanSummary(ShopPlan()), !Catch::Contains("Capabilities"));
}

TEST_CASE("the plan summary shows a metric check's own limits and what no data counts as",
          "[report][metrics]") {
  auto loaded = plan::ParsePlan(R"yaml(
apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test",
         prometheus: { url: "http://prometheus.dev.test" } }
  prod: { context: prod, namespace: "shop-{service}-prod", url: "http://{service}.prod.test",
          prometheus: { url: "http://prometheus.prod.test" } }
services:
  - name: api
    workload: deployment/api
    image: registry.test/api
    metrics:
      - { name: rate, query: "sum(rate(x[1m]))", min: 0.95, interval: 2s, failureLimit: 1,
          noData: inconclusive, inconclusiveLimit: 3 }
      - { name: p99, query: "max(y)", max: 0.5 }
)yaml",
                                "shop.yaml");
  INFO((loaded ? "" : loaded.error().Format()));
  REQUIRE(loaded);
  CHECK_THAT(RenderPlanSummary(*loaded),
             Catch::Contains("      metric rate: min 0.95, every 2s, failure limit 1, consecutive "
                             "error limit 4, inconclusive limit 3, no data counts as "
                             "inconclusive\n        query: sum(rate(x[1m]))\n      metric p99: "
                             "max 0.5\n"));
  const nlohmann::json json = PlanSummaryJson(*loaded);
  const nlohmann::json& checks = ServiceOf(json, "api").at("probes");
  REQUIRE(checks.size() == 2);
  CHECK(checks[0].at("limits") == nlohmann::json{{"interval", "2s"},
                                                 {"count", nullptr},
                                                 {"failureLimit", 1},
                                                 {"consecutiveErrorLimit", 4},
                                                 {"inconclusiveLimit", 3}});
  CHECK(checks[0].at("noData") == "inconclusive");
  CHECK_FALSE(checks[1].contains("limits"));
  CHECK(checks[1].at("noData") == "error");
}

TEST_CASE("the plan summary lists the environment's own checks", "[report][metrics]") {
  auto loaded = plan::ParsePlan(R"yaml(
apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test",
         prometheus: { url: "http://prometheus.dev.test" } }
  prod: { context: prod, namespace: "shop-{service}-prod", url: "http://{service}.prod.test",
          prometheus: { url: "http://prometheus.prod.test" } }
services:
  - { name: api, workload: deployment/api, image: registry.test/api }
metrics:
  - { name: error-budget, query: 'sum(rate(errors{env="{env}"}[{interval}]))', max: 0.1,
      golden: true }
)yaml",
                                "shop.yaml");
  INFO((loaded ? "" : loaded.error().Format()));
  REQUIRE(loaded);
  CHECK_THAT(RenderPlanSummary(*loaded),
             Catch::Contains("\nEnvironment checks (of no one service: in the audit, and after "
                             "every wave):\n      metric error-budget ★: max 0.1\n        query: "
                             "sum(rate(errors{env=\"{env}\"}[{interval}]))\n"));
  const nlohmann::json json = PlanSummaryJson(*loaded);
  REQUIRE(json.at("environmentChecks").size() == 1);
  CHECK(json.at("environmentChecks")[0].at("name") == "error-budget");
  CHECK(json.at("environmentChecks")[0].at("golden") == true);
}

}  // namespace promote::report
