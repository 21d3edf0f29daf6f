#include "report/console.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/kube/cluster.h"
#include "core/duration.h"
#include "core/image_reference.h"
#include "core/redactor.h"
#include "core/shell_line.h"
#include "core/text.h"
#include "engine/run_plan.h"
#include "phases/audit.h"

namespace promote::report {
namespace {

// The tag alone when both images come from one repository, else repository and tag: a change
// of registry (a mirror, or an image from elsewhere) must show in the one-line summary.
std::string Version(const std::string& image, const std::string& other) {
  if (image.empty()) return "?";  // unread or absent: the action's reason says which
  auto ref = ParseImageReference(image);
  auto other_ref = ParseImageReference(other);
  const std::string tag = adapters::kube::ImageTag(image);
  if (image.empty() || !ref || (other_ref && ref->Repository() == other_ref->Repository())) {
    return tag;
  }
  return ref->Repository() + ":" + tag;
}

std::string Upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

std::string RenderAuditSummary(const phases::AuditReport& report) {
  std::ostringstream out;
  out << "Audit " << report.plan_name << ": " << report.source << " → " << report.target << " ("
      << FormatDuration(report.duration) << ")\n";
  for (const auto* env : {&report.target_env, &report.source_env}) {
    const auto& verdict = env == &report.target_env ? report.target_verdict : report.source_verdict;
    out << "  " << env->name << ": " << Upper(phases::FunctionalName(verdict.functional));
    if (verdict.functional != phases::Functional::kFunctional) out << " — " << verdict.reason;
    out << "\n";
    std::vector<std::string> works;
    std::vector<std::string> broken;
    std::vector<std::string> unknown;
    for (const auto& capability : env->capabilities) {
      (capability.Works()     ? works
       : capability.Unknown() ? unknown
                              : broken)
          .push_back(capability.name);
    }
    if (!works.empty()) out << "    works: " << Join(works, ", ") << "\n";
    if (!broken.empty()) out << "    does not work: " << Join(broken, ", ") << "\n";
    if (!unknown.empty()) out << "    unknown (no metric data): " << Join(unknown, ", ") << "\n";
  }
  for (const auto& comparison : report.comparisons) {
    out << "  " << comparison.service << ": "
        << Version(comparison.target_image, comparison.source_image) << " in " << report.target
        << ", " << Version(comparison.source_image, comparison.target_image) << " in "
        << report.source << " → " << phases::ServiceActionName(comparison.action);
    if (comparison.action == phases::ServiceAction::kBlocked)
      out << " (" << comparison.reason << ")";
    out << "\n";
  }
  for (const auto& image : report.drift) out << "  drift: " << image << " is in no release tag\n";
  if (const auto& findings = report.target_env.registry; findings && !findings->empty()) {
    std::size_t present = 0;
    for (const auto& finding : *findings) {
      present += finding.presence == phases::RegistryFinding::Presence::kPresent;
    }
    out << "  registry: " << present << " of " << findings->size()
        << " image(s) to deploy found in " << report.target << "'s registry\n";
  }
  if (report.NoReleaseYet()) {
    out << "  releases: none of " << report.target << " recorded yet (not drift); record what it "
        << "runs now with: " << report.Suggest({"baseline", report.target}) << "\n";
  }
  for (const auto& cause : report.causes) out << "  cause: " << cause.sentence << "\n";
  out << "Recommendation: " << report.recommendation_reason << "\n";
  if (!report.command.empty()) out << "  " << report.command << "\n";
  if (report.options.size() > 1 ||
      (!report.options.empty() && report.options.front().command != report.command)) {
    out << "Options, the recommended one first:\n";
    for (std::size_t i = 0; i < report.options.size(); ++i) {
      const auto& option = report.options[i];
      out << "  " << i + 1 << ". " << option.title << (i == 0 ? " (recommended)" : "") << "\n";
      if (!option.command.empty()) out << "       " << option.command << "\n";
    }
  }
  return out.str();
}

std::string RenderPromotionPlan(const engine::RunPlan& plan, const Redactor& redactor) {
  std::ostringstream out;
  switch (plan.decision) {
    case engine::Decision::kNothingToDo:
      out << "Dry run: nothing to do, no step would run.\n";
      return out.str();
    case engine::Decision::kRefused:
      out << "Dry run: the run would be REFUSED (nothing would change):\n";
      for (const auto& reason : plan.refusals) out << "  - " << redactor.Redact(reason) << "\n";
      return out.str();
    case engine::Decision::kPromote:
      break;
  }
  out << "Dry run: " << (plan.restore ? "restoring " : "promoting ") << plan.source << " → "
      << plan.target << " would take " << plan.steps.size() << " steps (nothing was changed):\n";
  int number = 0;
  for (const auto& step : plan.steps) {
    out << "  " << ++number << ". " << engine::StepKindName(step.kind);
    if (step.wave > 0) out << " [wave " << step.wave << "]";
    out << ": " << redactor.Redact(step.description) << "\n";
    for (const auto& command : step.commands) {
      out << "       $ " << ShellLine(redactor.RedactArgv(command.argv)) << "\n";
    }
  }
  for (const auto& [service, probes] : plan.waived) {
    for (const auto& probe : probes) {
      out << "  not required in " << plan.target << ": "
          << (service.empty() ? std::string("the environment's") : service) << " probe '" << probe
          << "' (it fails in " << plan.source << " too)\n";
    }
  }
  for (const auto& bad : plan.forced) {
    out << "  FORCED: " << redactor.Redact(bad.Describe())
        << " (--force: " << redactor.Redact(plan.force_reason.value_or("")) << ")\n";
  }
  if (plan.freeze.frozen && plan.freeze.override_reason) {
    out << "  FREEZE OVERRIDDEN: " << redactor.Redact(plan.freeze.description) << " ("
        << redactor.Redact(*plan.freeze.override_reason) << ")\n";
  }
  return out.str();
}

nlohmann::json PromotionPlanJson(const engine::RunPlan& plan, const Redactor& redactor) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& step : plan.steps) {
    nlohmann::json commands = nlohmann::json::array();
    for (const auto& command : step.commands) commands.push_back(redactor.RedactArgv(command.argv));
    steps.push_back({{"kind", engine::StepKindName(step.kind)},
                     {"wave", step.wave},
                     {"service", step.service},
                     {"description", redactor.Redact(step.description)},
                     {"commands", commands}});
  }
  nlohmann::json refusals = nlohmann::json::array();
  for (const auto& reason : plan.refusals) refusals.push_back(redactor.Redact(reason));
  nlohmann::json forced = nlohmann::json::array();
  for (const auto& bad : plan.forced) forced.push_back(redactor.Redact(bad.Describe()));
  return {{"schema", "promote/promotion-plan/v1"},
          {"source", plan.source},
          {"target", plan.target},
          {"restore", plan.restore},
          {"decision", engine::DecisionName(plan.decision)},
          {"reason", redactor.Redact(plan.reason)},
          {"refusals", refusals},
          {"tag", plan.tag.name.empty() ? nlohmann::json() : nlohmann::json(plan.tag.name)},
          {"createsTag", plan.tag.create && !plan.tag.name.empty()},
          {"freeze", plan.freeze.frozen ? nlohmann::json(redactor.Redact(plan.freeze.description))
                                        : nlohmann::json()},
          {"waived", plan.waived},
          {"forced", forced},
          {"steps", steps}};
}

}  // namespace promote::report
