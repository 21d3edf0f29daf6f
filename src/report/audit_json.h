// The audit as JSON for machines, schema "promote/audit/v2" (documented field by field in
// docs/report-schema.md). Additive changes keep v1; renaming or removing a field bumps to v2.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "adapters/kube/cluster.h"

namespace promote::phases {
struct AuditReport;
}

namespace promote::report {

/// The schema identifier written as the report's "schema" field.
inline constexpr char kAuditSchema[] = "promote/audit/v2";

/// Every fact of the audit as fields (see docs/report-schema.md).
nlohmann::json AuditJson(const phases::AuditReport& report);

/// AuditJson(report) written with an indent of 2, byte for byte, without ever holding the whole
/// tree: each service is built and written on its own (at 200 services the tree costs three
/// times the megabyte of text it renders to). Invalid UTF-8 in a string is replaced, not thrown.
/// The text has room for one more character, the newline a file ends with.
std::string AuditJsonText(const phases::AuditReport& report);

/// A rollout state as the reports name it: "complete", "progressing", "deadline-exceeded",
/// "missing".
const char* RolloutStateName(adapters::kube::RolloutState state);

}  // namespace promote::report
