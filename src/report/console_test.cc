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

}  // namespace
}  // namespace promote::report
