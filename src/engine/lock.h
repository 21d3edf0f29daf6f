// One run at a time per target environment: `<state>/locks/<env>.lock`, a small JSON file naming
// its holder (run, pid, host, since, env), held with flock(2) for as long as the run lives.
//
// Edge cases, stated once:
//  - The file appears atomically and complete: it is written and flock'ed under a temporary
//    name, then link(2)ed into place, which fails with EEXIST like open(O_CREAT|O_EXCL) does. A
//    contender therefore never reads a half-written holder.
//  - A lock left behind by a process that died (its flock is gone, or its pid no longer exists
//    on this host) is reported as stale, with the command to inspect the run and the file to
//    remove. promote never steals or removes someone else's lock; only the same run (a resume
//    of a killed run, same run id) takes its own stale lock back.
//  - Release removes the file only if it is still ours (same file, same run id): a lock an
//    operator removed and another run re-created stays in place.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "core/error.h"

namespace promote::engine {

/// Who holds an environment's lock.
struct LockHolder {
  std::string run_id;
  int pid = 0;
  std::string host;
  std::string since;  ///< RFC 3339 UTC

  /// This process (pid, host name) holding the lock for `run_id` from `now` on.
  static LockHolder Current(const std::string& run_id, std::chrono::system_clock::time_point now);
};

/// Whether `holder`'s process is certainly gone: it ran on this host and kill(pid, 0) says no
/// such process (EPERM means it exists under another user). False when it cannot be known.
bool ProcessIsGone(const LockHolder& holder);

/// The lock of one target environment, held while this object lives (move-only RAII).
class EnvironmentLock {
 public:
  /// Takes `env`'s lock for `me`, or fails with ErrorKind::kLocked naming the holder (and saying
  /// whether it is still running). Other failures (unwritable state folder, bad env name) are
  /// other kinds.
  static Result<EnvironmentLock> Acquire(const std::filesystem::path& state_dir,
                                         const std::string& env, const LockHolder& me);

  /// Who holds `env`'s lock, or nullopt when nobody does. Fails when the file is unreadable.
  static Result<std::optional<LockHolder>> Inspect(const std::filesystem::path& state_dir,
                                                   const std::string& env);

  /// `<state_dir>/locks/<env>.lock`.
  static std::filesystem::path PathFor(const std::filesystem::path& state_dir,
                                       const std::string& env);

  EnvironmentLock(EnvironmentLock&& other) noexcept;
  EnvironmentLock& operator=(EnvironmentLock&& other) noexcept;
  EnvironmentLock(const EnvironmentLock&) = delete;
  EnvironmentLock& operator=(const EnvironmentLock&) = delete;
  ~EnvironmentLock();

  /// Removes the lock file if it is still ours, then lets go of the flock. Idempotent.
  Status Release();
  /// Lets go of the flock but leaves the file naming this run: other runs are refused (exit 4)
  /// until `promote resume` of this run takes it back. For a run that stopped half way.
  void Keep();

  bool held() const { return fd_ >= 0; }
  const LockHolder& holder() const { return holder_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  EnvironmentLock(std::filesystem::path path, LockHolder holder, int fd)
      : path_(std::move(path)), holder_(std::move(holder)), fd_(fd) {}

  std::filesystem::path path_;
  LockHolder holder_;
  int fd_ = -1;  ///< open and flock'ed while held
};

}  // namespace promote::engine
