// Implementation details: Prepare reads only the plan, the audit and the clock it is given, and
// asks the target's Cluster adapter for argv (its Plan* calls are const and run nothing). The
// journal form leaves the argv out: they are rebuilt from the same adapter on resume, and the
// intents of each side effect carry them as run.
#include "engine/run_plan.h"

#include "adapters/git/release_repo.h"
#include "adapters/kube/cluster.h"
#include "core/content_hash.h"
#include "core/duration.h"
#include "core/time_format.h"
#include "phases/targets.h"
#include "plan/plan.h"

namespace promote::engine {
namespace {

using nlohmann::json;

Decision DecisionOf(phases::Recommendation recommendation) {
  switch (recommendation) {
    case phases::Recommendation::kPromote:
      return Decision::kPromote;
    case phases::Recommendation::kNothingToDo:
      return Decision::kNothingToDo;
    case phases::Recommendation::kDoNotPromote:
      return Decision::kRefused;
  }
  return Decision::kRefused;
}

std::optional<int> HelmRevision(const phases::AuditReport& audit, const std::string& service) {
  const auto* seen = audit.target_env.Find(service);
  return seen ? seen->status.helm_revision : std::nullopt;
}

// Every wave of the plan with the audit's changes in it and the services it validates.
std::vector<PlannedWave> WavesFor(const plan::Plan& plan, const phases::AuditReport& audit) {
  std::vector<PlannedWave> waves;
  for (const auto& wave : plan.Waves()) {
    PlannedWave planned;
    planned.number = wave.front()->wave;
    for (const plan::Service* service : wave) {
      planned.services.push_back(service->name);
      for (const auto& c : audit.comparisons) {
        if (c.service != service->name) continue;
        const bool promoted = c.action == phases::ServiceAction::kPromote;
        planned.images[c.service] = promoted ? c.DeployImage() : c.target_image;
        if (!promoted) continue;
        planned.changes.push_back(
            {c.service, c.target_image, HelmRevision(audit, c.service), c.DeployImage()});
      }
    }
    waves.push_back(std::move(planned));
  }
  return waves;
}

std::string ValidationText(const plan::Plan& plan, const PlannedWave& wave,
                           const std::string& target) {
  const plan::ValidationPolicy& v = plan.validate;
  const std::size_t checks = plan.environment_checks.size();
  return "probe wave " + std::to_string(wave.number) + " (" + std::to_string(wave.services.size()) +
         " service(s)" + (wave.changes.empty() ? ", none changed: validated all the same" : "") +
         (checks > 0 ? ", and the environment's " + std::to_string(checks) + " check(s)" : "") +
         ") in " + target + " after " + FormatDuration(v.initial_delay) + ", every " +
         FormatDuration(v.interval) + " for " + FormatDuration(v.soak) + ": " +
         std::to_string(v.successes) + " consecutive passes, failure limit " +
         std::to_string(v.failure_limit) + ", error limit " + std::to_string(v.error_limit) +
         "; roll back every changed service on failure";
}

// The steps of a decided promotion, in the order the run takes them.
std::vector<PlannedStep> StepsFor(const plan::Plan& plan, const RunPlan& run,
                                  const adapters::kube::Cluster& cluster,
                                  const std::string& releases_repo) {
  std::vector<PlannedStep> steps;
  if (run.approval_required) {
    steps.push_back({StepKind::kApproval,
                     0,
                     "",
                     "stop and wait for " + std::to_string(run.approvals) +
                         " approval(s) before changing " + run.target,
                     {}});
  }
  steps.push_back({StepKind::kTag,
                   0,
                   "",
                   run.tag.create
                       ? "create annotated tag " + run.tag.name + " in " + releases_repo +
                             " (libgit2) carrying the release manifest"
                       : "no new tag: the run restores release " + run.tag.name + " as it is",
                   {}});
  const plan::Environment& target = *plan.FindEnvironment(run.target);
  const auto timeout = plan.validate.rollout_timeout;
  for (const auto& wave : run.waves) {
    for (const auto& change : wave.changes) {
      const auto ref = phases::WorkloadRefFor(target, *plan.FindService(change.service));
      steps.push_back({StepKind::kDeploy, wave.number, change.service,
                       "set " + change.service + " in " + ref.ns + " to " + change.to_image +
                           " (was " + change.from_image + ")",
                       cluster.PlanDeploy(ref, change.to_image, timeout)});
      steps.push_back({StepKind::kWait,
                       wave.number,
                       change.service,
                       "wait up to " + FormatDuration(timeout) + " for the rollout of " + ref.kind +
                           "/" + ref.name + " (its status read through kubectl proxy)",
                       {}});
    }
    steps.push_back(
        {StepKind::kValidate, wave.number, "", ValidationText(plan, wave, run.target), {}});
  }
  steps.push_back(
      {StepKind::kAfterAudit,
       0,
       "",
       "audit " + run.target + " again: the run is Promoted only if every golden probe passes",
       {}});
  return steps;
}

}  // namespace

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

const char* DecisionName(Decision decision) {
  switch (decision) {
    case Decision::kPromote:
      return "promote";
    case Decision::kNothingToDo:
      return "nothing-to-do";
    case Decision::kRefused:
      return "refused";
  }
  return "refused";
}

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kApproval:
      return "approval";
    case StepKind::kTag:
      return "tag";
    case StepKind::kDeploy:
      return "deploy";
    case StepKind::kWait:
      return "wait";
    case StepKind::kValidate:
      return "validate";
    case StepKind::kAfterAudit:
      return "after-audit";
  }
  return "unknown";
}

