#include "engine/journaled_run.h"

#include "engine/journal.h"
#include "engine/states.h"

namespace promote::engine {

using nlohmann::json;

json FailureJson(const RunFailure& failure) {
  json images = json::array();
  for (const auto& judged : failure.images)
    images.push_back(adapters::git::JudgedImageJson(judged));
  return {
      {"reason", failure.reason}, {"blame", phases::BlameName(failure.blame)}, {"images", images}};
}

RunFailure FailureFromJson(const json& detail) {
  RunFailure failure;
  failure.reason = detail.value("reason", "");
  failure.blame = detail.value("blame", "") == phases::BlameName(phases::Blame::kRelease)
                      ? phases::Blame::kRelease
                      : phases::Blame::kInfrastructure;
  for (const auto& entry : detail.value("images", json::array())) {
    failure.images.push_back(adapters::git::JudgedImageFromJson(entry));
  }
  return failure;
}

namespace {

/// The helm revision `service` ran before the run, from the plan's changes.
std::optional<int> FromRevision(const std::optional<RunPlan>& plan, const std::string& service) {
  if (!plan) return std::nullopt;
  for (const auto& change : plan->Changes()) {
    if (change.service == service) return change.from_helm_revision;
  }
  return std::nullopt;
}

void ReadTransition(const JournalEvent& event, JournaledRun& run) {
  const json& d = event.detail;
  if (event.state == StateName(RunState::kAudited)) {
    if (d.contains("plan")) run.plan = RunPlanFromJson(d["plan"]);
  } else if (event.state == StateName(RunState::kTagged)) {
    run.tag = d.value("tag", "");
  } else if (event.state == StateName(RunState::kDeploying) ||
             event.state == StateName(RunState::kValidating)) {
    const int wave = d.value("wave", 0);
    if (wave != run.current_wave) run.failed_validation.clear();
    run.current_wave = wave;
  } else if (event.state == StateName(RunState::kRollingBack)) {
    run.failure = FailureFromJson(d);
    run.rolling_back = ChangesFromJson(d.value("services", json::array()));
  }
}

void ReadNote(const JournalEvent& event, JournaledRun& run) {
  const json& d = event.detail;
  if (d.contains("plan") && d.contains("diffHash")) {
    run.plan = RunPlanFromJson(d["plan"]);  // audited again on resume: the plan it went on with
  } else if (d.value("message", "") == "freeze overridden") {
    run.freeze_override = {d.value("window", ""), d.value("reason", "")};
  } else if (d.contains("wave") && d.contains("passed")) {
    phases::ValidationResult verdict;
    verdict.passed = d.value("passed", false);
    verdict.reason = d.value("reason", "");
    verdict.rounds = d.value("rounds", 0);
    verdict.failures = d.value("failures", 0);
    verdict.errors = d.value("errors", 0);
    verdict.judged = d.value("judged", false);
    verdict.failed_services = d.value("failedServices", std::map<std::string, std::string>{});
    const int wave = d["wave"].get<int>();
    if (verdict.passed) run.validated_waves.insert(wave);
    run.failed_validation = verdict.passed ? "" : verdict.reason;
    run.failed_validation_judged = verdict.judged;
    run.failed_services = verdict.failed_services;
    run.failed_probes = d.value("failedProbes", std::map<std::string, std::vector<std::string>>{});
    run.validations.emplace_back("wave " + std::to_string(wave), verdict);
  }
}

}  // namespace

JournaledRun ReadJournaledRun(const Journal& journal) {
  JournaledRun run;
  for (const auto& event : journal.events()) {
    const json& d = event.detail;
    if (event.kind == EventKind::kTransition) {
      ReadTransition(event, run);
    } else if (event.kind == EventKind::kNote) {
      ReadNote(event, run);
    } else if (event.kind == EventKind::kIntent && event.step == "create-tag") {
      run.tag_intent = d.value("tag", "");
    } else if (event.kind == EventKind::kDone && event.step == "push-tag") {
      run.tag_pushed = true;
    } else if (event.kind == EventKind::kIntent && event.step == "set-image") {
      bool known = false;
      for (const auto& change : run.touched) known = known || change.service == event.service;
      if (!known) {
        run.touched.push_back({event.service, d.value("from", ""),
                               FromRevision(run.plan, event.service), d.value("to", "")});
      }
    } else if (event.kind == EventKind::kFailed && event.step == "set-image" &&
               d.value("changed", true) == false) {
      // A write that failed and was read back unchanged touched nothing.
      std::erase_if(run.touched, [&](const auto& c) { return c.service == event.service; });
    }
  }
  return run;
}

}  // namespace promote::engine
