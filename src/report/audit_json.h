// The audit as JSON for machines, schema "promote/audit/v1" (documented field by field in
// docs/report-schema.md). Additive changes keep v1; renaming or removing a field bumps to v2.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "adapters/kube/cluster.h"

namespace promote::phases {
struct AuditReport;
}

namespace promote::report {

/// The schema identifier written as the report's "schema" field.
inline constexpr char kAuditSchema[] = "promote/audit/v1";

/// Every fact of the audit as fields (see docs/report-schema.md).
nlohmann::json AuditJson(const phases::AuditReport& report);

/// A rollout state as the reports name it: "complete", "progressing", "deadline-exceeded",
/// "missing".
const char* RolloutStateName(adapters::kube::RolloutState state);

}  // namespace promote::report
