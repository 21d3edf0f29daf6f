// `promote history ENV`: the promotions into an environment, from its release tags (when, who,
// versions, good or marked bad) and from the journals of the runs under --state-dir.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "cli/options.h"
#include "core/error.h"

namespace promote {
class Redactor;
}

namespace promote::cli {

/// Lists the releases and runs of `env`, oldest first.
Result<CommandOutcome> RunHistoryCommand(const GlobalOptions& options, const std::string& env,
                                         std::shared_ptr<const Redactor> redactor,
                                         std::ostream& out);

}  // namespace promote::cli
