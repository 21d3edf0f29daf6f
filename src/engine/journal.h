// The run journal: one run's `events.jsonl`, append-only, one JSON object a line, each line
// fsync'd before Append returns. A run writes an *intent* before every side effect and *done* or
// *failed* after it, so a killed run can be resumed from exactly what the journal says.
//
// Edge cases, stated once:
//  - Every line passes through the Redactor before it is written: a registered secret or a
//    credential-looking value never reaches the file, only its name.
//  - A torn last line (the process died mid-write: no trailing newline, or not valid JSON) is
//    ignored by Open and reported by torn_tail(); since its write never returned, the side effect
//    it announced never started. The first Append after such an Open cuts the torn bytes off the
//    file and journals a note that keeps them, so the file stays "every line valid" after any
//    number of kill/resume cycles.
//  - An invalid line anywhere but last is corruption: Open fails naming file:line.
//
// Thread safety: appends and queries may be called from any number of threads (waves deploy
// services concurrently); seqs are assigned in file order.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "phases/step_log.h"

namespace promote {
class Redactor;
}

namespace promote::engine {

/// What a journal line records.
enum class EventKind {
  kIntent,      ///< a side effect is about to be made
  kDone,        ///< the intent `detail.intent` completed
  kFailed,      ///< the intent `detail.intent` failed
  kTransition,  ///< the run moved to `state`
  kNote,        ///< anything worth keeping that is not a step (warnings, approvals, …)
};

/// "intent", "done", "failed", "transition", "note".
const char* EventKindName(EventKind kind);

/// One line of events.jsonl.
struct JournalEvent {
  long seq = 0;       ///< 1, 2, 3, … in file order; set by Append
  std::string at;     ///< RFC 3339 UTC; set by Append
  std::string run;    ///< the run id; set by Append
  std::string state;  ///< the run's state the event belongs to (empty where meaningless)
  EventKind kind = EventKind::kNote;
  std::string step;     ///< e.g. "set-image" (empty where meaningless)
  std::string service;  ///< e.g. "api" (empty for environment-wide events)
  nlohmann::json detail = nlohmann::json::object();

  /// The intent a done/failed event closes (detail.intent), or 0.
  long intent() const;
};

/// The append-only, fsync'd event log of one run (`<state>/runs/<run-id>/events.jsonl`).
class Journal final : public phases::StepLog {
 public:
  /// The time source for `at`; tests inject a fixed clock. Empty means the system clock.
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  /// The journal's file name inside a run folder.
  static constexpr const char* kFileName = "events.jsonl";

  /// Creates `run_dir` (and its parents) and an empty events.jsonl in it. Fails when the file
  /// already exists (a run id is never reused) or when `redactor` is null.
  static Result<Journal> Create(const std::filesystem::path& run_dir, const std::string& run_id,
                                std::shared_ptr<const Redactor> redactor, Clock clock = {});

  /// Reads an existing run's events back (resume, status). The run id is the one its events
  /// carry, else the folder's name. Nothing is written until the first Append.
  static Result<Journal> Open(const std::filesystem::path& run_dir,
                              std::shared_ptr<const Redactor> redactor, Clock clock = {});

  Journal(Journal&&) noexcept;
  Journal& operator=(Journal&&) noexcept;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal() override;

  /// Writes `event` (seq, at and run are set here) as one redacted line, durably. Returns the
  /// seq. The event as written (redacted) is what events() and a later Open see.
  Result<long> Append(JournalEvent event);

  /// The run moved to `to_state`; detail gets "from" (the previous state) unless it has one.
  Result<long> Transition(const std::string& to_state, nlohmann::json detail = {});
  /// A side effect is about to be made; returns the seq that Done/Failed refer to.
  Result<long> Intent(const std::string& state, const std::string& step, const std::string& service,
                      nlohmann::json detail = {}) override;
  /// The intent `intent_seq` completed. Copies its state/step/service; detail gets "intent".
  /// Fails when `intent_seq` is not an open intent of this journal.
  Result<long> Done(long intent_seq, nlohmann::json detail = {}) override;
  /// The intent `intent_seq` failed; as Done otherwise.
  Result<long> Failed(long intent_seq, nlohmann::json detail = {}) override;
  /// A remark in the current state; detail gets "message".
  Result<long> Note(const std::string& message, nlohmann::json detail = {}) override;

  /// Every event, in order (a copy: other threads may append meanwhile).
  std::vector<JournalEvent> events() const;
  /// The state of the last transition, or "" before the first one.
  std::string CurrentState() const;
  /// Intents with neither done nor failed: what was in flight when the run died.
  std::vector<JournalEvent> OpenIntents() const;
  /// The last done event of `step` for `service` ("" for environment-wide steps).
  std::optional<JournalEvent> LastDone(const std::string& step, const std::string& service) const;

  /// The torn last line Open ignored, if any (for a warning on resume/status).
  std::optional<std::string> torn_tail() const;

  /// The first write this journal could not make (disk full, file too large, read-only), as an
  /// ErrorKind::kInterrupted error: the run must stop before its next side effect, since it
  /// could not journal it, and be resumed once the state folder is writable again.
  std::optional<Error> write_failure() const;

  const std::string& run_id() const { return run_id_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  Journal(std::filesystem::path path, std::string run_id, std::shared_ptr<const Redactor> redactor,
          Clock clock);

  Result<long> AppendLocked(JournalEvent event);
  /// `error` as kInterrupted, remembered as write_failure_ if it is the first.
  Error BrokenLocked(Error error);
  Status OpenForAppendLocked();
  Result<long> Close(EventKind kind, long intent_seq, nlohmann::json detail);

  std::filesystem::path path_;
  std::string run_id_;
  std::shared_ptr<const Redactor> redactor_;
  Clock clock_;
  std::unique_ptr<std::mutex> mutex_;  ///< behind a pointer so the Journal can move
  int fd_ = -1;                        ///< O_APPEND, opened at the first Append
  std::vector<JournalEvent> events_;
  std::string current_state_;
  std::optional<std::string> torn_tail_;
  std::optional<Error> write_failure_;
  std::uintmax_t valid_size_ = 0;  ///< bytes of complete lines: where a torn tail is cut off
  bool tail_cut_ = false;          ///< the torn tail (if any) is already off the file
};

}  // namespace promote::engine
