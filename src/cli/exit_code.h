// The process exit codes of promote: stable, documented in README.md, decided only in cli::Main.
#pragma once

#include "core/error.h"
#include "engine/run_plan.h"
#include "engine/states.h"
#include "phases/audit.h"

namespace promote::cli {

/// What a scheduler or CI job sees when promote ends.
enum class ExitCode : int {
  kOk = 0,                ///< promoted, or dry run / check clean
  kFailed = 1,            ///< failed; anything changed was rolled back
  kUsage = 2,             ///< bad usage or invalid plan; nothing was changed
  kAwaitingApproval = 3,  ///< stopped at the approval gate, state saved
  kLocked = 4,            ///< another run holds the target's lock
  kRollbackFailed = 5,    ///< rollback failed: the target needs a person now
  kPromotionPending = 6,  ///< audit/dry run: target healthy, a promotion is waiting to be run
  kTargetUnhealthy = 7,   ///< audit/dry run: target not functional, degraded, or drifted
  kWouldBeRefused = 8,    ///< audit/dry run: the run would be refused (nothing would change)
  kFailedToStart = 9,     ///< a step failed before anything in the target changed
  kInterrupted = 10,      ///< stopped, resumable, nothing lost (journal or state unwritable)
};

/// The one mapping from an error's kind to the exit code.
inline ExitCode ExitCodeFor(const Error& error) {
  switch (error.kind) {
    case ErrorKind::kUsage:
    case ErrorKind::kInvalidPlan:
      return ExitCode::kUsage;
    case ErrorKind::kLocked:
      return ExitCode::kLocked;
    case ErrorKind::kInterrupted:
      return ExitCode::kInterrupted;
    case ErrorKind::kExternal:
    case ErrorKind::kInternal:
      return ExitCode::kFailed;
  }
  return ExitCode::kFailed;
}

/// What an audit or dry run tells a scheduler, from the run it prepared (so it is the run's own
/// outcome class): an unhealthy or drifted target first (it needs someone now), then a run that
/// would be refused (8: the real run would end Refused, exit 1), then a pending promotion (6:
/// the run would promote, or stop at its gate), else all clear (0: nothing to do).
inline ExitCode ExitCodeForAudit(const phases::AuditReport& report, const engine::RunPlan& plan) {
  if (!report.TargetHealthy() || !report.drift.empty()) return ExitCode::kTargetUnhealthy;
  switch (plan.decision) {
    case engine::Decision::kRefused:
      return ExitCode::kWouldBeRefused;
    case engine::Decision::kPromote:
      return ExitCode::kPromotionPending;
    case engine::Decision::kNothingToDo:
      break;
  }
  return ExitCode::kOk;
}

/// What a run's end tells its caller.
inline ExitCode ExitCodeForRun(engine::RunState state) {
  switch (state) {
    case engine::RunState::kPromoted:
    case engine::RunState::kNothingToDo:
      return ExitCode::kOk;
    case engine::RunState::kAwaitingApproval:
      return ExitCode::kAwaitingApproval;
    case engine::RunState::kRollbackFailed:
      return ExitCode::kRollbackFailed;
    case engine::RunState::kFailedToStart:
      return ExitCode::kFailedToStart;
    default:
      return ExitCode::kFailed;
  }
}

}  // namespace promote::cli
