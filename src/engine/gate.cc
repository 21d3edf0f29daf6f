#include "engine/gate.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/journal.h"
#include "engine/states.h"
#include "plan/plan.h"

namespace promote::engine {
namespace {

const char* kWaiting = "AwaitingApproval";

/// The gate's facts from every event of `journal` (throws on a field of the wrong type).
void ReadGateEvents(const Journal& journal, GateState& gate) {
  for (const auto& event : journal.events()) {
    if (event.kind == EventKind::kTransition && event.state == StateName(RunState::kPlanned)) {
      gate.plan_file = event.detail.value("plan", "");
      gate.source = event.detail.value("source", "");
      gate.target = event.detail.value("target", "");
      gate.initiator = event.detail.value("initiator", "");
      gate.restore = event.detail.value("restore", false);
      gate.plan_hash = event.detail.value("planHash", "");
    }
    if (event.kind == EventKind::kTransition && event.detail.contains("diffHash")) {
      gate.diff_hash = event.detail["diffHash"].get<std::string>();
    }
    if (event.kind == EventKind::kNote && event.detail.contains("approval")) {
      const auto& approval = event.detail["approval"];
      const std::string by = approval.value("by", "");
      if (approval.value("diffHash", "") == gate.diff_hash &&
          std::find(gate.approvers.begin(), gate.approvers.end(), by) == gate.approvers.end()) {
        gate.approvers.push_back(by);
      }
    }
  }
}

}  // namespace

Result<GateState> ReadGate(const Journal& journal) {
  GateState gate;
  gate.state = journal.CurrentState();
  try {
    ReadGateEvents(journal, gate);
  } catch (const nlohmann::json::exception& e) {
    // A hand-edited or damaged line: a field of another type than promote wrote.
    return Error{ErrorKind::kExternal,
                 std::string("the journal holds a field promote cannot read: ") + e.what(),
                 journal.path().string(), "repair the line, or start a new run"};
  }
  if (gate.plan_file.empty() || gate.target.empty()) {
    return Error{ErrorKind::kExternal, "the journal has no Planned event", journal.path().string(),
                 "this is not a promote run folder, or its journal is damaged"};
  }
  return gate;
}

Status CheckApprover(const plan::ApprovalGate& gate, const GateState& state,
                     const std::string& who) {
  const auto refuse = [&](std::string what, std::string fix) {
    return Error{ErrorKind::kUsage, std::move(what), "approval of " + state.target, std::move(fix)};
  };
  if (state.state != kWaiting) {
    return refuse("the run is " + state.state + ", not waiting for approval",
                  "see `promote status RUN`");
  }
  if (!gate.approvers.empty() &&
      std::find(gate.approvers.begin(), gate.approvers.end(), who) == gate.approvers.end()) {
    std::string allowed;
    for (const auto& name : gate.approvers) allowed += (allowed.empty() ? "" : ", ") + name;
    return refuse("'" + who + "' may not approve promotions into " + state.target,
                  "ask one of: " + allowed);
  }
  if (!gate.allow_self_approval && who == state.initiator) {
    return refuse("'" + who + "' started this run and the plan forbids approving one's own run",
                  "ask another approver");
  }
  if (std::find(state.approvers.begin(), state.approvers.end(), who) != state.approvers.end()) {
    return refuse("'" + who + "' has already approved this run", "ask another approver");
  }
  return Done{};
}

Status RecordApproval(Journal& journal, const GateState& state, const std::string& who) {
  auto written = journal.Note("approved by " + who,
                              {{"approval", {{"by", who}, {"diffHash", state.diff_hash}}}});
  if (!written) return std::move(written).error();
  return Done{};
}

Status RecordRejection(Journal& journal, const GateState& state, const std::string& who,
                       const std::string& reason) {
  if (state.state != kWaiting) {
    return Error{ErrorKind::kUsage, "the run is " + state.state + ", not waiting for approval",
                 journal.path().string(), "see `promote status RUN`"};
  }
  auto written = journal.Transition(
      StateName(RunState::kRejected),
      {{"by", who}, {"reason", reason}, {"summary", "rejected by " + who + ": " + reason}});
  if (!written) return std::move(written).error();
  return Done{};
}

}  // namespace promote::engine
