// Timestamps as promote writes them: RFC 3339 UTC in reports and journals, dates in tag names.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace promote {

/// `at` in UTC with an strftime `format`.
std::string FormatUtc(std::chrono::system_clock::time_point at, const char* format);

/// "2026-11-25T11:03:12Z".
inline std::string Rfc3339(std::chrono::system_clock::time_point at) {
  return FormatUtc(at, "%Y-%m-%dT%H:%M:%SZ");
}

/// Seconds since the epoch of an RFC 3339 time ("2026-02-01T09:00:00Z", fractions and offsets
/// accepted), or nullopt when it is not one.
std::optional<std::chrono::sys_seconds> ParseRfc3339(const std::string& text);

/// "2026-11-25".
inline std::string UtcDate(std::chrono::system_clock::time_point at) {
  return FormatUtc(at, "%Y-%m-%d");
}

}  // namespace promote
