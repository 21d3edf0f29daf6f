// Fuzz target: the readers of the API server's JSON (adapters/kube/answers.h) that make the
// audit's facts: a workload object with the PodList of its namespace, and a Secret list; and the
// Lease reader (adapters/kube/lease.h) that decides whether a lock is held or stale. The
// input is the workload's answer and the pods' answer, split at the first NUL byte (no NUL: the
// same text for both, so a List seed feeds both readers). Each answer is either read or an
// Error; a thrown exception, a crash or a sanitizer report is a finding.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "adapters/kube/answers.h"
#include "adapters/kube/lease.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string workload = input.substr(0, nul);
  const std::string pods = nul == std::string::npos ? input : input.substr(nul + 1);

  promote::adapters::kube::WorkloadRef ref;
  ref.context = "prod";
  ref.ns = "keybuzz-api-prod";
  ref.name = "keybuzz-api";
  ref.container = "api";
  auto status = promote::adapters::kube::WorkloadFromAnswers(workload, pods, ref);
  if (status && status->image.empty()) __builtin_trap();  // a read workload names its image
  if (!status && status.error().what.empty()) __builtin_trap();
  (void)promote::adapters::kube::SecretNamesFromAnswer(workload);
  (void)promote::adapters::kube::SecretNamesFromAnswer(pods);
  const std::chrono::system_clock::time_point now{std::chrono::hours(24 * 20'000)};
  (void)promote::adapters::kube::ParseLease(workload, now);
  return 0;
}
