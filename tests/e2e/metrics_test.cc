// End to end: metric checks against a real Prometheus (Debian's prometheus 2.42, through
// scripts/prometheus.sh) scraping the stand-in's service ports. A build that passes its probes
// and its success rate is promoted; one that passes every HTTP probe but answers 500 on half of
// its other requests in PROD is rolled back on its success-rate check and marked bad.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "support/files.h"
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

/// The keybuzz world's plan with a golden success-rate check on the api, queried in each
/// environment's Prometheus, and rounds slow enough for a 1 s scrape.
void AddSuccessRate(World& world) {
  for (const char* env :
       {"namespace: \"keybuzz-{service}-dev\"", "namespace: \"keybuzz-{service}-prod\""}) {
    world.EditPlan(env,
                   std::string(env) + "\n    prometheus: { url: \"http://prometheus.invalid\" }");
  }
  world.EditPlan("    wave: 1\n", R"(    wave: 1
    metrics:
      - name: success-rate
        query: 'sum(rate(standin_http_requests_total{service="api",env="{env}",status!~"5.."}[5s])) / sum(rate(standin_http_requests_total{service="api",env="{env}"}[5s]))'
        min: 0.95
        golden: true
)");
  world.EditPlan("interval: 300ms", "interval: 1s");
  world.EditPlan("soak: 600ms", "soak: 4s");
  world.EditPlan("errorLimit: 3", "errorLimit: 6");
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
  }
}
