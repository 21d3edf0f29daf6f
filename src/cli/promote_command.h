// `promote SRC DST`: one promotion run, its journal and reports in the run's folder.
#pragma once

#include <filesystem>
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

namespace promote::engine {
struct PromotionOptions;
struct PromotionResult;
}  // namespace promote::engine

namespace promote::cli {

/// Who runs promote: $GITHUB_ACTOR, else $GITLAB_USER_LOGIN, else $USER / $LOGNAME, else the
/// OS account name.
std::string CurrentIdentity();

/// Runs the promotion and prints how it ended; the outcome's exit code follows the run's state.
Result<CommandOutcome> RunPromoteCommand(const GlobalOptions& options, const plan::Plan& plan,
                                         const std::string& source, const std::string& target,
                                         std::shared_ptr<const Redactor> redactor,
                                         std::shared_ptr<spdlog::logger> logger, std::ostream& out);

/// `promote rollback TARGET --to TAG`: a run that restores release TAG into TARGET through the
/// same gates, deploy, validation, journal and report as a promotion (and no new tag).
Result<CommandOutcome> RunRestoreCommand(const GlobalOptions& options, const plan::Plan& plan,
                                         const std::string& target, const std::string& tag,
                                         std::shared_ptr<const Redactor> redactor,
                                         std::shared_ptr<spdlog::logger> logger, std::ostream& out);

/// Where a run's reports go: --report-dir, else the run's folder.
std::filesystem::path ReportDirFor(const GlobalOptions& options,
                                   const std::filesystem::path& run_dir);

/// Prints how a run ended (text or JSON) and returns the exit code its state calls for.
Result<CommandOutcome> PrintRun(const GlobalOptions& options, const engine::PromotionOptions& run,
                                const engine::PromotionResult& result, const Redactor& redactor,
                                std::ostream& out);

}  // namespace promote::cli
