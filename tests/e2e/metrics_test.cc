// End to end: metric checks against a real Prometheus (Debian's prometheus 2.42, through
// scripts/prometheus.sh) scraping the stand-in's service ports. A build that passes its probes
// and its success rate is promoted; one that passes every HTTP probe but answers 500 on half of
// its other requests in PROD is rolled back on its success-rate check and marked bad.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/files.h"
#include "support/ports.h"
#include "support/prometheus.h"
#include "support/standin.h"
#include "support/worlds.h"

namespace {

namespace fs = std::filesystem;
using promote::testing::HttpStatus;
using promote::testing::Outcome;
using promote::testing::ReadFile;
using World = promote::testing::KeybuzzWorld;

const std::string kApi = promote::testing::kKeybuzzApi;

/// The keybuzz world's plan with a golden success-rate check on the api's running image (the
/// stand-in labels each request with the image that answered it), queried in each environment's
/// Prometheus, and rounds slow enough for a 1 s scrape.
void AddSuccessRate(World& world) {
  for (const char* env :
       {"namespace: \"keybuzz-{service}-dev\"", "namespace: \"keybuzz-{service}-prod\""}) {
    world.EditPlan(env,
                   std::string(env) + "\n    prometheus: { url: \"http://prometheus.invalid\" }");
  }
  world.EditPlan("    wave: 1\n", R"(    wave: 1
    metrics:
      - name: success-rate
        query: 'sum(rate(standin_http_requests_total{service="api",env="{env}",image="{image}",status!~"5.."}[5s])) / sum(rate(standin_http_requests_total{service="api",env="{env}",image="{image}"}[5s]))'
        min: 0.95
        golden: true
)");
  // And a check of each environment as a whole: its 5xx rate over every service, lenient.
  world.EditPlan("\nvalidate:", R"(
metrics:
  - name: server-errors
    query: 'sum(rate(standin_http_requests_total{env="{env}",status=~"5.."}[5s])) or vector(0)'
    max: 100
validate:)");
  world.EditPlan("interval: 300ms", "interval: 1s");
  world.EditPlan("soak: 600ms", "soak: 4s");
  world.EditPlan("errorLimit: 3", "errorLimit: 6");
}

/// The keybuzz world's plan with the api judged by Argo Rollouts' documented success-rate
/// AnalysisTemplate (tests/plans/analysis/success-rate.yaml, as the documentation writes it).
void AddArgoTemplate(World& world) {
  AddSuccessRate(world);
  const fs::path file = fs::path(PROMOTE_SOURCE_DIR) / "tests/plans/analysis/success-rate.yaml";
  // Built with <<: GCC 12 at -O3 sees a false -Warray-bounds in a chain of string + here.
  std::ostringstream metrics;
  metrics << "    metrics:\n      - analysisTemplate: " << file.string()
          << "\n        args: { service-name: \"{service}.{namespace}.svc.cluster.local\" }\n";
  world.EditPlan(R"(    metrics:
      - name: success-rate
        query: 'sum(rate(standin_http_requests_total{service="api",env="{env}",image="{image}",status!~"5.."}[5s])) / sum(rate(standin_http_requests_total{service="api",env="{env}",image="{image}"}[5s]))'
        min: 0.95
        golden: true
)",
                 metrics.str());
}

/// `promote dev prod` of `world` with the endpoints file that names `prometheus`.
promote::adapters::ProcessResult PromoteWith(World& world, const fs::path& endpoints) {
  auto argv = world.Argv({"dev", "prod"});
  for (auto& arg : argv) {
    if (arg.rfind("--endpoints=", 0) == 0) arg = "--endpoints=" + endpoints.string();
  }
  return world.standin().Run(argv, {{"GITHUB_ACTOR", "ci-bot"}});
}

/// Sends GET `path` to `url` every 100 ms until stopped: the users of a service, whose requests
/// no probe makes (bounded: at most 600 requests, a minute).
class Traffic {
 public:
  Traffic(std::string url, std::string path)
      : sent_(std::async(std::launch::async, [this, url, path] {
          int n = 0;
          for (; n < 600 && !stop_; ++n) {
            HttpStatus("GET", url + path);
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
          return n;
        })) {}
  ~Traffic() {
    stop_ = true;
    sent_.wait();
  }

 private:
  std::atomic<bool> stop_{false};
  std::future<int> sent_;
};

}  // namespace

