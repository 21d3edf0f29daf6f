#include "adapters/kube/retry.h"

#include <array>

namespace promote::adapters::kube {

bool PermanentCommandFailure(const std::string& said) {
  // client-go's and helm's wording of 401, 403, 404, 409 (conflicting operation), 422 and
  // argument errors; stable across the pinned versions and the ones before them.
  static constexpr std::array<const char*, 11> kPermanent = {
      "forbidden",      "Unauthorized",      "(NotFound)",        "not found",
      "is invalid",     "(Invalid)",         "(BadRequest)",      "unknown flag",
      "unable to find", "another operation", "must be logged in",
  };
  for (const char* words : kPermanent) {
    if (said.find(words) != std::string::npos) return true;
  }
  return false;
}

}  // namespace promote::adapters::kube
