#include "core/duration.h"

#include <catch2/catch.hpp>

using promote::FormatDuration;
using promote::ParseDuration;
using std::chrono::milliseconds;

TEST_CASE("durations parse as plans write them", "[duration]") {
  CHECK(ParseDuration("500ms") == milliseconds(500));
  CHECK(ParseDuration("5s") == milliseconds(5000));
  CHECK(ParseDuration("1m30s") == milliseconds(90000));
  CHECK(ParseDuration("1h") == milliseconds(3600000));
  CHECK(ParseDuration("0") == milliseconds(0));
  CHECK_FALSE(ParseDuration(""));
  CHECK_FALSE(ParseDuration("5"));
  CHECK_FALSE(ParseDuration("5 s"));
  CHECK_FALSE(ParseDuration("-5s"));
  CHECK_FALSE(ParseDuration("9000h"));
}

TEST_CASE("durations format to what ParseDuration reads back", "[duration]") {
  CHECK(FormatDuration(milliseconds(0)) == "0s");
  CHECK(FormatDuration(milliseconds(1500)) == "1500ms");
  CHECK(FormatDuration(milliseconds(90000)) == "1m30s");
  CHECK(FormatDuration(milliseconds(3600000)) == "1h");
  for (long long ms : {1LL, 999LL, 1000LL, 61000LL, 3661000LL, 7200000LL}) {
    CHECK(ParseDuration(FormatDuration(milliseconds(ms))) == milliseconds(ms));
  }
}
