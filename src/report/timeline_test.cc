#include "report/timeline.h"

#include <catch2/catch.hpp>

namespace promote::report {
namespace {

using Step = engine::TimelineStep;
using Outcome = engine::TimelineStep::Outcome;

const std::vector<Step> kSteps = {
    {"audit", "audit", "2026-12-06T10:00:00Z", "2026-12-06T10:00:02Z", Outcome::kDone},
    {"wave 1", "set-image api", "2026-12-06T10:00:03Z", "2026-12-06T10:00:03Z", Outcome::kDone},
    {"wave 1", "rollout api", "2026-12-06T10:00:03Z", "2026-12-06T10:00:07Z", Outcome::kFailed},
    {"rollback", "restore api", "2026-12-06T10:00:08Z", "", Outcome::kOpen},
    {"decision", "RolledBack", "2026-12-06T10:00:10Z", "", Outcome::kMilestone},
    {"wave 1", "round 1: 1 wrong", "2026-12-06T10:00:01Z", "", Outcome::kFailed}};

TEST_CASE("the timeline as a Mermaid gantt: a section a phase, failures critical",
          "[report][timeline]") {
  const std::string gantt = RenderMermaidGantt(kSteps, "Run r1: RolledBack");
  CHECK(gantt.rfind("```mermaid\ngantt\n    title Run r1  RolledBack\n", 0) == 0);
  CHECK_THAT(gantt, Catch::Contains("dateFormat YYYY-MM-DD HH:mm:ss"));
  CHECK_THAT(gantt,
             Catch::Contains("    section audit\n    audit :done, t1, 2026-12-06 10:00:00, 2s\n"));
  // Sorted by start within the section; shorter than a second shows as one; ':' is reserved.
  CHECK_THAT(gantt, Catch::Contains("    section wave 1\n    round 1  1 wrong :crit, t2, "
                                    "2026-12-06 10:00:01, 1s\n    set-image api :done, t3, "
                                    "2026-12-06 10:00:03, 1s\n    rollout api :crit, t4, "
                                    "2026-12-06 10:00:03, 4s\n"));
  CHECK_THAT(gantt, Catch::Contains("restore api :active, t5, 2026-12-06 10:00:08, 1s"));
  CHECK_THAT(gantt, Catch::Contains("RolledBack :milestone, t6, 2026-12-06 10:00:10, 0s"));
  CHECK(gantt.substr(gantt.size() - 4) == "```\n");
}

TEST_CASE("the timeline as SVG needs nothing from outside", "[report][timeline]") {
  const std::string svg = RenderSvgTimeline(kSteps);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK_THAT(svg, Catch::Contains(">rollout api</text>"));
  CHECK_THAT(svg, Catch::Contains("fill=\"#cf222e\""));  // the failed rollout
  CHECK_THAT(svg, Catch::Contains("<polygon"));          // the decision
  CHECK_THAT(svg, !Catch::Contains("href"));
  CHECK(RenderSvgTimeline({}).empty());
}

}  // namespace
}  // namespace promote::report
