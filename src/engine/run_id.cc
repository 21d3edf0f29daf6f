#include "engine/run_id.h"

#include <cstdio>
#include <random>

#include "core/time_format.h"

namespace promote::engine {

std::string NewRunId(std::chrono::system_clock::time_point at, const std::string& source,
                     const std::string& target) {
  std::random_device random;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", static_cast<unsigned>(random() & 0xffff));
  return FormatUtc(at, "%Y%m%dT%H%M%SZ") + "-" + source + "-" + target + "-" + suffix;
}

}  // namespace promote::engine
