#include "engine/promotion_plan.h"

#include "adapters/kube/cluster.h"
#include "core/duration.h"
#include "phases/audit.h"
#include "phases/targets.h"
#include "plan/plan.h"

namespace promote::engine {
namespace {

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

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
  }
  return "unknown";
}

std::string ExpandTagTemplate(const plan::Plan& plan, const std::string& target,
                              const std::string& date) {
  std::string name = ReplaceAll(plan.releases.tag_template, "{env}", target);
  name = ReplaceAll(name, "{plan}", plan.name);
  return ReplaceAll(name, "{date}", date);
}

PromotionPlan PreparePromotion(const plan::Plan& plan, const phases::AuditReport& audit,
                               adapters::kube::Cluster& cluster, const std::string& tag_name,
                               const std::string& releases_repo) {
  PromotionPlan promotion;
  promotion.source = audit.source;
  promotion.target = audit.target;
  promotion.tag_name = tag_name;
  if (audit.recommendation != phases::Recommendation::kPromote) return promotion;
  const plan::Environment& target = *plan.FindEnvironment(audit.target);

  if (target.approval.required) {
    PlannedStep gate;
    gate.kind = StepKind::kApproval;
    gate.description = "stop and wait for " + std::to_string(target.approval.count) +
                       " approval(s) before changing " + audit.target;
    promotion.steps.push_back(std::move(gate));
  }
  PlannedStep tag;
  tag.kind = StepKind::kTag;
  tag.description = "create annotated tag " + tag_name + " in " + releases_repo +
                    " (libgit2) carrying the release manifest";
  promotion.steps.push_back(std::move(tag));

  const auto rollout_timeout = plan.validate.rollout_timeout;
  for (const auto& wave : plan.Waves()) {
    bool wave_changes = false;
    for (const plan::Service* service : wave) {
      const phases::ServiceComparison* change = nullptr;
      for (const auto& comparison : audit.comparisons) {
        if (comparison.service == service->name &&
            comparison.action == phases::ServiceAction::kPromote) {
          change = &comparison;
        }
      }
      if (!change) continue;
      wave_changes = true;
      const auto ref = phases::WorkloadRefFor(target, *service);
      PlannedStep deploy;
      deploy.kind = StepKind::kDeploy;
      deploy.wave = service->wave;
      deploy.service = service->name;
      deploy.description = "set " + service->name + " in " + ref.ns + " to " +
                           change->DeployImage() + " (was " + change->target_image + ")";
      deploy.commands = cluster.PlanDeploy(ref, change->DeployImage(), rollout_timeout);
      promotion.steps.push_back(std::move(deploy));

      PlannedStep wait;
      wait.kind = StepKind::kWait;
      wait.wave = service->wave;
      wait.service = service->name;
      wait.description = "wait up to " + FormatDuration(rollout_timeout) + " for the rollout of " +
                         ref.kind + "/" + ref.name;
      wait.commands = {cluster.PlanWait(ref, rollout_timeout)};
      promotion.steps.push_back(std::move(wait));
    }
    if (!wave_changes) continue;
    const auto& v = plan.validate;
    PlannedStep validate;
    validate.kind = StepKind::kValidate;
    validate.wave = wave.front()->wave;
    validate.description =
        "probe wave " + std::to_string(validate.wave) + " in " + audit.target + " after " +
        FormatDuration(v.initial_delay) + ", every " + FormatDuration(v.interval) + " for " +
        FormatDuration(v.soak) + ": " + std::to_string(v.successes) +
        " consecutive passes, failure limit " + std::to_string(v.failure_limit) + ", error limit " +
        std::to_string(v.error_limit) + "; roll back every changed service " + "on failure";
    promotion.steps.push_back(std::move(validate));
  }
  return promotion;
}

}  // namespace promote::engine
