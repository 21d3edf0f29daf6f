// The rollback phase: restores exactly what the target ran before the run (the image, or the
// helm revision, the audit recorded) for every service the run touched, and waits for it, with
// a time budget of its own. Each restore is journaled first, so nothing restored is forgotten.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "phases/deploy.h"

namespace promote::phases {

/// The result of restoring every touched service.
struct RollbackOutcome {
  bool ok = false;                       ///< every service back on its previous image, rolled out
  std::vector<ServiceRollout> services;  ///< per service: restored, skipped (untouched), failed
  std::string reason;
};

/// Restores the previous images of `changes` (all services the run touched, in any wave).
class Rollback {
 public:
  Rollback(const plan::Plan& plan, std::string target, std::vector<ServiceChange> changes,
           std::chrono::milliseconds budget);

  RollbackOutcome Run(Context& context) const;

 private:
  /// Journals and makes the restore of `change`; false when it failed, with `restored` saying why.
  bool Restore(Context& context, const ServiceChange& change, ServiceRollout& restored) const;

  const plan::Plan& plan_;
  std::string target_;
  std::vector<ServiceChange> changes_;
  std::chrono::milliseconds budget_;
};

}  // namespace promote::phases
