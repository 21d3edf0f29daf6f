// The approval gate of a run waiting in AwaitingApproval: who started it, what change it waits
// with (the diff hash), who approved it so far, and the rules an approver must pass.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"

namespace promote::plan {
struct ApprovalGate;
}

namespace promote::engine {

class Journal;

/// What a waiting run's journal says about its gate.
struct GateState {
  std::string plan_file;
  std::string source;
  std::string target;
  std::string initiator;
  bool restore = false;   ///< a `rollback --to` run: `source` is the release tag it restores
  std::string plan_hash;  ///< ContentHash of the plan file the run started with
  std::string state;      ///< the run's current state
  std::string diff_hash;  ///< the change the run waits with (Audited)
  std::vector<std::string> approvers;  ///< distinct approvals of that exact change
};

/// Reads the gate of the run whose journal is `journal`.
Result<GateState> ReadGate(const Journal& journal);

/// Whether `who` may approve: the run waits, `who` is an allowed approver, is not the initiator
/// when the plan forbids self-approval, and has not approved already. kUsage errors say why not.
Status CheckApprover(const plan::ApprovalGate& gate, const GateState& state,
                     const std::string& who);

/// Records `who`'s approval of the change `state.diff_hash` in the journal.
Status RecordApproval(Journal& journal, const GateState& state, const std::string& who);

/// Ends a waiting run: Rejected, with who and why.
Status RecordRejection(Journal& journal, const GateState& state, const std::string& who,
                       const std::string& reason);

}  // namespace promote::engine
