// Timestamps as promote writes them: RFC 3339 UTC in reports and journals, dates in tag names.
#pragma once

#include <chrono>
#include <string>

namespace promote {

/// `at` in UTC with an strftime `format`.
std::string FormatUtc(std::chrono::system_clock::time_point at, const char* format);

/// "2026-11-25T11:03:12Z".
inline std::string Rfc3339(std::chrono::system_clock::time_point at) {
  return FormatUtc(at, "%Y-%m-%dT%H:%M:%SZ");
}

/// "2026-11-25".
inline std::string UtcDate(std::chrono::system_clock::time_point at) {
  return FormatUtc(at, "%Y-%m-%d");
}

}  // namespace promote
