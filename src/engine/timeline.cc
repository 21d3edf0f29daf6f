#include "engine/timeline.h"

#include <map>

#include "engine/states.h"

namespace promote::engine {
namespace {

std::string WaveOf(const JournalEvent& event) {
  const auto wave = event.detail.find("wave");
  if (wave == event.detail.end() || !wave->is_number_integer()) return "";
  return "wave " + std::to_string(wave->get<long long>());
}

std::string Name(const JournalEvent& event) {
  std::string step = event.step == "wait-rollout" ? "rollout" : event.step;
  return event.service.empty() ? step : step + " " + event.service;
}

}  // namespace

const char* TimelineOutcomeName(TimelineStep::Outcome outcome) {
  switch (outcome) {
    case TimelineStep::Outcome::kDone:
      return "done";
    case TimelineStep::Outcome::kFailed:
      return "failed";
    case TimelineStep::Outcome::kOpen:
      return "open";
    case TimelineStep::Outcome::kMilestone:
      return "milestone";
  }
  return "unknown";
}

std::vector<TimelineStep> BuildTimeline(
    const std::vector<JournalEvent>& events,
    const std::vector<std::pair<std::string, phases::ValidationResult>>& validations) {
  std::vector<TimelineStep> steps;
  std::map<long, std::size_t> open;  // intent seq → its step
  std::string section = "audit";
  std::string planned_at;
  std::string gate_at;
  std::string validating_at;
  for (const JournalEvent& event : events) {
    switch (event.kind) {
      case EventKind::kTransition: {
        const auto state = StateFromName(event.state);
        if (!state) break;
        switch (*state) {
          case RunState::kPlanned:
            planned_at = event.at;
            break;
          case RunState::kAudited:
            if (!planned_at.empty()) {
              steps.push_back(
                  {"audit", "audit", planned_at, event.at, TimelineStep::Outcome::kDone});
            }
            break;
          case RunState::kAwaitingApproval:
            gate_at = event.at;
            break;
          case RunState::kApproved:
            if (!gate_at.empty()) {
              steps.push_back(
                  {"approval", "approval", gate_at, event.at, TimelineStep::Outcome::kDone});
            }
            section = "release";
            break;
          case RunState::kDeploying:
          case RunState::kValidating: {
            const std::string wave = WaveOf(event);
            if (!wave.empty()) section = wave;
            if (*state == RunState::kValidating) validating_at = event.at;
            break;
          }
          case RunState::kRollingBack:
            section = "rollback";
            break;
          case RunState::kRevalidating:
            section = "rollback";
            validating_at = event.at;
            break;
          default:
            break;
        }
        if (IsTerminal(*state)) {
          steps.push_back(
              {"decision", event.state, event.at, "", TimelineStep::Outcome::kMilestone});
        }
        break;
      }
      case EventKind::kIntent:
        open[event.seq] = steps.size();
        steps.push_back({section, Name(event), event.at, "", TimelineStep::Outcome::kOpen});
        break;
      case EventKind::kDone:
      case EventKind::kFailed:
        if (auto it = open.find(event.intent()); it != open.end()) {
          steps[it->second].end = event.at;
          steps[it->second].outcome = event.kind == EventKind::kDone
                                          ? TimelineStep::Outcome::kDone
                                          : TimelineStep::Outcome::kFailed;
          open.erase(it);
        }
        break;
      case EventKind::kNote: {
        const auto passed = event.detail.find("passed");
        if (passed == event.detail.end() || !passed->is_boolean() || validating_at.empty()) break;
        steps.push_back(
            {section, "validation", validating_at, event.at,
             passed->get<bool>() ? TimelineStep::Outcome::kDone : TimelineStep::Outcome::kFailed});
        validating_at.clear();
        break;
      }
    }
  }
  // The probe rounds, in the section of their validation ("wave 1", or "after rollback").
  for (const auto& [label, validation] : validations) {
    const std::string in = label.rfind("wave ", 0) == 0 ? label : std::string("rollback");
    for (const auto& round : validation.history) {
      std::string name = "round " + std::to_string(round.number);
      if (round.failed) name += " (" + std::to_string(round.failed) + " wrong)";
      if (round.errored) name += " (" + std::to_string(round.errored) + " unanswered)";
      steps.push_back(
          {in, name, round.at, "",
           round.passed ? TimelineStep::Outcome::kDone : TimelineStep::Outcome::kFailed});
    }
  }
  return steps;
}

}  // namespace promote::engine
