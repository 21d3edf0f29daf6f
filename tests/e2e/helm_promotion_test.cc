// End to end: `promote dev prod` when both environments deploy through helm (the real helm v3.17
// and kubectl against the stand-in, a real release repository): a promotion that succeeds, and
// one whose `helm upgrade --wait` fails in PROD and is rolled back to the recorded revision.
//
// The stand-in gives an HTTP port only to deployments of its world file, so the test starts it
// with a world whose one service `shop` lives at shop-dev/shop-prod, deletes the seeded
// Deployment and installs a helm release of the tiny chart under the same name: the port answers
// as whatever Deployment `shop` serves, so probes reach the helm-managed workload.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "support/files.h"
#include "support/standin.h"

namespace {

namespace fs = std::filesystem;
using promote::testing::HttpStatus;
using promote::testing::Outcome;
using promote::testing::PinnedTool;
using promote::testing::ReadFile;
using promote::testing::StandIn;

const std::string kApi = "ghcr.io/keybuzz/keybuzz-api";
const std::string kDevTag = "v0.4.31-replacement";
const std::string kProdTag = "v0.9.29-contact-fix";

/// A world file for the stand-in: the images and routes of the default world, and one service
/// `shop` (the api images) in dev and prod. Removed with its folder on destruction.
class ShopWorld {
 public:
  ShopWorld() {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("promote-helm-world-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    fs::create_directories(dir_);
    auto world = nlohmann::json::parse(
        ReadFile(fs::path(PROMOTE_SOURCE_DIR) / "scripts" / "standin" / "worlds" / "keybuzz.json"));
    world["environments"] = nlohmann::json::object();
    for (const auto& [env, tag] : {std::pair{"dev", kDevTag}, std::pair{"prod", kProdTag}}) {
      const std::string ns = std::string("shop-") + env;
      world["environments"][env] = {{"namespaces", {ns}},
                                    {"deployments",
                                     {{{"service", "shop"},
                                       {"namespace", ns},
                                       {"name", "shop"},
                                       {"container", "api"},
                                       {"image", kApi + ":" + tag},
                                       {"replicas", 1},
                                       {"port", 3001}}}},
                                    {"secrets", nlohmann::json::array()}};
    }
    std::ofstream(file()) << world.dump(2);
  }
  ~ShopWorld() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  ShopWorld(const ShopWorld&) = delete;
  ShopWorld& operator=(const ShopWorld&) = delete;

  fs::path file() const { return dir_ / "world.json"; }

 private:
  fs::path dir_;
};

/// A stand-in whose `shop` Deployments are helm releases of tests/standin/charts/tiny (dev on
/// kDevTag, prod on kProdTag), a release repository and a plan with driver helm on both sides.
class HelmWorld {
 public:
  HelmWorld()
      : standin_({"--world", world_.file().string(), "--rollout-seconds", "0.3",
                  "--deadline-seconds", "3"}) {
    root_ = standin_.dir().parent_path();
    for (const auto& [name, value] : standin_.Tooling().env) env_[name] = value;
    chart_ = (fs::path(PROMOTE_SOURCE_DIR) / "tests" / "standin" / "charts" / "tiny").string();
    std::string plan = R"(apiVersion: promote/v1
name: shop
releases: { repo: releases, tag: "prod-{date}" }
environments:
  dev:  { context: dev,  driver: helm, namespace: "{service}-dev",  url: "http://{service}.dev.test" }
  prod: { context: prod, driver: helm, namespace: "{service}-prod", url: "http://{service}.prod.test" }
services:
  - name: shop
    workload: deployment/shop
    container: api
    image: IMAGE
    helm: { release: shop, chart: "CHART", valuesKey: image.tag }
    probes:
      - name: login
        post: /auth/login
        body: '{}'
        expect: { range: [200, 499], not: 404 }
        golden: true
validate: { initialDelay: 0s, interval: 300ms, soak: 600ms, successes: 2, failureLimit: 2,
            errorLimit: 3, rolloutTimeout: 5s }
)";
    plan.replace(plan.find("IMAGE"), 5, kApi);
    plan.replace(plan.find("CHART"), 5, chart_);
    std::ofstream(root_ / "plan.yaml") << plan;
    Git({"init", "-q", releases().string()});
    Git({"-C", releases().string(), "-c", "user.name=t", "-c", "user.email=t@example.com", "commit",
         "-q", "--allow-empty", "-m", "releases"});
    // Hand the seeded Deployments over to helm: same namespace and name, so the ports follow.
    for (const auto& [env, tag] : {std::pair{"dev", kDevTag}, std::pair{"prod", kProdTag}}) {
      Kubectl(env, {"delete", "deployment/shop", "--wait=true"});
      Helm(env,
           {"install", "shop", chart_, "--set", "image.tag=" + tag, "--wait", "--timeout=60s"});
    }
  }

  StandIn& standin() { return standin_; }
  fs::path releases() const { return root_ / "releases"; }
  fs::path state() const { return root_ / "state"; }
  const std::string& chart() const { return chart_; }

  /// `promote dev prod`, after its dry run, which must decide the same.
  promote::adapters::ProcessResult Promote() {
    std::vector<std::string> argv = {PROMOTE_BINARY,
                                     "--plan=" + (root_ / "plan.yaml").string(),
                                     "--kubectl=" + PinnedTool("kubectl"),
                                     "--helm=" + PinnedTool("helm"),
                                     "--kubeconfig=" + standin_.kubeconfig().string(),
                                     "--endpoints=" + (standin_.dir() / "endpoints.json").string(),
                                     "--releases=" + releases().string(),
                                     "--state-dir=" + state().string(),
                                     "--output=json",
                                     "dev",
                                     "prod"};
    std::vector<std::string> dry = argv;
    dry.push_back("--dry-run");
    const auto planned = standin_.Run(dry, env_);
    auto run = standin_.Run(argv, env_);
    promote::testing::ExpectSameDecision(planned, run);
    return run;
  }

