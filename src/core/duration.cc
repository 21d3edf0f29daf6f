#include "core/duration.h"

#include <cctype>

namespace promote {

using std::chrono::milliseconds;

/// Parses "500ms", "5s", "2m", "1h" and sums like "1m30s"; nullopt when malformed.
std::optional<milliseconds> ParseDuration(std::string_view text) {
  if (text == "0") return milliseconds(0);
  if (text.empty()) return std::nullopt;
  long long total = 0;
  constexpr long long kMaxMs = 366LL * 24 * 3600 * 1000;  // a year: more is surely a typo
  while (!text.empty()) {
    size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
      ++digits;
    }
    if (digits == 0 || digits > 12) return std::nullopt;
    const long long number = std::stoll(std::string(text.substr(0, digits)));
    text.remove_prefix(digits);
    long long unit = 0;
    if (text.substr(0, 2) == "ms") {
      unit = 1;
      text.remove_prefix(2);
    } else if (!text.empty() && text[0] == 's') {
      unit = 1000;
      text.remove_prefix(1);
    } else if (!text.empty() && text[0] == 'm') {
      unit = 60 * 1000;
      text.remove_prefix(1);
    } else if (!text.empty() && text[0] == 'h') {
      unit = 3600 * 1000;
      text.remove_prefix(1);
    } else {
      return std::nullopt;
    }
    if (number > kMaxMs / unit) return std::nullopt;
    total += number * unit;
    if (total > kMaxMs) return std::nullopt;
  }
  return milliseconds(total);
}

std::string FormatDuration(milliseconds duration) {
  long long ms = duration.count();
  if (ms == 0) return "0s";
  std::string out = ms < 0 ? "-" : "";
  if (ms < 0) ms = -ms;
  if (ms % 1000 != 0) return out + std::to_string(ms) + "ms";
  long long seconds = ms / 1000;
  if (seconds >= 3600) out += std::to_string(seconds / 3600) + "h";
  seconds %= 3600;
  if (seconds >= 60) out += std::to_string(seconds / 60) + "m";
  if (seconds % 60 != 0) out += std::to_string(seconds % 60) + "s";
  return out;
}

}  // namespace promote
