// Durations as people write them in plans and read them in reports: "500ms", "5s", "1m30s".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace promote {

/// Parses "500ms", "5s", "2m", "1h" and sums like "1m30s" ("0" is zero); nullopt when malformed
/// or longer than a year (surely a typo).
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

/// The shortest exact form ParseDuration reads back: 1500ms → "1500ms", 90s → "1m30s".
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace promote