  std::string Git(std::vector<std::string> args) {
    args.insert(args.begin(), "git");
    return standin_.RunOk(args);
  }

  std::string Kubectl(const std::string& env, std::vector<std::string> args) {
    return standin_.Kubectl(env, "shop-" + env, std::move(args));
  }

  std::string Helm(const std::string& env, std::vector<std::string> args) {
    std::vector<std::string> argv = {PinnedTool("helm")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--kubeconfig=" + standin_.kubeconfig().string(),
                             "--kube-context=" + env, "--namespace=shop-" + env});
    return standin_.RunOk(argv, env_);
  }

  std::string Image(const std::string& env) {
    return Kubectl(env, {"get", "deployment/shop", "-o",
                         "jsonpath={.spec.template.spec.containers[0].image}"});
  }

  /// `helm history` of the release in `env`: (revision, status) in order.
  std::vector<std::pair<int, std::string>> History(const std::string& env) {
    std::vector<std::pair<int, std::string>> history;
    for (const auto& entry : nlohmann::json::parse(Helm(env, {"history", "shop", "-o", "json"}))) {
      history.emplace_back(entry["revision"].get<int>(), entry["status"].get<std::string>());
    }
    return history;
  }

  /// Posts to the stand-in's control API of `env`.
  void Control(const std::string& env, const std::string& what, const std::string& body) {
    standin_.Control(env, what, body);
  }

  /// The states a run went through, from its journal.
  std::vector<std::string> States(const std::string& run) const {
    return promote::testing::JournalStates(state() / "runs" / run);
  }

 private:
  ShopWorld world_;
  StandIn standin_;
  fs::path root_;
  std::string chart_;
  std::map<std::string, std::string> env_;
};

}  // namespace

TEST_CASE("a helm promotion upgrades PROD's release to DEV's image and tags it",
          "[e2e][promotion][helm]") {
  HelmWorld world;
  REQUIRE(world.Image("prod") == kApi + ":" + kProdTag);
  REQUIRE(world.History("prod") == std::vector<std::pair<int, std::string>>{{1, "deployed"}});
  CHECK(HttpStatus("POST", world.standin().Endpoint("prod", "shop") + "/auth/login", "{}") == 404);

  const auto run = world.Promote();
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto outcome = Outcome(run);
  CHECK(outcome["state"] == "Promoted");

  // A new helm revision, deployed, whose Deployment runs DEV's tag; the port answers as it.
  CHECK(world.History("prod") ==
        std::vector<std::pair<int, std::string>>{{1, "superseded"}, {2, "deployed"}});
  CHECK(world.Image("prod").rfind(kApi + ":" + kDevTag, 0) == 0);
  CHECK(HttpStatus("POST", world.standin().Endpoint("prod", "shop") + "/auth/login", "{}") == 200);

  // The release tag exists in git and carries the manifest.
  REQUIRE(outcome["tag"].is_string());
  const std::string tag = outcome["tag"];
  CHECK(tag.rfind("prod-20", 0) == 0);
  const std::string tag_object =
      world.Git({"-C", world.releases().string(), "cat-file", "-p", tag});
  CHECK(tag_object.find("promote/release/v1") != std::string::npos);
  CHECK(tag_object.find(kApi + ":" + kDevTag) != std::string::npos);
  CHECK(world.States(outcome["run"]).back() == "Promoted");
}

TEST_CASE("a helm upgrade that never becomes ready in PROD is rolled back to the old revision",
          "[e2e][promotion][helm]") {
  HelmWorld world;
  // A build of its own (own digest, not a retag): ready in DEV, never ready in PROD.
  const std::string stuck = "v0.4.50-stuck-in-prod";
  const std::string spec = R"({"image":")" + kApi + ":" + stuck +
                           R"(","spec":{"routes":["api-common","api-auth-ok","api-fallback"],)"
                           R"("env":{"prod":{"rollout":"never-ready"}}}})";
  world.Control("dev", "images", spec);
  world.Control("prod", "images", spec);
  world.Helm("dev", {"upgrade", "shop", world.chart(), "--reuse-values", "--set",
                     "image.tag=" + stuck, "--wait", "--timeout=60s"});
  REQUIRE(world.Image("dev") == kApi + ":" + stuck);

  const auto run = world.Promote();
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  const auto outcome = Outcome(run);
  CHECK(outcome["state"] == "RolledBack");
  CHECK(world.States(outcome["run"]).back() == "RolledBack");
  CHECK(outcome["summary"].get<std::string>().find("did not roll out") != std::string::npos);

  // Revision 2 is the failed upgrade; revision 3 is the rollback to revision 1, deployed. helm
  // calls revision 2 superseded, not failed: promote waits and judges the rollout itself (one
  // loop a wave, ended by the progress deadline), so helm never saw it fail; the journal, the
  // report and the release note do.
  CHECK(world.History("prod") == std::vector<std::pair<int, std::string>>{
                                     {1, "superseded"}, {2, "superseded"}, {3, "deployed"}});
  CHECK(world.Image("prod") == kApi + ":" + kProdTag);
  // PROD answers as its old image again (404 on login: broken, but as before the run).
  CHECK(HttpStatus("POST", world.standin().Endpoint("prod", "shop") + "/auth/login", "{}") == 404);

  // The failed attempt's tag is marked bad.
  REQUIRE(outcome["tag"].is_string());
  const std::string note = world.Git({"-C", world.releases().string(), "notes", "--ref=promote",
                                      "show", outcome["tag"].get<std::string>()});
  CHECK(note.find("failed") != std::string::npos);
}
