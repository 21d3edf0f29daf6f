// Short terminal renderings: the audit's conclusion in a few lines and the dry-run plan with the
// exact commands. The full reports are Markdown/JSON/JUnit files (report_writer).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace promote {
class Redactor;
}

namespace promote::phases {
struct AuditReport;
}

namespace promote::engine {
struct RunPlan;
}

namespace promote::report {

/// "Audit keybuzz: dev → prod", the verdicts, the diff per service and the recommendation.
std::string RenderAuditSummary(const phases::AuditReport& report);

/// The dry run: the run's decision and, when it would promote, its numbered steps, each with its
/// exact (redacted) argv; a refused run lists every reason.
std::string RenderPromotionPlan(const engine::RunPlan& plan, const Redactor& redactor);

/// The same plan as JSON (schema "promote/promotion-plan/v1"), argv redacted.
nlohmann::json PromotionPlanJson(const engine::RunPlan& plan, const Redactor& redactor);

}  // namespace promote::report
