// `promote status [RUN]`: where a run stands, read from its journal (the newest run when none
// is named): its states with times, what was in flight when it stopped, what it waits for.
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

/// Prints the status of run `run_id` (or the newest run under --state-dir when empty).
Result<CommandOutcome> RunStatusCommand(const GlobalOptions& options, const std::string& run_id,
                                        std::shared_ptr<const Redactor> redactor,
                                        std::ostream& out);

}  // namespace promote::cli
