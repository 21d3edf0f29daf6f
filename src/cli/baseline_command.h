// `promote baseline ENV`: records what ENV runs now as its first release (a new installation),
// so that audits and nightly dry runs have a release to measure drift against.
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

/// Records (or with --dry-run shows) the baseline release of `env` and prints it.
Result<CommandOutcome> RunBaselineCommand(const GlobalOptions& options, const plan::Plan& plan,
                                          const std::string& env,
                                          std::shared_ptr<const Redactor> redactor,
                                          std::shared_ptr<spdlog::logger> logger,
                                          std::ostream& out);

}  // namespace promote::cli
