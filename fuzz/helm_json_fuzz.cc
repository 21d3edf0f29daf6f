// Fuzz target: the readers of helm's answers (adapters/kube/answers.h): `helm status -o json`
// and the metadata list of helm's release Secrets, whose labels give a release's revision. Each
// reads a revision or none; a thrown exception, a crash or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "adapters/kube/answers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  (void)promote::adapters::kube::HelmStatusRevision(input);
  const auto highest = promote::adapters::kube::HighestReleaseRevision(input);
  if (highest && *highest <= 0) __builtin_trap();  // only revisions above 0 count
  return 0;
}
