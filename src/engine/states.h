// The run's state machine: every state and every allowed transition in one table. A run moves
// only through MoveTo, which checks the table and journals the transition first.
#pragma once

#include <optional>
#include <string>

namespace promote::engine {

/// Where a promotion run stands (DESIGN.md, "The run, as states").
enum class RunState {
  kPlanned,           ///< run created, nothing read yet
  kAudited,           ///< both environments read; the diff is known
  kAwaitingApproval,  ///< stopped at the gate, state saved (exit 3)
  kApproved,          ///< gate passed (or none)
  kRejected,          ///< an approver said no (terminal)
  kRefused,           ///< nothing changed: the audit forbids promoting (terminal, exit 1)
  kNothingToDo,       ///< nothing changed: target already runs the source (terminal, exit 0)
  kTagged,            ///< the release tag exists
  kDeploying,         ///< a wave is rolling out
  kValidating,        ///< a wave is being probed
  kPromoted,          ///< every wave validated (terminal, exit 0)
  kRollingBack,       ///< restoring every touched service
  kRevalidating,      ///< probing the restored state
  kRolledBack,        ///< restored (terminal, exit 1)
  kRollbackFailed,    ///< restore failed: a person is needed (terminal, exit 5)
  /// A step failed before anything in the target changed (a chart not found, an auth error,
  /// the first write refused): nothing to roll back, the release not judged (terminal, exit 9).
  kFailedToStart,
};

/// "Planned", "Deploying", … as written in the journal.
const char* StateName(RunState state);

/// The state journaled as `name`, or nullopt for a name no state has.
std::optional<RunState> StateFromName(const std::string& name);

/// Whether the table allows `from` → `to`.
bool CanMove(RunState from, RunState to);

/// Whether a run in `state` has ended.
bool IsTerminal(RunState state);

}  // namespace promote::engine
