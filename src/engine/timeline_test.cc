#include "engine/timeline.h"

#include <catch2/catch.hpp>

namespace promote::engine {
namespace {

JournalEvent Event(long seq, const std::string& at, const std::string& state, EventKind kind,
                   const std::string& step = "", const std::string& service = "",
                   nlohmann::json detail = nlohmann::json::object()) {
  JournalEvent event;
  event.seq = seq;
  event.at = "2026-12-06T10:00:" + at + "Z";
  event.state = state;
  event.kind = kind;
  event.step = step;
  event.service = service;
  event.detail = std::move(detail);
  return event;
}

TEST_CASE("a run's timeline is its journal: each step from intent to end, by phase", "[timeline]") {
  using K = EventKind;
  const std::vector<JournalEvent> events = {
      Event(1, "00", "Planned", K::kTransition),
      Event(2, "02", "Audited", K::kTransition),
      Event(3, "02", "Approved", K::kTransition),
      Event(4, "02", "Approved", K::kIntent, "create-tag"),
      Event(5, "03", "Approved", K::kDone, "create-tag", "", {{"intent", 4}}),
      Event(6, "03", "Tagged", K::kTransition),
      Event(7, "03", "Deploying", K::kTransition, "", "", {{"wave", 1}}),
      Event(8, "03", "Deploying", K::kIntent, "set-image", "api", {{"wave", 1}}),
      Event(9, "04", "Deploying", K::kDone, "set-image", "api", {{"intent", 8}}),
      Event(10, "04", "Deploying", K::kIntent, "wait-rollout", "api", {{"wave", 1}}),
      Event(11, "06", "Deploying", K::kFailed, "wait-rollout", "api", {{"intent", 10}}),
      Event(12, "06", "Validating", K::kTransition, "", "", {{"wave", 1}}),
      Event(13, "09", "Validating", K::kNote, "", "", {{"passed", false}, {"wave", 1}}),
      Event(14, "09", "RollingBack", K::kTransition),
      Event(15, "09", "RollingBack", K::kIntent, "restore", "api"),
      Event(16, "10", "RolledBack", K::kTransition),
  };
  phases::ValidationResult validation;
  validation.history = {{1, "2026-12-06T10:00:07Z", false, 1, 0, {}},
                        {2, "2026-12-06T10:00:08Z", true, 0, 0, {}}};
  const auto steps = BuildTimeline(events, {{"wave 1", validation}});
  const auto find = [&](const std::string& name) -> const TimelineStep& {
    for (const auto& step : steps) {
      if (step.name == name) return step;
    }
    FAIL("no step " << name);
    return steps.front();
  };
  CHECK(find("audit").section == "audit");
  CHECK(find("audit").end == "2026-12-06T10:00:02Z");
  CHECK(find("create-tag").section == "release");
  CHECK(find("set-image api").section == "wave 1");
  CHECK(find("set-image api").outcome == TimelineStep::Outcome::kDone);
  CHECK(find("rollout api").outcome == TimelineStep::Outcome::kFailed);
  CHECK(find("validation").outcome == TimelineStep::Outcome::kFailed);
  CHECK(find("validation").start == "2026-12-06T10:00:06Z");
  // A step the journal opened and never closed is shown open, not done.
  CHECK(find("restore api").section == "rollback");
  CHECK(find("restore api").outcome == TimelineStep::Outcome::kOpen);
  CHECK(find("RolledBack").outcome == TimelineStep::Outcome::kMilestone);
  CHECK(find("round 1 (1 wrong)").section == "wave 1");
  CHECK(find("round 2").outcome == TimelineStep::Outcome::kDone);
}

}  // namespace
}  // namespace promote::engine
