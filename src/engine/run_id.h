// Run ids: sortable by time, readable (which promotion), unique enough for one state folder.
#pragma once

#include <chrono>
#include <string>

namespace promote::engine {

/// "20261125T110312Z-dev-prod-3fa9": UTC start time, source, target, 16 random bits.
std::string NewRunId(std::chrono::system_clock::time_point at, const std::string& source,
                     const std::string& target);

}  // namespace promote::engine
