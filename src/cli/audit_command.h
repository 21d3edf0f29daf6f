// `promote audit SRC DST` and `promote SRC DST --dry-run`: the audit, its reports, and for a dry
// run the promotion plan with exact commands. Nothing is changed anywhere.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "cli/options.h"
#include "core/error.h"

namespace spdlog {
class logger;
}

namespace promote {
class Redactor;
}

namespace promote::plan {
struct Plan;
}

namespace promote::cli {

/// Whether the audit stands alone or is the first half of a dry run.
enum class AuditMode { kAuditOnly, kDryRun, kRestoreDryRun };

/// Runs the audit (and for kDryRun prepares the promotion), writes the reports, prints a
/// summary on `out`; the outcome's exit code says healthy / promotion pending / unhealthy.
/// kRestoreDryRun is `rollback TARGET --to TAG --dry-run`: `source` is the release tag.
Result<CommandOutcome> RunAuditCommand(const GlobalOptions& options, const plan::Plan& plan,
                                       const std::string& source, const std::string& target,
                                       AuditMode mode, std::shared_ptr<const Redactor> redactor,
                                       std::shared_ptr<spdlog::logger> logger, std::ostream& out);

}  // namespace promote::cli
