// The run's plan: everything a run will do, decided once from the audit by the pure Prepare.
// The dry run renders it; the run journals it (Audited) and then performs exactly it, step by
// step, each side effect journaled first; a resumed run performs the plan its journal holds. So
// the dry run and the run cannot disagree about the decision, the changes per wave, the tag or
// the freeze: there is no second copy of any of them.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adapters/process/process.h"
#include "phases/audit.h"
#include "phases/deploy.h"
#include "phases/validate.h"
#include "plan/freeze.h"

namespace promote::plan {
struct Plan;
}

namespace promote::adapters::kube {
class Cluster;
}

namespace promote::engine {

/// What a run will do with the change the audit found.
enum class Decision {
  kPromote,      ///< change the target, wave by wave (after the gate, when there is one)
  kNothingToDo,  ///< the target already runs the source
  kRefused,      ///< something forbids it: `refusals` says what, each with its fix
};

/// What kind of step: the phases of DESIGN.md that follow the audit.
enum class StepKind { kApproval, kTag, kDeploy, kWait, kValidate, kAfterAudit };

/// One step of a run: which phase, wave and service, what it does, and its argv when it runs a
/// program (a libgit2 tag has none; its description says exactly what it writes).
struct PlannedStep {
  StepKind kind = StepKind::kDeploy;
  int wave = 0;         ///< 0 for steps outside the waves (approval, tag, after-audit)
  std::string service;  ///< empty for environment-wide steps
  std::string description;
  std::vector<adapters::Command> commands;
};

/// One wave of a run: the services whose image it sets, then every service of the wave
/// validated, set or not (a wave is never skipped: an image already there is not proven).
struct PlannedWave {
  int number = 0;
  std::vector<phases::ServiceChange> changes;  ///< plan order
  std::vector<std::string> services;           ///< every service of the wave, plan order
  /// Service → the image its workload names once the wave is rolled out: what the {image} of
  /// its metric checks means in the wave's validation.
  std::map<std::string, std::string> images{};
};

/// The release the run records before the target changes.
struct TagPlan {
  std::string name;
  bool create = true;  ///< false for a restore: the run's tag is the restored release's own
};

/// Everything a run will do, in order.
struct RunPlan {
  std::string source;
  std::string target;
  bool restore = false;
  Decision decision = Decision::kRefused;
  std::string reason;                 ///< the decision in one sentence
  std::vector<std::string> refusals;  ///< every reason not to promote, each with its fix
  plan::FreezeVerdict freeze;
  bool approval_required = false;
  int approvals = 0;                   ///< distinct approvals needed at the gate
  std::vector<std::string> approvers;  ///< empty: anyone
  TagPlan tag;
  std::vector<PlannedWave> waves;  ///< every wave of the plan, ascending
  phases::Waivers waived;          ///< probes the target is not held to (they fail in the source)
  /// Probes that failed in the target before the run (golden too): a rollback, which puts the
  /// target back as it was, is not held to them.
  phases::Waivers failing_before;
  std::optional<std::string> force_reason;        ///< --force --reason
  std::vector<phases::BadImage> forced;           ///< bad images deployed anyway because of it
  nlohmann::json diff = nlohmann::json::array();  ///< service → action, from, to: what is approved
  std::string diff_hash;                          ///< the plan hash an approval names
  std::vector<PlannedStep> steps;  ///< every step with its exact argv, for the dry run's print

  /// The changes of every wave, in order: what a rollback may have to restore.
  std::vector<phases::ServiceChange> Changes() const;
};

/// Prepares the run the audit decided on (pure): the decision and its refusals, the freeze, the
/// gate, the release tag (the template at `now`, first free name among the audit's tag names;
/// a restore keeps the restored tag), every wave with its changes and the services it validates,
/// the waived probes, and every step's exact argv from `target_cluster` (whose Plan* calls only
/// build argv). Nothing is planned past the audit when the decision is not to promote.
RunPlan Prepare(const plan::Plan& plan, const phases::AuditReport& audit,
                const adapters::kube::Cluster& target_cluster,
                std::chrono::system_clock::time_point now);

/// The promotion diff (service, action, from, to): what an approval is for.
nlohmann::json DiffJson(const phases::AuditReport& audit);

/// A stable hash of a diff (16 hex digits): the "plan hash" an approval names.
std::string DiffHash(const nlohmann::json& diff);

/// Services with their from/to images (and helm revision) as the journal carries them.
nlohmann::json ChangesJson(const std::vector<phases::ServiceChange>& changes);

/// ChangesJson read back (a resumed run's rollback list); fields it cannot read read as empty.
std::vector<phases::ServiceChange> ChangesFromJson(const nlohmann::json& changes);

/// What the journal keeps of a run plan (everything but the argv, which the adapters rebuild):
/// the Audited transition carries it, and a resumed run performs what it reads back.
nlohmann::json RunPlanJson(const RunPlan& run);

/// RunPlanJson read back. Throws nlohmann::json exceptions on a field of another type (the
/// engine turns them into an Error naming the journal).
RunPlan RunPlanFromJson(const nlohmann::json& doc);

const char* DecisionName(Decision decision);  ///< "promote", "nothing-to-do", "refused"
const char* StepKindName(StepKind kind);  ///< "approval", "tag", "deploy", "wait", "validate", …

}  // namespace promote::engine
