// A run as a timeline: every step from the journal line that announced it to the one that
// closed it, grouped as a person follows a promotion (audit, gate, release tag, each wave's
// rollout and validation rounds, rollback, the decision). Built from the journal, so the
// timeline in a report shows only what was recorded to have happened.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/journal.h"
#include "phases/validate.h"

namespace promote::engine {

/// One bar of a run's timeline, or one instant of it.
struct TimelineStep {
  /// How the step ended, as the journal says.
  enum class Outcome {
    kDone,
    kFailed,
    kOpen,       ///< announced but never closed (the process died, or it was still running)
    kMilestone,  ///< an instant: the run's decision
  };
  std::string section;  ///< "audit", "approval", "release", "wave 1", "rollback", "decision"
  std::string name;     ///< "set-image api", "rollout api", "round 3 (2 failed)", "Promoted"
  std::string start;    ///< RFC 3339 UTC, as journaled
  std::string end;      ///< RFC 3339 UTC; "" for a milestone or a step never closed
  Outcome outcome = Outcome::kDone;
};

/// "done", "failed", "open", "milestone".
const char* TimelineOutcomeName(TimelineStep::Outcome outcome);

/// The timeline of a run from its journal `events` (in order) and the rounds of its
/// `validations` (the probe rounds are kept in memory, not in the journal).
std::vector<TimelineStep> BuildTimeline(
    const std::vector<JournalEvent>& events,
    const std::vector<std::pair<std::string, phases::ValidationResult>>& validations);

}  // namespace promote::engine
