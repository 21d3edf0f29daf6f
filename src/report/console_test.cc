#include "report/console.h"

#include <catch2/catch.hpp>
#include <string>

#include "phases/audit.h"
#include "report/testdata.h"

namespace promote::report {
namespace {

TEST_CASE("the audit summary shows tags, and the repository when it differs", "[report]") {
  auto report = testdata::KeybuzzAudit();
  REQUIRE_FALSE(report.comparisons.empty());
  auto& api = report.comparisons.front();
  const std::string same = RenderAuditSummary(report);
  CHECK_THAT(
      same, Catch::Contains(api.service + ": " + adapters::kube::ImageTag(api.target_image) +
                            " in prod, " + adapters::kube::ImageTag(api.source_image) + " in dev"));
  api.source_image = "evil.example/cryptominer:1.0";
  CHECK_THAT(RenderAuditSummary(report), Catch::Contains(", evil.example/cryptominer:1.0 in dev"));
}

TEST_CASE("the audit summary shows an image it could not read as unknown, not as latest",
          "[report]") {
  auto report = testdata::KeybuzzAudit();
  REQUIRE_FALSE(report.comparisons.empty());
  auto& api = report.comparisons.front();
  api.target_image.clear();
  const std::string summary = RenderAuditSummary(report);
  CHECK_THAT(summary, Catch::Contains(api.service + ": ? in prod"));
  CHECK_THAT(summary, !Catch::Contains("latest"));
}

TEST_CASE("the audit summary counts the images found in the target's registry", "[report]") {
  auto report = testdata::KeybuzzAudit();
  CHECK_THAT(RenderAuditSummary(report), !Catch::Contains("registry:"));  // not asked for
  using Presence = phases::RegistryFinding::Presence;
  report.target_env.registry = {
      {"api", "ghcr.io/a/api:v2", "https://ghcr.io", Presence::kPresent, ""},
      {"client", "ghcr.io/a/client:v2", "https://ghcr.io", Presence::kMissing, ""}};
  CHECK_THAT(RenderAuditSummary(report),
             Catch::Contains("registry: 1 of 2 image(s) to deploy found in prod's registry"));
}

}  // namespace
}  // namespace promote::report