TEST_CASE("metric checks against a real Prometheus: a good build promoted, a bad one rolled back",
          "[e2e][metrics]") {
  World world;
  const auto first = world.Promote();  // PROD runs DEV's api (no metrics yet)
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  AddSuccessRate(world);
  promote::testing::LocalPrometheus prometheus(world.standin());
  // Users of PROD's api, on a route no probe checks.
  Traffic users(world.standin().Endpoint("prod", "api"), "/orders");

  SECTION("a build whose probes and success rate pass is promoted") {
    const std::string build = kApi + ":v0.5.0-good";
    world.Control("dev", "images",
                  R"({"image":")" + build +
                      R"(","spec":{"routes":["api-common","api-auth-ok","api-fallback"]}})");
    world.Control("prod", "images",
                  R"({"image":")" + build +
                      R"(","spec":{"routes":["api-common","api-auth-ok","api-fallback"]}})");
    world.ShipToDev(build);
    const auto run = PromoteWith(world, prometheus.endpoints());
    INFO(run.out << run.err);
    CHECK(run.exit_code == 0);
    CHECK(Outcome(run)["state"] == "Promoted");
    CHECK(world.Image("prod", "api").rfind(build, 0) == 0);
    const std::string report = ReadFile(
        world.state() / "runs" / Outcome(run)["run"].get<std::string>() / "audit" / "audit.md");
    CHECK(report.find("METRIC") != std::string::npos);
    // The environment's own check was measured in both environments, as of no service.
    const auto audit = nlohmann::json::parse(ReadFile(
        world.state() / "runs" / Outcome(run)["run"].get<std::string>() / "audit" / "audit.json"));
    for (const auto& env : audit.at("environments")) {
      REQUIRE(env.at("checks").size() == 1);
      CHECK(env.at("checks")[0].at("outcome") == "passed");
    }
  }

  SECTION("a build that passes every probe but fails half its users in PROD is rolled back") {
    const std::string build = kApi + ":v0.5.0-errors";
    const std::string routes = R"("routes":["api-common","api-auth-ok","api-fallback"])";
    world.Control("dev", "images", R"({"image":")" + build + R"(","spec":{)" + routes + "}}");
    // In PROD only, every other request to /orders answers 500; no probe asks /orders.
    world.Control("prod", "images",
                  R"({"image":")" + build + R"(","spec":{)" + routes +
                      R"(,"errorRate":0.5,"errorPaths":["/orders"]}})");
    world.ShipToDev(build);
    const std::string before = world.Image("prod", "api");
    const auto run = PromoteWith(world, prometheus.endpoints());
    INFO(run.out << run.err);
    CHECK(run.exit_code == 1);
    const auto outcome = Outcome(run);
    CHECK(outcome["state"] == "RolledBack");
    const std::string summary = outcome["summary"];
    CHECK_THAT(summary, Catch::Contains("golden METRIC success-rate measured"));
    CHECK_THAT(summary, Catch::Contains("below min 0.95"));
    CHECK(world.Image("prod", "api") == before);
    // Judged on its metric: the release is marked bad, naming the api image.
    const std::string note = world.Git(
        {"-C", world.releases().string(), "notes", "--ref=promote", "show", outcome["tag"]});
    CHECK(note.find("\"service\":\"api\"") != std::string::npos);
    const std::string report =
        ReadFile(world.state() / "runs" / outcome["run"].get<std::string>() / "promotion.md");
    CHECK(report.find("METRIC success-rate") != std::string::npos);
    // The evidence is the query as sent: {image} was the image the wave rolled out, so only
    // the new build's requests were judged, not the old one's still in the window.
    CHECK(report.find("image=\"" + build) != std::string::npos);
  }
}

