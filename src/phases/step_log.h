// Where phases record their side effects: an intent before each one, then done or failed. The
// run's journal (engine/journal.h) is the implementation; phases see only this interface, so the
// import graph runs one way (engine → phases) and unit tests can pass a journal of their own.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace spdlog {
class logger;
}

namespace promote::phases {

/// The record a phase writes around each side effect. Every call can fail (a full disk): a
/// phase that cannot record an intent must not make the side effect.
class StepLog {
 public:
  virtual ~StepLog();

  /// A side effect is about to be made in run state `state`; returns the intent's id.
  virtual Result<long> Intent(const std::string& state, const std::string& step,
                              const std::string& service, nlohmann::json detail) = 0;
  /// The intent `intent` completed.
  virtual Result<long> Done(long intent, nlohmann::json detail) = 0;
  /// The intent `intent` failed.
  virtual Result<long> Failed(long intent, nlohmann::json detail) = 0;
  /// A remark that is not a step (hook output, a warning).
  virtual Result<long> Note(const std::string& message, nlohmann::json detail) = 0;
};

/// Records that `intent` failed. When even that cannot be written the logger says so: the
/// failure itself is what the caller returns, so the run still learns of it.
void RecordFailed(StepLog& log, spdlog::logger& logger, long intent, nlohmann::json detail);

}  // namespace promote::phases
