// The baseline of a new installation on FakeWorld and a real libgit2 repository.
#include "phases/baseline.h"

#include <catch2/catch.hpp>

#include "adapters/git/release_repo.h"
#include "phases/audit.h"
#include "phases/context.h"
#include "plan/loader.h"
#include "support/fake_world.h"
#include "support/files.h"

namespace promote::phases {
namespace {

const char* kPlan = R"(
apiVersion: promote/v1
name: acme
releases: { repo: releases, tag: "{env}-{date}" }
environments:
  dev: { context: dev, namespace: "acme-{service}-dev", url: "http://{service}.dev.test" }
  prod: { context: prod, namespace: "acme-{service}-prod", url: "http://{service}.prod.test" }
services:
  - { name: billing, workload: deployment/billing, image: registry.test/billing, probes: [ { get: /health } ] }
  - { name: web, workload: deployment/web, image: registry.test/web, probes: [ { get: / } ] }
)";

struct Installation {
  testing::TempDir dir{"promote-baseline-test"};
  plan::Plan plan = plan::ParsePlan(kPlan, "acme.yaml").value();
  testing::FakeWorld world{plan};

  Installation() {
    testing::InitReleaseRepo(dir.path() / "releases");
    world.Context().releases_repo = dir.path() / "releases";
    for (const char* env : {"dev", "prod"}) {
      world.Run(env, "billing", "registry.test/billing:v1", "sha256:" + std::string(64, 'b'));
      world.Run(env, "web", "registry.test/web:v7");
    }
  }

  std::vector<adapters::git::ReleaseTag> Releases() {
    return adapters::git::ReleaseRepo::Open(dir.path() / "releases")->Releases().value();
  }
};

}  // namespace

TEST_CASE("a baseline records what the environment runs as its first release", "[baseline]") {
  Installation site;
  // Before: an empty release repository is no drift, only "no release recorded yet".
  const AuditReport before = Audit(site.plan, "dev", "prod").Run(site.world.Context());
  CHECK(before.NoReleaseYet());
  CHECK(before.drift.empty());

  SECTION("a dry run writes nothing") {
    auto shown = Baseline(site.plan, "prod", "ana", "run-1")
                     .Run(site.world.Context(), BaselineMode::kDryRun);
    REQUIRE(shown.ok());
    CHECK_FALSE(shown->written);
    CHECK(shown->tag == "prod-2026-12-01");
    CHECK(site.Releases().empty());
  }
  SECTION("recorded: the images with their digests, and drift is measured from it") {
    auto recorded = Baseline(site.plan, "prod", "ana", "run-1")
                        .Run(site.world.Context(), BaselineMode::kRecord);
    REQUIRE(recorded.ok());
    CHECK(recorded->written);
    const auto releases = site.Releases();
    REQUIRE(releases.size() == 1);
    CHECK(releases[0].name == "prod-2026-12-01");
    CHECK(releases[0].manifest.target_env == "prod");
    CHECK(releases[0].manifest.services.at("billing").image == "registry.test/billing:v1");
    CHECK(releases[0].manifest.services.at("billing").digest == "sha256:" + std::string(64, 'b'));
    CHECK(site.world.Writes("prod").empty());

    const AuditReport after = Audit(site.plan, "dev", "prod").Run(site.world.Context());
    CHECK_FALSE(after.NoReleaseYet());
    CHECK(after.drift.empty());
    // A hand-made change in PROD is drift again.
    site.world.Run("prod", "web", "registry.test/web:hotfix");
    const AuditReport drifted = Audit(site.plan, "dev", "prod").Run(site.world.Context());
    CHECK(drifted.drift == std::vector<std::string>{"registry.test/web:hotfix"});

    // A second baseline would rewrite history: refused, nothing written.
    auto again = Baseline(site.plan, "prod", "ana", "run-2")
                     .Run(site.world.Context(), BaselineMode::kRecord);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().kind == ErrorKind::kUsage);
    CHECK(again.error().what == "prod already has 1 release(s)");
    CHECK(site.Releases().size() == 1);
  }
  SECTION("services without a workload are named and left out") {
    site.world.Remove("prod", "web");
    auto recorded = Baseline(site.plan, "prod", "ana", "run-1")
                        .Run(site.world.Context(), BaselineMode::kRecord);
    REQUIRE(recorded.ok());
    CHECK(recorded->missing == std::vector<std::string>{"web"});
    CHECK(recorded->manifest.services.count("web") == 0);
  }
}

}  // namespace promote::phases
