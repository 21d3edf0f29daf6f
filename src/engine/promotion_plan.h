// The promotion plan: every step a run would take after the audit, in order, with the exact
// command of each side effect. Prepared from the audit alone (pure), so a dry run prints exactly
// what a real run then performs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "adapters/process/process.h"

namespace promote::plan {
struct Plan;
}

namespace promote::adapters::kube {
class Cluster;
}

namespace promote::phases {
struct AuditReport;
}

namespace promote::engine {

/// What kind of step: the phases of DESIGN.md that follow the audit.
enum class StepKind { kApproval, kTag, kDeploy, kWait, kValidate };

/// One step of a promotion: which phase, wave and service, what it does, and its argv when it
/// runs a program (a libgit2 tag has none; its description says exactly what it writes).
struct PlannedStep {
  StepKind kind = StepKind::kDeploy;
  int wave = 0;         ///< 0 for steps outside the waves (approval, tag)
  std::string service;  ///< empty for environment-wide steps
  std::string description;
  std::vector<adapters::Command> commands;
};

/// Everything a promotion would do, in order.
struct PromotionPlan {
  std::string source;
  std::string target;
  std::string tag_name;  ///< the release tag the run would create
  std::vector<PlannedStep> steps;
  bool empty() const { return steps.empty(); }
};

/// The tag name from the plan's template: {env} = target, {plan} = plan name,
/// {date} = `date` (YYYY-MM-DD, UTC).
std::string ExpandTagTemplate(const plan::Plan& plan, const std::string& target,
                              const std::string& date);

/// Prepares the promotion that `audit` recommends. Services the audit marks up to date are left
/// out; nothing is prepared when the recommendation is not to promote. `cluster` gives the
/// target environment's adapter (for its exact argv). `tag_name` is the free tag to create in
/// the repository at `releases_repo`.
PromotionPlan PreparePromotion(const plan::Plan& plan, const phases::AuditReport& audit,
                               adapters::kube::Cluster& cluster, const std::string& tag_name,
                               const std::string& releases_repo);

const char* StepKindName(StepKind kind);  ///< "approval", "tag", "deploy", "wait", "validate"

}  // namespace promote::engine
