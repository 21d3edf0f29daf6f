#include "support/prometheus.h"

#include <catch2/catch.hpp>

#include "support/files.h"

namespace promote::testing {

namespace {

std::string Script() {
  return std::string(PROMOTE_SOURCE_DIR) + "/scripts/prometheus.sh";
}

}  // namespace

LocalPrometheus::LocalPrometheus(const StandIn& standin)
    : standin_(standin), dir_(standin.dir().parent_path() / "prometheus") {
  const auto up = standin_.Run({Script(), "up", dir_.string(), "--endpoints",
                                (standin_.dir() / "endpoints.json").string(), "--interval", "1s"});
  INFO(up.out << up.err);
  REQUIRE(up.ok());
}

LocalPrometheus::~LocalPrometheus() {
  (void)standin_.Run({Script(), "down", dir_.string()});
}

std::string LocalPrometheus::url() const {
  std::string url = ReadFile(dir_ / "url");
  while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
  return url;
}

}  // namespace promote::testing
