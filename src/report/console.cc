#include "report/console.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/kube/cluster.h"
#include "core/duration.h"
#include "core/redactor.h"
#include "engine/promotion_plan.h"
#include "phases/audit.h"

namespace promote::report {
namespace {

std::string Upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// One shell-readable line for an argv: arguments with spaces or quotes are single-quoted.
std::string ShellLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& arg : argv) {
    if (!line.empty()) line += ' ';
    if (arg.find_first_of(" \t\"'$`\\|&;<>(){}*?!#~") == std::string::npos && !arg.empty()) {
      line += arg;
      continue;
    }
    line += '\'';
    for (char c : arg) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
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
  }
  for (const auto& comparison : report.comparisons) {
    out << "  " << comparison.service << ": " << adapters::kube::ImageTag(comparison.target_image)
        << " in " << report.target << ", " << adapters::kube::ImageTag(comparison.source_image)
        << " in " << report.source << " → " << phases::ServiceActionName(comparison.action);
    if (comparison.action == phases::ServiceAction::kBlocked)
      out << " (" << comparison.reason << ")";
    out << "\n";
  }
  for (const auto& image : report.drift) out << "  drift: " << image << " is in no release tag\n";
  out << "Recommendation: " << report.recommendation_reason << "\n";
  if (!report.command.empty()) out << "  " << report.command << "\n";
  return out.str();
}

std::string RenderPromotionPlan(const engine::PromotionPlan& plan, const Redactor& redactor) {
  std::ostringstream out;
  if (plan.empty()) {
    out << "Dry run: nothing to do, no step would run.\n";
    return out.str();
  }
  out << "Dry run: promoting " << plan.source << " → " << plan.target << " would take "
      << plan.steps.size() << " steps (nothing was changed):\n";
  int number = 0;
  for (const auto& step : plan.steps) {
    out << "  " << ++number << ". " << engine::StepKindName(step.kind);
    if (step.wave > 0) out << " [wave " << step.wave << "]";
    out << ": " << redactor.Redact(step.description) << "\n";
    for (const auto& command : step.commands) {
      out << "       $ " << ShellLine(redactor.RedactArgv(command.argv)) << "\n";
    }
  }
  return out.str();
}

nlohmann::json PromotionPlanJson(const engine::PromotionPlan& plan, const Redactor& redactor) {
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
  return {{"schema", "promote/promotion-plan/v1"},
          {"source", plan.source},
          {"target", plan.target},
          {"tag", plan.tag_name},
          {"steps", steps}};
}

}  // namespace promote::report
