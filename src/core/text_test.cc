// The text helpers every layer shares, on the inputs reports give them.
#include "core/text.h"

#include <catch2/catch.hpp>

TEST_CASE("counts carry their noun, plural unless one", "[text]") {
  CHECK(promote::Plural(0, "round") == "0 rounds");
  CHECK(promote::Plural(1, "failed round") == "1 failed round");
  CHECK(promote::Plural(3, "wave") == "3 waves");
}

TEST_CASE("a query written over several lines is quoted on one", "[text]") {
  CHECK(promote::CollapseSpaces("  sum(rate(x[1m]))\n  /\tsum(rate(y[1m]))\r\n") ==
        "sum(rate(x[1m])) / sum(rate(y[1m]))");
  CHECK(promote::CollapseSpaces(" \n\t ").empty());
}

TEST_CASE("numbers are written with up to 4 significant digits", "[text]") {
  CHECK(promote::NumberText(0.9) == "0.9");
  CHECK(promote::NumberText(0.951234) == "0.9512");
  CHECK(promote::NumberText(1250) == "1250");
}
