// End to end: `promote dev prod` when both environments deploy through helm (the real helm v3.17
// and kubectl against the stand-in, a real release repository): a promotion that succeeds, and
// one whose `helm upgrade --wait` fails in PROD and is rolled back to the recorded revision.
// The world (tests/support/worlds.h, HelmWorld) hands the seeded `shop` Deployments over to helm.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "support/standin.h"
#include "support/worlds.h"

namespace {

using promote::testing::HelmWorld;
using promote::testing::HttpStatus;
using promote::testing::Outcome;

const std::string kApi = promote::testing::kKeybuzzApi;
const std::string kDevTag = HelmWorld::kDevTag;
const std::string kProdTag = HelmWorld::kProdTag;

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
