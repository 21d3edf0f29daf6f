#include "engine/journaled_run.h"

#include "engine/journal.h"
#include "engine/states.h"

namespace promote::engine {

using nlohmann::json;

json ChangesJson(const std::vector<phases::ServiceChange>& changes) {
  json out = json::array();
  for (const auto& change : changes) {
    json entry = {
        {"service", change.service}, {"from", change.from_image}, {"to", change.to_image}};
    if (change.from_helm_revision) entry["fromRevision"] = *change.from_helm_revision;
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<phases::ServiceChange> ChangesFromJson(const json& changes) {
  std::vector<phases::ServiceChange> out;
  if (!changes.is_array()) return out;
  for (const auto& entry : changes) {
    phases::ServiceChange change{entry.value("service", ""), entry.value("from", ""), std::nullopt,
                                 entry.value("to", "")};
    if (entry.contains("fromRevision"))
      change.from_helm_revision = entry["fromRevision"].get<int>();
    out.push_back(std::move(change));
  }
  return out;
}

json RevisionsJson(const phases::AuditReport& audit) {
  json out = json::object();
  for (const auto& c : audit.comparisons) {
    const auto* seen = audit.target_env.Find(c.service);
    if (seen && seen->status.helm_revision) out[c.service] = *seen->status.helm_revision;
  }
  return out;
}

JournaledRun ReadJournaledRun(const Journal& journal) {
  JournaledRun run;
  for (const auto& event : journal.events()) {
    const json& d = event.detail;
    if (event.kind == EventKind::kTransition) {
      if (event.state == StateName(RunState::kAudited)) {
        run.diff = d.value("diff", json::array());
        run.diff_hash = d.value("diffHash", "");
        run.revisions = d.value("fromRevisions", json::object());
      } else if (event.state == StateName(RunState::kTagged)) {
        run.tag = d.value("tag", "");
      } else if (event.state == StateName(RunState::kDeploying)) {
        run.current_wave = d.value("wave", 0);
        run.failed_validation.clear();
      } else if (event.state == StateName(RunState::kRollingBack)) {
        run.rollback_reason = d.value("reason", "");
        run.rolling_back = ChangesFromJson(d.value("services", json::array()));
      }
    } else if (event.kind == EventKind::kIntent && event.step == "create-tag") {
      run.tag_intent = d.value("tag", "");
    } else if (event.kind == EventKind::kDone && event.step == "push-tag") {
      run.tag_pushed = true;
    } else if (event.kind == EventKind::kIntent && event.step == "set-image") {
      bool known = false;
      for (const auto& change : run.touched) known = known || change.service == event.service;
      if (!known) {
        phases::ServiceChange change{event.service, d.value("from", ""), std::nullopt,
                                     d.value("to", "")};
        if (run.revisions.contains(event.service)) {
          change.from_helm_revision = run.revisions[event.service].get<int>();
        }
        run.touched.push_back(std::move(change));
      }
    } else if (event.kind == EventKind::kNote && d.contains("diff") && d.contains("diffHash")) {
      run.diff = d["diff"];  // audited again on resume: the diff the run went on with
      run.diff_hash = d.value("diffHash", "");
      run.revisions = d.value("fromRevisions", json::object());
    } else if (event.kind == EventKind::kNote && d.contains("wave") && d.contains("passed")) {
      phases::ValidationResult verdict;
      verdict.passed = d.value("passed", false);
      verdict.reason = d.value("reason", "");
      verdict.rounds = d.value("rounds", 0);
      verdict.failures = d.value("failures", 0);
      verdict.errors = d.value("errors", 0);
      const int wave = d["wave"].get<int>();
      if (verdict.passed) run.validated_waves.insert(wave);
      run.failed_validation = verdict.passed ? "" : verdict.reason;
      run.validations.emplace_back("wave " + std::to_string(wave), verdict);
    }
  }
  return run;
}

}  // namespace promote::engine
