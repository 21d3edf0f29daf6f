// The audit as a person reads it instead of the logs: conclusion first, then versions,
// environments, endpoints, secrets, drift and recommendations, as Markdown tables. Pure: the
// caller (WriteAuditReports) redacts the text before it leaves promote.
#pragma once

#include <string>

namespace promote::phases {
struct AuditReport;
}

namespace promote::report {

/// The audit report in GitHub-flavoured Markdown (also what goes to GITHUB_STEP_SUMMARY).
std::string RenderAuditMarkdown(const phases::AuditReport& report);

}  // namespace promote::report