std::vector<phases::ServiceChange> RunPlan::Changes() const {
  std::vector<phases::ServiceChange> all;
  for (const auto& wave : waves) all.insert(all.end(), wave.changes.begin(), wave.changes.end());
  return all;
}

json DiffJson(const phases::AuditReport& audit) {
  json diff = json::array();
  for (const auto& c : audit.comparisons) {
    diff.push_back({{"service", c.service},
                    {"action", phases::ServiceActionName(c.action)},
                    {"from", c.target_image},
                    {"to", c.DeployImage()}});
  }
  return diff;
}

std::string DiffHash(const json& diff) {
  return ContentHash(diff.dump());
}

RunPlan Prepare(const plan::Plan& plan, const phases::AuditReport& audit,
                const adapters::kube::Cluster& target_cluster,
                std::chrono::system_clock::time_point now) {
  RunPlan run;
  run.source = audit.source;
  run.target = audit.target;
  run.restore = audit.restore;
  run.decision = DecisionOf(audit.recommendation);
  run.reason = audit.recommendation_reason;
  run.refusals = audit.refusals;
  run.freeze = audit.freeze;
  run.force_reason = audit.force_reason;
  run.forced = audit.forced;
  run.diff = DiffJson(audit);
  run.diff_hash = DiffHash(run.diff);
  if (run.decision != Decision::kPromote) return run;

  const plan::ApprovalGate& gate = plan.FindEnvironment(run.target)->approval;
  run.approval_required = gate.required;
  run.approvals = gate.count;
  run.approvers = gate.approvers;
  if (run.restore) {
    run.tag = {audit.source, false};
  } else {
    const std::string base = plan::ExpandTagTemplate(plan, run.target, UtcDate(now));
    const std::string free =
        audit.releases.known ? adapters::git::FirstFreeName(base, audit.releases.tag_names) : base;
    run.tag = {free.empty() ? base : free, true};
  }
  run.waves = WavesFor(plan, audit);
  for (const auto& c : audit.comparisons) {
    if (!c.waived_probes.empty()) run.waived[c.service] = c.waived_probes;
  }
  // The environment's own checks (key ""): the target is not held to one the source fails too.
  for (const auto& check : audit.source_env.checks) {
    if (!check.passed() && !check.golden && !phases::WithoutValue(check)) {
      run.waived[""].push_back(check.probe_name);
    }
  }
  for (const auto& seen : audit.target_env.services) {
    for (const auto& probe : seen.probes) {
      // A metric without a value then was not failing: unknown excuses nothing after the run.
      if (!probe.passed() && !phases::WithoutValue(probe)) {
        run.failing_before[seen.service].push_back(probe.probe_name);
      }
    }
  }
  run.steps =
      StepsFor(plan, run, target_cluster,
               audit.releases.repo.empty() ? "(no release repository)" : audit.releases.repo);
  return run;
}

json RunPlanJson(const RunPlan& run) {
  json waves = json::array();
  for (const auto& wave : run.waves) {
    waves.push_back({{"wave", wave.number},
                     {"changes", ChangesJson(wave.changes)},
                     {"services", wave.services},
                     {"images", wave.images}});
  }
  json forced = json::array();
  for (const auto& bad : run.forced) forced.push_back(phases::BadImageJson(bad));
  return {{"source", run.source},
          {"target", run.target},
          {"restore", run.restore},
          {"decision", DecisionName(run.decision)},
          {"reason", run.reason},
          {"refusals", run.refusals},
          {"approvalRequired", run.approval_required},
          {"approvals", run.approvals},
          {"approvers", run.approvers},
          {"tag", {{"name", run.tag.name}, {"create", run.tag.create}}},
          {"waves", waves},
          {"waived", run.waived},
          {"failingBefore", run.failing_before},
          {"forceReason", run.force_reason ? json(*run.force_reason) : json()},
          {"forced", forced},
          {"diff", run.diff},
          {"diffHash", run.diff_hash}};
}

RunPlan RunPlanFromJson(const json& doc) {
  RunPlan run;
  run.source = doc.at("source").get<std::string>();
  run.target = doc.at("target").get<std::string>();
  run.restore = doc.value("restore", false);
  const std::string decision = doc.value("decision", "refused");
  run.decision = decision == "promote"         ? Decision::kPromote
                 : decision == "nothing-to-do" ? Decision::kNothingToDo
                                               : Decision::kRefused;
  run.reason = doc.value("reason", "");
  run.refusals = doc.value("refusals", std::vector<std::string>{});
  run.approval_required = doc.value("approvalRequired", false);
  run.approvals = doc.value("approvals", 0);
  run.approvers = doc.value("approvers", std::vector<std::string>{});
  const json& tag = doc.at("tag");
  run.tag = {tag.at("name").get<std::string>(), tag.value("create", true)};
  for (const auto& wave : doc.at("waves")) {
    PlannedWave planned;
    planned.number = wave.at("wave").get<int>();
    planned.services = wave.value("services", std::vector<std::string>{});
    planned.changes = ChangesFromJson(wave.at("changes"));
    planned.images = wave.value("images", std::map<std::string, std::string>{});
    run.waves.push_back(std::move(planned));
  }
  run.waived = doc.value("waived", phases::Waivers{});
  run.failing_before = doc.value("failingBefore", phases::Waivers{});
  if (doc.contains("forceReason") && doc["forceReason"].is_string()) {
    run.force_reason = doc["forceReason"].get<std::string>();
  }
  for (const auto& bad : doc.value("forced", json::array())) {
    run.forced.push_back(phases::BadImageFromJson(bad));
  }
  run.diff = doc.value("diff", json::array());
  run.diff_hash = doc.value("diffHash", "");
  return run;
}

}  // namespace promote::engine