TEST_CASE("Argo Rollouts' documented AnalysisTemplate runs unchanged against the real Prometheus",
          "[e2e][metrics]") {
  World world;
  const auto first = world.Promote();
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  AddArgoTemplate(world);
  promote::testing::LocalPrometheus prometheus(world.standin());
  // irate() is the rate between a series' last two scrapes: both environments need users.
  Traffic users(world.standin().Endpoint("prod", "api"), "/orders");
  Traffic dev_users(world.standin().Endpoint("dev", "api"), "/orders");
  // irate() needs two scrapes of a series: give Prometheus a few (bounded) before the run.
  std::this_thread::sleep_for(std::chrono::seconds(3));

  const auto check = world.standin().Run(
      {PROMOTE_BINARY, "plan", "check", (world.state().parent_path() / "plan.yaml").string()});
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  CHECK_THAT(check.out, Catch::Contains("metric success-rate: result[0] >= 0.95, every 5m, "
                                        "failure limit 3"));

  const std::string build = kApi + ":v0.5.1-good";
  const std::string spec = R"(","spec":{"routes":["api-common","api-auth-ok","api-fallback"]}})";
  world.Control("dev", "images", R"({"image":")" + build + spec);
  world.Control("prod", "images", R"({"image":")" + build + spec);
  world.ShipToDev(build);
  const auto run = PromoteWith(world, prometheus.endpoints());
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto outcome = Outcome(run);
  CHECK(outcome["state"] == "Promoted");
  // The template's query reached Prometheus with its arg filled in and answered with a value in
  // both environments: the audit shows it against its condition.
  const std::string audit =
      ReadFile(world.state() / "runs" / outcome["run"].get<std::string>() / "audit" / "audit.md");
  INFO(audit);
  CHECK_THAT(audit, Catch::Contains("| api | METRIC | success-rate |"));
  CHECK_THAT(audit, Catch::Contains(" (result[0] >= 0.95) |"));
  CHECK_THAT(audit, !Catch::Contains("no data"));
}

TEST_CASE("Prometheus unreachable counts against the error limit, never as a failure",
          "[e2e][metrics]") {
  World world;
  const auto first = world.Promote();
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  AddSuccessRate(world);
  promote::testing::LocalPrometheus prometheus(world.standin());
  // The same endpoints, but each environment's Prometheus on a port where nothing listens.
  nlohmann::json endpoints = nlohmann::json::parse(ReadFile(prometheus.endpoints()));
  const std::string nowhere = "http://127.0.0.1:" + std::to_string(promote::testing::ClosedPort());
  for (auto& [env, urls] : endpoints.items()) urls["prometheus"] = nowhere;
  const fs::path unreachable = world.state().parent_path() / "unreachable-endpoints.json";
  std::ofstream(unreachable) << endpoints.dump();

  const std::string build = kApi + ":v0.5.2-good";
  const std::string spec = R"(","spec":{"routes":["api-common","api-auth-ok","api-fallback"]}})";
  world.Control("dev", "images", R"({"image":")" + build + spec);
  world.Control("prod", "images", R"({"image":")" + build + spec);
  world.ShipToDev(build);
  const std::string before = world.Image("prod", "api");
  const auto run = PromoteWith(world, unreachable);
  INFO(run.out << run.err);
  const auto outcome = Outcome(run);
  // Not one wrong answer, so not a verdict on the build: the run cannot show it healthy and
  // puts PROD back, but the release is not marked bad.
  CHECK(run.exit_code == 1);
  CHECK(outcome["state"] == "RolledBack");
  const std::string summary = outcome["summary"];
  CHECK_THAT(summary, Catch::Contains("Prometheus unreachable"));
  CHECK_THAT(summary, Catch::Contains("consecutive rounds without an answer (error limit 6)"));
  CHECK(world.Image("prod", "api") == before);
  const std::string note = world.Git(
      {"-C", world.releases().string(), "notes", "--ref=promote", "show", outcome["tag"]});
  CHECK_THAT(note, Catch::Contains("\"unverified\""));
  CHECK_THAT(note, !Catch::Contains("\"failed\""));
}

TEST_CASE("an AnalysisTemplate with a condition promote cannot evaluate is refused with exit 2",
          "[e2e][metrics]") {
  World world;
  AddArgoTemplate(world);
  world.EditPlan("/tests/plans/analysis/success-rate.yaml",
                 "/tests/plans/analysis/unsupported-condition.yaml");
  world.EditPlan(R"(args: { service-name: "{service}.{namespace}.svc.cluster.local" })", "");
  const std::string before = world.Image("prod", "api");
  const auto run = world.Cli({"dev", "prod"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 2);
  // The file, the field, what is wrong and how to fix it; nothing was touched.
  CHECK_THAT(run.err, Catch::Contains("unsupported-condition.yaml:10:23"));
  CHECK_THAT(run.err, Catch::Contains("spec.metrics[0].successCondition: 'len(result) > 0' is not "
                                      "supported by promote"));
  CHECK_THAT(run.err, Catch::Contains("result[0] OP number"));
  CHECK(world.Image("prod", "api") == before);
  CHECK(world.Git({"-C", world.releases().string(), "tag", "--list"}).empty());
  CHECK_FALSE(fs::exists(world.state() / "runs"));
}
