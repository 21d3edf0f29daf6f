// The process exit codes of promote: stable, documented in README.md, decided only in cli::Main.
#pragma once

#include "core/error.h"
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
};

/// The one mapping from an error's kind to the exit code.
inline ExitCode ExitCodeFor(const Error& error) {
  switch (error.kind) {
    case ErrorKind::kUsage:
    case ErrorKind::kInvalidPlan:
      return ExitCode::kUsage;
    case ErrorKind::kLocked:
      return ExitCode::kLocked;
    case ErrorKind::kExternal:
    case ErrorKind::kInternal:
      return ExitCode::kFailed;
  }
  return ExitCode::kFailed;
}

/// What an audit or dry run tells a scheduler: an unhealthy or drifted target first (it needs
/// someone now), then a pending promotion, else all clear.
inline ExitCode ExitCodeForAudit(const phases::AuditReport& report) {
  if (!report.TargetHealthy() || !report.drift.empty()) return ExitCode::kTargetUnhealthy;
  if (report.PromotionPending()) return ExitCode::kPromotionPending;
  return ExitCode::kOk;
}

}  // namespace promote::cli
