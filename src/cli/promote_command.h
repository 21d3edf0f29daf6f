// `promote SRC DST`: one promotion run, its journal and reports in the run's folder.
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

/// Who runs promote: $GITHUB_ACTOR, else $GITLAB_USER_LOGIN, else $USER / $LOGNAME, else the
/// OS account name.
std::string CurrentIdentity();

/// Runs the promotion and prints how it ended; the outcome's exit code follows the run's state.
Result<CommandOutcome> RunPromoteCommand(const GlobalOptions& options, const plan::Plan& plan,
                                         const std::string& source, const std::string& target,
                                         std::shared_ptr<const Redactor> redactor,
                                         std::shared_ptr<spdlog::logger> logger, std::ostream& out);

}  // namespace promote::cli
