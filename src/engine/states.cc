#include "engine/states.h"

#include <array>
#include <utility>

namespace promote::engine {
namespace {

using S = RunState;

// The whole machine. Deploying ↔ Validating repeats once per wave; a wave that changes nothing
// is validated all the same (Tagged → Validating, Validating → Validating).
constexpr std::array<std::pair<RunState, RunState>, 27> kTransitions = {{
    {S::kPlanned, S::kAudited},           {S::kPlanned, S::kRefused},  // a pre-audit hook said no
    {S::kAudited, S::kAwaitingApproval},  {S::kAudited, S::kApproved},
    {S::kAudited, S::kRefused},           {S::kAudited, S::kNothingToDo},
    {S::kAwaitingApproval, S::kApproved}, {S::kAwaitingApproval, S::kRejected},
    {S::kAwaitingApproval, S::kRefused},  // what would be deployed changed since approval
    {S::kApproved, S::kTagged},           {S::kApproved, S::kRefused},
    {S::kTagged, S::kDeploying},          {S::kDeploying, S::kValidating},
    {S::kDeploying, S::kRollingBack},     {S::kValidating, S::kDeploying},
    {S::kValidating, S::kPromoted},       {S::kValidating, S::kRollingBack},
    {S::kRollingBack, S::kRevalidating},  {S::kRollingBack, S::kRollbackFailed},
    {S::kRevalidating, S::kRolledBack},   {S::kRevalidating, S::kRollbackFailed},
    {S::kTagged, S::kValidating},         {S::kValidating, S::kValidating},
    {S::kApproved, S::kFailedToStart},  // the tag could not be written
    {S::kTagged, S::kFailedToStart},      {S::kDeploying, S::kFailedToStart},
    {S::kValidating, S::kFailedToStart},  // a wave failed before any image was set
}};

}  // namespace

const char* StateName(RunState state) {
  switch (state) {
    case S::kPlanned:
      return "Planned";
    case S::kAudited:
      return "Audited";
    case S::kAwaitingApproval:
      return "AwaitingApproval";
    case S::kApproved:
      return "Approved";
    case S::kRejected:
      return "Rejected";
    case S::kRefused:
      return "Refused";
    case S::kNothingToDo:
      return "NothingToDo";
    case S::kTagged:
      return "Tagged";
    case S::kDeploying:
      return "Deploying";
    case S::kValidating:
      return "Validating";
    case S::kPromoted:
      return "Promoted";
    case S::kRollingBack:
      return "RollingBack";
    case S::kRevalidating:
      return "Revalidating";
    case S::kRolledBack:
      return "RolledBack";
    case S::kRollbackFailed:
      return "RollbackFailed";
    case S::kFailedToStart:
      return "FailedToStart";
  }
  return "Unknown";
}

std::optional<RunState> StateFromName(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(S::kFailedToStart); ++i) {
    if (name == StateName(static_cast<RunState>(i))) return static_cast<RunState>(i);
  }
  return std::nullopt;
}

bool CanMove(RunState from, RunState to) {
  for (const auto& [a, b] : kTransitions) {
    if (a == from && b == to) return true;
  }
  return false;
}

bool IsTerminal(RunState state) {
  switch (state) {
    case S::kRejected:
    case S::kRefused:
    case S::kNothingToDo:
    case S::kPromoted:
    case S::kRolledBack:
    case S::kRollbackFailed:
    case S::kFailedToStart:
      return true;
    default:
      return false;
  }
}

}  // namespace promote::engine
