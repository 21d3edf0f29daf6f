// The rollback phase: restores exactly what the target ran before the run (the image, or the
// helm revision, the audit recorded) for every service the run touched, and waits for it, with
// a time budget of its own. Each restore is journaled first, so nothing restored is forgotten.
// Within that budget a restore or a wait that fails transiently (an API server answering 5xx,
// a dropped connection) is tried again: PROD on a bad image is the one state worth waiting on.
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
  /// The pause between tries of a failing restore or wait: 1 s, doubling, at most kMaxPause.
  static constexpr std::chrono::milliseconds kFirstPause{1000};
  static constexpr std::chrono::milliseconds kMaxPause{8000};
  /// Tries of one restore or of the waits at most, whatever the budget: a bound on the loop.
  static constexpr int kMaxTries = 20;

  Rollback(const plan::Plan& plan, std::string target, std::vector<ServiceChange> changes,
           std::chrono::milliseconds budget);

  RollbackOutcome Run(Context& context) const;

 private:
  /// Journals and makes the restore of `change`, repeated while it fails transiently and
  /// `give_up` is ahead; false when it failed, with `restored` saying why.
  bool Restore(Context& context, const ServiceChange& change, ServiceRollout& restored,
               std::chrono::system_clock::time_point give_up) const;

  const plan::Plan& plan_;
  std::string target_;
  std::vector<ServiceChange> changes_;
  std::chrono::milliseconds budget_;
};

}  // namespace promote::phases
