// The audit as JUnit XML for CI dashboards: one <testsuite> per environment ("audit.<env>"), one
// <testcase> per probe (classname "<env>.<service>", name "METHOD PATH") and one per required
// secret (classname "<env>.secrets", name "secret NAME"). Pure: the caller redacts.
#pragma once

#include <string>

namespace promote::phases {
struct AuditReport;
}

namespace promote::report {

/// JUnit XML: a failed probe or missing secret is a <failure>, a probe with no answer or a secret
/// list that could not be read is an <error>; times are in seconds.
std::string RenderJUnit(const phases::AuditReport& report);

}  // namespace promote::report
