// End to end: a plan whose PROD checks its registry (registry.verify) against a real OCI
// registry on loopback (Debian's docker-registry): an image PROD could not pull is refused
// before anything changes; one the registry holds is promoted by digest.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/files.h"
#include "support/ports.h"
#include "support/registry.h"
#include "support/standin.h"
#include "support/worlds.h"

namespace {

namespace fs = std::filesystem;
using promote::testing::Outcome;
using promote::testing::ReadFile;
using World = promote::testing::KeybuzzWorld;

const std::string kApi = promote::testing::kKeybuzzApi;

/// The plan's PROD pulls ghcr.io through `mirror` and checks every image there first.
void CheckRegistry(World& world, const std::string& mirror) {
  world.EditPlan("    secrets: [keybuzz-api-postgres",
                 "    registry: { verify: true, mirrors: { ghcr.io: \"" + mirror +
                     "\" } }\n    secrets: [keybuzz-api-postgres");
}

/// A healthy build of the api in both environments, with `digest` when given, now run by DEV.
void ShipHealthyBuild(World& world, const std::string& image, const std::string& digest = "") {
  const std::string spec = (digest.empty() ? std::string() : R"("digest":")" + digest + R"(",)") +
                           R"("routes":["api-common","api-auth-ok","api-fallback"])";
  for (const char* env : {"dev", "prod"}) {
    world.Control(env, "images", R"({"image":")" + image + R"(","spec":{)" + spec + "}}");
  }
  world.ShipToDev(image);
}

nlohmann::json AuditJson(World& world, const nlohmann::json& outcome) {
  return nlohmann::json::parse(ReadFile(world.state() / "runs" / outcome["run"].get<std::string>() /
                                        "audit" / "audit.json"));
}

}  // namespace

TEST_CASE("an image PROD's registry lacks is refused before any change, one it holds goes",
          "[e2e][promotion][supply-chain][registry]") {
  World world;
  const auto first = world.Promote();  // PROD runs what DEV runs; no check yet
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  const auto tags = world.Git({"-C", world.releases().string(), "tag"});
  const auto writes = world.standin().Writes("prod").size();
  promote::testing::LocalRegistry registry;

  SECTION("a build that was never pushed where PROD pulls from") {
    CheckRegistry(world, registry.url());
    const std::string build = kApi + ":v0.5.0-unpushed";
    ShipHealthyBuild(world, build);
    const auto refused = world.Promote();  // its dry run first decides the same (exit 8)
    INFO(refused.err);
    const auto outcome = Outcome(refused);
    CHECK(outcome["state"] == "Refused");
    CHECK(refused.exit_code == 1);
    const std::string summary = outcome["summary"];
    CHECK_THAT(summary, Catch::Contains("api: " + build + "@sha256:"));
    CHECK_THAT(summary, Catch::Contains("is not in the registry prod pulls it from (" +
                                        registry.url() + "), so prod could not pull it"));
    CHECK(world.standin().Writes("prod").size() == writes);
    CHECK(world.Git({"-C", world.releases().string(), "tag"}) == tags);
    const auto audit = AuditJson(world, outcome);
    const auto& findings = audit["environments"][1]["registry"];
    REQUIRE(findings.size() == 1);
    CHECK(findings[0]["service"] == "api");
    CHECK(findings[0]["presence"] == "missing");
    CHECK(audit["environments"][0]["registry"].is_null());  // the source is never asked
  }

  SECTION("a build the registry holds, by the digest DEV runs") {
    CheckRegistry(world, registry.url());
    const std::string digest = registry.Push("keybuzz/keybuzz-api", "v0.5.0", "api 0.5.0");
    ShipHealthyBuild(world, kApi + ":v0.5.0", digest);
    const auto promoted = world.Promote();
    INFO(promoted.err);
    CHECK(promoted.exit_code == 0);
    CHECK(world.Image("prod", "api") == kApi + ":v0.5.0@" + digest);
    const auto findings = AuditJson(world, Outcome(promoted))["environments"][1]["registry"];
    REQUIRE(findings.size() == 1);
    CHECK(findings[0]["presence"] == "present");
    CHECK(findings[0]["image"] == kApi + ":v0.5.0@" + digest);
  }

  SECTION("a registry that does not answer: refused, named as unreachable") {
    CheckRegistry(world, "http://127.0.0.1:" + std::to_string(promote::testing::ClosedPort()));
    ShipHealthyBuild(world, kApi + ":v0.5.1");
    const auto refused = world.Promote();
    INFO(refused.err);
    CHECK(refused.exit_code == 1);
    CHECK_THAT(Outcome(refused)["summary"].get<std::string>(),
               Catch::Contains("could not check that prod's registry holds"));
    CHECK_THAT(Outcome(refused)["summary"].get<std::string>(),
               Catch::Contains("could not reach registry http://127.0.0.1:"));
    CHECK(world.standin().Writes("prod").size() == writes);
  }
}
