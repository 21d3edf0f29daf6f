// The only way promote runs another program. A Command is an argv vector (never a shell string)
// with an explicit environment, working directory, stdin and time budget; a ProcessRunner runs it
// and reports how it ended with everything it printed. Boost.Process stays inside process.cc.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace promote {
class Redactor;
}  // namespace promote

namespace promote::adapters {

/// Where the child's environment comes from: promote's own plus `env` on top (kInherit), or
/// exactly `env` and nothing else (kExplicit).
enum class EnvMode { kInherit, kExplicit };

/// What to run: argv (argv[0] is looked up on PATH unless it contains a `/`), environment,
/// working directory, stdin and time budget.
struct Command {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  EnvMode env_mode = EnvMode::kInherit;
  std::optional<std::filesystem::path> cwd;    ///< unset = promote's working directory
  std::string stdin_data;                      ///< written fully, then stdin is closed
  std::chrono::milliseconds timeout{60000};    ///< then SIGTERM to the whole process group
  std::chrono::milliseconds kill_grace{2000};  ///< between that SIGTERM and SIGKILL
};

/// How a process ended.
enum class ExitStatus {
  kExited,    ///< it returned from main or called exit: see exit_code
  kSignaled,  ///< a signal ended it: see signal
  kTimedOut,  ///< it outlived Command::timeout and promote killed its process group
};

/// How a run ended and everything the program printed. `out` and `err` are the raw bytes:
/// redact them before logging, reporting or journaling.
struct ProcessResult {
  ExitStatus status = ExitStatus::kExited;
  int exit_code = -1;  ///< meaningful when status is kExited (and after a timeout, -1)
  int signal = 0;      ///< the ending signal for kSignaled, the signal that killed it on timeout
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};

  /// Exited with code 0.
  bool ok() const { return status == ExitStatus::kExited && exit_code == 0; }
  /// "exited with code 1", "killed by signal 9 (Killed)", "timed out after 300 ms".
  std::string Describe() const;
};

/// A program promote keeps running beside itself while it works (a `kubectl proxy`). A thread of
/// its own drains its output, so it can never stall on a full pipe; Stop, or the destructor, ends
/// its whole process group and reaps it. It also dies with promote (PR_SET_PDEATHSIG): a promote
/// killed with SIGKILL leaves nothing running behind it.
class BackgroundProcess {
 public:
  virtual ~BackgroundProcess();
  /// The first line of its stdout that contains `marker`, waiting at most `timeout`. An Error
  /// when it exits first or time runs out; the Error carries the end of what it wrote to stderr.
  virtual Result<std::string> WaitForLine(const std::string& marker,
                                          std::chrono::milliseconds timeout) = 0;
  /// False once it has exited (or been stopped).
  virtual bool running() const = 0;
  /// SIGTERM to its process group, SIGKILL after the command's kill_grace; idempotent.
  virtual void Stop() = 0;
};

/// Runs commands. An interface so phases and adapters can take a fake where a unit test needs
/// one. A program that runs and fails is a ProcessResult, not an Error: Error means it could not
/// be run at all (missing binary, bad working directory, no pipes).
class ProcessRunner {
 public:
  virtual ~ProcessRunner();
  virtual Result<ProcessResult> Run(const Command& command) = 0;
  /// Starts `command` in the background (its timeout is ignored: it runs until stopped). Not
  /// every runner can: the default is an Error, so fakes that never start one need not.
  virtual Result<std::unique_ptr<BackgroundProcess>> Start(const Command& command);
};

/// The real runner (Boost.Process): each child gets its own process group, so a timeout kills
/// everything it started; when the main process exits, whatever it left running in its group is
/// killed too (promote never leaks background processes). Both output pipes are drained
/// concurrently, so neither can fill up and stall the child. Safe to call Run from several
/// threads at once. Logs the redacted argv and a one-line summary at debug level, and the
/// (redacted, truncated) output at trace level.
class SystemProcessRunner final : public ProcessRunner {
 public:
  /// A null logger disables logging; a null redactor still applies the pattern-based redaction.
  SystemProcessRunner(std::shared_ptr<const Redactor> redactor,
                      std::shared_ptr<spdlog::logger> logger);
  ~SystemProcessRunner() override;

  Result<ProcessResult> Run(const Command& command) override;
  Result<std::unique_ptr<BackgroundProcess>> Start(const Command& command) override;

 private:
  std::shared_ptr<const Redactor> redactor_;
  std::shared_ptr<spdlog::logger> logger_;
  std::mutex launch_mutex_;  ///< serialises fork/exec (see process.cc), not the runs themselves
};

}  // namespace promote::adapters
