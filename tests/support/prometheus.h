// Test fixture: a real Prometheus (scripts/prometheus.sh, Debian's prometheus) scraping a
// stand-in's service ports every second, for the end-to-end tests of metric checks.
#pragma once

#include <filesystem>
#include <string>

#include "support/standin.h"

namespace promote::testing {

/// A running Prometheus in its own folder beside the stand-in's; stopped on destruction.
class LocalPrometheus {
 public:
  explicit LocalPrometheus(const StandIn& standin);
  ~LocalPrometheus();
  LocalPrometheus(const LocalPrometheus&) = delete;
  LocalPrometheus& operator=(const LocalPrometheus&) = delete;

  /// "http://127.0.0.1:PORT".
  std::string url() const;
  /// The stand-in's endpoints with each environment's "prometheus": promote's --endpoints.
  std::filesystem::path endpoints() const { return dir_ / "endpoints.json"; }

 private:
  const StandIn& standin_;
  std::filesystem::path dir_;
};

}  // namespace promote::testing
