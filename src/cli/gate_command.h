// `promote approve RUN`, `promote reject RUN --reason …` and `promote resume RUN`: the approval
// gate of a run that stopped in AwaitingApproval.
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

namespace promote::cli {

/// Records the approval of `who` (--as, else the CI's or OS identity); exit 0 once enough
/// approvals are in, 3 while more are needed.
Result<CommandOutcome> RunApproveCommand(const GlobalOptions& options, const std::string& run_id,
                                         const std::string& who, std::shared_ptr<Redactor> redactor,
                                         spdlog::logger& logger, std::ostream& out);

/// Ends a waiting run as Rejected, with who and why.
Result<CommandOutcome> RunRejectCommand(const GlobalOptions& options, const std::string& run_id,
                                        const std::string& who, const std::string& reason,
                                        std::shared_ptr<Redactor> redactor, std::ostream& out);

/// Continues an approved run: a fresh audit, the approved change checked, then the promotion.
Result<CommandOutcome> RunResumeCommand(const GlobalOptions& options, const std::string& run_id,
                                        std::shared_ptr<Redactor> redactor,
                                        std::shared_ptr<spdlog::logger> logger, std::ostream& out);

}  // namespace promote::cli
