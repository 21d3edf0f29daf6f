// Fuzz target: the plan loader on YAML text (plans/*.yaml, tests/plans/*), as `plan check` reads
// a file. A plan is either loaded or refused with an Error that says what is wrong; anything else
// is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "plan/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // A bare name: local helm charts are looked for in the current folder, which holds none.
  auto plan = promote::plan::ParsePlan(text, "fuzz-plan.yaml");
  if (!plan && plan.error().what.empty()) __builtin_trap();  // a refusal must say what is wrong
  return 0;
}
